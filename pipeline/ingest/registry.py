"""The format readers, keyed by file extension, and reading one source file."""
from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from pipeline.errors import IngestError
from pipeline.ingest.base import Reader, SourceInfo
from pipeline.ingest.jsonl import read_jsonl
from pipeline.ingest.manifest import ManifestEntry
from pipeline.ingest.roles import assign_roles
from pipeline.ingest.subtitles import read_srt, read_vtt
from pipeline.ingest.text import read_markdown, read_text
from pipeline.ingest.word import read_docx
from pipeline.records import Transcript

READERS: dict[str, Reader] = {
    ".txt": read_text,
    ".md": read_markdown,
    ".markdown": read_markdown,
    ".docx": read_docx,
    ".vtt": read_vtt,
    ".srt": read_srt,
    ".jsonl": read_jsonl,
}
# What to tell people who hand us a format we cannot read.
_HINTS = {
    ".doc": "save it as .docx",
    ".pdf": "export the text as .txt or .docx",
    ".rtf": "save it as .docx or .txt",
    ".odt": "save it as .docx",
    ".json": "write one passage object per line as .jsonl",
}
DEFAULT_MAX_BYTES = 512 * 1024 * 1024
#: environment variable that overrides the size limit, in megabytes
MAX_MB_ENV = "INTCAP_MAX_FILE_MB"


def supported_extensions() -> list[str]:
    return sorted(READERS)


def reader_for(path: Path) -> Reader:
    """The reader for ``path``'s extension; IngestError for anything else."""
    ext = path.suffix.lower()
    if ext in READERS:
        return READERS[ext]
    shown = f"'{ext}'" if ext else "(no extension)"
    hint = f" ({_HINTS[ext]})" if ext in _HINTS else ""
    raise IngestError(path, f"unsupported file type {shown}{hint}; supported: {', '.join(supported_extensions())}")


def max_bytes_default() -> int:
    raw = os.environ.get(MAX_MB_ENV)
    if raw:
        try:
            return int(float(raw) * 1024 * 1024)
        except ValueError:
            pass  # a typo in the variable must not stop ingestion; use the default
    return DEFAULT_MAX_BYTES


def read_bytes(path: Path, max_bytes: int | None = None) -> bytes:
    """The file's bytes, after checking it is a regular file under the size limit."""
    limit = max_bytes_default() if max_bytes is None else max_bytes
    try:
        st = path.stat()
        if stat.S_ISDIR(st.st_mode):
            raise IngestError(path, "is a folder, not a file")
        if not stat.S_ISREG(st.st_mode):
            # FIFOs, sockets and devices would block or never end.
            raise IngestError(path, "is not a regular file (a pipe, socket or device); cannot read it")
        if st.st_size > limit:
            raise IngestError(path, f"is {st.st_size / 2**20:.1f} MB, over the {limit / 2**20:.0f} MB limit "
                                    f"(raise it with {MAX_MB_ENV})")
        with open(path, "rb") as fh:
            data = fh.read(limit + 1)
    except IngestError:
        raise
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise IngestError(path, "is a symbolic link loop") from None
        if os.path.islink(path) and not os.path.exists(path):
            raise IngestError(path, "is a broken symbolic link") from None
        raise IngestError(path, f"cannot be read: {exc.strerror or exc}") from None
    if len(data) > limit:  # it grew after the size check
        raise IngestError(path, f"is over the {limit / 2**20:.0f} MB limit (raise it with {MAX_MB_ENV})")
    return data


def source_name(path: Path, root: Path | None) -> str:
    """The path relative to the corpus folder, posix style (the file name without a folder)."""
    if root is not None:
        try:
            return path.relative_to(root).as_posix()
        except ValueError:
            pass
    return path.name


def read_source(
    path: str | Path,
    entry: ManifestEntry | None = None,
    *,
    root: str | Path | None = None,
    max_bytes: int | None = None,
    interviewer: str | None = None,
) -> list[Transcript]:
    """Read one transcript file into one Transcript per company it holds.

    ``entry`` (a manifest row) gives the company and metadata; without it the
    company is the file name stem. ``root`` is the corpus folder the source
    name is made relative to. ``interviewer`` names the interviewer speaker
    (";" between several) where the manifest row names none; it beats the
    guess (pipeline.ingest.roles). Raises IngestError naming the file and problem.
    """
    path = Path(path)
    reader = reader_for(path)
    data = read_bytes(path, max_bytes)
    if not data:
        raise IngestError(path, "file is empty")
    info = SourceInfo(
        path=path,
        source=source_name(path, Path(root) if root is not None else None),
        company=entry.company if entry else path.stem,
        format=path.suffix.lower().lstrip("."),
        interviewee=entry.interviewee if entry else None,
        date=entry.date if entry else None,
        language=entry.language if entry else None,
        interviewer=(entry.interviewer if entry else None) or interviewer,
    )
    return [assign_roles(t) for t in reader(data, info)]
