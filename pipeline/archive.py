"""Zip archives from untrusted files (.docx, .qdpx): bounded before and while they are unpacked.

A zip's headers say how large each member unpacks; a bomb declares gigabytes, or lies and
declares little. ``check_zip`` refuses archives whose headers exceed the limits, and
``read_member``/``verify_members`` decompress in bounded chunks, so a lying header is caught
at the limit and peak memory stays near one chunk (plus what is kept).
"""
from __future__ import annotations

import zipfile
from dataclasses import dataclass

CHUNK = 1 << 20


@dataclass(frozen=True)
class ZipLimits:
    max_members: int
    max_member_bytes: int
    max_total_bytes: int


#: a Word transcript: document.xml of 128 MB is some ten million words, far past any interview
DOCX_LIMITS = ZipLimits(max_members=2_000, max_member_bytes=128 << 20, max_total_bytes=256 << 20)
#: a QDA project with its sources
QDPX_LIMITS = ZipLimits(max_members=100_000, max_member_bytes=256 << 20, max_total_bytes=4 << 30)


class ArchiveError(ValueError):
    """The archive is over a limit or damaged; the message says which."""


def _mb(n: int) -> str:
    return f"{n / (1 << 20):,.0f} MB"


def check_zip(zf: zipfile.ZipFile, limits: ZipLimits) -> None:
    """Refuse an archive whose headers declare too many members or too many unpacked bytes."""
    infos = zf.infolist()
    if len(infos) > limits.max_members:
        raise ArchiveError(f"holds {len(infos):,} files (at most {limits.max_members:,}); not a plausible document")
    total = 0
    for info in infos:
        if info.file_size > limits.max_member_bytes:
            raise ArchiveError(f"member {info.filename[:80]!r} unpacks to {_mb(info.file_size)} (at most "
                               f"{_mb(limits.max_member_bytes)}): a decompression bomb or not a transcript")
        total += info.file_size
    if total > limits.max_total_bytes:
        raise ArchiveError(f"unpacks to {_mb(total)} in all (at most {_mb(limits.max_total_bytes)}): "
                           "a decompression bomb or not a transcript")


def _stream(zf: zipfile.ZipFile, name: str, limit: int, keep: bool) -> tuple[bytes, int]:
    parts, size = [], 0
    try:
        with zf.open(name) as fh:
            while block := fh.read(CHUNK):
                size += len(block)
                if size > limit:
                    raise ArchiveError(f"member {name[:80]!r} unpacks to more than {_mb(limit)} (its header "
                                       "says less): a decompression bomb")
                if keep:
                    parts.append(block)
    except (zipfile.BadZipFile, OSError, RuntimeError, EOFError, NotImplementedError) as exc:
        raise ArchiveError(f"member {name[:80]!r} could not be unpacked ({exc}); the archive is damaged") from None
    except Exception as exc:  # zlib.error and friends from a corrupt stream
        raise ArchiveError(f"member {name[:80]!r} could not be unpacked ({type(exc).__name__}: {exc})") from None
    return b"".join(parts), size


def read_member(zf: zipfile.ZipFile, name: str, limits: ZipLimits) -> bytes:
    """The member's bytes, unpacked in chunks and stopped at the limit whatever its header says."""
    return _stream(zf, name, limits.max_member_bytes, keep=True)[0]


def verify_members(zf: zipfile.ZipFile, limits: ZipLimits) -> None:
    """Unpack every member once without keeping it, so a header that lies about its size is caught
    before a library (python-docx) unpacks the archive whole."""
    check_zip(zf, limits)
    total = 0
    for info in zf.infolist():
        if info.is_dir():
            continue
        total += _stream(zf, info.filename, limits.max_member_bytes, keep=False)[1]
    if total > limits.max_total_bytes:
        raise ArchiveError(f"unpacks to more than {_mb(limits.max_total_bytes)} in all: a decompression bomb")
