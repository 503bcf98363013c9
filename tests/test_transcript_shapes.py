"""Transcripts as they really arrive: every shape in fixtures/shapes through ingest and segment.

Each fixture has a sidecar ``<name>.expect.json``: each speaker's role, snippets of the
interviewer's questions (never coded), of answers (coded) and of context lines
(titles, metadata: never coded, never a speaker). No model, no network.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from pipeline.ingest import INTERVIEWER, RESPONDENT, ManifestEntry, assign_roles, ingest_folder, read_source
from pipeline.records import Passage, Transcript
from pipeline.segment import segment, sentence_spans, sentencizer

SHAPES = Path(__file__).parent / "fixtures" / "shapes"
EXPECTATIONS = sorted(SHAPES.glob("*.expect.json"))
MIN_CODED_CHARS = 30
MAX_CHARS = 1500


@dataclass
class Shape:
    path: Path
    expect: dict
    transcript: Transcript
    passages: list[Passage]


def fixture_file(expect_path: Path) -> Path:
    stem = expect_path.name.removesuffix(".expect.json")
    [path] = [p for p in SHAPES.glob(stem + ".*") if p.name != expect_path.name]
    return path


def read_shape(expect_path: Path) -> Shape:
    expect = json.loads(expect_path.read_text(encoding="utf-8"))
    path = fixture_file(expect_path)
    entry = ManifestEntry(file=path.name, company=path.stem, language=expect.get("language"))
    [t] = read_source(path, entry, root=SHAPES)
    return Shape(path, expect, t, segment(t))


@pytest.fixture(scope="module", params=EXPECTATIONS, ids=lambda p: p.name.removesuffix(".expect.json"))
def shape(request) -> Shape:
    return read_shape(request.param)


def find(text: str, snippet: str) -> tuple[int, int]:
    at = text.find(snippet)
    assert at >= 0, f"snippet not in the stored text: {snippet!r}"
    return at, at + len(snippet)


def overlaps(p: Passage, span: tuple[int, int]) -> bool:
    return p.start < span[1] and span[0] < p.end


def coded(shape: Shape) -> list[Passage]:
    return [p for p in shape.passages if p.coded]


def test_the_battery_covers_the_shapes_that_arrive():
    assert len(EXPECTATIONS) >= 12
    suffixes = sorted(fixture_file(e).suffix for e in EXPECTATIONS)
    assert {".txt", ".vtt", ".srt", ".docx"} <= set(suffixes)


def test_offsets_are_exact(shape):
    t = shape.transcript
    for turn in t.turns:
        piece = t.text[turn.start:turn.end]
        assert piece and piece == piece.strip()
    for p in shape.passages:
        assert p.text == t.text[p.start:p.end] and p.text == p.text.strip()
    assert len({p.id for p in shape.passages}) == len(shape.passages)


def test_speaker_roles_match(shape):
    assert shape.transcript.speaker_roles == shape.expect["speakers"]
    speakers = {turn.speaker for turn in shape.transcript.turns} - {None}
    assert speakers == set(shape.expect["speakers"]), "a metadata line or title became a speaker"


def test_no_interviewer_turn_is_coded(shape):
    interviewers = {s for s, role in shape.expect["speakers"].items() if role == INTERVIEWER}
    assert not [p.text for p in coded(shape) if p.speaker in interviewers]


def test_questions_are_context(shape):
    for snippet in shape.expect["questions"]:
        span = find(shape.transcript.text, snippet)
        assert not [p.id for p in coded(shape) if overlaps(p, span)], snippet
        assert any(p.role == "question" and overlaps(p, span) for p in shape.passages), snippet


def test_answers_are_coded(shape):
    for snippet in shape.expect["answers"]:
        start, end = find(shape.transcript.text, snippet)
        assert any(p.start <= start and end <= p.end for p in coded(shape)), snippet


def test_titles_and_metadata_are_context(shape):
    for snippet in shape.expect["context"]:
        span = find(shape.transcript.text, snippet)
        assert not [p.id for p in coded(shape) if overlaps(p, span)], snippet


def test_passage_lengths(shape):
    assert coded(shape), "nothing to code"
    nlp = sentencizer("da" if shape.expect.get("language") == "da" else "en")
    for p in coded(shape):
        assert len(p.text) >= MIN_CODED_CHARS, p.text
    for p in shape.passages:
        assert len(p.text) <= MAX_CHARS or len(sentence_spans(p.text, nlp)) == 1, p.id


# --- the interviewer override ---------------------------------------------------

def test_override_beats_the_guess():
    path = SHAPES / "otter_generic.txt"
    [t] = read_source(path, interviewer="Speaker 2")
    assert t.interviewer == "Speaker 2"
    assert t.speaker_roles == {"Speaker 1": RESPONDENT, "Speaker 2": INTERVIEWER}
    assert {x.role for x in t.turns if x.speaker == "Speaker 2"} == {"question"}
    assert {x.role for x in t.turns if x.speaker == "Speaker 1"} == {"answer"}


def test_override_by_first_name_and_case():
    [t] = read_source(SHAPES / "zoom_named.vtt", interviewer="mikkel")
    assert t.speaker_roles == {"Mikkel Brandt": INTERVIEWER, "Karen Lund": RESPONDENT}


def test_override_naming_no_speaker_falls_back_to_the_guess():
    [t] = read_source(SHAPES / "rev.txt", interviewer="Somebody Else")
    assert t.speaker_roles == {"Speaker 1": INTERVIEWER, "Speaker 2": RESPONDENT}


def test_assign_roles_again_recomputes():
    [t] = read_source(SHAPES / "trint.txt")
    assert t.speaker_roles["Lena"] == INTERVIEWER
    assign_roles(t, interviewer="Tomas")
    assert t.speaker_roles == {"Lena": RESPONDENT, "Tomas": INTERVIEWER}
    assert not [p for p in segment(t) if p.coded and p.speaker == "Tomas"]
    t.interviewer = None
    assign_roles(t)
    assert t.speaker_roles == {"Lena": INTERVIEWER, "Tomas": RESPONDENT}


def test_manifest_interviewer_column(tmp_path):
    (tmp_path / "a.txt").write_bytes((SHAPES / "rev.txt").read_bytes())
    (tmp_path / "b.txt").write_bytes((SHAPES / "rev.txt").read_bytes())
    (tmp_path / "manifest.csv").write_text("file,company,interviewer\na.txt,Havgaard,Speaker 2\nb.txt,Havgaard,\n")
    ts, errors = ingest_folder(tmp_path)
    assert errors == []
    roles = {t.source: t.speaker_roles for t in ts}
    assert roles["a.txt"]["Speaker 2"] == INTERVIEWER  # the manifest row says so
    assert roles["b.txt"]["Speaker 1"] == INTERVIEWER  # guessed
    # the folder-wide argument (a CLI flag) applies where the manifest row names no one
    ts, _ = ingest_folder(tmp_path, interviewer="Speaker 2")
    assert all(t.speaker_roles["Speaker 2"] == INTERVIEWER for t in ts)


def test_labels_always_win(tmp_path):
    path = tmp_path / "x.txt"
    path.write_text("Interviewer: Where do you sell?\n\nAnna Holm: In Norway, through a partner in Bergen.\n")
    [t] = read_source(path, interviewer="Anna Holm")
    assert t.speaker_roles == {"Interviewer": INTERVIEWER, "Anna Holm": INTERVIEWER}


# --- the guess and the header ---------------------------------------------------------

def test_header_names_the_interviewer_when_the_guess_cannot(tmp_path):
    # both speakers ask as much as they answer: only the header tells
    body = ("Interviewer: Bo Dahl\n\n"
            "Bo: We went to Norway first, through a friend in Oslo. Why do you ask?\n\n"
            "Eva: Because it matters for the study. Was it planned?\n\n"
            "Bo: Not at all. It happened at a fair in Lillestrøm. Should I go on?\n\n"
            "Eva: Please do. Who else helped?\n")
    path = tmp_path / "h.txt"
    path.write_text(body)
    [t] = read_source(path)
    assert t.speaker_roles == {"Bo": INTERVIEWER, "Eva": RESPONDENT}
    assert t.turns[0].role == "heading"


def test_no_guess_when_no_one_stands_out(tmp_path):
    path = tmp_path / "panel.txt"
    path.write_text("Anna: We sell in Sweden and have done so since 2010, mostly to hospitals.\n\n"
                    "Bo: And we sell in Finland through a distributor we met at a fair.\n\n"
                    "Anna: Our Swedish customers taught us a lot about documentation.\n\n"
                    "Bo: The Finnish distributor found most of our customers.\n")
    [t] = read_source(path)
    assert t.speaker_roles == {"Anna": RESPONDENT, "Bo": RESPONDENT}


def test_real_zoom_meeting_has_no_interviewer(samples_dir):
    # a class meeting, not an interview: nobody is mostly short questions
    [t] = read_source(samples_dir / "zoom_meeting.transcript.vtt")
    assert set(t.speaker_roles.values()) == {RESPONDENT}
    assert {"Conor Healy", "Srijani Ghosh"} <= {p.speaker for p in segment(t) if p.coded}


def test_real_teams_sample(samples_dir):
    [t] = read_source(samples_dir / "teams.vtt")
    assert t.speaker_roles == {"Yuri Bakulin": RESPONDENT, "Adrian Petrescu": RESPONDENT}


# --- metadata, names carried over cues, fragments ---------------------------------------

def test_a_header_word_that_never_speaks_again_is_metadata(tmp_path):
    path = tmp_path / "m.txt"
    path.write_text("Setting: the showroom in Vejle\n\nKaren: Where do you sell today?\n\n"
                    "Ole: In Germany and Austria, through two agents on commission.\n\n"
                    "Karen: How did you find them?\n\nOle: At the fair in Cologne, both in the same year.\n")
    [t] = read_source(path)
    assert set(t.speaker_roles) == {"Karen", "Ole"}
    assert t.turns[0].role == "heading" and t.text[t.turns[0].start:t.turns[0].end].startswith("Setting:")


def test_srt_names_carry_forward_with_few_named_cues(tmp_path):
    cues = ["ANNE: So, where do you sell?", "BO: Mostly in Sweden,", "and a little in Norway.",
            "We started there in 2012.", "ANNE: Why Sweden?", "BO: It was close.", "And the language is easy.",
            "And we knew a wholesaler."]
    srt = "\n\n".join(f"{i}\n00:00:{i:02d},000 --> 00:00:{i:02d},900\n{c}" for i, c in enumerate(cues, 1))
    path = tmp_path / "c.srt"
    path.write_text(srt)
    [t] = read_source(path)
    assert [(x.speaker, x.role) for x in t.turns] == [("ANNE", "question"), ("BO", "answer")] * 2
    assert t.text[t.turns[1].start:t.turns[1].end] == "Mostly in Sweden, and a little in Norway. We started there in 2012."


def test_short_fragment_joins_the_speakers_next_paragraph(tmp_path):
    path = tmp_path / "f.txt"
    path.write_text("Interviewer: Did the agent work out?\n\nAnna: Yes.\n\n"
                    "It took a year, but now he sells more than we do ourselves.\n")
    [t] = read_source(path)
    [p] = [p for p in segment(t) if p.coded]
    assert p.text == "Yes.\n\nIt took a year, but now he sells more than we do ourselves."
    assert p.text == t.text[p.start:p.end]


def test_line_paragraphs_do_not_glue_the_title_to_the_first_paragraph():
    [t] = read_source(SHAPES / "one_line_paragraphs.txt")
    first = segment(t)[0]
    assert first.text == "Interview with Bølge Surfwear" and not first.coded
