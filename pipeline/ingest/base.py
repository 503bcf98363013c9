"""What every format reader receives and how it builds a Transcript."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from pipeline.records import Transcript, Turn


@dataclass(frozen=True)
class SourceInfo:
    """A file about to be read, with the metadata the manifest (or its name) gives."""

    path: Path
    #: path relative to the corpus folder, posix style
    source: str
    company: str
    format: str
    interviewee: str | None = None
    date: str | None = None
    language: str | None = None
    #: the interviewer's speaker name, when the user gives it (see pipeline.ingest.roles)
    interviewer: str | None = None

    def transcript(self, text: str, turns: list[Turn], company: str | None = None) -> Transcript:
        return Transcript(
            source=self.source,
            company=company or self.company,
            text=text,
            format=self.format,
            turns=turns,
            interviewee=self.interviewee,
            date=self.date,
            language=self.language,
            interviewer=self.interviewer,
        )


#: A format reader: the file's bytes -> one Transcript per company in it.
Reader = Callable[[bytes, SourceInfo], "list[Transcript]"]


def stripped_span(text: str, start: int, end: int) -> tuple[int, int]:
    """Shrink [start, end) so it neither starts nor ends with whitespace."""
    if start < end and not text[start].isspace() and not text[end - 1].isspace():
        return start, end
    piece = text[start:end]
    body = piece.strip()
    if not body:
        return start, start
    lead = len(piece) - len(piece.lstrip())
    return start + lead, start + lead + len(body)
