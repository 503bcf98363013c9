"""Write results: passages (JSONL + CSV), profiles (JSON + CSV), stored sources, run record.

Every file is written to a temporary name in the same folder and renamed into
place when complete, so a crash never leaves a half-written result behind.
Passages are streamed to disk as they are coded.
"""
from __future__ import annotations

import csv
import json
import os
import tempfile
from collections.abc import Iterable
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import IO, Iterator

from pipeline.errors import IntcapError
from pipeline.records import CODES, Coding, Profile, Transcript

PASSAGE_COLUMNS = ["id", "company", "source", "speaker", "start", "end", "text", "assigned"] + [
    f"{c}_{k}" for c in CODES for k in ("p", "valence")
]


@contextmanager
def atomic_open(path: Path, mode: str = "w", **kwargs) -> Iterator[IO]:
    """Open a temp file beside ``path``; rename it over ``path`` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode, **kwargs) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: Path, data) -> None:
    with atomic_open(path, encoding="utf-8") as fh:
        json.dump(data, fh, indent=2, ensure_ascii=False)
        fh.write("\n")


def safe_relative(source: str) -> PurePosixPath:
    """A source path usable under out/sources/, refusing absolute paths and '..'."""
    rel = PurePosixPath(source.replace("\\", "/"))
    if rel.is_absolute() or ".." in rel.parts or not rel.parts:
        raise IntcapError(f"source path {source!r} cannot be stored under sources/ (absolute or contains '..')")
    return rel


def sweep_temporary(out_dir: Path) -> None:
    """Remove temporary files a killed run left behind (one run writes a results folder at a time)."""
    if Path(out_dir).is_dir():
        for stale in Path(out_dir).glob(".*.tmp"):
            stale.unlink(missing_ok=True)


class PassageWriter:
    """Streams codings to passages.jsonl and passages.csv; both appear only on close()."""

    def __init__(self, out_dir: Path):
        self.out_dir = Path(out_dir)
        self.count = 0
        sweep_temporary(self.out_dir)
        self._stack = []
        self._jsonl = self._open("passages.jsonl")
        self._csv = csv.DictWriter(self._open("passages.csv", newline=""), fieldnames=PASSAGE_COLUMNS)
        self._csv.writeheader()

    def _open(self, name: str, **kwargs) -> IO:
        cm = atomic_open(self.out_dir / name, encoding="utf-8", **kwargs)
        self._stack.append(cm)
        return cm.__enter__()

    def write(self, codings: Iterable[Coding]) -> None:
        for coding in codings:
            row = coding.to_dict()
            self._jsonl.write(json.dumps(row, ensure_ascii=False) + "\n")
            flat = {k: row[k] for k in PASSAGE_COLUMNS[:7]}
            flat["assigned"] = ";".join(row["assigned"])
            for c, s in row["codes"].items():
                flat[f"{c}_p"], flat[f"{c}_valence"] = s["p"], s["valence"]
            self._csv.writerow(flat)
            self.count += 1

    def close(self, failed: bool = False) -> None:
        exc = (RuntimeError, RuntimeError("aborted"), None) if failed else (None, None, None)
        while self._stack:
            cm = self._stack.pop()
            try:
                cm.__exit__(*exc)
            except RuntimeError:
                pass


def write_source(out_dir: Path, transcript: Transcript) -> None:
    """Store the exact text the offsets refer to, as UTF-8, under sources/."""
    with atomic_open(Path(out_dir) / "sources" / safe_relative(transcript.source), encoding="utf-8", newline="") as fh:
        fh.write(transcript.text)


def write_profiles(out_dir: Path, profiles: list[Profile]) -> None:
    write_json(Path(out_dir) / "profiles.json", [p.to_dict() for p in profiles])
    columns = ["company", "n_passages", "primary_focus"] + [
        f"{c}_{k}" for c in CODES for k in ("coverage", "strength", "count", "positive", "negative", "neutral")
    ]
    with atomic_open(Path(out_dir) / "profiles.csv", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns)
        writer.writeheader()
        for p in profiles:
            row = {"company": p.company, "n_passages": p.n_passages, "primary_focus": p.primary_focus}
            for c, cp in p.codes.items():
                for k in ("coverage", "strength", "count", "positive", "negative", "neutral"):
                    row[f"{c}_{k}"] = getattr(cp, k)
            writer.writerow(row)


def read_codings(out_dir: Path) -> list[Coding]:
    """Read passages.jsonl back (for reports, export and review)."""
    path = Path(out_dir) / "passages.jsonl"
    if not path.is_file():
        raise IntcapError(f"{out_dir}: no passages.jsonl; run `intcap code ... --out {out_dir}` first")
    return [Coding.from_dict(json.loads(line)) for line in path.read_text(encoding="utf-8").splitlines() if line]
