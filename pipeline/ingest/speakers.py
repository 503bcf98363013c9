"""Speaker labels at the start of a line: `Name: text`, `Q:`/`A:`, otter.ai headers.

Also the timed labels of other exports: `Name (00:01:05):` (Rev), `Name [00:01:05]`
(Trint), `[00:01:05] Name: text` (Descript); and the lines that look like labels
but are a transcript's metadata (`Date: 12 February 2024`), never a speaker.

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
_CLOCK = r"(?P<time>\d{1,2}:\d{2}(?::\d{2})?)(?:[.,]\d{1,3})?"
# Rev "Anna Holm (00:01:05):" and Trint "Anna Holm [00:01:05]", alone on the line or followed by the text
# (a parenthesised time needs the colon or the line end: "Bo (10:30) said" is prose)
_TIMED_NAME = re.compile(
    rf"[ \t]*(?P<name>[^\W\d_][^\t\r\n:\[\]()]{{0,47}}?)[ \t]+"
    rf"(?:\[{_CLOCK}\][ \t]*:?(?:[ \t]+|$)|\({_CLOCK.replace('time', 'ptime')}\)[ \t]*(?::(?:[ \t]+|$)|$))")
# Descript "[00:01:05] Anna Holm: text": a timestamp before the label
_LEADING_CLOCK = re.compile(rf"[ \t]*[\[(]?{_CLOCK}[\])]?[ \t]+")
# A line that is nothing but a timestamp: "00:12:31", "[12:31]", "(0:12:31.500)"
_LONE_CLOCK = re.compile(r"[ \t]*[\[(]?\d{1,2}:\d{2}(?::\d{2})?(?:[.,]\d{1,3})?[\])]?[ \t]*$")
# The footer otter.ai and others append, and its Danish counterpart
_CREDIT = re.compile(r"[ \t]*(?:transcribed by|transcript by|transskriberet af|transskribering:)[ \t]", re.IGNORECASE)

#: label words (lowercased) that head a transcript's metadata lines, never a speaker's turn
METADATA_LABELS = frozenset({
    "date", "dato", "time", "tid", "tidspunkt", "duration", "length", "varighed", "location", "place", "venue", "sted",
    "company", "firm", "virksomhed", "firma", "organisation", "organization", "participants", "deltagere",
    "attendees", "present", "transcriber", "transcribed by", "transskriberet af", "project", "projekt", "file",
    "filename", "fil", "recording", "optagelse", "subject", "emne", "title", "titel", "topic", "language", "sprog",
    "note", "notes", "noter", "source", "kilde", "industry", "branche", "sector", "website", "employees", "ansatte",
    "founded", "grundlagt", "country", "land", "format", "medium", "platform", "mode", "form", "case", "keywords",
    "recorded", "recorded on", "recording date", "interview date", "date of interview", "interviewdato", "optaget",
})
#: label words that head a metadata line in a header ("Interviewer: Karen Lund") but a turn elsewhere
HEADER_ROLE_LABELS = frozenset({
    "interviewer", "interviewers", "intervieweren", "interviewee", "interviewees", "respondent", "respondents",
    "informant", "moderator", "interviewperson", "interviewet",
})


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


def _norm_label(name: str) -> str:
    return " ".join(name.lower().strip(" .").split())


def _speaker_name(name: str, loose: bool) -> str | None:
    """The stripped name when it reads as a speaker's (not a metadata key), else None."""
    name = name.strip()
    if _norm_label(name) in METADATA_LABELS or not plausible_name(name, loose=loose):
        return None
    return name


def match_label(text: str, start: int = 0, end: int | None = None, *, loose: bool = False) -> Label | None:
    """The speaker label opening the line text[start:end] (no line break in it), if any."""
    end = len(text) if end is None else end
    limit = min(end, start + _PREFIX)
    lead = _LEADING_CLOCK.match(text, start, limit)
    at = lead.end() if lead else start
    m = _NAME_COLON.match(text, at, limit)
    name = _speaker_name(m.group("name"), loose) if m else None
    if name is not None:
        return Label(name, role_for(name), m.end() - start, _clock(lead.group("time")) if lead else None)
    t = _TIMED_NAME.match(text, start, limit)
    name = _speaker_name(t.group("name"), loose) if t else None
    if name is not None:
        body = end - start if t.end() >= end else t.end() - start
        return Label(name, role_for(name), body, _clock(t.group("time") or t.group("ptime")))
    if end - start <= _PREFIX:
        h = _HEADER.match(text, start, end)
        name = _speaker_name(h.group("name"), loose) if h else None
        if name is not None:
            return Label(name, role_for(name), end - start, _clock(h.group("time")))
    return None


def metadata_line(text: str, start: int = 0, end: int | None = None, *, in_header: bool = False) -> bool:
    """True for a line that is a transcript's metadata, not speech.

    "Date: 12 February 2024", a lone timestamp, an otter.ai "Transcribed by" footer;
    ``in_header`` (no one has spoken yet) adds "Interviewer: Karen Lund" style lines.
    """
    end = len(text) if end is None else end
    limit = min(end, start + _PREFIX)
    if _LONE_CLOCK.match(text, start, end) or _CREDIT.match(text, start, limit):
        return True
    m = _NAME_COLON.match(text, start, limit)
    # a header key is written capitalised ("Date:"); "date: the 5th" in wrapped prose is text
    if m is None or not m.group("name").lstrip()[:1].isupper():
        return False
    key = _norm_label(m.group("name"))
    if key in METADATA_LABELS:
        return True
    return in_header and key in HEADER_ROLE_LABELS and header_value(text[m.end():end])


def header_value(value: str) -> bool:
    """A metadata value such as a name or "Peter Friis, founder": short, no question, no sentence end."""
    value = value.strip()
    return 0 < len(value) <= 60 and len(value.split()) <= 8 and "?" not in value and value[-1] not in ".!"


def header_name(text: str, start: int, end: int) -> tuple[str, str] | None:
    """("interviewer", "Karen Lund") for a header line naming a participant's role, else None."""
    m = _NAME_COLON.match(text, start, min(end, start + _PREFIX))
    if m is None or _norm_label(m.group("name")) not in HEADER_ROLE_LABELS:
        return None
    value = text[m.end():end].strip()
    return (_norm_label(m.group("name")), value) if header_value(value) else None
