"""Finding transcripts in a corpus folder and reading them all.

Problems with single files are collected and reading goes on; only a missing
folder or a broken manifest (every company name would be unreliable) raise.
"""
from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import Iterator

from pipeline.errors import IngestError, ListedButMissing
from pipeline.paths import RESULTS_MARKER
from pipeline.ingest.manifest import MANIFEST_NAME, ManifestEntry, load_manifest
from pipeline.ingest.registry import READERS, read_source, reader_for, supported_extensions
from pipeline.records import Transcript


def _skipped(name: str) -> bool:
    # hidden files, and the owner files Word leaves next to an open document
    return name.startswith((".", "~$")) or name == MANIFEST_NAME


def _walk(folder: Path, ancestors: tuple[tuple[int, int], ...], seen: set[tuple[int, int]],
          files: list[Path], errors: list[IngestError]) -> None:
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError as exc:
        errors.append(IngestError(folder, f"cannot list the folder: {exc.strerror or exc}"))
        return
    for entry in entries:
        if _skipped(entry.name):
            continue
        path = folder / entry.name
        try:
            st = os.stat(path)  # follows symbolic links
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                errors.append(IngestError(path, "is a symbolic link loop; skipped"))
            elif entry.is_symlink():
                errors.append(IngestError(path, "is a broken symbolic link; skipped"))
            else:
                errors.append(IngestError(path, f"cannot be read: {exc.strerror or exc}"))
            continue
        if stat.S_ISDIR(st.st_mode):
            key = (st.st_dev, st.st_ino)
            if (path / RESULTS_MARKER).exists():
                continue  # an intcap results folder (sources/ holds copies of transcripts): never input
            if key in ancestors:
                errors.append(IngestError(path, "is a symbolic link loop (links to a folder containing it); skipped"))
            elif key in seen:
                errors.append(IngestError(path, "links to a folder that is already read; skipped"))
            else:
                seen.add(key)
                _walk(path, (*ancestors, key), seen, files, errors)
        elif path.suffix.lower() not in READERS:
            try:
                reader_for(path)
            except IngestError as exc:
                errors.append(exc)
        elif not stat.S_ISREG(st.st_mode):
            errors.append(IngestError(path, "is not a regular file (a pipe, socket or device); skipped"))
        else:
            files.append(path)


def _manifest(folder: Path) -> dict[str, ManifestEntry]:
    path = folder / MANIFEST_NAME
    return load_manifest(path) if path.is_file() else {}


def _check_exists(path: Path) -> None:
    if not path.exists() and not path.is_symlink():
        raise IngestError(path, "no such file or folder")


def discover(folder: str | Path) -> tuple[list[Path], list[IngestError]]:
    """Transcript files under ``folder`` (recursively, sorted) and the problems found.

    A single file path is accepted too. Hidden files and manifest.csv are
    skipped; symbolic links are followed except into loops.
    """
    folder = Path(folder)
    _check_exists(folder)
    if not folder.is_dir():
        try:
            reader_for(folder)
        except IngestError as exc:
            return [], [exc]
        return [folder], []
    manifest = _manifest(folder)
    files: list[Path] = []
    errors: list[IngestError] = []
    st = folder.stat()
    _walk(folder, ((st.st_dev, st.st_ino),), {(st.st_dev, st.st_ino)}, files, errors)
    files.sort(key=lambda p: p.relative_to(folder).as_posix())
    for name in manifest:
        target = folder / name
        if not target.exists() and not target.is_symlink():
            errors.append(ListedButMissing(target, f"is listed in {MANIFEST_NAME} but does not exist"))
    if not files:
        errors.append(IngestError(folder, f"contains no transcripts (supported: {', '.join(supported_extensions())})"))
    return files, errors


def iter_folder(folder: str | Path, *, max_bytes: int | None = None,
                interviewer: str | None = None) -> Iterator[Transcript | IngestError]:
    """Transcripts one file at a time, with an IngestError in place of each bad file.

    ``interviewer`` names the interviewer speaker for files whose manifest row names none.
    """
    folder = Path(folder)
    files, errors = discover(folder)
    root = folder if folder.is_dir() else folder.parent
    manifest = _manifest(root)
    yield from errors
    for path in files:
        entry = manifest.get(path.relative_to(root).as_posix())
        try:
            yield from read_source(path, entry, root=root, max_bytes=max_bytes, interviewer=interviewer)
        except IngestError as exc:
            yield exc


def ingest_folder(folder: str | Path, *, max_bytes: int | None = None,
                  interviewer: str | None = None) -> tuple[list[Transcript], list[IngestError]]:
    """Read every transcript under ``folder`` (or one file); bad files become errors.

    ``interviewer``: see iter_folder.
    """
    transcripts: list[Transcript] = []
    errors: list[IngestError] = []
    for item in iter_folder(folder, max_bytes=max_bytes, interviewer=interviewer):
        (errors if isinstance(item, IngestError) else transcripts).append(item)
    return transcripts, errors
