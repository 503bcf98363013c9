"""Transcript turns -> Passages, the unit of coding.

One passage per answer turn; a turn is split into windows of whole sentences
only when it is really long (more than ``max_sentences`` sentences *and* more
than ``max_chars`` characters, or more than ``hard_max_chars`` characters in
any number of sentences). The defaults keep every paragraph of the bundled
thesis corpus whole (its longest: 11 sentences in 980 characters, and 8
sentences in 1502). Questions and headings become uncoded context passages.

A fragment too short to code (under ``min_chars``: "Hi!", "And then") joins its
speaker's next turn, or the turn before, when nothing but whitespace lies
between; otherwise it is context too (role "heading", id "<stem>-hNN").
"""
from __future__ import annotations

import math
from dataclasses import replace
from functools import lru_cache
from pathlib import PurePosixPath
from typing import Any, Callable

from pipeline.records import Passage, Role, Transcript, Turn

DEFAULT_MAX_SENTENCES = 8
DEFAULT_MAX_CHARS = 1200
# Longer turns are split whatever their sentence count; above the thesis's 1502.
DEFAULT_HARD_MAX_CHARS = 1600
# Shorter answers say too little to code (the thesis's shortest coded paragraph: 31).
DEFAULT_MIN_CHARS = 30
# spaCy refuses texts over nlp.max_length; sentencize long turns piecewise.
_CHUNK = 100_000


@lru_cache(maxsize=4)
def sentencizer(lang: str):
    """A cached blank spaCy pipeline with a rule-based sentencizer (no model to load)."""
    import spacy

    nlp = spacy.blank(lang)
    nlp.add_pipe("sentencizer")
    return nlp


def _language(transcript: Transcript) -> str:
    return "da" if (transcript.language or "").lower().startswith("da") else "en"


def _chunks(text: str) -> list[tuple[int, str]]:
    """(offset, piece) cuts of at most _CHUNK characters, after a sentence end where possible."""
    out: list[tuple[int, str]] = []
    pos = 0
    while len(text) - pos > _CHUNK:
        lo, hi = pos + _CHUNK // 2, pos + _CHUNK
        cut = max(text.rfind(mark, lo, hi) for mark in (". ", "? ", "! ", "\n"))
        if cut == -1:
            cut = text.rfind(" ", lo, hi)
        cut = hi if cut == -1 else cut + 1
        out.append((pos, text[pos:cut]))
        pos = cut
    out.append((pos, text[pos:]))
    return out


def sentence_spans(text: str, nlp) -> list[tuple[int, int]]:
    """Sentence (start, end) offsets in ``text``, whitespace-only sentences dropped."""
    spans: list[tuple[int, int]] = []
    for offset, piece in _chunks(text):
        for sent in nlp(piece).sents:
            if sent.text.strip():
                spans.append((offset + sent.start_char, offset + sent.end_char))
    return spans


def _stripped(text: str, start: int, end: int) -> tuple[int, int]:
    piece = text[start:end]
    lead = len(piece) - len(piece.lstrip())
    return start + lead, start + lead + len(piece.strip())


def _n_windows(n_sents: int, length: int, max_sentences: int, max_chars: int, hard_max_chars: int) -> int:
    by_sentences = math.ceil(n_sents / max_sentences) if n_sents > max_sentences and length > max_chars else 1
    by_chars = math.ceil(length / hard_max_chars) if length > hard_max_chars else 1
    return min(n_sents, max(by_sentences, by_chars))


def _windows(transcript: Transcript, turn: Turn, max_sentences: int, max_chars: int, hard_max_chars: int,
             min_chars: int, get_nlp: Callable[[], Any]) -> list[tuple[int, int]]:
    """The turn itself, or balanced windows of whole sentences when it is long."""
    if turn.given_id is not None or turn.end - turn.start <= min(max_chars, hard_max_chars):
        return [(turn.start, turn.end)]  # pre-segmented passages are never re-cut
    sents = sentence_spans(transcript.text[turn.start:turn.end], get_nlp())
    n_windows = _n_windows(len(sents), turn.end - turn.start, max_sentences, max_chars, hard_max_chars)
    if n_windows <= 1:
        return [(turn.start, turn.end)]
    size = math.ceil(len(sents) / n_windows)
    groups = [g for i in range(0, len(sents), size) for g in _capped(sents[i:i + size], hard_max_chars)]
    out = [_stripped(transcript.text, turn.start + g[0][0], turn.start + g[-1][1]) for g in groups]
    return _join_short_windows([w for w in out if w[0] < w[1]], min_chars)


def _capped(group: list[tuple[int, int]], hard_max_chars: int) -> list[list[tuple[int, int]]]:
    """A group of sentences cut at the boundary nearest its middle until each part fits the cap."""
    if len(group) < 2 or group[-1][1] - group[0][0] <= hard_max_chars:
        return [group]
    middle = (group[0][0] + group[-1][1]) / 2
    cut = min(range(1, len(group)), key=lambda k: abs(group[k][0] - middle))
    return _capped(group[:cut], hard_max_chars) + _capped(group[cut:], hard_max_chars)


def _join_short_windows(windows: list[tuple[int, int]], min_chars: int) -> list[tuple[int, int]]:
    """A window under min_chars (a last "Yes.") joins its neighbour: windows of one turn are adjacent."""
    out: list[tuple[int, int]] = []
    for start, end in windows:
        if out and (end - start < min_chars or out[-1][1] - out[-1][0] < min_chars):
            out[-1] = (out[-1][0], end)
        else:
            out.append((start, end))
    return out


def _gap_is_blank(text: str, end: int, start: int) -> bool:
    return end <= start and not text[end:start].strip()


def _joinable(text: str, a: Turn, b: Turn) -> bool:
    """Two adjacent answer turns of one speaker with only whitespace between (no label)."""
    return (a.role == b.role == "answer" and a.speaker == b.speaker and a.given_id is None
            and b.given_id is None and _gap_is_blank(text, a.end, b.start))


def _coding_units(transcript: Transcript, turns: list[Turn], min_chars: int) -> list[Turn]:
    """Turns with each short answer fragment joined to its speaker's next or previous turn, or made context."""
    text = transcript.text
    out: list[Turn] = []
    carry: Turn | None = None  # short fragments waiting for the speaker's next turn
    for i, turn in enumerate(turns):
        if carry is not None:
            turn = replace(turn, start=carry.start, time=carry.time or turn.time)
            carry = None
        short = turn.role == "answer" and turn.given_id is None and turn.end - turn.start < min_chars
        if not short:
            out.append(turn)
        elif i + 1 < len(turns) and _joinable(text, turn, turns[i + 1]):
            carry = turn
        elif out and _joinable(text, out[-1], turn):
            out[-1] = replace(out[-1], end=turn.end)
        else:
            out.append(replace(turn, role="heading"))  # a fragment on its own: context
    return out


def id_stem(source: str) -> str:
    """Passage-id prefix: the file stem, led by its sub-folders so ids stay unique across folders."""
    path = PurePosixPath(source)
    parts = [*path.parent.parts, path.stem] if str(path.parent) != "." else [path.stem]
    return "-".join("_".join(p.lower().split()) for p in parts)


def segment(
    transcript: Transcript,
    *,
    max_sentences: int = DEFAULT_MAX_SENTENCES,
    max_chars: int = DEFAULT_MAX_CHARS,
    code_questions: bool = False,
    nlp=None,
    min_chars: int = DEFAULT_MIN_CHARS,
    hard_max_chars: int = DEFAULT_HARD_MAX_CHARS,
) -> list[Passage]:
    """Passages of one transcript, in order; ``text == transcript.text[start:end]``.

    Ids: the source's own id when given, else "<stem>-NN" numbering the coded
    passages from 1 (windows of a split turn are consecutive), and
    "<stem>-qNN"/"<stem>-hNN" for question and heading context passages
    (a fragment under ``min_chars`` that joins nothing is a heading).
    ``code_questions`` makes interviewer turns coded answers too.
    """
    if max_sentences < 1:
        raise ValueError("max_sentences must be at least 1")
    lang = _language(transcript)
    # spaCy is imported only when some turn is long enough to need splitting.
    get_nlp = (lambda: nlp) if nlp is not None else (lambda: sentencizer(lang))
    stem = id_stem(transcript.source)
    counters = {"answer": 0, "question": 0, "heading": 0}
    prefixes = {"answer": "", "question": "q", "heading": "h"}
    passages: list[Passage] = []
    turns = [replace(t, role="answer") if (t.role == "question" and code_questions) else t for t in transcript.turns]
    for turn in _coding_units(transcript, turns, min_chars):
        role: Role = turn.role
        spans = [(turn.start, turn.end)] if role != "answer" else _windows(
            transcript, turn, max_sentences, max_chars, hard_max_chars, min_chars, get_nlp)
        for start, end in spans:
            counters[role] += 1
            pid = turn.given_id if turn.given_id is not None else f"{stem}-{prefixes[role]}{counters[role]:02d}"
            passages.append(Passage(
                id=pid, company=transcript.company, source=transcript.source, start=start, end=end,
                text=transcript.text[start:end], speaker=turn.speaker, role=role, language=transcript.language,
            ))
    return passages
