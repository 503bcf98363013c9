"""Word .docx transcripts (python-docx).

The stored text is a rendering: the non-empty paragraphs joined by "\\n\\n".
Two-column tables (speaker | utterance, a common transcript layout) render
each row as "speaker: utterance" so speaker detection applies to them too;
time | speaker | utterance rows render as "[time] speaker: utterance". A header
row ("Speaker | Text") is a heading.
"""
from __future__ import annotations

import io
import re
import zipfile

from pipeline.archive import DOCX_LIMITS, ArchiveError, verify_members
from pipeline.errors import IngestError
from pipeline.ingest.base import SourceInfo
from pipeline.ingest.decode import magic_kind
from pipeline.ingest.text import Block, turns_from_blocks
from pipeline.records import Transcript

#: words a transcript table's header row is made of (lowercased)
_HEADER_CELLS = frozenset({
    "speaker", "speakers", "name", "navn", "taler", "person", "who", "hvem", "text", "tekst", "transcript",
    "transskription", "utterance", "statement", "udsagn", "time", "tid", "timestamp", "tidspunkt", "timecode",
    "start", "role", "rolle", "interviewer", "respondent", "spørgsmål", "svar", "question", "answer",
})
_CELL_TIME = re.compile(r"[\[(]?\d{1,2}:\d{2}(?::\d{2})?(?:[.,]\d{1,3})?[\])]?")


def _is_heading(paragraph) -> bool:
    try:
        name = paragraph.style.name or ""
    except (KeyError, ValueError):  # a style id the document does not define
        return False
    return name.startswith(("Heading", "Title", "Overskrift", "Titel"))


def _paragraphs(document) -> list[tuple[str, bool]]:
    """(text, is_heading) for body paragraphs and table rows, in document order."""
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    out: list[tuple[str, bool]] = []
    for item in document.iter_inner_content():
        if isinstance(item, Paragraph):
            out.append((item.text, _is_heading(item)))
        elif isinstance(item, Table):
            for i, row in enumerate(item.rows):
                cells = [c.text.strip() for c in row.cells]
                cells = [c for k, c in enumerate(cells) if c and (k == 0 or c != cells[k - 1])]
                header = i == 0 and bool(cells) and all(c.lower().strip(" :") in _HEADER_CELLS for c in cells)
                out.append(("  ".join(cells), True) if header else (_row_text(cells), False))
    return out


def _row_text(cells: list[str]) -> str:
    """A table row as a labelled line: "speaker: utterance" or "[time] speaker: utterance"."""
    if len(cells) == 2:
        return ": ".join(cells)
    if len(cells) == 3 and _CELL_TIME.fullmatch(cells[0]):
        return f"[{cells[0].strip('[]()')}] {cells[1]}: {cells[2]}"
    return "  ".join(cells)


def _open(data: bytes, info: SourceInfo):
    import docx

    if not zipfile.is_zipfile(io.BytesIO(data)):
        what = magic_kind(data)
        if what is not None:
            raise IngestError(info.path, f"looks like {what} file, not a Word .docx file")
        raise IngestError(info.path, "is not a Word .docx file (not a zip archive); "
                                     "old .doc files must be saved as .docx first")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            verify_members(zf, DOCX_LIMITS)
    except ArchiveError as exc:
        raise IngestError(info.path, f"Word file refused: {exc}") from None
    except zipfile.BadZipFile as exc:
        raise IngestError(info.path, f"is a damaged zip archive ({exc}), not a readable Word document") from None
    try:
        return docx.Document(io.BytesIO(data))
    except Exception as exc:  # python-docx raises KeyError, ValueError, lxml errors...
        raise IngestError(info.path, f"is a zip archive but not a readable Word document ({type(exc).__name__}: "
                                     f"{str(exc)[:120]})") from None


def read_docx(data: bytes, info: SourceInfo) -> list[Transcript]:
    """A .docx transcript: paragraphs, Word headings, speaker turns."""
    if not data:
        raise IngestError(info.path, "file is empty")
    document = _open(data, info)
    parts: list[str] = []
    blocks: list[Block] = []
    pos = 0
    for text, heading in _paragraphs(document):
        text = text.strip()
        if not text:
            continue
        if parts:
            parts.append("\n\n")
            pos += 2
        parts.append(text)
        blocks.append(Block(pos, pos + len(text), heading))
        pos += len(text)
    if not blocks:
        raise IngestError(info.path, "contains no text (the Word document has no non-empty paragraphs)")
    rendered = "".join(parts)
    return [info.transcript(rendered, turns_from_blocks(rendered, blocks))]
