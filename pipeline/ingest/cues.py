"""Subtitle cues (WebVTT, SRT) -> speaker turns and their plain-text rendering."""
from __future__ import annotations

import html
import re
from dataclasses import dataclass, field

from pipeline.errors import IngestError
from pipeline.ingest.base import SourceInfo
from pipeline.ingest.speakers import match_label, role_for
from pipeline.records import Transcript, Turn

# Teams: <v Anna Holm>text</v>, optionally with classes: <v.loud Anna>
_VOICE = re.compile(r"<v(?:\.[^ \t>]{0,80})?[ \t]+([^>]{1,120})>")
# Any other markup: <i>, </v>, <c.yellow>, <00:00:01.000>, <font color="red">
_TAG = re.compile(r"<[^<>]{0,200}>")
# SSA/ASS override blocks some SRT files carry: {\an8}
_ASS = re.compile(r"\{\\[^{}]{0,200}\}")


@dataclass
class Cue:
    """One subtitle cue: normalised start time and its payload lines."""

    start: str
    lines: list[str] = field(default_factory=list)


@dataclass
class _Utterance:
    speaker: str | None
    text: str
    time: str


def _clean(raw: str) -> str:
    text = _ASS.sub("", _TAG.sub("", raw))
    return " ".join(html.unescape(text).split())


def _split_voices(cue: Cue) -> list[tuple[str | None, str]]:
    """(voice, text) pieces of a cue; voice is None where no <v> tag applies."""
    raw = " ".join(cue.lines)
    parts = _VOICE.split(raw)
    pieces: list[tuple[str | None, str]] = []
    if parts[0].strip():
        pieces.append((None, parts[0]))
    for name, text in zip(parts[1::2], parts[2::2]):
        pieces.append((_clean(name), text))
    cleaned = [(voice, _clean(text)) for voice, text in pieces]
    return [(voice, text) for voice, text in cleaned if text]


def _utterances(cues: list[Cue]) -> list[_Utterance]:
    raw: list[tuple[str | None, str, str]] = []
    for cue in cues:
        raw.extend((voice, text, cue.start) for voice, text in _split_voices(cue))
    # Zoom writes "Name: text" into each cue; trust such labels only when most
    # cues carry one, so a subtitle that happens to say "Note: ..." stays text.
    labels = [match_label(text, loose=True) if voice is None else None for voice, text, _ in raw]
    use_labels = 2 * sum(1 for lab in labels if lab) >= len(raw) > 0
    out: list[_Utterance] = []
    speaker: str | None = None
    for (voice, text, time), label in zip(raw, labels):
        if voice is not None:
            speaker = voice
        elif use_labels and label is not None:
            speaker, text = label.speaker, text[label.body:].strip()
        # else: an unlabelled cue continues the last speaker (None until one is named)
        if text:
            out.append(_Utterance(speaker, text, time))
    return out


def cues_to_transcripts(cues: list[Cue], info: SourceInfo) -> list[Transcript]:
    """Merge consecutive cues by the same speaker and render them as text.

    The stored text is "Speaker: utterance\\n\\n" per merged turn (just the
    utterance when no speaker is known); turn offsets cover the utterance.
    """
    merged: list[_Utterance] = []
    for u in _utterances(cues):
        if merged and merged[-1].speaker == u.speaker:
            merged[-1].text += " " + u.text
        else:
            merged.append(_Utterance(u.speaker, u.text, u.time))
    if not merged:
        raise IngestError(info.path, f"contains no subtitle text ({len(cues)} cues, all empty)")
    parts: list[str] = []
    turns: list[Turn] = []
    pos = 0
    for u in merged:
        prefix = f"{u.speaker}: " if u.speaker else ""
        start = pos + len(prefix)
        pos = start + len(u.text)
        parts.extend((prefix, u.text, "\n\n"))
        turns.append(Turn(start, pos, u.speaker, role_for(u.speaker), u.time))
        pos += 2
    return [info.transcript("".join(parts), turns)]
