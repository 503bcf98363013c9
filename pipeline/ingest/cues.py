"""Subtitle cues (WebVTT, SRT) -> speaker turns and their plain-text rendering.

A name given only on a turn's first cue ("KAREN: ...") carries over the cues
after it until the next name. Text with no speaker (auto-captions) is cut into
runs of sentences at its questions, so a question is a turn of its own
(pipeline.ingest.roles makes it a question).
"""
from __future__ import annotations

import bisect
import html
import re
from collections import Counter
from dataclasses import dataclass, field

from pipeline.errors import IngestError
from pipeline.ingest.base import SourceInfo
from pipeline.ingest.roles import ends_with_question
from pipeline.ingest.speakers import Label, match_label, role_for
from pipeline.records import Transcript, Turn

# Teams: <v Anna Holm>text</v>, optionally with classes: <v.loud Anna>
_VOICE = re.compile(r"<v(?:\.[^ \t>]{0,80})?[ \t]+([^>]{1,120})>")
# Any other markup: <i>, </v>, <c.yellow>, <00:00:01.000>, <font color="red">
_TAG = re.compile(r"<[^<>]{0,200}>")
# SSA/ASS override blocks some SRT files carry: {\an8}
_ASS = re.compile(r"\{\\[^{}]{0,200}\}")
# Where a sentence ends inside caption text: end punctuation, closing quotes, a space.
_SENTENCE_GAP = re.compile(r"(?<=[.?!…])[\"”’»)\]]*[ \t]+")
# A short sentence right before a question introduces it ("Okay. So why Norway?").
_LEAD_IN_CHARS = 25


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
    #: (offset in text, cue time) where each merged cue starts
    marks: list[tuple[int, str]] = field(default_factory=list)


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
    labels = [match_label(text, loose=True) if voice is None else None for voice, text, _ in raw]
    trusted = _trusted_names(labels, len(raw))
    out: list[_Utterance] = []
    speaker: str | None = None
    for (voice, text, time), label in zip(raw, labels):
        if voice is not None:
            speaker = voice
        elif label is not None and label.speaker in trusted:
            speaker, text = label.speaker, text[label.body:].strip()
        # else: an unlabelled cue continues the last speaker (None until one is named)
        if text:
            out.append(_Utterance(speaker, text, time))
    return out


def _trusted_names(labels: list[Label | None], n_cues: int) -> set[str]:
    """The "Name:" labels to read as speakers.

    Zoom writes a name into every cue: when most cues are labelled, all names count.
    Captions that name a speaker only where a turn starts: names that recur, when at
    least two do (a single "Remember: ..." in a subtitle stays text).
    """
    counts = Counter(lab.speaker for lab in labels if lab is not None)
    if 2 * sum(counts.values()) >= n_cues > 0:
        return set(counts)
    recurring = {name for name, n in counts.items() if n >= 2}
    return recurring if len(recurring) >= 2 else set()


def _sentences(text: str) -> list[tuple[int, int]]:
    spans, pos = [], 0
    for m in _SENTENCE_GAP.finditer(text):
        spans.append((pos, m.start() + len(m.group().rstrip())))
        pos = m.end()
    if pos < len(text):
        spans.append((pos, len(text)))
    return spans


def question_runs(text: str) -> list[tuple[int, int]]:
    """text cut into runs of sentences, each question (with a short lead-in) a run of its own."""
    sents = _sentences(text)
    asks = [ends_with_question(text, s, e) for s, e in sents]
    for i in range(len(sents) - 1):
        s, e = sents[i]
        if not asks[i] and asks[i + 1] and e - s <= _LEAD_IN_CHARS and (i == 0 or not asks[i - 1]):
            asks[i] = True
    runs: list[tuple[int, int]] = []
    for (s, e), ask, prev in zip(sents, asks, [None, *asks]):
        if runs and ask == prev:
            runs[-1] = (runs[-1][0], e)
        else:
            runs.append((s, e))
    return runs


def _time_at(u: _Utterance, offset: int) -> str:
    """The start time of the cue that holds ``offset`` of the merged text."""
    i = bisect.bisect_right([o for o, _ in u.marks], offset) - 1
    return u.marks[i][1] if i >= 0 else u.time


def _spans(u: _Utterance) -> list[tuple[int, int, str]]:
    """(start, end, time) of the turns of one merged utterance, relative to its text."""
    if u.speaker is not None:
        return [(0, len(u.text), u.time)]
    return [(s, e, _time_at(u, s)) for s, e in question_runs(u.text)]


def cues_to_transcripts(cues: list[Cue], info: SourceInfo) -> list[Transcript]:
    """Merge consecutive cues by the same speaker and render them as text.

    The stored text is "Speaker: utterance\\n\\n" per merged turn (just the
    utterance when no speaker is known); turn offsets cover the utterance.
    """
    merged: list[_Utterance] = []
    for u in _utterances(cues):
        if merged and merged[-1].speaker == u.speaker:
            last = merged[-1]
            last.text += " "
            last.marks.append((len(last.text), u.time))
            last.text += u.text
        else:
            merged.append(_Utterance(u.speaker, u.text, u.time, [(0, u.time)]))
    if not merged:
        raise IngestError(info.path, f"contains no subtitle text ({len(cues)} cues, all empty)")
    parts: list[str] = []
    turns: list[Turn] = []
    pos = 0
    for u in merged:
        prefix = f"{u.speaker}: " if u.speaker else ""
        start = pos + len(prefix)
        parts.extend((prefix, u.text, "\n\n"))
        for s, e, time in _spans(u):
            turns.append(Turn(start + s, start + e, u.speaker, role_for(u.speaker), time))
        pos = start + len(u.text) + 2
    return [info.transcript("".join(parts), turns)]
