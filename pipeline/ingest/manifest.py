"""The corpus manifest: `manifest.csv` with `file,company[,interviewee,date,language,interviewer]`.

`interviewer` names the speaker who asks the questions in that file (it beats the
guess in pipeline.ingest.roles); several names are separated by ";".

Spreadsheet exports are the usual source, so a BOM, cp1252 and a `;` or tab
delimiter (Danish Excel) are accepted.
"""
from __future__ import annotations

import csv
import io
import posixpath
from dataclasses import dataclass
from pathlib import Path

from pipeline.errors import IngestError
from pipeline.ingest.decode import decode_text

MANIFEST_NAME = "manifest.csv"
_REQUIRED = ("file", "company")


@dataclass(frozen=True)
class ManifestEntry:
    """One manifest row: a file (relative to the folder, posix) and its metadata."""

    file: str
    company: str
    interviewee: str | None = None
    date: str | None = None
    language: str | None = None
    interviewer: str | None = None


def normalize_name(name: str) -> str:
    """A manifest file name as a clean relative posix path ("./a\\b.txt" -> "a/b.txt")."""
    return posixpath.normpath(name.strip().replace("\\", "/")).lstrip("/")


def _dialect(text: str) -> type[csv.Dialect] | csv.Dialect:
    header = text.split("\n", 1)[0]
    try:
        return csv.Sniffer().sniff(header, delimiters=",;\t")
    except csv.Error:
        return csv.excel


def load_manifest(path: str | Path) -> dict[str, ManifestEntry]:
    """Manifest rows keyed by normalised file name; IngestError for a broken manifest."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise IngestError(path, f"cannot read the manifest: {exc.strerror or exc}") from None
    text = decode_text(data, path)
    rows = csv.reader(io.StringIO(text, newline=""), _dialect(text))
    try:
        header = [h.strip().lower() for h in next(rows)]
        missing = [c for c in _REQUIRED if c not in header]
        if missing:
            raise IngestError(path, f"manifest has no {' or '.join(repr(c) for c in missing)} column "
                                    f"(header: {', '.join(header)}); expected file,company[,interviewee,date,language,interviewer]")
        entries: dict[str, ManifestEntry] = {}
        for values in rows:
            if not any(v.strip() for v in values):
                continue
            row = {h: v.strip() for h, v in zip(header, values)}
            line = rows.line_num
            if not row.get("file") or not row.get("company"):
                raise IngestError(path, f"line {line}: needs both a file and a company")
            name = normalize_name(row["file"])
            if name in entries:
                raise IngestError(path, f"line {line}: {row['file']!r} is listed twice")
            entries[name] = ManifestEntry(
                file=name,
                company=row["company"],
                interviewee=row.get("interviewee") or None,
                date=row.get("date") or None,
                language=(row.get("language") or "").lower() or None,
                interviewer=row.get("interviewer") or None,
            )
    except csv.Error as exc:
        raise IngestError(path, f"line {rows.line_num}: not readable as CSV ({exc})") from None
    return entries
