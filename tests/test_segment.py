"""Segment: turns -> passages, ids, sentence windows, and the thesis corpus acceptance test."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline import segment as seg
from pipeline.ingest import ingest_folder, read_source
from pipeline.paths import CODED_PASSAGES, INTERVIEWS
from pipeline.records import Passage, Transcript, Turn
from pipeline.segment import DEFAULT_MAX_CHARS, DEFAULT_MAX_SENTENCES, segment, sentencizer

FIXTURES = Path(__file__).parent / "fixtures" / "ingest"


def check(t: Transcript, passages: list[Passage]) -> None:
    for p in passages:
        assert p.text == t.text[p.start:p.end]
        assert p.text and p.text == p.text.strip()
        assert (p.company, p.source, p.language) == (t.company, t.source, t.language)
    assert len({p.id for p in passages}) == len(passages)


def test_thesis_corpus_gives_the_198_coded_passages():
    transcripts, errors = ingest_folder(INTERVIEWS)
    assert errors == []
    passages = [p for t in transcripts for p in segment(t)]
    for t in transcripts:
        check(t, [p for p in passages if p.source == t.source])
    coded = [(p.id, p.company, p.text) for p in passages if p.coded]
    expected = [json.loads(line) for line in CODED_PASSAGES.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert len(coded) == 198
    assert coded == [(r["id"], r["company"], r["text"]) for r in expected]
    headings = [p for p in passages if p.role == "heading"]
    assert len(headings) == 14 and headings[0].id == "acoplastic-h01"
    assert headings[0].text == "Ejvind Nyholm Nielsen and Jimmy Poulsen, Acoplastic"


def test_thesis_paragraphs_stay_below_the_split_thresholds():
    # The measured margins behind the defaults: no paragraph is over both limits.
    nlp = sentencizer("en")
    rows = [json.loads(line) for line in CODED_PASSAGES.read_text(encoding="utf-8").splitlines() if line.strip()]
    for r in rows:
        n = len(seg.sentence_spans(r["text"], nlp))
        assert n <= DEFAULT_MAX_SENTENCES or len(r["text"]) <= DEFAULT_MAX_CHARS, r["id"]


def long_turn(n: int) -> str:
    return " ".join(f"Sentence number {i} talks about our export partners in Germany and Sweden." for i in range(n))


def transcript(text: str, turns: list[Turn], source: str = "Folder/Acme Talk.txt", language: str | None = None):
    return Transcript(source=source, company="Acme", text=text, format="txt", turns=turns, language=language)


def test_long_turn_is_split_into_balanced_sentence_windows():
    body = long_turn(20)
    text = "Q?\r\n\r\n" + body + "\r\n"
    t = transcript(text, [Turn(0, 2, "Interviewer", "question"), Turn(6, 6 + len(body), "Ann")])
    passages = segment(t)
    check(t, passages)
    assert [p.id for p in passages] == ["folder-acme_talk-q01", "folder-acme_talk-01", "folder-acme_talk-02", "folder-acme_talk-03"]
    windows = [p for p in passages if p.coded]
    assert [p.text.count("Sentence number") for p in windows] == [7, 7, 6]
    assert windows[0].text.startswith("Sentence number 0 ")
    assert windows[-1].text.endswith("number 19 talks about our export partners in Germany and Sweden.")
    assert all(p.speaker == "Ann" for p in windows)
    # consecutive windows: nothing but whitespace between them
    for a, b in zip(windows, windows[1:]):
        assert text[a.end:b.start].strip() == ""


def test_no_split_when_only_one_threshold_is_passed():
    many_short = " ".join(["Yes."] * 30)  # 30 sentences, 149 characters
    few_long = "word " * 400  # one sentence, 2000 characters
    text = many_short + "\n\n" + few_long.strip()
    t = transcript(text, [Turn(0, len(many_short)), Turn(len(many_short) + 2, len(text))])
    assert [p.id for p in segment(t)] == ["folder-acme_talk-01", "folder-acme_talk-02"]
    assert len(segment(t, max_sentences=5, max_chars=100, min_chars=0)) == 1 + 6
    # windows under min_chars ("Yes. Yes. Yes. Yes. Yes." is 24) join their neighbours
    assert all(len(p.text) >= 30 for p in segment(t, max_sentences=5, max_chars=100))


def test_ids_for_questions_headings_and_code_questions():
    t = read_source(FIXTURES / "named_speakers.txt")[0]
    passages = segment(t)
    check(t, passages)
    assert [(p.id, p.role) for p in passages] == [
        ("named_speakers-h01", "heading"), ("named_speakers-q01", "question"), ("named_speakers-01", "answer"),
        ("named_speakers-02", "answer"), ("named_speakers-q02", "question"), ("named_speakers-03", "answer")]
    coded_all = segment(t, code_questions=True, min_chars=0)
    assert [p.id for p in coded_all if p.coded] == [f"named_speakers-{i:02d}" for i in range(1, 6)]
    assert coded_all[1].speaker == "Interviewer"
    # "And Sweden?" is too short to code even then: it stays context
    short = [p for p in segment(t, code_questions=True) if p.text == "And Sweden?"]
    assert [p.coded for p in short] == [False]


def test_given_ids_are_kept_and_never_split():
    ts = read_source(FIXTURES / "passages.jsonl")
    ids = [p.id for t in ts for p in segment(t, max_sentences=1, max_chars=1)]
    assert ids == ["nordlys-01", "nordlys-02", "fjord-01"]


def test_danish_uses_a_danish_sentencizer(monkeypatch):
    asked: list[str] = []
    real = seg.sentencizer

    def spy(lang):
        asked.append(lang)
        return real(lang)

    monkeypatch.setattr(seg, "sentencizer", spy)
    body = " ".join(["Vi sælger til Tyskland, Sverige og Norge via agenter."] * 30)
    t = transcript(body, [Turn(0, len(body))], language="da")
    passages = segment(t)
    check(t, passages)
    assert asked == ["da"] and len(passages) == 4 and passages[0].language == "da"
    assert sentencizer("da") is sentencizer("da")  # cached


def test_custom_nlp_is_used():
    calls = []
    nlp = sentencizer("en")

    def counting(text):
        calls.append(len(text))
        return nlp(text)

    body = long_turn(20)
    t = transcript(body, [Turn(0, len(body))])
    assert len(segment(t, nlp=counting)) == 3 and calls == [len(body)]


def test_very_long_turn_is_sentencized_in_chunks(monkeypatch):
    monkeypatch.setattr(seg, "_CHUNK", 500)  # the real chunk is 100k characters; same code path
    body = long_turn(60)
    t = transcript(body, [Turn(0, len(body))])
    passages = segment(t)
    check(t, passages)
    assert sum(p.text.count("Sentence number") for p in passages) == 60
    assert len(passages) == 8


def test_vtt_passages_cover_utterances_only():
    t = read_source(FIXTURES / "voice_tags.vtt")[0]
    passages = segment(t)
    check(t, passages)
    assert [(p.id, p.speaker) for p in passages] == [
        ("voice_tags-q01", "Interviewer"), ("voice_tags-01", "Søren Dahl"), ("voice_tags-q02", "Interviewer")]
    assert not passages[1].text.startswith("Søren")


def test_bad_max_sentences():
    with pytest.raises(ValueError):
        segment(transcript("x", [Turn(0, 1)]), max_sentences=0)


def test_ids_stay_unique_across_sub_folders():
    body = "We export to Germany and Sweden."
    a = Transcript(source="wave1/acme.txt", company="Acme", text=body, format="txt", turns=[Turn(0, len(body))])
    b = Transcript(source="wave2/acme.txt", company="Acme", text=body, format="txt", turns=[Turn(0, len(body))])
    assert [p.id for p in segment(a) + segment(b)] == ["wave1-acme-01", "wave2-acme-01"]


# --- fragments and the hard length cap -------------------------------------------------

def test_long_turn_of_few_sentences_is_cut_at_the_hard_cap():
    sentence = "We went to " + ", ".join(f"fair number {i} in a German city" for i in range(14)) + "."
    body = " ".join([sentence] * 4)  # 4 sentences, about 2,000 characters
    t = transcript(body, [Turn(0, len(body))])
    passages = segment(t)
    check(t, passages)
    assert len(body) > seg.DEFAULT_HARD_MAX_CHARS and len(passages) == 2
    assert all(len(p.text) <= seg.DEFAULT_HARD_MAX_CHARS for p in passages)
    one_sentence = "word " * 400  # a single sentence is never cut
    t = transcript(one_sentence.strip(), [Turn(0, len(one_sentence.strip()))])
    assert len(segment(t)) == 1


def test_trailing_fragment_joins_the_turn_before():
    text = "We opened an office in Oslo in 2019.\n\nSo, yes.\n\nInterviewer: Why Oslo?"
    q = text.index("Why")
    t = transcript(text, [Turn(0, 36, "Anna"), Turn(38, 46, "Anna"), Turn(q, len(text), "Interviewer", "question")])
    passages = segment(t)
    check(t, passages)
    assert [(p.role, p.text) for p in passages] == [
        ("answer", "We opened an office in Oslo in 2019.\n\nSo, yes."), ("question", "Why Oslo?")]


def test_fragment_between_other_speakers_is_context():
    text = "Hi!\n\nBo: Good morning, thanks for having us here today."
    t = transcript(text, [Turn(0, 3, "Anna"), Turn(9, len(text), "Bo")])
    passages = segment(t)
    assert [(p.id, p.role, p.coded) for p in passages] == [
        ("folder-acme_talk-h01", "heading", False), ("folder-acme_talk-01", "answer", True)]


def test_pre_segmented_short_passages_stay_coded():
    ts = read_source(FIXTURES / "passages.jsonl")
    t = Transcript(source="p.jsonl", company="X", text="Yes.", format="jsonl", turns=[Turn(0, 4, given_id="r1")])
    assert [p.coded for p in segment(t)] == [True]
    assert all(p.coded for t in ts for p in segment(t))


def test_uneven_sentences_still_fit_the_hard_cap():
    # 1 sentence of ~1,500 characters and 9 of ~100: two windows of five sentences would make one of ~1,900
    long_sentence = "We went to " + ", ".join(f"fair number {i} in a German city" for i in range(46)) + "."
    short = "Then Finland came, through an agent in Turku who had sold Danish furniture there for years."
    body = " ".join([long_sentence] + [short] * 9)
    t = transcript(body, [Turn(0, len(body))])
    passages = segment(t, max_sentences=100)
    check(t, passages)
    assert len(long_sentence) > 1400 and len(body) > seg.DEFAULT_HARD_MAX_CHARS
    assert [p.text.count(".") for p in passages] == [1, 4, 5]
    assert all(len(p.text) <= seg.DEFAULT_HARD_MAX_CHARS for p in passages)
