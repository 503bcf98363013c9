"""SQLite in WAL mode, safely: every database intcap writes (results, labels, embedding cache)."""
from __future__ import annotations

import sqlite3
import time


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
