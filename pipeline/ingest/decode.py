"""Bytes -> str for text-based transcripts, refusing files that are not text.

Line endings are never translated: offsets must index the file's own text.
"""
from __future__ import annotations

import codecs
import re
from pathlib import Path

from pipeline.errors import IngestError

# Magic numbers of files people rename to .txt by mistake, and what they are.
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"%PDF", "a PDF"),
    (b"\x89PNG\r\n\x1a\n", "a PNG"),
    (b"\xff\xd8\xff", "a JPEG"),
    (b"GIF8", "a GIF"),
    (b"PK\x03\x04", "a ZIP (maybe a Word .docx)"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an old Office (.doc)"),
    (b"{\\rtf", "an RTF"),
)
_SAMPLE = 1 << 16
# A valid UTF-8 multi-byte sequence; its presence next to invalid bytes means
# the file mixes encodings (cp1252 files practically never contain one).
_UTF8_MULTIBYTE = re.compile(rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}")
# NULs per byte (and more than two) above which a file without UTF-16's pattern is binary
_STRAY_NULS = 0.001
# C0 controls other than tab, newline, vertical tab, form feed, carriage return, escape.
_CONTROL = bytes(b for b in range(32) if b not in (9, 10, 11, 12, 13, 27))


def magic_kind(data: bytes) -> str | None:
    """'a PDF', 'a PNG', ... when ``data`` starts with a known binary signature."""
    return next((what for magic, what in _MAGIC if data.startswith(magic)), None)


def _not_text(path: str | Path, what: str) -> IngestError:
    return IngestError(path, f"looks like {what} file, not a transcript")


def _utf16_without_bom(sample: bytes) -> str | None:
    """Return 'utf-16-le'/'utf-16-be' when NULs sit on one side of each byte pair."""
    pairs = len(sample) // 2
    if pairs < 2:
        return None
    even = sample[0 : 2 * pairs : 2].count(0)
    odd = sample[1 : 2 * pairs : 2].count(0)
    # Latin-script UTF-16 has a NUL high byte in nearly every pair.
    if odd >= 0.5 * pairs and even <= 0.1 * odd:
        return "utf-16-le"
    if even >= 0.5 * pairs and odd <= 0.1 * even:
        return "utf-16-be"
    return None


def _strict(data: bytes, encoding: str, path: str | Path) -> str:
    try:
        return codecs.decode(data, encoding)
    except UnicodeDecodeError as exc:
        raise IngestError(path, f"looks like {encoding.upper()} text but byte {exc.start} is invalid") from None


def _line_col(data: bytes, offset: int) -> tuple[int, int]:
    line_start = data.rfind(b"\n", 0, offset) + 1
    return data.count(b"\n", 0, offset) + 1, offset - line_start + 1


def decode_bytes(data: bytes, path: str | Path) -> str:
    """Decode a text transcript; raise IngestError for binary or unusable data."""
    if data.startswith(codecs.BOM_UTF8):
        return _strict(data, "utf-8-sig", path)
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        # 'utf-16' reads the BOM, picks the byte order and drops the BOM.
        return _strict(data, "utf-16", path)
    what = magic_kind(data)
    if what is not None:
        raise _not_text(path, what)
    sample = data[:_SAMPLE]
    if 0 in sample:
        utf16 = _utf16_without_bom(sample)
        if utf16 is not None:
            return _strict(data, utf16, path)
        # a few stray NULs (some export tools pad or end a file with one) do not make a text file
        # binary; they stay in the text, as one character each, so offsets still index the file
        if sample.count(0) > max(2, _STRAY_NULS * len(sample)):
            raise _not_text(path, "a binary")
    if sum(sample.count(c) for c in _CONTROL) > 0.05 * len(sample):
        raise _not_text(path, "a binary")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        bad = exc.start
    if _UTF8_MULTIBYTE.search(data):
        line, col = _line_col(data, bad)
        raise IngestError(
            path,
            f"is not valid UTF-8 at line {line}, column {col} (byte 0x{data[bad]:02x}) although other "
            "lines are UTF-8: the file mixes encodings; re-save it as UTF-8",
        )
    # Legacy Windows text (Danish æøå as single bytes); latin-1 covers the five
    # byte values cp1252 leaves undefined and never fails.
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def decode_text(data: bytes, path: str | Path) -> str:
    """decode_bytes plus the empty/whitespace checks every text reader needs."""
    if not data:
        raise IngestError(path, "file is empty")
    text = decode_bytes(data, path)
    if not text or text.isspace():
        raise IngestError(path, "contains only whitespace")
    return text
