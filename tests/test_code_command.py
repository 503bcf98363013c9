"""`intcap code` end to end: the bundled corpus through a real Prefect flow, and mixed folders."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from intcap.cli import main
from pipeline import paths

try:
    from test_cli_errors import hash_model  # noqa: F401 - a fixture: a hashing.v1 model, no real encoder
except ImportError:  # tests/ imported as a package
    from tests.test_cli_errors import hash_model  # noqa: F401


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def assert_offsets_reproduce_text(out: Path, rows: list[dict]) -> None:
    for row in rows:
        stored = \
            (out / "sources" / row["source"]).read_bytes().decode("utf-8")
        assert stored[row["start"]:row["end"]] == row["text"], row["id"]


def test_bundled_corpus_through_prefect_flow(tmp_path, trained_model, prefect_home):
    out = tmp_path / "out"
    assert main(["code", str(paths.INTERVIEWS), "--out", str(out), "--model-dir", str(trained_model)]) == 0
    rows = read_jsonl(out / "passages.jsonl")
    gold_ids = [r["id"] for r in read_jsonl(paths.CODED_PASSAGES)]
    assert sorted(r["id"] for r in rows) == sorted(gold_ids)
    assert_offsets_reproduce_text(out, rows)
    for row in rows:
        assert set(row["codes"]) == {"NET", "ENT", "ABS", "PRI"}
        for score in row["codes"].values():
            assert 0.0 <= score["p"] <= 1.0 and score["valence"] in {"+", "-", "0"}
            assert abs(sum(score["valence_p"].values()) - 1.0) < 1e-3
        assert set(row["assigned"]) <= {"NET", "ENT", "ABS", "PRI"}
    profiles = json.loads((out / "profiles.json").read_text())
    assert len(profiles) == 14
    assert {p["company"] for p in profiles} == {r["company"] for r in read_jsonl(paths.CODED_PASSAGES)}
    assert all(p["primary_focus"] in {"network", "absorptive_capacity", "entrepreneurship", "balanced"}
               for p in profiles)
    html = (out / "report.html").read_text()
    assert html.count('class="card"') == 14 and "Dybvad Stålindustri" in html
    run = json.loads((out / "run.json").read_text())
    assert run["passages"] == 198 and run["failures"] == []


def test_folder_with_a_broken_file_codes_the_rest(tmp_path, trained_model, capsys):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(paths.INTERVIEWS / "nupo.md", corpus / "nupo.md")
    (corpus / "interview.vtt").write_text(
        "WEBVTT\n\n00:00:01.000 --> 00:00:04.000\n<v Anna>We entered Germany through a distributor we met at a fair.</v>\n",
        encoding="utf-8")
    (corpus / "broken.pdf.txt").write_bytes(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n" + bytes(range(256)))
    out = tmp_path / "out"
    status = main(["code", str(corpus), "--out", str(out), "--model-dir", str(trained_model), "--no-prefect"])
    assert status == 2, "the exit status says something failed"
    err = capsys.readouterr().err
    assert "broken.pdf.txt" in err and "PDF" in err
    rows = read_jsonl(out / "passages.jsonl")
    assert {r["source"] for r in rows} == {"nupo.md", "interview.vtt"}
    assert_offsets_reproduce_text(out, rows)
    run = json.loads((out / "run.json").read_text())
    assert [f["file"].endswith("broken.pdf.txt") for f in run["failures"]] == [True]


def test_real_zoom_and_teams_transcripts(tmp_path, trained_model, samples_dir):
    out = tmp_path / "out"
    corpus = tmp_path / "calls"
    corpus.mkdir()
    for name in ("zoom_meeting.transcript.vtt", "teams.vtt"):
        (corpus / name).symlink_to(samples_dir / name)
    assert main(["code", str(corpus), "--out", str(out), "--model-dir", str(trained_model), "--no-prefect"]) == 0
    rows = read_jsonl(out / "passages.jsonl")
    assert "zoom_meeting.transcript.vtt" in {r["source"] for r in rows}
    assert {"Conor Healy", "Srijani Ghosh"} <= {r["speaker"] for r in rows}
    # the Teams sample holds two greetings ("There you go.", "Why hello there, Yuri."): read without
    # failure, but too short to code
    assert not [r for r in rows if r["source"] == "teams.vtt" and r["codes"]]
    assert json.loads((out / "run.json").read_text())["failures"] == []
    assert_offsets_reproduce_text(out, rows)


@pytest.mark.parametrize("prefect", [False, True])
def test_missing_model_is_a_clear_error(tmp_path, capsys, prefect):
    args = ["code", str(paths.INTERVIEWS), "--out", str(tmp_path / "o"), "--model-dir", str(tmp_path / "none")]
    status = main(args + ([] if prefect else ["--no-prefect"]))
    assert status == 1
    starting, error = capsys.readouterr().err.strip().splitlines()  # what it starts, then the one error line
    assert starting.startswith("intcap: ") and starting.endswith("loading the model ...")
    assert "intcap train" in error and error.startswith("intcap: error: ")


def test_results_folder_inside_the_corpus_is_never_ingested(tmp_path, trained_model):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(paths.INTERVIEWS / "nupo.md", corpus / "nupo.md")
    out = corpus / "results"
    args = ["code", str(corpus), "--out", str(out), "--model-dir", str(trained_model), "--no-prefect"]
    assert main(args) == 0
    first = (out / "passages.jsonl").read_text()
    assert main(args) == 0  # the second run must not read results/sources/... as new firms
    rows = [json.loads(x) for x in (out / "passages.jsonl").read_text().splitlines()]
    assert {r["company"] for r in rows} == {"nupo"} and (out / "passages.jsonl").read_text() == first
    assert json.loads((out / "run.json").read_text())["failures"] == []


def test_out_naming_a_file_is_one_clear_line(tmp_path, trained_model, capsys):
    target = tmp_path / "results.txt"
    target.write_text("not a folder")
    assert main(["code", str(paths.INTERVIEWS / "nupo.md"), "--out", str(target), "--model-dir",
                 str(trained_model), "--no-prefect"]) == 1
    error = capsys.readouterr().err.strip().splitlines()[1:]
    assert len(error) == 1 and error[0].startswith("intcap: error: --out") and "is a file, not a folder" in error[0]


@pytest.mark.parametrize("prefect", [False, True])
def test_interviewer_option_and_speaker_roles_in_run_json(tmp_path, hash_model, prefect, prefect_home):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "call.txt").write_text(
        "Karen: How did you find your first customers abroad?\n\n"
        "Ole: We met our German distributor at a trade fair, and our partners there introduced us to retailers.\n\n"
        "Karen: And then?\n\nOle: Then we opened a small office in Hamburg with two sales people.\n", encoding="utf-8")
    out = tmp_path / "out"
    args = ["code", str(corpus), "--out", str(out), "--model-dir", str(hash_model)]
    args += [] if prefect else ["--no-prefect"]
    assert main(args) == 0
    run = json.loads((out / "run.json").read_text())
    assert run["speaker_roles"] == [{"source": "call.txt", "company": "call",
                                     "roles": {"Karen": "interviewer", "Ole": "respondent"}}]
    answers = {r["speaker"] for r in read_jsonl(out / "passages.jsonl") if r["codes"]}
    assert answers == {"Ole"}

    assert main(args + ["--interviewer", "Ole; Someone Else"]) == 0
    run = json.loads((out / "run.json").read_text())
    assert run["speaker_roles"][0]["roles"] == {"Karen": "respondent", "Ole": "interviewer"}
    assert {r["speaker"] for r in read_jsonl(out / "passages.jsonl") if r["codes"]} == {"Karen"}
