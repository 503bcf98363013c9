"""Result files: atomic writes, CSV/JSONL agreement, a self-contained escaped report."""
from __future__ import annotations

import csv
import json

import pytest

from pipeline.outputs import PassageWriter, atomic_open, read_codings, safe_relative
from pipeline.profile import build_profiles
from pipeline.records import CODES, CodeScore, Coding, Passage
from pipeline.report import render_report
from pipeline.errors import IntcapError


def coding(pid: str, company: str, text: str, assigned: list[str]) -> Coding:
    codes = {c: CodeScore(0.9 if c in assigned else 0.1, "+", {"+": 0.8, "-": 0.1, "0": 0.1}) for c in CODES}
    return Coding(Passage(pid, company, f"{company}.txt", 0, len(text), text), codes, assigned, model_version="v1")


def test_atomic_open_leaves_old_file_when_block_fails(tmp_path):
    target = tmp_path / "profiles.json"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_open(target) as fh:
            fh.write("half")
            raise RuntimeError("crash")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["profiles.json"]


def test_passage_writer_streams_and_reads_back(tmp_path):
    writer = PassageWriter(tmp_path)
    rows = [coding("a-01", "A", "We met our partner at a fair.", ["NET"]), coding("a-02", "A", "Sales rose.", [])]
    writer.write(rows)
    assert not (tmp_path / "passages.jsonl").exists(), "results appear only when complete"
    writer.close()
    back = read_codings(tmp_path)
    assert [c.to_dict() for c in back] == [c.to_dict() for c in rows]
    csv_lines = (tmp_path / "passages.csv").read_text().splitlines()
    assert len(csv_lines) == 3 and csv_lines[0].startswith("id,company,source")


def test_every_coding_carries_model_coder_and_evidence_sentence(tmp_path):
    text = "Q: Hvordan? A: Vi mødte en agent 🚀 på en messe. Han kendte alle i Oslo."
    start = text.index("Vi")
    p = Passage("d-01", "Fjord ApS", "fjord.txt", start, len(text), text[start:], language="da")
    a = text.index("Han")
    codes = {c: CodeScore(0.9 if c == "NET" else 0.1, "+", {"+": 0.8, "-": 0.1, "0": 0.1}) for c in CODES}
    coding = Coding(p, codes, ["NET"], {"NET": (a, len(text))}, "c6e9bd043ed7", "da", "multilingual")
    writer = PassageWriter(tmp_path)
    writer.write([coding])
    writer.close()
    row = json.loads((tmp_path / "passages.jsonl").read_text(encoding="utf-8"))
    assert (row["model_version"], row["coder"], row["language"]) == ("c6e9bd043ed7", "multilingual", "da")
    assert row["evidence"] == {"NET": [a, len(text)]} and row["evidence_text"] == {"NET": "Han kendte alle i Oslo."}
    with open(tmp_path / "passages.csv", encoding="utf-8", newline="") as fh:
        (flat,) = list(csv.DictReader(fh))
    assert (flat["model_version"], flat["coder"], flat["language"]) == ("c6e9bd043ed7", "multilingual", "da")
    assert flat["NET_evidence"] == "Han kendte alle i Oslo." and flat["ENT_evidence"] == ""
    assert read_codings(tmp_path)[0].to_dict() == coding.to_dict()  # the extra field reads back cleanly


def test_failed_writer_leaves_nothing(tmp_path):
    writer = PassageWriter(tmp_path)
    writer.write([coding("a-01", "A", "x", [])])
    writer.close(failed=True)
    assert [p.name for p in tmp_path.iterdir()] == [".intcap-results"]  # only the results-folder marker


def test_source_paths_cannot_escape_the_results_folder():
    with pytest.raises(IntcapError):
        safe_relative("../../etc/passwd")
    with pytest.raises(IntcapError):
        safe_relative("/etc/passwd")
    assert str(safe_relative("sub/a.txt")) == "sub/a.txt"


def test_report_is_self_contained_and_escapes_text():
    rows = [coding("a-01", "A <Corp>", "<script>alert(1)</script> we met a partner", ["NET"])]
    html = render_report(build_profiles(rows), rows, model_version="v1")
    assert "<script>alert" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "A &lt;Corp&gt;" in html
    assert "http://" not in html.replace("http://www.w3.org/2000/svg", "") and "https://" not in html
    assert "<svg" in html


def test_results_are_written_with_the_usual_permissions(tmp_path):
    import os
    import stat

    from pipeline.outputs import atomic_open
    from pipeline.refi.xmlutil import atomic_write

    old = os.umask(0o022)
    try:
        with atomic_open(tmp_path / "report.html") as fh:
            fh.write("<p>x</p>")
        atomic_write(tmp_path / "project.qdpx", b"PK")
    finally:
        os.umask(old)
    for name in ("report.html", "project.qdpx"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o644, name
