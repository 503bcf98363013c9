"""Ingest: every format reader, decoding, the manifest and folder discovery."""
from __future__ import annotations

import codecs
from pathlib import Path

import pytest

from pipeline.errors import IngestError
from pipeline.ingest import READERS, decode_bytes, discover, ingest_folder, load_manifest, read_source
from pipeline.records import Transcript

FIXTURES = Path(__file__).parent / "fixtures" / "ingest"


def check_offsets(t: Transcript) -> list[str]:
    """Every turn's offsets reproduce a stripped, non-empty piece of the stored text."""
    pieces = []
    for turn in t.turns:
        piece = t.text[turn.start:turn.end]
        assert 0 <= turn.start < turn.end <= len(t.text)
        if turn.given_id is None:
            assert piece == piece.strip()
        pieces.append(piece)
    return pieces


def one(path: Path, **kw) -> Transcript:
    [t] = read_source(path, **kw)
    check_offsets(t)
    return t


def roles(t: Transcript) -> list[tuple[str, str | None, str]]:
    return [(x.role, x.speaker, t.text[x.start:x.end]) for x in t.turns]


def write(tmp_path: Path, name: str, data: bytes | str) -> Path:
    path = tmp_path / name
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


# --- plain text and Markdown -------------------------------------------------

@pytest.mark.parametrize("nl", ["\n", "\r\n", "\r"])
def test_txt_paragraphs_keep_line_endings(tmp_path, nl):
    raw = f"First paragraph,{nl}still first.{nl}{nl}  Second: æøå.  {nl} {nl}{nl}Third{nl}"
    t = one(write(tmp_path, "x.txt", raw))
    assert t.text == raw  # verbatim, no newline translation
    assert [p for _, _, p in roles(t)] == [f"First paragraph,{nl}still first.", "Second: æøå.", "Third"]
    assert {x.role for x in t.turns} == {"answer"}
    assert t.format == "txt" and t.company == "x" and t.source == "x.txt"


def test_txt_mixed_line_endings(tmp_path):
    t = one(write(tmp_path, "mixed.txt", "one\r\n\r\ntwo\n\nthree\r\n\nfour\n\r\nfive"))
    assert [p for _, _, p in roles(t)] == ["one", "two", "three", "four", "five"]


def test_txt_hash_lines_are_not_headings(tmp_path):
    # (a short line without end punctuation on top would be a title: see test_transcript_shapes)
    t = one(write(tmp_path, "notes.txt", "# not a heading in .txt, just text.\n\nText."))
    assert [x.role for x in t.turns] == ["answer", "answer"]


def test_markdown_headings(tmp_path):
    raw = "# Interview, Acme\n\nFirst answer.\n\n## Part two ##\nInline text after a heading.\n\n#hashtag stays text"
    t = one(write(tmp_path, "acme.md", raw))
    assert roles(t) == [
        ("heading", None, "Interview, Acme"),
        ("answer", None, "First answer."),
        ("heading", None, "Part two"),
        ("answer", None, "Inline text after a heading."),
        ("answer", None, "#hashtag stays text"),
    ]


# --- speaker-turn text ----------------------------------------------------------

def test_named_speaker_labels():
    t = one(FIXTURES / "named_speakers.txt")
    assert roles(t) == [
        ("heading", None, "Interview with Nordlys ApS, 3 May 2012"),
        ("question", "Interviewer", "How did you enter the German market?"),
        ("answer", "Mette Holm", "We started with a distributor in Hamburg. They knew the buyers.\n"
                                 "Later we hired our own sales manager."),
        ("answer", "Mette Holm", "We also joined a trade fair every year."),
        ("question", "Interviewer", "And Sweden?"),
        ("answer", "Mette Holm", "Sweden came through an old customer relationship."),
    ]


def test_q_a_i_r_labels_in_markdown():
    t = one(FIXTURES / "qa_labels.md")
    assert [(r, s) for r, s, _ in roles(t)] == [
        ("heading", None), ("question", "Q"), ("answer", "A"), ("question", "I"), ("answer", "R")]
    assert roles(t)[2][2].startswith("The Danish market")


def test_otter_headers():
    t = one(FIXTURES / "otter.txt")
    assert [(x.speaker, x.time) for x in t.turns] == [
        ("Speaker 1", "00:00:03.000"), ("Speaker 2", "00:00:11.000"),
        ("Speaker 1", "00:01:05.000"), ("Speaker 2", "00:01:20.000")]
    assert t.text[t.turns[1].start:t.turns[1].end].endswith("stopped at the stand.")


def test_line_per_turn_without_blank_lines(tmp_path):
    raw = "Interviewer: Why Germany?\r\nAnna Holm: Close and big.\r\n**Interviewer:** And then?\r\nAnna Holm: Poland."
    t = one(write(tmp_path, "lines.txt", raw))
    assert roles(t) == [("question", "Interviewer", "Why Germany?"), ("answer", "Anna Holm", "Close and big."),
                        ("question", "Interviewer", "And then?"), ("answer", "Anna Holm", "Poland.")]


def test_prose_with_an_occasional_colon_is_not_speaker_text(tmp_path):
    raw = "Background: the firm was founded in 1990.\n\nIt exports to Asia.\n\nIt has 40 staff.\n\nNote it."
    t = one(write(tmp_path, "prose.txt", raw))
    assert [x.speaker for x in t.turns] == [None] * 4
    assert t.text[t.turns[0].start:t.turns[0].end].startswith("Background:")


# --- Word ---------------------------------------------------------------------

def make_docx(path: Path) -> Path:
    import docx

    doc = docx.Document()
    doc.add_heading("Interview with Kvist A/S", level=1)
    doc.add_paragraph("Interviewer: How did you start exporting?")
    doc.add_paragraph("")
    doc.add_paragraph("Jens Kvist: Through a Swedish partner.\nThey found us at a fair.")
    doc.add_paragraph("Interviewer: And now?")
    table = doc.add_table(rows=1, cols=2)
    table.rows[0].cells[0].text = "Jens Kvist"
    table.rows[0].cells[1].text = "Now we sell in 14 countries, Æbeltoft included."
    doc.save(path)
    return path


def test_docx(tmp_path):
    t = one(make_docx(tmp_path / "kvist.docx"))
    assert t.format == "docx"
    assert t.text.startswith("Interview with Kvist A/S\n\nInterviewer: How did you start exporting?\n\nJens Kvist:")
    assert roles(t) == [
        ("heading", None, "Interview with Kvist A/S"),
        ("question", "Interviewer", "How did you start exporting?"),
        ("answer", "Jens Kvist", "Through a Swedish partner.\nThey found us at a fair."),
        ("question", "Interviewer", "And now?"),
        ("answer", "Jens Kvist", "Now we sell in 14 countries, Æbeltoft included."),
    ]


def test_docx_plain_paragraphs(tmp_path):
    import docx

    doc = docx.Document()
    for text in ("We export.", "We import.", "We learn."):
        doc.add_paragraph(text)
    doc.save(tmp_path / "p.docx")
    t = one(tmp_path / "p.docx")
    assert t.text == "We export.\n\nWe import.\n\nWe learn."
    assert [x.role for x in t.turns] == ["answer"] * 3


# --- subtitles ----------------------------------------------------------------

def test_vtt_voice_tags_merge_and_render():
    t = one(FIXTURES / "voice_tags.vtt")
    assert t.text == ("Interviewer: How did you find partners?\n\n"
                      "Søren Dahl: Mostly through the Danish embassy. "
                      "They introduced us to three distributors & an agent.\n\n"
                      "Interviewer: Thanks.\n\n")
    assert [(x.role, x.speaker, x.time) for x in t.turns] == [
        ("question", "Interviewer", "00:00:00.000"), ("answer", "Søren Dahl", "00:00:02.600"),
        ("question", "Interviewer", "00:00:08.100")]


def test_vtt_zoom_style():
    t = one(FIXTURES / "zoom_style.vtt")
    assert roles(t) == [("question", "Interviewer", "What about Norway?"),
                        ("answer", "Lars Berg", "Norway is our biggest market. We have a subsidiary in Oslo.")]


def test_vtt_without_speakers_is_one_turn(tmp_path):
    raw = "WEBVTT\n\n00:01.000 --> 00:02.000\nHello there.\n\n00:02.500 --> 00:04.000 align:start\nGeneral Kenobi.\n"
    t = one(write(tmp_path, "plain.vtt", raw))
    assert roles(t) == [("answer", None, "Hello there. General Kenobi.")]
    assert t.turns[0].time == "00:00:01.000"


def test_vtt_tolerates_glued_header_and_missing_blank_lines(tmp_path):
    raw = "WEBVTT\nKind: captions\n00:00.000 --> 00:01.000\nAnna: One.\n2\n00:01.000 --> 00:02.000\nAnna: Two.\n"
    t = one(write(tmp_path, "glued.vtt", raw))
    assert roles(t) == [("answer", "Anna", "One. Two.")]


def test_srt_crlf_numbered_cues():
    t = one(FIXTURES / "interview.srt")
    assert roles(t) == [("question", "Interviewer", "Where do you sell?"),
                        ("answer", "Anne Krogh", "In twelve countries, mostly through agents. Asia is next.")]
    assert t.turns[1].time == "00:00:03.500"


def test_real_teams_sample(samples_dir):
    t = one(samples_dir / "teams.vtt")
    assert roles(t) == [("answer", "Yuri Bakulin", "There you go."),
                        ("answer", "Adrian Petrescu", "Why hello there, Yuri.")]
    assert [x.time for x in t.turns] == ["00:00:00.000", "00:00:00.210"]


def test_real_zoom_sample(samples_dir):
    t = one(samples_dir / "zoom_meeting.transcript.vtt")
    speakers = {x.speaker for x in t.turns}
    assert {"Srijani Ghosh", "Conor Healy", "Dr. Melissa Ko"} <= speakers
    assert None not in speakers
    first = roles(t)[:3]
    assert first == [("answer", "Srijani Ghosh", "Hi!"), ("answer", "Conor Healy", "Get this party started."),
                     ("answer", "Srijani Ghosh", "Hello! Hello! Hello! Why are you so dark? So")]
    # consecutive cues by one speaker are merged, so speakers alternate
    assert all(a.speaker != b.speaker for a, b in zip(t.turns, t.turns[1:]))


# --- JSONL --------------------------------------------------------------------

def test_jsonl_splits_by_company_and_keeps_ids():
    ts = read_source(FIXTURES / "passages.jsonl")
    assert [t.company for t in ts] == ["Nordlys", "Fjord Tech"]
    assert [[x.given_id for x in t.turns] for t in ts] == [["nordlys-01", "nordlys-02"], ["fjord-01"]]
    assert ts[0].text == "We export to nine countries.\n\nOur agents find the customers."
    assert ts[0].turns[0].speaker == "Mette Holm"
    assert all(t.source == "passages.jsonl" for t in ts)
    for t in ts:
        check_offsets(t)


def test_jsonl_company_falls_back_to_manifest_or_stem(tmp_path):
    path = write(tmp_path, "acme.jsonl", '{"id": 1, "text": "  kept exactly  "}\n\n')
    [t] = read_source(path)
    assert t.company == "acme" and t.turns[0].given_id == "1"
    assert t.text[t.turns[0].start:t.turns[0].end] == "  kept exactly  "


# --- decoding -------------------------------------------------------------------

DANISH = "Vi eksporterer til Østrig og Æbeløen; blåbær, søer og åer.\r\n\r\nNæste afsnit."


@pytest.mark.parametrize("encoded", [
    codecs.BOM_UTF8 + DANISH.encode("utf-8"),
    codecs.BOM_UTF16_LE + DANISH.encode("utf-16-le"),
    codecs.BOM_UTF16_BE + DANISH.encode("utf-16-be"),
    DANISH.encode("utf-16-le"),
    DANISH.encode("utf-16-be"),
    DANISH.encode("cp1252"),
    DANISH.encode("utf-8"),
], ids=["utf8-bom", "utf16le-bom", "utf16be-bom", "utf16le", "utf16be", "cp1252", "utf8"])
def test_decodings(tmp_path, encoded):
    assert decode_bytes(encoded, "x.txt") == DANISH
    t = one(write(tmp_path, "da.txt", encoded))
    assert [p for _, _, p in roles(t)] == [DANISH.split("\r\n\r\n")[0], "Næste afsnit."]


def test_cp1252_smart_quotes_and_undefined_bytes():
    assert decode_bytes("“Hej” – sagde Åse".encode("cp1252"), "q.txt") == "“Hej” – sagde Åse"
    assert decode_bytes(b"odd \x81 byte", "q.txt") == "odd \x81 byte"  # latin-1 for cp1252's holes


def test_invalid_utf8_mixed_with_utf8_names_the_line():
    data = "første linje\n".encode("utf-8") + "anden linje på cp1252".encode("cp1252")
    with pytest.raises(IngestError, match=r"not valid UTF-8 at line 2, column 14.*mixes encodings") as exc:
        decode_bytes(data, "mixed.txt")
    assert exc.value.path == "mixed.txt"


def test_stray_nuls_stay_text_but_many_make_a_binary(tmp_path):
    # some export tools end or pad a transcript with a NUL; offsets must still index the file
    text = "Q: How did you start?\n\nA: Our distributor in Hannover took us to Austria.\x00\n"
    assert decode_bytes(text.encode("utf-8"), "stray.txt") == text
    t = one(write(tmp_path, "stray.txt", text.encode("utf-8")))
    assert t.text == text
    with pytest.raises(IngestError, match="binary"):
        decode_bytes(b"GARBAGE" + bytes(range(256)) * 8, "blob.txt")
    with pytest.raises(IngestError, match="binary"):
        decode_bytes(("word " * 300).encode() + b"\x00" * 3, "nuls.txt")


def test_utf16_bom_with_broken_body():
    with pytest.raises(IngestError, match="UTF-16"):
        decode_bytes(codecs.BOM_UTF16_LE + b"a\x00\x00\xd8", "x.txt")


# --- reading, manifest and discovery ---------------------------------------------

def test_unknown_extension_lists_supported(tmp_path):
    with pytest.raises(IngestError, match=r"unsupported file type '\.xyz'; supported: \.docx, \.jsonl"):
        read_source(write(tmp_path, "a.xyz", "hi"))
    with pytest.raises(IngestError, match=r"'\.doc' \(save it as \.docx\)"):
        read_source(write(tmp_path, "a.doc", "hi"))


def test_size_limit(tmp_path, monkeypatch):
    path = write(tmp_path, "big.txt", "x" * 3000)
    with pytest.raises(IngestError, match=r"over the 0 MB limit \(raise it with INTCAP_MAX_FILE_MB\)"):
        read_source(path, max_bytes=2000)
    monkeypatch.setenv("INTCAP_MAX_FILE_MB", "0.001")
    with pytest.raises(IngestError, match="limit"):
        read_source(path)
    monkeypatch.setenv("INTCAP_MAX_FILE_MB", "1")
    assert read_source(path)[0].text == "x" * 3000


def test_registry_is_a_plain_dict():
    assert sorted(READERS) == [".docx", ".jsonl", ".markdown", ".md", ".srt", ".txt", ".vtt"]


def make_corpus(root: Path) -> Path:
    (root / "sub").mkdir(parents=True)
    write(root, "manifest.csv", codecs.BOM_UTF8 + "file;company;interviewee;date;language\r\n"
          "acme_interview.txt;Acme A/S;Åse Berg;2012;DA\r\n./sub/beta.md;Beta;;;en\r\n".encode("utf-8"))
    write(root, "acme_interview.txt", "Vi sælger i Norge.\n\nOg i Sverige.")
    write(root / "sub", "beta.md", "# Beta\n\nWe export.")
    write(root, "gamma_notes.vtt", "WEBVTT\n\n00:00.000 --> 00:01.000\nHi.\n")
    write(root, ".hidden.txt", "skip me")
    return root


def test_load_manifest(tmp_path):
    entries = load_manifest(make_corpus(tmp_path) / "manifest.csv")
    assert entries["acme_interview.txt"].company == "Acme A/S"
    assert entries["acme_interview.txt"].interviewee == "Åse Berg"
    assert entries["acme_interview.txt"].language == "da"
    assert entries["sub/beta.md"].interviewee is None


def test_manifest_needs_company_column(tmp_path):
    write(tmp_path, "manifest.csv", "file,firm\na.txt,A\n")
    with pytest.raises(IngestError, match="no 'company' column"):
        load_manifest(tmp_path / "manifest.csv")
    write(tmp_path, "manifest.csv", "file,company\na.txt,A\na.txt,B\n")
    with pytest.raises(IngestError, match="line 3: 'a.txt' is listed twice"):
        load_manifest(tmp_path / "manifest.csv")


def test_ingest_folder_with_manifest(tmp_path):
    root = make_corpus(tmp_path / "corpus")
    files, errors = discover(root)
    assert [f.relative_to(root).as_posix() for f in files] == ["acme_interview.txt", "gamma_notes.vtt", "sub/beta.md"]
    assert errors == []
    ts, errors = ingest_folder(root)
    assert errors == []
    by_source = {t.source: t for t in ts}
    assert by_source["acme_interview.txt"].company == "Acme A/S"
    assert by_source["acme_interview.txt"].language == "da"
    assert by_source["sub/beta.md"].company == "Beta"
    assert by_source["gamma_notes.vtt"].company == "gamma_notes"  # no manifest row: the file stem
    for t in ts:
        check_offsets(t)


def test_single_file_uses_its_folders_manifest(tmp_path):
    root = make_corpus(tmp_path)
    [t], errors = ingest_folder(root / "acme_interview.txt")
    assert errors == [] and t.company == "Acme A/S" and t.source == "acme_interview.txt"


def test_thesis_corpus_reads_cleanly():
    from pipeline.paths import INTERVIEWS

    ts, errors = ingest_folder(INTERVIEWS)
    assert errors == [] and len(ts) == 14
    assert {t.company for t in ts} >= {"Acoplastic", "Dybvad Stålindustri", "cBrain"}
    for t in ts:
        assert t.turns[0].role == "heading"
        check_offsets(t)


# --- timed labels and metadata lines ---------------------------------------------------

@pytest.mark.parametrize("line, speaker, body, time", [
    ("Speaker 1 (00:04):", "Speaker 1", "", "00:00:04.000"),                 # Rev, text on the next line
    ("Anna Holm (01:02:03): We sold.", "Anna Holm", "We sold.", "01:02:03.000"),
    ("Lena [00:00:04]", "Lena", "", "00:00:04.000"),                         # Trint
    ("[00:00:05] Jonas Berg: We began.", "Jonas Berg", "We began.", "00:00:05.000"),  # Descript
    ("Speaker 2  1:05", "Speaker 2", "", "00:01:05.000"),                    # otter
])
def test_timed_labels(line, speaker, body, time):
    from pipeline.ingest.speakers import match_label

    label = match_label(line)
    assert (label.speaker, line[label.body:].strip(), label.time) == (speaker, body, time)


@pytest.mark.parametrize("line", ["Date: 12 February 2024", "Dato: 3. marts 2023", "Location: Aarhus", "00:12:31",
                                  "[00:01:12]", "Transcribed by https://otter.ai", "Note: check the tape"])
def test_metadata_lines_are_never_speakers(line):
    from pipeline.ingest.speakers import match_label, metadata_line

    assert match_label(line) is None and metadata_line(line)


def test_prose_mentioning_a_time_is_not_a_label():
    from pipeline.ingest.speakers import match_label

    assert match_label("Bo (10:30) said the meeting went well.") is None


def test_metadata_lines_in_speaker_text_are_headings(tmp_path):
    raw = "Date: 12 February 2024\nInterviewer: Karen Lund\n\nKaren: Why Norway?\n\nOle: It is close.\n\n00:05:00\n\nOle: And big."
    t = one(write(tmp_path, "m.txt", raw))
    assert roles(t) == [("heading", None, "Date: 12 February 2024"), ("heading", None, "Interviewer: Karen Lund"),
                        ("question", "Karen", "Why Norway?"), ("answer", "Ole", "It is close."),
                        ("heading", None, "00:05:00"), ("answer", "Ole", "And big.")]
    assert t.speaker_roles == {"Karen": "interviewer", "Ole": "respondent"}


def test_lines_without_blank_lines_are_paragraphs_when_they_end_sentences(tmp_path):
    raw = ("Interview with Acme\nWe started exporting to Sweden in 2010, with one agent in Malmö.\n"
           "Then came Norway, where a wholesaler in Bergen found us at a fair.\n")
    t = one(write(tmp_path, "lines.txt", raw))
    assert [(r, p[:12]) for r, _, p in roles(t)] == [
        ("heading", "Interview wi"), ("answer", "We started e"), ("answer", "Then came No")]


def test_docx_table_header_row_is_a_heading(tmp_path):
    import docx

    doc = docx.Document()
    table = doc.add_table(rows=3, cols=3)
    for row, cells in zip(table.rows, [("Time", "Speaker", "Text"), ("00:00:01", "Ida", "Why Korea?"),
                                       ("00:00:04", "Jakob", "A restaurant group in Seoul wrote to us.")]):
        for cell, value in zip(row.cells, cells):
            cell.text = value
    doc.save(tmp_path / "t.docx")
    t = one(tmp_path / "t.docx")
    assert [(r, s) for r, s, _ in roles(t)] == [("heading", None), ("answer", "Ida"), ("answer", "Jakob")]
    assert t.turns[1].time == "00:00:01.000"
