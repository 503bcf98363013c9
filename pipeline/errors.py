"""One exception root; the CLI turns any IntcapError into a clean message and exit 1.

``error_line`` words any other error as one line too (what, where, the fix); the
traceback is shown only with ``intcap --debug``.
"""
from __future__ import annotations

import traceback
from pathlib import Path


class IntcapError(Exception):
    """Root of every error intcap raises on purpose."""


class IngestError(IntcapError):
    """A source file could not be read; names the file and the problem."""

    def __init__(self, path: str | Path, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class ListedButMissing(IngestError):
    """A file the manifest lists is not in the folder (deleted, or a typo in manifest.csv)."""


class ModelError(IntcapError):
    """A model directory is missing, incomplete or fails its integrity check."""


class ImportExportError(IntcapError):
    """A REFI-QDA project or codebook could not be read or written."""


class StoreError(IntcapError):
    """The label or results database is unusable."""


# -- one line for an error intcap did not raise on purpose ------------------------------------

_OWN_CODE = Path(__file__).resolve().parents[1]
_DEBUG_HINT = "rerun with --debug for the full traceback"


def _where(error: BaseException) -> str:
    """The innermost frame of intcap's own code (not a library's) the error passed through."""
    frames = [f for f in traceback.extract_tb(error.__traceback__)
              if f.filename.startswith(str(_OWN_CODE)) and "site-packages" not in f.filename]
    if not frames:
        return ""
    f = frames[-1]
    return f" at {Path(f.filename).relative_to(_OWN_CODE).as_posix()}:{f.lineno} ({f.name})"


def _first_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[0].strip() + (" ..." if len(lines) > 1 else "") if lines else ""


def error_line(error: BaseException) -> str:
    """What failed, where, and the fix, on one line (the message after ``intcap: error:``)."""
    if isinstance(error, IntcapError):
        return str(error).strip() or type(error).__name__  # worded on purpose: what, where, the fix
    if isinstance(error, MemoryError):
        return f"out of memory{_where(error)}; code fewer transcripts at once (--batch-size) or free memory"
    if isinstance(error, OSError):
        name = f"{error.filename}: " if error.filename else ""
        return (f"{name}{error.strerror or _first_line(str(error))}{_where(error)}; check that the path exists "
                f"and that you may read (and, for results, write) it; {_DEBUG_HINT}")
    message = _first_line(str(error))
    what = f"{type(error).__name__}: {message}" if message else type(error).__name__
    return f"unexpected {what}{_where(error)}; {_DEBUG_HINT}, and report it if the input looks fine"
