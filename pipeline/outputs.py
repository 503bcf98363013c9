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
from pipeline.paths import RESULTS_MARKER
from pipeline.records import CODES, Coding, Profile, Transcript

PASSAGE_COLUMNS = ["id", "company", "source", "speaker", "start", "end", "text", "assigned"] + [
    f"{c}_{k}" for c in CODES for k in ("p", "valence")
] + ["model_version", "language", "coder"] + [f"{c}_evidence" for c in CODES]  # provenance


def evidence_texts(coding: Coding) -> dict[str, str]:
    """Per code with evidence, the sentence itself. The offsets index the source, as the
    passage's do; written out so that a reader of the results need not slice the source."""
    p = coding.passage
    return {code: p.text[a - p.start:b - p.start] for code, (a, b) in coding.evidence.items()
            if p.start <= a <= b <= p.end}


def usual_permissions(fd: int) -> None:
    """mkstemp makes files 0600; results are for colleagues too: 0666 less the umask (0644 usually)."""
    mask = os.umask(0)
    os.umask(mask)
    os.fchmod(fd, 0o666 & ~mask)


class AtomicFile:
    """A temp file beside ``path`` that replaces ``path`` on commit() and vanishes on discard()."""

    def __init__(self, path: Path, mode: str = "w", **kwargs):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, self.tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent)
        usual_permissions(fd)
        self.file: IO = os.fdopen(fd, mode, **kwargs)

    def commit(self) -> None:
        self.file.flush()
        os.fsync(self.file.fileno())
        self.file.close()
        os.replace(self.tmp, self.path)

    def discard(self) -> None:
        self.file.close()
        Path(self.tmp).unlink(missing_ok=True)


@contextmanager
def atomic_open(path: Path, mode: str = "w", **kwargs) -> Iterator[IO]:
    """Open a temp file beside ``path``; rename it over ``path`` only if the block succeeds."""
    target = AtomicFile(path, mode, **kwargs)
    try:
        yield target.file
    except BaseException:
        target.discard()
        raise
    target.commit()


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


def prepare_results_folder(out_dir: Path) -> Path:
    """Create ``out_dir`` (a clear error when it names a file) and mark it as a results folder."""
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise IntcapError(f"--out {out_dir}: is a file, not a folder; name a folder for the results "
                          "(it is created if missing)")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        marker = out_dir / RESULTS_MARKER
        if not marker.exists():
            marker.write_text("intcap results folder: never read as transcripts\n", encoding="utf-8")
    except OSError as exc:
        raise IntcapError(f"--out {out_dir}: cannot create the results folder ({exc.strerror or exc})") from None
    return out_dir


def sweep_temporary(out_dir: Path) -> None:
    """Remove temporary files a killed run left behind (one run writes a results folder at a time)."""
    if Path(out_dir).is_dir():
        for stale in Path(out_dir).glob(".*.tmp"):
            stale.unlink(missing_ok=True)


class PassageWriter:
    """Streams codings to passages.jsonl and passages.csv; both appear only on close()."""

    def __init__(self, out_dir: Path):
        self.out_dir = prepare_results_folder(out_dir)
        self.count = 0
        sweep_temporary(self.out_dir)
        self._files = [AtomicFile(self.out_dir / "passages.jsonl", encoding="utf-8"),
                       AtomicFile(self.out_dir / "passages.csv", encoding="utf-8", newline="")]
        self._jsonl = self._files[0].file
        self._csv = csv.DictWriter(self._files[1].file, fieldnames=PASSAGE_COLUMNS)
        self._csv.writeheader()

    def write(self, codings: Iterable[Coding]) -> None:
        for coding in codings:
            row = coding.to_dict()
            row["evidence_text"] = evidence_texts(coding)
            self._jsonl.write(json.dumps(row, ensure_ascii=False) + "\n")
            flat = {k: row[k] for k in PASSAGE_COLUMNS[:7]}
            flat["assigned"] = ";".join(row["assigned"])
            for c, s in row["codes"].items():
                flat[f"{c}_p"], flat[f"{c}_valence"] = s["p"], s["valence"]
            for k in ("model_version", "language", "coder"):
                flat[k] = row[k]
            for c, sentence in row["evidence_text"].items():
                flat[f"{c}_evidence"] = sentence
            self._csv.writerow(flat)
            self.count += 1

    def close(self, failed: bool = False) -> None:
        """Publish both files, or (``failed``) drop them and leave earlier results as they were."""
        for f in self._files:
            if failed:
                f.discard()
            else:
                f.commit()


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
