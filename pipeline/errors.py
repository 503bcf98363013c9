"""One exception root; the CLI turns any IntcapError into a clean message and exit 1."""
from __future__ import annotations

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
