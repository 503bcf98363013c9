"""Finding and decoding the plain text of a REFI-QDA text source, and converting offsets.

The standard counts ``startPosition``/``endPosition`` in Unicode characters (code points) of
the plain text; NVivo (a .NET program) writes UTF-16 code units instead, which differ after
every character outside the Basic Multilingual Plane (emoji).
"""
from __future__ import annotations

import io
import zipfile
from bisect import bisect_left
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlparse

from lxml import etree

from pipeline.archive import DOCX_LIMITS, QDPX_LIMITS, ArchiveError, read_member, verify_members
from pipeline.errors import ImportExportError
from pipeline.refi.xmlutil import local

OFFSET_MODES = ("auto", "codepoints", "utf16")


class SourceFiles:
    """Looks up files named by ``plainTextPath``/``richTextPath``: inside the zip, and outside it
    only under ``sources_dir`` (an untrusted project must not read other files of this machine)."""

    def __init__(self, zf: zipfile.ZipFile, qdpx: Path, base_path: str, sources_dir: Path | None = None):
        self.zf = zf
        self.qdpx = qdpx
        self.base_path = base_path
        self.sources_dir = Path(sources_dir).resolve() if sources_dir is not None else None
        self.members = {n.replace("\\", "/").casefold(): n for n in zf.namelist() if not n.endswith("/")}

    def _member(self, rel: str) -> str | None:
        parts = PurePosixPath(rel.replace("\\", "/").lstrip("/")).parts
        if ".." in parts:
            return None
        rel = "/".join(parts)
        for cand in (f"sources/{rel}", rel):  # "sources/" and NVivo's "Sources/" alike
            hit = self.members.get(cand.casefold())
            if hit:
                return hit
        return None

    def _outside(self, ref: str, path: str, what: str) -> Path:
        """A file outside the archive: only under --sources-dir, and it must resolve inside it."""
        if self.sources_dir is None:
            raise ImportExportError(
                f"{self.qdpx}: {what}: source {ref!r} is not inside the project archive; intcap reads only "
                "the archive's own sources unless you name a folder with --sources-dir DIR")
        given = Path(path)
        candidate = (given if given.is_absolute() else self.sources_dir / given).resolve()
        if not candidate.is_relative_to(self.sources_dir):
            candidate = (self.sources_dir / given.name).resolve()  # absolute paths of another machine
        if not candidate.is_relative_to(self.sources_dir) or not candidate.is_file():
            raise ImportExportError(
                f"{self.qdpx}: {what}: source {ref!r} is not a file inside --sources-dir {self.sources_dir}")
        return candidate

    def read(self, ref: str, what: str) -> tuple[bytes, str]:
        """Bytes of the file ``ref`` names and the suffix (".txt", ".docx", ...)."""
        ref = ref.strip()
        scheme, _, rest = ref.partition("://")
        scheme = scheme.casefold() if rest else ""
        rel = unquote(rest) if rest else ref
        if scheme == "file":
            rel = unquote(urlparse(ref).path)
        suffix = PurePosixPath(rel.replace("\\", "/")).suffix.casefold()
        member = None if scheme == "file" else self._member(rel)
        if member is not None:
            try:
                return read_member(self.zf, member, QDPX_LIMITS), suffix
            except ArchiveError as exc:
                raise ImportExportError(f"{self.qdpx}: {what}: {exc}") from None
        if scheme == "internal":
            raise ImportExportError(
                f"{self.qdpx}: {what}: file {ref!r} not found in the zip's sources/ folder; re-export the "
                "project with its sources embedded")
        path = self._outside(ref, rel, what)
        return path.read_bytes(), suffix


def decode_text(data: bytes, suffix: str, what: str) -> str:
    """Plain text of a stored file: UTF-8 (BOM dropped; UTF-16 when it has a UTF-16 BOM) or .docx.

    Line endings are kept exactly as stored: offsets count them.
    """
    if suffix == ".docx" or data[:4] == b"PK\x03\x04":
        return docx_text(data, what)
    try:
        if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
            return data.decode("utf-16")
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportExportError(
            f"{what}: plain text is not UTF-8 ({exc}); the standard stores sources as UTF-8 - "
            "re-export the project or re-save the file as UTF-8"
        ) from exc


def docx_text(data: bytes, what: str) -> str:
    """Plain text of a Word file: its paragraphs joined by '\\n' (line breaks inside as '\\n')."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            verify_members(zf, DOCX_LIMITS)
    except (ArchiveError, zipfile.BadZipFile) as exc:
        raise ImportExportError(f"{what}: Word file refused ({exc})") from None
    try:
        import docx  # python-docx, pinned in pyproject
        document = docx.Document(io.BytesIO(data))
    except Exception as exc:  # python-docx raises several unrelated types for broken files
        raise ImportExportError(f"{what}: Word file could not be read ({exc}); expected a .docx") from exc
    return "\n".join(p.text for p in document.paragraphs)


def source_text(src: etree._Element, files: SourceFiles, what: str) -> str:
    """The plain text a TextSource's selections index: PlainTextContent, plainTextPath, else rich text."""
    for child in src:
        if local(child) == "PlainTextContent":
            return child.text or ""
    plain = src.get("plainTextPath")
    if plain:
        return decode_text(*files.read(plain, what), what)
    rich = src.get("richTextPath")
    if rich:
        return decode_text(*files.read(rich, what), what)
    raise ImportExportError(
        f"{files.qdpx}: {what} has neither PlainTextContent nor plainTextPath nor richTextPath; "
        "the standard requires one - re-export the project"
    )


#: what an intcap export with ``positions="utf16"`` adds to the project's ``origin``, so that
#: import reads it back in UTF-16 units without being told
UTF16_ORIGIN_MARK = "positions in UTF-16 code units"


def origin_counts_utf16(origin: str) -> bool:
    """NVivo (a .NET program; its Mac version alike) counts UTF-16 units, and so does an intcap
    export that says so in its origin; everyone else counts code points, as the standard says."""
    low = origin.strip().casefold()
    return low.startswith("nvivo") or (low.startswith("intcap") and UTF16_ORIGIN_MARK.casefold() in low)


class OffsetMap:
    """Converts between a tool's positions and code-point indices of ``text``."""

    def __init__(self, text: str, mode: str):
        self.length = len(text)
        self.mode = mode
        self.units = self.length
        self._astral: list[int] = []
        self._astral_index: list[int] = []
        if mode == "utf16":
            self._astral_index = [i for i, ch in enumerate(text) if ord(ch) > 0xFFFF]
            self._astral = [i + k for k, i in enumerate(self._astral_index)]  # UTF-16 start of each astral char
            self.units = self.length + len(self._astral_index)

    def to_position(self, index: int) -> int:
        """The position a tool in this mode gives code-point index ``index`` (for export)."""
        if self.mode != "utf16" or not self._astral_index:
            return index
        return index + bisect_left(self._astral_index, index)  # one extra unit per astral char before it

    def to_index(self, pos: int) -> int | None:
        """Code-point index of position ``pos``; None inside a surrogate pair or out of range."""
        if pos < 0 or pos > self.units:
            return None
        if self.mode != "utf16" or not self._astral:
            return pos
        n = bisect_left(self._astral, pos)
        if n and self._astral[n - 1] + 1 == pos:
            return None
        return pos - n
