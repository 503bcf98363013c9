"""Speaker labels at the start of a line: `Name: text`, `Q:`/`A:`, otter.ai headers.

Every pattern is matched against a bounded prefix of the line, so a multi-megabyte
line costs no more than a short one.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from pipeline.records import Role

#: labels (lowercased, without trailing dots) that mark the interviewer
QUESTION_LABELS = frozenset({
    "interviewer", "intervieweren", "q", "i", "int", "question", "moderator", "spm", "spørgsmål",
})
# "Interviewer 2", "Moderator (Anna)"
_QUESTION_FIRST_WORDS = frozenset({"interviewer", "intervieweren", "moderator"})
# lowercase name parts that still belong to a proper name
_PARTICLES = frozenset({"van", "von", "de", "der", "den", "da", "di", "la", "le", "af", "du", "bin", "al"})
_PREFIX = 120

_NAME_COLON = re.compile(
    r"[ \t]*(?:\*\*|__)?(?P<name>[^:\r\n*_]{1,48}?)[ \t]*(?:\*\*|__)?:(?:\*\*|__)?(?:[ \t]+|$)"
)
# otter.ai: "Speaker 1  00:01:05" or "Anna Holm  1:05" alone on its line
_HEADER = re.compile(r"[ \t]*(?P<name>[^\W\d_][^\t\r\n:]{0,47}?)[ \t]+(?P<time>\d{1,2}:\d{2}(?::\d{2})?)[ \t]*$")


@dataclass(frozen=True)
class Label:
    """A speaker label found at the start of a line."""

    speaker: str
    role: Role
    #: offset within the line where the utterance starts (line length for a header line)
    body: int
    time: str | None = None


def _clock(time: str) -> str:
    """ "1:05" (m:ss) or "0:01:05" (h:mm:ss) as "00:01:05.000", like subtitle cue times."""
    parts = [int(p) for p in time.split(":")]
    h, m, s = ([0] + parts)[-3:]
    return f"{h:02d}:{m:02d}:{s:02d}.000"


@lru_cache(maxsize=1024)  # a transcript repeats a handful of labels thousands of times
def role_for(speaker: str | None) -> Role:
    """Interviewer-like labels ask questions; everyone else answers."""
    if not speaker:
        return "answer"
    norm = " ".join(speaker.lower().replace(".", " ").split())
    if norm in QUESTION_LABELS or (norm and norm.split()[0] in _QUESTION_FIRST_WORDS):
        return "question"
    return "answer"


@lru_cache(maxsize=1024)
def plausible_name(name: str, *, loose: bool = False) -> bool:
    """A speaker name: 1-4 words, each capitalised (or a number or a name particle).

    ``loose`` (subtitle cues, where Zoom writes names as typed) only asks for
    1-6 words starting with a letter.
    """
    words = name.split()
    if not words or not words[0][0].isalpha():
        return False
    if role_for(name) == "question" or name.lower().strip(".") in ("a", "r", "interviewee", "respondent"):
        return True
    if loose:
        return len(words) <= 6
    return len(words) <= 4 and all(w[0].isupper() or w.isdigit() or w in _PARTICLES for w in words)


def match_label(text: str, start: int = 0, end: int | None = None, *, loose: bool = False) -> Label | None:
    """The speaker label opening the line text[start:end] (no line break in it), if any."""
    end = len(text) if end is None else end
    m = _NAME_COLON.match(text, start, min(end, start + _PREFIX))
    if m and plausible_name(m.group("name"), loose=loose):
        name = m.group("name").strip()
        return Label(name, role_for(name), m.end() - start)
    if end - start <= _PREFIX:
        h = _HEADER.match(text, start, end)
        if h and plausible_name(h.group("name"), loose=loose):
            name = h.group("name").strip()
            return Label(name, role_for(name), end - start, _clock(h.group("time")))
    return None
