"""The bad-input battery through `intcap code`: one message per bad file, the batch goes on,
the exit status says so, and a rerun neither loses nor duplicates what was coded."""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

from test_bad_input import BATTERY, make_unreadables

from intcap.cli import main
from pipeline import paths


def test_battery_through_the_code_command(tmp_path, trained_model, capsys):
    folder = tmp_path / "corpus"
    folder.mkdir()
    for name, (data, _) in BATTERY.items():
        (folder / name).write_bytes(data)
    shutil.copy(paths.INTERVIEWS / "nupo.md", folder / "nupo.md")
    (folder / "notes.xyz").write_text("unknown kind")
    (folder / "broken.jsonl").write_text('{"id": "a", "text": "fine"}\n{"id": "b", "text": \n', encoding="utf-8")
    (folder / "dupes.jsonl").write_text('{"id": "a", "text": "x"}\n{"id": "a", "text": "y"}\n', encoding="utf-8")
    (folder / "bad.vtt").write_text("WEBVTT\n\n00:00:xx.000 --> 00:00:02.000\nHello\n", encoding="utf-8")
    (folder / "bad.srt").write_text("1\n00:00:01,000 -> nonsense\nHello\n", encoding="utf-8")
    (folder / "fake.docx").write_bytes(b"this is not a Word file")
    expected_bad = {n for n, (_, problem) in BATTERY.items() if problem}
    expected_bad |= set(make_unreadables(folder))
    expected_bad |= {"notes.xyz", "broken.jsonl", "dupes.jsonl", "bad.vtt", "bad.srt", "fake.docx"}
    (folder / "manifest.csv").write_text("file,company\nnupo.md,Nupo\nmissing.txt,Ghost\n", encoding="utf-8")
    expected_bad.add("missing.txt")

    out = tmp_path / "out"
    args = ["code", str(folder), "--out", str(out), "--model-dir", str(trained_model), "--no-prefect"]
    assert main(args) == 2
    err = capsys.readouterr().err
    failures = json.loads((out / "run.json").read_text())["failures"]
    assert sorted(Path(f["file"]).name for f in failures) == sorted(expected_bad), "one failure per bad file"
    for f in failures:
        assert f["problem"].strip()
        assert re.search(re.escape(Path(f["file"]).name), err), f"{f['file']} is named on the terminal"
    first = [json.loads(line) for line in (out / "passages.jsonl").read_text().splitlines()]
    companies = {r["company"] for r in first}
    assert "Nupo" in companies and len([r for r in first if r["company"] == "Nupo"]) == 14
    assert len({r["id"] for r in first}) == len(first), "no duplicate passage ids"

    # a second run over the same folder gives the same coded passages, nothing lost or doubled
    assert main(args) == 2
    second = [json.loads(line) for line in (out / "passages.jsonl").read_text().splitlines()]
    assert [r["id"] for r in second] == [r["id"] for r in first]
