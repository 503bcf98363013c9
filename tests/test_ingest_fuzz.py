"""Property tests: for random input in every format, reading raises nothing but
IngestError, and every turn and passage offset reproduces its text."""
from __future__ import annotations

import codecs
import itertools
import json
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.errors import IngestError
from pipeline.ingest import read_source
from pipeline.records import Transcript
from pipeline.segment import segment

# INTCAP_FUZZ_EXAMPLES=2000 for a longer hunt; the default keeps the suite fast.
SETTINGS = settings(max_examples=int(os.environ.get("INTCAP_FUZZ_EXAMPLES", 100)), deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])
_counter = itertools.count()

# Pieces that steer random text into the interesting paths: labels, headings,
# otter headers, every kind of line break, Danish letters, markup.
FRAGMENTS = st.sampled_from([
    "Interviewer: ", "Q: ", "A: ", "Anna Holm: ", "**I:** ", "Speaker 1  00:01:05", "Bo  1:05", "# ", "## Part #",
    "\n", "\r\n", "\r", "\n\n", "\r\n\r\n", " \t ", "æøå ÆØÅ", "Hello. World! Why? ", "<v Anna>", "</v>", "&amp;",
    "-->", "00:00:01.000 --> 00:00:02.000", "0:0:0.570", "1", ":", "\u2028", "\x0c", "é", "\ufeff",
])
TEXT = st.lists(st.one_of(FRAGMENTS, st.text(max_size=20)), max_size=40).map("".join)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def read(folder: Path, name: str, data: bytes) -> list[Transcript] | None:
    """read_source on a fresh file; None when it refused the file with an IngestError."""
    path = folder / f"{next(_counter)}-{name}"
    path.write_bytes(data)
    try:
        transcripts = read_source(path)
    except IngestError as exc:
        assert exc.path == str(path) and exc.problem
        return None
    for t in transcripts:
        check(t)
    return transcripts


def check(t: Transcript) -> None:
    for turn in t.turns:
        assert 0 <= turn.start < turn.end <= len(t.text)
        piece = t.text[turn.start:turn.end]
        if turn.given_id is None:
            assert piece == piece.strip() and piece
    for kw in ({}, {"max_sentences": 1, "max_chars": 10}, {"code_questions": True}):
        passages = segment(t, **kw)
        assert len({p.id for p in passages}) == len(passages)
        for p in passages:
            assert p.text == t.text[p.start:p.end] and p.text


@SETTINGS
@given(text=TEXT, ext=st.sampled_from([".txt", ".md"]),
       encoding=st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "cp1252"]))
def test_text_formats(workdir, text, ext, encoding):
    try:
        data = codecs.encode(text, encoding)
    except UnicodeEncodeError:
        data = text.encode("utf-8")
        encoding = "utf-8"
    result = read(workdir, "t" + ext, data)
    if result is not None and encoding in ("utf-8", "utf-8-sig"):
        [t] = result  # the stored text is the file's text verbatim (one BOM dropped)
        assert t.text == (text if encoding == "utf-8-sig" else text.removeprefix("\ufeff"))


@SETTINGS
@given(data=st.binary(max_size=3000), ext=st.sampled_from([".txt", ".md", ".vtt", ".srt", ".jsonl", ".docx"]))
def test_random_bytes(workdir, data, ext):
    read(workdir, "b" + ext, data)


TIMES = st.one_of(
    st.sampled_from(["00:00:01.000", "0:0:0.570", "00:01.5", "1:02:03,004", "00:00:xx.000", "99:99:99.999", ""]),
    st.from_regex(r"\d{1,2}:\d{1,2}:\d{1,2}[.,]\d{1,3}", fullmatch=True),
)
PAYLOAD = st.one_of(
    TEXT,
    st.builds(lambda n, t: f"<v {n}>{t}</v>", st.sampled_from(["Anna", "Interviewer", "Bo B."]), TEXT),
    st.builds(lambda n, t: f"{n}: {t}", st.sampled_from(["Anna Holm", "interviewer", "Dr. Ko"]), TEXT),
)


@SETTINGS
@given(cues=st.lists(st.tuples(st.booleans(), TIMES, TIMES, PAYLOAD), max_size=12),
       srt=st.booleans(), header=st.booleans(), nl=st.sampled_from(["\n", "\r\n"]))
def test_subtitles(workdir, cues, srt, header, nl):
    blocks = ["WEBVTT"] if header and not srt else []
    for i, (numbered, a, b, payload) in enumerate(cues, 1):
        blocks.append(nl.join(([str(i)] if numbered else []) + [f"{a} --> {b}", payload]))
    read(workdir, "s.srt" if srt else "s.vtt", (nl + nl).join(blocks).encode("utf-8"))


ROWS = st.lists(st.fixed_dictionaries(
    {"id": st.one_of(st.text(max_size=6), st.integers(0, 50)), "text": TEXT},
    optional={"company": st.sampled_from(["A", "B", "", " "]), "speaker": st.sampled_from(["Interviewer", "X", None]),
              "role": st.sampled_from(["answer", "question", "heading", "other"])},
), max_size=10)


def owner(row: dict) -> str | None:
    return (row.get("company") or "").strip() or None


@SETTINGS
@given(rows=ROWS, broken=st.one_of(st.none(), st.integers(0, 10)))
def test_jsonl(workdir, rows, broken):
    lines = [json.dumps(r, ensure_ascii=False) for r in rows]
    if broken is not None and lines:
        lines[broken % len(lines)] = lines[broken % len(lines)][:-1]
    result = read(workdir, "j.jsonl", "\n".join(lines).encode("utf-8"))
    if result is not None:
        given_ids = [turn.given_id for t in result for turn in t.turns]
        # rows are grouped into one transcript per company, each group in file order
        assert sorted(given_ids) == sorted(str(r["id"]).strip() for r in rows)
        position = {str(r["id"]).strip(): i for i, r in enumerate(rows)}
        for t in result:
            order = [position[turn.given_id] for turn in t.turns]
            assert order == sorted(order)
        for t in result:
            # rows without a company belong to the file-name stem, never to "A" or "B"
            mine = [r["text"] for r in rows
                    if owner(r) == t.company or (owner(r) is None and t.company not in ("A", "B"))]
            assert [t.text[x.start:x.end] for x in t.turns] == mine


# python-docx refuses XML-incompatible characters, so Word text is drawn from printable ones.
DOC_TEXT = st.lists(st.one_of(
    st.sampled_from(["Interviewer: ", "Anna: ", "Hello. ", "æøå", "\n", "\t", "Q: ", " "]),
    st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=15)), max_size=10).map("".join)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(paragraphs=st.lists(st.tuples(DOC_TEXT, st.booleans()), max_size=8))
def test_docx(workdir, paragraphs):
    import docx

    doc = docx.Document()
    for text, heading in paragraphs:
        (doc.add_heading if heading else doc.add_paragraph)(text)
    path = workdir / f"{next(_counter)}-d.docx"
    doc.save(path)
    result = read(workdir, "d.docx", path.read_bytes())
    if result is None:
        assert not any(text.strip() for text, _ in paragraphs)


# Hostile JSON values: integers past Python's 4,300-digit limit, deep nesting, huge strings.
HOSTILE = st.one_of(
    st.integers(1, 9000).map(lambda n: "9" * n),
    st.integers(1, 40000).map(lambda n: "[" * n + "]" * n),
    st.integers(1, 40000).map(lambda n: '{"a":' * n + "1" + "}" * n),
    st.integers(0, 300_000).map(lambda n: json.dumps("x" * n)),
    st.sampled_from(["1e999999", "-" + "9" * 5000, "NaN", "Infinity", '"\\ud800"', "0." + "0" * 5000 + "1"]),
)


@SETTINGS
@given(value=HOSTILE, key=st.sampled_from(["n", "text", "id", "company"]), good_rows=st.integers(0, 3))
def test_jsonl_with_hostile_values_is_a_result_or_a_clear_error(workdir, value, key, good_rows):
    good = [json.dumps({"id": f"g{i}", "text": f"fine {i}"}) for i in range(good_rows)]
    fields = {"id": '"h"', "text": '"t"', key: value}
    hostile = "{" + ", ".join(f'"{k}": {v}' for k, v in fields.items()) + "}"
    read(workdir, "h.jsonl", "\n".join(good + [hostile]).encode("utf-8"))  # read() checks both outcomes
