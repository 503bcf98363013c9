"""Tolerant WebVTT and SRT parsers (own code: we need line numbers in errors).

Tolerated: unpadded timestamps (``0:0:0.570``), ``,`` or ``.`` before the
milliseconds, a missing hour field, missing blank lines between cues, blank
lines inside a cue's text. Refused, with the line number: a timing line whose
timestamps cannot be read.
"""
from __future__ import annotations

import re

from pipeline.errors import IngestError
from pipeline.ingest.base import SourceInfo
from pipeline.ingest.cues import Cue, cues_to_transcripts
from pipeline.ingest.decode import decode_text
from pipeline.records import Transcript

_BREAK = re.compile(r"\r\n|\r|\n")
_TS = r"(?:(\d{1,3}):)?(\d{1,2}):(\d{1,2})(?:[.,](\d{1,3}))?"
_TIMING = re.compile(rf"[ \t]*{_TS}[ \t]*-->[ \t]*{_TS}(?:[ \t].*)?")
# Anything meant as a timing line: an arrow, or two times joined by a dash-like token.
_TIMING_LIKE = re.compile(r"[ \t]*\d{1,3}:\d[\d:.,]{0,20}[ \t]*(?:-{1,3}>?|–|—|=>)[ \t]*\d")
_VTT_SKIP = ("NOTE", "STYLE", "REGION")


def _timing_like(line: str) -> bool:
    return "-->" in line or _TIMING_LIKE.match(line) is not None


def _fraction_ms(frac: str | None) -> int:
    return int(frac.ljust(3, "0")) if frac else 0


def parse_timing(line: str, lineno: int, path: object) -> str:
    """Start time of a cue timing line as HH:MM:SS.mmm; IngestError if malformed."""
    m = _TIMING.fullmatch(line)
    # groups: start h, m, s, ms, then end h, m, s, ms; minutes and seconds stay below 60
    if m is None or any(int(m.group(i)) >= 60 for i in (2, 3, 6, 7)):
        shown = line.strip()[:80]
        raise IngestError(str(path), f"line {lineno}: malformed cue timestamp {shown!r} "
                                     "(expected e.g. '00:01:05.000 --> 00:01:09.500')")
    hours, minutes, seconds = int(m.group(1) or 0), int(m.group(2)), int(m.group(3))
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}.{_fraction_ms(m.group(4)):03d}"


def _blocks(text: str) -> list[tuple[int, list[str]]]:
    """Runs of non-blank lines with the 1-based number of their first line."""
    blocks: list[tuple[int, list[str]]] = []
    current: list[str] = []
    first = 0
    for n, line in enumerate(_BREAK.split(text), 1):
        if line.strip():
            if not current:
                first = n
            current.append(line)
        elif current:
            blocks.append((first, current))
            current = []
    if current:
        blocks.append((first, current))
    return blocks


def parse_cues(text: str, path: object, *, srt: bool) -> list[Cue]:
    """All cues of a subtitle file, in file order."""
    cues: list[Cue] = []
    blocks = _blocks(text)
    if not srt and blocks and blocks[0][1][0].startswith("WEBVTT"):
        first, header = blocks[0]
        # A cue glued to the header (no blank line) is still a cue.
        blocks[0:1] = [(first + 1, header[1:])] if any(map(_timing_like, header[1:])) else []
    for first, lines in blocks:
        head = lines[0].strip()
        if not srt and head.split(" ", 1)[0] in _VTT_SKIP and not any(map(_timing_like, lines)):
            continue
        timing_at = [i for i, line in enumerate(lines) if _timing_like(line)]
        if not timing_at:
            if srt and head.isdigit():
                raise IngestError(str(path), f"line {first + 1}: expected a timing line after cue number {head}")
            if cues:
                cues[-1].lines.extend(lines)  # a blank line inside the cue text
            continue
        # Lines before the first timing line: its cue identifier, and before
        # that text continuing the previous cue (a missing blank line).
        if timing_at[0] > 1 and cues:
            cues[-1].lines.extend(lines[: timing_at[0] - 1])
        for k, i in enumerate(timing_at):
            end = timing_at[k + 1] if k + 1 < len(timing_at) else len(lines)
            payload = lines[i + 1:end]
            # A cue number right before the next timing line (missing blank line) is not text.
            if k + 1 < len(timing_at) and payload and payload[-1].strip().isdigit():
                payload = payload[:-1]
            cues.append(Cue(parse_timing(lines[i], first + i, path), payload))
    return cues


def _read(data: bytes, info: SourceInfo, *, srt: bool) -> list[Transcript]:
    text = decode_text(data, info.path)
    cues = parse_cues(text, info.path, srt=srt)
    if not cues:
        kind = "SRT" if srt else "WebVTT"
        raise IngestError(info.path, f"contains no {kind} cues (no 'start --> end' timing lines)")
    return cues_to_transcripts(cues, info)


def read_vtt(data: bytes, info: SourceInfo) -> list[Transcript]:
    """A WebVTT transcript (Teams voice tags, Zoom `Name: text` cues)."""
    return _read(data, info, srt=False)


def read_srt(data: bytes, info: SourceInfo) -> list[Transcript]:
    """A SubRip transcript."""
    return _read(data, info, srt=True)
