"""SQLite files, safely: WAL mode for every database intcap writes (results, labels, embedding
cache), and the results database's header check, recovery advice and online backup."""
from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

from pipeline.errors import StoreError

SQLITE_HEADER = b"SQLite format 3\x00"


def enable_wal(cur, wait_s: float = 30.0) -> None:
    """Switch to WAL; two processes opening a new file at once can briefly see it locked."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            cur.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def backup_path(path: Path) -> Path:
    return path.with_name(path.name + ".bak")


def recovery_hint(path: Path) -> str:
    backup = backup_path(path)
    if backup.is_file():
        return (f"restore the copy saved after the last successful refresh with `cp {backup} {path}` "
                f"(and delete {path}-wal and {path}-shm if present), or move {path} away to start a new database")
    return f"no backup ({backup}) exists; move {path} away and run `intcap refresh` again to rebuild it from the corpus"


def check_results_file(path: Path) -> None:
    """Refuse a folder or a file that is not SQLite before SQLAlchemy gives a vaguer error."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        return
    if path.is_dir():
        raise StoreError(f"{path}: is a folder, not a results database")
    with path.open("rb") as fh:
        header = fh.read(len(SQLITE_HEADER))
    if header and header != SQLITE_HEADER:
        raise StoreError(f"{path}: is not an SQLite database (the file is corrupted or something else); "
                         f"{recovery_hint(path)}")


def backup_file(path: Path) -> Path:
    """Copy the database to ``<db>.bak`` with SQLite's online backup API (WAL included)."""
    target = backup_path(path)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        src = sqlite3.connect(path, timeout=60)
        try:
            dst = sqlite3.connect(tmp)
            try:
                src.backup(dst)
            finally:
                dst.close()
        finally:
            src.close()
        os.replace(tmp, target)
    except (OSError, sqlite3.Error) as exc:
        tmp.unlink(missing_ok=True)
        raise StoreError(f"{path}: could not write the backup {target}: {exc}") from exc
    return target
