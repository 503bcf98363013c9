"""intcap refresh: incremental coding, no duplicates, removed/changed/failed files, model
versions, outputs, and a SIGKILL halfway that resumes to the same store.

These use a fast deterministic stand-in encoder (tests/refresh_support.py) with heads
trained on the thesis examples; test_dask.py and test_schedule.py run the real model.
"""
from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

try:
    from refresh_support import hash_model, write_corpus, write_transcript
except ImportError:  # tests/ imported as a package
    from tests.refresh_support import hash_model, write_corpus, write_transcript

from intcap.cli import main
from pipeline import refresh as refresh_mod
from pipeline.errors import IntcapError
from pipeline.outputs import read_codings
from pipeline.profile import ProfileSettings, build_profiles
from pipeline.refresh import refresh
from pipeline.store import open_store

TESTS = Path(__file__).resolve().parent


@pytest.fixture
def spy(monkeypatch):
    """Records the files sent to the coder, batch by batch."""
    calls: list[list[str]] = []
    real = refresh_mod.code_transcripts

    def recording(model_dir, version, items):
        calls.append([name for name, _ in items])
        return real(model_dir, version, items)

    monkeypatch.setattr(refresh_mod, "code_transcripts", recording)
    return calls


def content(store) -> dict:
    """What must not change when nothing in the corpus changed."""
    dump = store.dump()
    return {k: dump[k] for k in ("sources", "transcripts", "passages")}


def test_incremental_refresh(tmp_path, spy):
    model = hash_model()
    corpus = tmp_path / "corpus"
    write_corpus(corpus, 4)
    with open_store(tmp_path / "r.db") as store:
        first = refresh(corpus, store, model)
        assert (first["added"], first["passages_coded"], first["companies"]) == (4, 8, 4)
        assert sorted(n for batch in spy for n in batch) == [f"firm{i:03d}.txt" for i in range(4)]
        before = content(store)

        # unchanged corpus: nothing coded, nothing written twice
        spy.clear()
        second = refresh(corpus, store, model)
        assert spy == [] and second["passages_coded"] == 0 and second["unchanged"] == 4
        assert (second["added"], second["changed"], second["removed"], second["recoded"]) == (0, 0, 0, 0)
        assert content(store) == before and store.count_passages() == 8
        assert store.profiles_of_run(second["run_id"]) == store.profiles_of_run(first["run_id"])

        # one new transcript: only its passages are coded
        write_transcript(corpus, "newcomer.txt", 11, paragraphs=3)
        spy.clear()
        third = refresh(corpus, store, model)
        assert spy == [["newcomer.txt"]] and third["coded_files"] == ["newcomer.txt"]
        assert (third["added"], third["passages_coded"], third["unchanged"]) == (1, 3, 4)
        assert store.count_passages() == 11

        # a changed file is re-coded, a removed one marked and dropped from the profiles
        (corpus / "firm001.txt").write_text("Trade fairs gave us our first customers abroad.\n", encoding="utf-8")
        (corpus / "firm002.txt").unlink()
        spy.clear()
        fourth = refresh(corpus, store, model)
        assert spy == [["firm001.txt"]]
        assert (fourth["changed"], fourth["removed"], fourth["unchanged"], fourth["passages_coded"]) == (1, 1, 3, 1)
        assert fourth["removed_files"] == ["firm002.txt"]
        dump = store.dump()
        assert {s["path"]: s["status"] for s in dump["sources"]}["firm002.txt"] == "removed"
        assert "firm002" not in {p["company"] for p in dump["passages"]}
        assert "firm002" not in [p["company"] for p in store.profiles_of_run(fourth["run_id"])]
        assert [p["passage_id"] for p in dump["passages"] if p["source"] == "firm001.txt"] == ["firm001-01"]
        assert store.count_passages() == 11 - 2 - 2 + 1

        # a removed file that comes back is added again
        write_transcript(corpus, "firm002.txt", 2)
        assert refresh(corpus, store, model)["added"] == 1

        # a new model version re-codes everything
        spy.clear()
        other = hash_model(C=1.0)
        fifth = refresh(corpus, store, other)
        new_version = json.loads((other / "manifest.json").read_text())["version"]
        assert fifth["model_version"] == new_version != first["model_version"]
        assert fifth["recoded"] == 5 and fifth["unchanged"] == 0 and len([n for b in spy for n in b]) == 5
        assert {p["model_version"] for p in store.dump()["passages"]} == {new_version}
        assert [r["model_version"] for r in store.history("firm000")][-1] == new_version
        # every run is recorded, and no duplicates anywhere
        assert [r["status"] for r in store.list_runs(None)] == ["ok"] * 6
        ids = [(p["source"], p["passage_id"]) for p in store.dump()["passages"]]
        assert len(ids) == len(set(ids))


def test_failed_files_are_recorded_and_the_rest_coded(tmp_path, capsys):
    model = hash_model()
    corpus = tmp_path / "corpus"
    write_corpus(corpus, 2)
    (corpus / "scan.pdf").write_bytes(b"%PDF-1.4")
    (corpus / "empty.txt").write_bytes(b"")
    db, out = tmp_path / "r.db", tmp_path / "out"
    status = main(["refresh", str(corpus), "--db", str(db), "--model-dir", str(model), "--no-prefect",
                   "--out", str(out)])
    captured = capsys.readouterr()
    assert status == 2
    assert "2 added" in captured.out and "2 failed" in captured.out
    assert "intcap: error: empty.txt: file is empty" in captured.err
    assert "intcap: error: scan.pdf: unsupported" in captured.err
    with open_store(db) as store:
        run = store.list_runs()[-1]
        assert (run["added"], run["failed"]) == (2, 2)
        assert {f["path"]: f["action"] for f in store.files_of_run(run["id"])} == {
            "firm000.txt": "added", "firm001.txt": "added", "empty.txt": "failed", "scan.pdf": "failed"}
    # a failure is reported again on the next run (it is still there), nothing is re-coded
    assert main(["refresh", str(corpus), "--db", str(db), "--model-dir", str(model), "--no-prefect"]) == 2
    assert "0 passages coded" in capsys.readouterr().out


def test_outputs_match_the_store(tmp_path):
    model = hash_model()
    corpus = tmp_path / "corpus"
    write_corpus(corpus, 3, paragraphs=3)
    out = tmp_path / "out"
    with open_store(tmp_path / "r.db") as store:
        refresh(corpus, store, model, out_dir=out)
        (corpus / "firm000.txt").write_text("We learned from our customers in Japan.\n", encoding="utf-8")
        result = refresh(corpus, store, model, out_dir=out)
        codings = read_codings(out)
        assert len(codings) == store.count_passages() == 7
        manifest = json.loads((model / "manifest.json").read_text())
        expected = [p.to_dict() for p in build_profiles(codings, ProfileSettings(base_rates=manifest["base_rates"]))]
        assert json.loads((out / "profiles.json").read_text()) == expected
    assert (out / "sources" / "firm000.txt").read_text() == "We learned from our customers in Japan.\n"
    report = (out / "report.html").read_text()
    assert "Profiles across runs" in report and report.count("<polyline") >= 3 * 2 * 4
    assert "7 coded passages" in report
    assert json.loads((out / "run.json").read_text())["run_id"] == result["run_id"] == 2


def test_refresh_needs_a_folder(tmp_path):
    model = hash_model()
    with open_store(tmp_path / "r.db") as store:
        with pytest.raises(IntcapError, match="not a folder"):
            refresh(write_corpus(tmp_path / "c", 1)[0], store, model)
    assert main(["refresh", str(tmp_path / "missing"), "--db", str(tmp_path / "r.db"), "--no-prefect",
                 "--model-dir", str(model)]) == 1


KILL_SCRIPT = """
import sys, time
sys.path.insert(0, {tests!r})
from pipeline.refresh import refresh
from pipeline.store import open_store
with open_store(sys.argv[2]) as store:
    refresh(sys.argv[1], store, sys.argv[3], batch_size=4, on_commit=lambda name: time.sleep(float(sys.argv[4])))
"""


def committed(db: Path) -> int:
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            return con.execute("SELECT COUNT(*) FROM run_files").fetchone()[0]
        finally:
            con.close()
    except sqlite3.Error:
        return 0


def kill_refresh_halfway(tmp_path: Path, corpus: Path, db: str, model: Path, committed_files, cwd=None) -> None:
    """Refresh ``corpus`` into ``db`` in a child process, and SIGKILL it once 8 files are committed."""
    script = tmp_path / "run.py"
    script.write_text(KILL_SCRIPT.format(tests=str(TESTS)))
    proc = subprocess.Popen([sys.executable, str(script), str(corpus), db, str(model), "0.15"], cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while committed_files() < 8:
            assert proc.poll() is None, proc.stdout.read().decode()
            assert time.monotonic() < deadline, "the refresh committed nothing in time"
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def resume_killed_refresh(store, corpus: Path, model: Path, spy) -> tuple[dict, set, dict]:
    """Check that the killed run's committed files are complete, resume it, and check that it codes
    only the others; returns (the resumed run's summary, the files done before, the store's dump)."""
    runs = store.list_runs(None)
    assert [r["status"] for r in runs] == ["running"]
    done_before = {f["path"] for f in store.files_of_run(runs[0]["id"])}
    assert 8 <= len(done_before) < 30
    # every committed file is complete: its passages are all there
    dump = store.dump()
    assert {s["path"] for s in dump["sources"]} == done_before
    assert len(dump["passages"]) == 2 * len(done_before)
    resumed = refresh(corpus, store, model, batch_size=4)
    assert resumed["resumed"] and resumed["run_id"] == runs[0]["id"]
    recoded = {n for batch in spy for n in batch}
    assert recoded.isdisjoint(done_before) and recoded | done_before == {f"firm{i:03d}.txt" for i in range(30)}
    return resumed, done_before, store.dump()


def test_sigkill_halfway_resumes_to_the_same_store(tmp_path, spy):
    model = hash_model()
    corpus = tmp_path / "corpus"
    write_corpus(corpus, 30)
    db = tmp_path / "killed.db"
    kill_refresh_halfway(tmp_path, corpus, str(db), model, lambda: committed(db))
    with open_store(db) as store:
        resumed, done_before, after_kill = resume_killed_refresh(store, corpus, model, spy)
    with open_store(tmp_path / "straight.db") as store:
        straight = refresh(corpus, store, model, batch_size=4)
        uninterrupted = store.dump()
    assert after_kill == uninterrupted
    assert (resumed["added"], resumed["passages_coded"]) == (straight["added"], straight["passages_coded"]) == (30, 60)


def test_hostile_jsonl_is_one_failed_file_and_refresh_goes_on(tmp_path, capsys):
    """A 5,000-digit integer or a 30,000-deep array in one JSONL line fails that file alone,
    on every run, and the run is finished (not left "running")."""
    model = hash_model()
    corpus = tmp_path / "corpus"
    write_corpus(corpus, 2)
    (corpus / "bigint.jsonl").write_text('{"id": "a", "company": "X", "text": "t", "n": ' + "9" * 5000 + "}\n")
    (corpus / "deep.jsonl").write_text('{"id": "a", "text": "t", "n": ' + "[" * 30000 + "]" * 30000 + "}\n")
    db = tmp_path / "r.db"
    for _ in range(2):
        assert main(["refresh", str(corpus), "--db", str(db), "--model-dir", str(model), "--no-prefect"]) == 2
        err = capsys.readouterr().err
        assert "bigint.jsonl: line 1: not usable JSON (an integer of 5000 digits" in err
        assert "deep.jsonl: line 1: not valid JSON (nested too deeply)" in err
    with open_store(db) as store:
        runs = store.list_runs(status=None)
        assert len(runs) == 2 and all(r["status"] == "ok" for r in runs)
        assert runs[0]["added"] == 2


def test_file_deleted_but_still_in_the_manifest_is_removed_with_a_warning(tmp_path, capsys):
    model = hash_model()
    corpus = tmp_path / "corpus"
    write_corpus(corpus, 2)
    names = sorted(p.name for p in corpus.glob("*.txt"))
    (corpus / "manifest.csv").write_text("file,company\n" + "".join(f"{n},Firm {n}\n" for n in names))
    db = tmp_path / "r.db"
    args = ["refresh", str(corpus), "--db", str(db), "--model-dir", str(model), "--no-prefect"]
    assert main(args) == 0
    capsys.readouterr()
    (corpus / names[0]).unlink()
    assert main(args) == 0
    captured = capsys.readouterr()
    assert "1 removed" in captured.out and "0 failed" in captured.out
    assert f"warning: {names[0]}: is listed in manifest.csv but does not exist; treated as removed" in captured.err
    assert main(args) == 0  # and it stays that way: not FAILED on every later refresh
    assert "0 failed" in capsys.readouterr().out
    with open_store(db) as store:
        run = store.list_runs()[-2]
        assert {f["path"]: f["action"] for f in store.files_of_run(run["id"])}.get(names[0]) == "removed"


INTERVIEW = ("Karen: How did you find your first customers abroad?\n\nOle: {answer}\n\n"
             "Karen: And then?\n\nOle: {answer}\n")


def test_interviewer_option_decides_what_is_coded_and_changing_it_re_codes(tmp_path, spy):
    model = hash_model()
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    answer = "We met our German distributor at a trade fair, and our partners there introduced us to retailers."
    for name in ("a.txt", "b.txt"):
        (corpus / name).write_text(INTERVIEW.format(answer=answer), encoding="utf-8")
    (corpus / "manifest.csv").write_text("file,company,interviewer\nb.txt,B,Karen\n", encoding="utf-8")
    with open_store(tmp_path / "r.db") as store:
        first = refresh(corpus, store, model, out_dir=tmp_path / "out")
        assert first["added"] == 2
        run = json.loads((tmp_path / "out" / "run.json").read_text())
        roles = {r["source"]: r["roles"] for r in run["speaker_roles"]}
        assert roles["a.txt"] == roles["b.txt"] == {"Karen": "interviewer", "Ole": "respondent"}

        # naming Ole the interviewer re-codes a.txt only: b.txt's manifest row names its interviewer
        spy.clear()
        second = refresh(corpus, store, model, interviewer="Ole", out_dir=tmp_path / "out")
        assert spy == [["a.txt"]] and (second["changed"], second["unchanged"]) == (1, 1)
        assert second["speaker_roles"] == [{"source": "a.txt", "company": "a",
                                            "roles": {"Karen": "respondent", "Ole": "interviewer"}}]
        # the same option again: nothing to do
        spy.clear()
        third = refresh(corpus, store, model, interviewer="Ole")
        assert spy == [] and third["unchanged"] == 2
        # dropping the option re-codes a.txt back
        spy.clear()
        assert refresh(corpus, store, model)["changed"] == 1 and spy == [["a.txt"]]


def test_fingerprint_without_the_option_is_unchanged():
    """Stores written before --interviewer existed must not re-code everything."""
    import hashlib

    from pipeline.ingest import ManifestEntry
    from pipeline.refresh import fingerprint

    data, entry = b"some transcript", ManifestEntry(file="x.txt", company="X")
    before = hashlib.sha256(data)
    before.update(b"\0manifest\0" + json.dumps(vars(entry), sort_keys=True).encode())
    assert fingerprint(data, entry) == fingerprint(data, entry, None) == before.hexdigest()
    assert fingerprint(data, entry, "Karen") != before.hexdigest()
    named = ManifestEntry(file="x.txt", company="X", interviewer="Ole")
    assert fingerprint(data, named, "Karen") == fingerprint(data, named), "the row's interviewer wins"


def test_refresh_command_takes_the_interviewer_option(tmp_path, capsys):
    model = hash_model()
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.txt").write_text(INTERVIEW.format(answer="Our partners in Norway introduced us to the chains."),
                                  encoding="utf-8")
    out = tmp_path / "out"
    args = ["refresh", str(corpus), "--db", str(tmp_path / "r.db"), "--model-dir", str(model), "--no-prefect",
            "--out", str(out)]
    assert main(args + ["--interviewer", "Ole"]) == 0
    run = json.loads((out / "run.json").read_text())
    assert run["speaker_roles"][0]["roles"] == {"Karen": "respondent", "Ole": "interviewer"}
    assert main(args + ["--interviewer", "Karen"]) == 0
    assert "1 changed" in capsys.readouterr().out


def test_refresh_through_prefect_takes_the_interviewer_and_fails_non_zero(tmp_path, capsys, prefect_home):
    model = hash_model()
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.txt").write_text(INTERVIEW.format(answer="Our partners in Norway introduced us to the chains."),
                                  encoding="utf-8")
    (corpus / "empty.txt").write_bytes(b"")
    out = tmp_path / "out"
    args = ["refresh", str(corpus), "--db", str(tmp_path / "r.db"), "--model-dir", str(model), "--out", str(out)]
    assert main(args + ["--interviewer", "Ole"]) == 2, "a failed file is a non-zero exit under Prefect too"
    captured = capsys.readouterr()
    assert captured.err.splitlines()[0] == "intcap: starting Prefect and loading the model ..."
    assert "intcap: error: empty.txt: file is empty" in captured.err and "Traceback" not in captured.err
    run = json.loads((out / "run.json").read_text())
    assert run["speaker_roles"] == [{"source": "a.txt", "company": "a",
                                     "roles": {"Karen": "respondent", "Ole": "interviewer"}}]
