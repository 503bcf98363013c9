"""The one data model that flows through every stage.

Transcript -> Passage (exact character offsets into ``Transcript.text``) ->
Coding (per code: probability and valence) -> Profile (per company).
"""
from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from typing import Literal

CODES: tuple[str, ...] = ("NET", "ENT", "ABS", "PRI")
VALENCES: tuple[str, ...] = ("+", "-", "0")
FOCI: tuple[str, ...] = ("network", "absorptive_capacity", "entrepreneurship", "balanced")

Role = Literal["answer", "question", "heading"]


def text_hash(text: str) -> str:
    """Stable content hash used for caches, manifests and change detection."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)  # millions of these for a 200 MB transcript
class Turn:
    """A structural unit of a transcript: a paragraph or one speaker's turn.

    ``start``/``end`` index ``Transcript.text``; ``role`` says whether the
    interviewee speaks (coded), the interviewer asks (context only) or the
    line is a heading (context only).
    """

    start: int
    end: int
    speaker: str | None = None
    role: Role = "answer"
    #: timestamp of the first cue, for subtitle formats ("00:01:05.000")
    time: str | None = None
    #: identifier given by the source itself (pre-segmented JSONL), else None
    given_id: str | None = None


@dataclass
class Transcript:
    """One decoded source file.

    ``text`` is the *stored text*: every offset in the pipeline refers to it.
    For plain text it is the decoded file; for subtitle, Word and JSONL sources
    it is a plain-text rendering that is written next to the results.
    """

    source: str
    company: str
    text: str
    format: str
    turns: list[Turn] = field(default_factory=list)
    interviewee: str | None = None
    date: str | None = None
    language: str | None = None
    #: the interviewer's speaker name as given by the user (manifest or argument); beats the guess
    interviewer: str | None = None
    #: each speaker's detected role, "interviewer" or "respondent" (pipeline.ingest.roles)
    speaker_roles: dict[str, str] = field(default_factory=dict)

    @property
    def content_hash(self) -> str:
        return text_hash(self.text)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, row: dict) -> "Transcript":
        return cls(**{**row, "turns": [Turn(**t) for t in row.get("turns", [])]})


@dataclass(frozen=True, slots=True)
class Passage:
    """The unit of coding; ``text == transcript.text[start:end]``."""

    id: str
    company: str
    source: str
    start: int
    end: int
    text: str
    speaker: str | None = None
    role: Role = "answer"
    language: str | None = None

    @property
    def coded(self) -> bool:
        return self.role == "answer"


@dataclass(frozen=True)
class CodeScore:
    """Model output for one code on one passage."""

    p: float
    valence: str
    valence_p: dict[str, float]


@dataclass
class Coding:
    """A passage with its per-code scores and the codes over threshold."""

    passage: Passage
    codes: dict[str, CodeScore]
    assigned: list[str]
    #: per assigned code, the sentence (start, end offsets into the source) that
    #: carries the evidence, when the classifier can tell
    evidence: dict[str, tuple[int, int]] = field(default_factory=dict)
    model_version: str = ""
    #: the language the passage was coded as, and which coder coded it ("main", or "multilingual" for a
    #: language routed to a companion; results before the e5-small default call the main coder "english")
    language: str = ""
    coder: str = ""

    def to_dict(self) -> dict:
        p = self.passage
        return {
            "id": p.id,
            "company": p.company,
            "source": p.source,
            "speaker": p.speaker,
            "start": p.start,
            "end": p.end,
            "text": p.text,
            "codes": {c: asdict(s) for c, s in self.codes.items()},
            "assigned": list(self.assigned),
            "evidence": {c: list(span) for c, span in self.evidence.items()},
            "model_version": self.model_version,
            "language": self.language,
            "coder": self.coder,
        }

    @classmethod
    def from_dict(cls, row: dict) -> "Coding":
        passage = Passage(
            id=row["id"], company=row["company"], source=row["source"],
            start=row["start"], end=row["end"], text=row["text"], speaker=row.get("speaker"),
        )
        codes = {c: CodeScore(**s) for c, s in row["codes"].items()}
        evidence = {c: (int(a), int(b)) for c, (a, b) in row.get("evidence", {}).items()}
        return cls(passage, codes, list(row["assigned"]), evidence, row.get("model_version", ""),
                   row.get("language", ""), row.get("coder", ""))


@dataclass
class CodeProfile:
    """One company's standing on one code."""

    coverage: float
    strength: float
    count: int
    positive: int
    negative: int
    neutral: int
    evidence: list[str] = field(default_factory=list)


@dataclass
class Profile:
    """A company's internationalization capacity profile."""

    company: str
    n_passages: int
    codes: dict[str, CodeProfile]
    primary_focus: str

    def to_dict(self) -> dict:
        return {
            "company": self.company,
            "n_passages": self.n_passages,
            "primary_focus": self.primary_focus,
            "codes": {c: asdict(cp) for c, cp in self.codes.items()},
        }
