"""Who asks and who answers: each speaker's role, and every interviewer turn a question.

In order of precedence, the interviewer is
1. whoever a label says ("Interviewer:", "Q:", "I:"; see speakers.role_for), always;
2. the speaker(s) the user names: ``interviewer=`` or ``Transcript.interviewer``
   (the manifest's ``interviewer`` column, a CLI flag);
3. the speaker the transcript's own header names ("Interviewer: Karen Lund");
4. the guess: the speaker whose turns are mostly short and mostly questions.
Every turn of an interviewer becomes a question (context, never coded), and
``Transcript.speaker_roles`` records "interviewer" or "respondent" per speaker.
A turn without a speaker that is a short question on its own is a question too
(auto-captions and unlabelled notes have no speakers to tell by).
"""
from __future__ import annotations

import re
import statistics
from dataclasses import replace
from typing import Iterable

from pipeline.ingest.speakers import header_name, role_for
from pipeline.records import Transcript, Turn

INTERVIEWER = "interviewer"
RESPONDENT = "respondent"
# The guess reads at most this many speaker turns: plenty to tell, and bounded on a 200 MB file.
_SAMPLE_TURNS = 5000
# A guessed interviewer asks in at least this share of their turns, at least this often,
# and their typical (median) turn is at most this fraction of the longest-talking speaker's.
_QUESTION_SHARE = 0.5
_MIN_QUESTIONS = 2
_SHORTER = 0.5
# A turn without a speaker, this short and ending in "?", is the interviewer's.
_SPEAKERLESS_QUESTION_CHARS = 300
# What may follow the question mark at the end of a question.
_CLOSERS = frozenset("\"'”’»)] \t\r\n")
# The header keys that name the interviewer, and the separators between several names.
_INTERVIEWER_KEYS = frozenset({"interviewer", "interviewers", "intervieweren", "moderator"})
_NAME_LIST = re.compile(r"\s*(?:,|;|&|\band\b|\bog\b)\s*")


def ends_with_question(text: str, start: int, end: int) -> bool:
    """True when text[start:end] ends in a question mark (closing quotes and brackets aside)."""
    i = end - 1
    while i >= start and text[i] in _CLOSERS:
        i -= 1
    return i >= start and text[i] == "?"


def _norm(name: str) -> str:
    return " ".join(name.casefold().replace(".", " ").split())


def interviewer_names(interviewer: str | Iterable[str] | None) -> list[str]:
    """The names an override gives: one name, a "A; B" or "A, B" list, or an iterable of names."""
    if interviewer is None:
        return []
    items = [interviewer] if isinstance(interviewer, str) else list(interviewer)
    return [n.strip() for item in items for n in re.split(r"[;,]", item) if n.strip()]


def match_speaker(name: str, speakers: Iterable[str]) -> str | None:
    """The speaker ``name`` means: the same name (case and dots aside), else the one sharing its first word."""
    key = _norm(name)
    if not key:
        return None
    speakers = list(speakers)
    exact = [s for s in speakers if _norm(s) == key]
    if exact:
        return exact[0]
    # "Karen" for "Karen Lund" and the other way round, when only one speaker fits
    first = key.split()[0]
    partial = [s for s in speakers if _norm(s) and _norm(s).split()[0] == first]
    return partial[0] if len(partial) == 1 else None


def _matched(names: Iterable[str], speakers: list[str]) -> set[str]:
    return {m for m in (match_speaker(n, speakers) for n in names) if m is not None}


def _header_interviewers(transcript: Transcript) -> list[str]:
    """Names the transcript's header gives for its interviewer ("Interviewer: Karen Lund")."""
    names: list[str] = []
    for turn in transcript.turns:
        if turn.role == "heading" and turn.speaker is None:
            found = header_name(transcript.text, turn.start, turn.end)
            if found and found[0] in _INTERVIEWER_KEYS:
                names.extend(n for n in _NAME_LIST.split(found[1]) if n)
    return names


def _turn_stats(transcript: Transcript) -> dict[str, tuple[list[int], int]]:
    """Per speaker whose labels say nothing: turn lengths and how many turns are questions."""
    stats: dict[str, tuple[list[int], int]] = {}
    seen = 0
    for turn in transcript.turns:
        if turn.speaker is None or turn.given_id is not None or turn.role == "heading":
            continue
        lengths, questions = stats.get(turn.speaker, ([], 0))
        lengths.append(turn.end - turn.start)
        stats[turn.speaker] = (lengths, questions + ends_with_question(transcript.text, turn.start, turn.end))
        seen += 1
        if seen >= _SAMPLE_TURNS:
            break
    return stats


def guess_interviewers(transcript: Transcript) -> set[str]:
    """Speakers whose turns are mostly questions and much shorter than the main respondent's.

    Empty when no speaker stands out, or when everyone would be an interviewer.
    """
    stats = _turn_stats(transcript)
    if len(stats) < 2:
        return set()
    medians = {s: statistics.median(lengths) for s, (lengths, _) in stats.items()}
    found = set()
    for speaker, (lengths, questions) in stats.items():
        longest_other = max(m for s, m in medians.items() if s != speaker)
        if (questions >= _MIN_QUESTIONS and questions >= _QUESTION_SHARE * len(lengths)
                and medians[speaker] <= _SHORTER * longest_other):
            found.add(speaker)
    return found if found != set(stats) else set()


def _speakers(turns: list[Turn]) -> list[str]:
    return list(dict.fromkeys(t.speaker for t in turns if t.speaker is not None))


def _role_of(transcript: Transcript, turn: Turn, interviewers: set[str]) -> str:
    if turn.given_id is not None or turn.role == "heading":
        return turn.role  # a pre-segmented source says itself; headings stay context
    if turn.speaker is None:
        if (turn.end - turn.start <= _SPEAKERLESS_QUESTION_CHARS
                and ends_with_question(transcript.text, turn.start, turn.end)):
            return "question"
        return turn.role
    return "question" if turn.speaker in interviewers else role_for(turn.speaker)


def choose_interviewers(transcript: Transcript, interviewer: str | Iterable[str] | None = None) -> set[str]:
    """The interviewer speakers of a transcript, by the precedence in the module docstring."""
    speakers = _speakers(transcript.turns)
    labelled = {s for s in speakers if role_for(s) == "question"}
    given = interviewer_names(interviewer if interviewer is not None else transcript.interviewer)
    chosen = _matched(given, speakers)
    if not chosen and not labelled:
        chosen = _matched(_header_interviewers(transcript), speakers) or guess_interviewers(transcript)
    return labelled | chosen


def assign_roles(transcript: Transcript, interviewer: str | Iterable[str] | None = None) -> Transcript:
    """Set every turn's role and ``speaker_roles``; returns the same (modified) transcript.

    ``interviewer`` (a speaker name, "A; B", or a list) beats ``transcript.interviewer``,
    which beats the header and the guess; a name that matches no speaker is ignored.
    Calling it again with another interviewer recomputes everything.
    """
    interviewers = choose_interviewers(transcript, interviewer)
    turns = transcript.turns
    for i, turn in enumerate(turns):
        role = _role_of(transcript, turn, interviewers)
        if role != turn.role:
            turns[i] = replace(turn, role=role)
    asking = interviewers | {t.speaker for t in turns if t.role == "question" and t.speaker is not None}
    transcript.speaker_roles = {s: INTERVIEWER if s in asking else RESPONDENT for s in _speakers(turns)}
    return transcript
