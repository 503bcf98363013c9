"""Plain text and Markdown: paragraphs, headings and speaker turns.

Paragraphs are separated by blank lines (any mix of \\n, \\r\\n and \\r). When
most paragraphs open with a speaker label the text is read as speaker turns;
a turn's offsets then cover the utterance only, never the label.

Text written one paragraph per line (no blank lines) is split at its lines.
Metadata lines ("Date: 12 February 2024", lone timestamps, a "Transcribed by"
footer) and the title lines at the top of prose are headings: context, never
coded, never a speaker.
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Iterator

from pipeline.ingest.base import SourceInfo, stripped_span
from pipeline.ingest.decode import decode_text
from pipeline.ingest.speakers import HEADER_ROLE_LABELS, Label, header_value, match_label, metadata_line
from pipeline.records import Role, Transcript, Turn

_BREAK = re.compile(r"\r\n|\r|\n")
# A line break followed by one or more whitespace-only lines ("\r(?!\n)" so a
# CRLF is never taken for two line breaks when the regex backtracks).
_PARA_SEP = re.compile(r"(?:\r\n|\r(?!\n)|\n)(?:[ \t\f\v]*(?:\r\n|\r(?!\n)|\n))+")
_ATX = re.compile(r" {0,3}#{1,6}(?:[ \t]+|$)")
_ATX_CLOSE = re.compile(r"[ \t]+#+[ \t]*$")
# Speaker detection looks at this many paragraphs: enough to be sure, and
# keeps a 200 MB file from being scanned twice.
_DETECT_BLOCKS = 2000
# One paragraph per line: most of a block's long lines end a sentence (hard-wrapped
# prose breaks its lines mid-sentence). Shorter lines are not counted.
_LONG_LINE = 40
_LINE_ENDS_SHARE = 0.6
_SENTENCE_END = frozenset(".?!…:;\"”’»)")
# A title: one short line without punctuation at its end, before the first paragraph.
_TITLE_CHARS = 100
_TITLE_WORDS = 14


@dataclass(frozen=True, slots=True)  # slots: a 200 MB file has millions of these
class Block:
    """A paragraph (or a heading line) of the stored text."""

    start: int
    end: int
    heading: bool = False


def lines(text: str, start: int, end: int) -> Iterator[tuple[int, int]]:
    """(start, end) of each line in text[start:end], line breaks excluded."""
    pos = start
    for m in _BREAK.finditer(text, start, end):
        yield pos, m.start()
        pos = m.end()
    if pos < end:
        yield pos, end


def paragraph_blocks(text: str) -> list[Block]:
    """Non-empty paragraphs, stripped of surrounding whitespace."""
    blocks: list[Block] = []
    pos = 0
    for m in _PARA_SEP.finditer(text):
        _add(blocks, text, pos, m.start())
        pos = m.end()
    _add(blocks, text, pos, len(text))
    return blocks


def _add(blocks: list[Block], text: str, start: int, end: int, heading: bool = False) -> None:
    s, e = stripped_span(text, start, end)
    if s < e:
        blocks.append(Block(s, e, heading))


def markdown_blocks(text: str) -> list[Block]:
    """Paragraphs with every ATX heading line ("# ...") split out as a heading block."""
    out: list[Block] = []
    for block in paragraph_blocks(text):
        if text.find("#", block.start, block.end) == -1:
            out.append(block)
            continue
        run_start = None
        for ls, le in lines(text, block.start, block.end):
            m = _ATX.match(text, ls, le)
            if m is None:
                run_start = ls if run_start is None else run_start
                continue
            if run_start is not None:
                _add(out, text, run_start, ls)
                run_start = None
            close = _ATX_CLOSE.search(text, m.end(), le)
            _add(out, text, m.end(), close.start() if close else le, heading=True)
        if run_start is not None:
            _add(out, text, run_start, block.end)
    return out


def _header_label(text: str, label: Label, ls: int, le: int) -> bool:
    """ "Interviewer: Karen Lund": a label word heading a metadata value, not a turn."""
    return (" ".join(label.speaker.lower().strip(" .").split()) in HEADER_ROLE_LABELS
            and header_value(text[ls + label.body:le]))


@dataclass
class _LabelCounts:
    """What the speaker detection saw in the first paragraphs."""

    paragraphs: int = 0
    #: paragraphs that open with a label, and lines that carry one
    labelled: int = 0
    label_lines: int = 0
    speakers: Counter[str] = field(default_factory=Counter)

    def reads_as_turns(self) -> bool:
        if self.label_lines < 2:
            return False
        repeated = sum(1 for n in self.speakers.values() if n >= 2)
        # Either most paragraphs are labelled, or two speakers alternate with long
        # unlabelled continuation paragraphs in between.
        return 2 * self.labelled >= self.paragraphs or (repeated >= 2 and 5 * self.labelled >= self.paragraphs)


def is_speaker_text(text: str, blocks: list[Block]) -> bool:
    """True when the paragraphs read as speaker turns rather than prose."""
    return _count_labels(text, blocks).reads_as_turns()


def _count_labels(text: str, blocks: list[Block]) -> _LabelCounts:
    body = [b for b in blocks if not b.heading][:_DETECT_BLOCKS]
    counts = _LabelCounts(paragraphs=len(body))
    for b in body:
        for i, (ls, le) in enumerate(lines(text, b.start, b.end)):
            label = match_label(text, ls, le)
            if label is None or _header_label(text, label, ls, le):
                if label is None and i == 0 and not metadata_line(text, ls, le, in_header=True):
                    break  # prose paragraph: don't scan its other lines
                continue  # metadata lines count for neither side
            counts.label_lines += 1
            counts.speakers[label.speaker] += 1
            counts.labelled += i == 0
    return counts


def turns_from_blocks(text: str, blocks: list[Block]) -> list[Turn]:
    """Turns for paragraphs/headings, reading speaker labels when the text has them."""
    counts = _count_labels(text, blocks)
    if not counts.reads_as_turns():
        return _prose_turns(text, line_paragraphs(text, blocks))
    # "Recorded: 4 October 2023" on top: a label word no one speaks under again
    once = frozenset(name for name, n in counts.speakers.items() if n == 1)
    return _speaker_turns(text, blocks, once)


def _ends_sentence(text: str, end: int) -> bool:
    return end > 0 and text[end - 1] in _SENTENCE_END


def _one_paragraph_per_line(text: str, spans: list[tuple[int, int]]) -> bool:
    """True when a run of lines reads as one paragraph per line, not as wrapped prose."""
    long = [(ls, le) for ls, le in spans if le - ls >= _LONG_LINE]
    if len(long) < 2:
        return False
    ends = sum(1 for _, le in long if _ends_sentence(text, le))
    return ends >= _LINE_ENDS_SHARE * len(long)


def _split_block(text: str, b: Block) -> list[Block]:
    """A block cut at its metadata lines, and at every line where it is one paragraph per line."""
    out: list[Block] = []
    run: list[tuple[int, int]] = []

    def close_run() -> None:
        if not run:
            return
        if _one_paragraph_per_line(text, run):
            for ls, le in run:
                _add(out, text, ls, le)
        else:
            _add(out, text, run[0][0], run[-1][1])
        run.clear()

    for ls, le in lines(text, b.start, b.end):
        s, e = stripped_span(text, ls, le)
        if s == e:
            continue
        if metadata_line(text, s, e, in_header=not out and not run):
            close_run()
            _add(out, text, s, e, heading=True)
        else:
            run.append((s, e))
    close_run()
    return out


def line_paragraphs(text: str, blocks: list[Block]) -> list[Block]:
    """Blocks with one-paragraph-per-line runs split into lines and metadata lines split out."""
    out: list[Block] = []
    for b in blocks:
        if b.heading or _BREAK.search(text, b.start, b.end) is None:
            out.append(b)
        else:
            out.extend(_split_block(text, b))
    return out


def _single_line(text: str, b: Block) -> bool:
    return _BREAK.search(text, b.start, b.end) is None


def _title_line(text: str, b: Block) -> bool:
    """One short line with no punctuation at its end: "Interview with Fjordlys ApS"."""
    if b.end - b.start > _TITLE_CHARS or not _single_line(text, b):
        return False
    return text[b.end - 1].isalnum() and len(text[b.start:b.end].split()) <= _TITLE_WORDS


def _prose_turns(text: str, blocks: list[Block]) -> list[Turn]:
    """Paragraphs as answers; headings, metadata lines and the title lines on top as context."""
    turns: list[Turn] = []
    leading = True  # no paragraph of prose yet
    for i, b in enumerate(blocks):
        context = b.heading or (
            b.end - b.start <= _TITLE_CHARS and _single_line(text, b)
            and metadata_line(text, b.start, b.end, in_header=leading))
        if not context and leading and i + 1 < len(blocks):
            context = _title_line(text, b)
        leading = leading and context
        turns.append(Turn(b.start, b.end, role="heading" if context else "answer"))
    return turns


def _speaker_turns(text: str, blocks: list[Block], once: frozenset[str] = frozenset()) -> list[Turn]:
    turns: list[Turn] = []
    speaker: str | None = None
    role: Role = "answer"
    time: str | None = None

    def flush(start: int | None, end: int) -> None:
        nonlocal time
        if start is None:
            return
        s, e = stripped_span(text, start, end)
        if s < e:
            # Text before the first label (a title, date, names) is context, not speech.
            turns.append(Turn(s, e, speaker, role if speaker else "heading", time))
            time = None

    for b in blocks:
        if b.heading:
            turns.append(Turn(b.start, b.end, role="heading"))
            continue
        seg_start: int | None = None
        seg_end = b.start
        # most paragraphs are a single line: skip the line splitter for them
        single = _BREAK.search(text, b.start, b.end) is None
        for ls, le in ((b.start, b.end),) if single else lines(text, b.start, b.end):
            label = match_label(text, ls, le)
            if _context_line(text, label, ls, le, in_header=speaker is None, once=once):
                # metadata between turns is context; the current speaker goes on after it
                flush(seg_start, seg_end)
                seg_start, seg_end = None, le
                _add_heading(turns, text, ls, le)
                continue
            if label is not None:
                flush(seg_start, seg_end)
                speaker, role, time = label.speaker, label.role, label.time
                seg_start, seg_end = ls + label.body, le
            else:
                seg_start = ls if seg_start is None else seg_start
                seg_end = le
        # A paragraph without a label continues the previous speaker as its own turn.
        flush(seg_start, seg_end)
    return turns


def _context_line(text: str, label: Label | None, ls: int, le: int, *, in_header: bool,
                  once: frozenset[str] = frozenset()) -> bool:
    """A metadata line; in the header (no one has spoken yet) also "Word: value" where
    the word is a role ("Interviewer: Karen Lund") or never labels a turn again."""
    if label is None:
        return metadata_line(text, ls, le, in_header=in_header)
    if not in_header:
        return False
    return _header_label(text, label, ls, le) or (label.speaker in once and header_value(text[ls + label.body:le]))


def _add_heading(turns: list[Turn], text: str, start: int, end: int) -> None:
    s, e = stripped_span(text, start, end)
    if s < e:
        turns.append(Turn(s, e, role="heading"))


def read_text(data: bytes, info: SourceInfo) -> list[Transcript]:
    """A .txt transcript: paragraphs, or speaker turns when labelled."""
    text = decode_text(data, info.path)
    return [info.transcript(text, turns_from_blocks(text, paragraph_blocks(text)))]


def read_markdown(data: bytes, info: SourceInfo) -> list[Transcript]:
    """A .md transcript: like text, with "# ..." lines as (uncoded) headings."""
    text = decode_text(data, info.path)
    return [info.transcript(text, turns_from_blocks(text, markdown_blocks(text)))]
