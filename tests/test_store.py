"""The results database: schema, upserts, consistency, corruption, backups, profiles, history."""
from __future__ import annotations

import json
import random
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

try:
    from refresh_support import hash_model, write_corpus
except ImportError:  # tests/ imported as a package
    from tests.refresh_support import hash_model, write_corpus

from intcap.cli import main
from pipeline.errors import StoreError
from pipeline.history import format_history
from pipeline.report_history import history_section, line_chart
from pipeline.profile import ProfileSettings, build_profiles
from pipeline.records import CODES, CodeScore, Coding, Passage, Transcript
from pipeline.refresh import ProfileAggregator, refresh
from pipeline.store import open_store, resolve_url


def coding(pid: str, company: str, source: str, rng: random.Random, version: str = "v1") -> Coding:
    codes = {}
    for c in CODES:
        plus, minus = rng.random(), rng.random()
        total = plus + minus + rng.random()
        vp = {"+": round(plus / total, 4), "-": round(minus / total, 4)}
        vp["0"] = round(1 - vp["+"] - vp["-"], 4)
        codes[c] = CodeScore(p=round(rng.random(), 4), valence=max(vp, key=vp.get), valence_p=vp)
    assigned = [c for c in CODES if codes[c].p > 0.5]
    return Coding(Passage(pid, company, source, 0, 4, "text"), codes, assigned, model_version=version)


def transcript(source: str, company: str) -> Transcript:
    return Transcript(source=source, company=company, text="text " * 3, format="txt")


def test_commit_file_replaces_and_never_duplicates(tmp_path):
    rng = random.Random(1)
    with open_store(tmp_path / "r.db") as store:
        run, resumed = store.begin_run("/corpus", "v1")
        assert not resumed
        for _ in range(2):  # the same file committed twice (a re-run): replaced, not duplicated
            store.commit_file(run, "a.txt", "fp1", "added", "v1",
                              [(transcript("a.txt", "A"), [coding(f"a-{i}", "A", "a.txt", rng) for i in range(3)])])
        assert store.count_passages() == 3
        store.commit_file(run, "a.txt", "fp2", "changed", "v1",
                          [(transcript("a.txt", "A"), [coding("a-1", "A", "a.txt", rng)])])
        dump = store.dump()
        assert len(dump["sources"]) == 1 and dump["sources"][0]["fingerprint"] == "fp2"
        assert len(dump["transcripts"]) == 1 and len(dump["passages"]) == 1
        assert dump["run_files"] == [{"path": "a.txt", "action": "changed", "problem": None, "passages": 1}]
        store.mark_removed(run, "a.txt")
        assert store.count_passages() == 0 and store.dump()["sources"][0]["status"] == "removed"


def test_stored_codings_round_trip(tmp_path):
    rng = random.Random(2)
    items = [coding(f"x-{i}", "X", "x.txt", rng) for i in range(5)]
    with open_store(tmp_path / "r.db") as store:
        run, _ = store.begin_run("/c", "v1")
        store.commit_file(run, "x.txt", "fp", "added", "v1", [(transcript("x.txt", "X"), items)])
        back = list(store.iter_codings())
    assert [c.to_dict() for c in back] == [c.to_dict() for c in items]


@pytest.mark.parametrize("seed", [3, 4, 5])
def test_streaming_aggregator_equals_build_profiles(seed):
    rng = random.Random(seed)
    codings = [coding(f"p{i}", rng.choice("ABCD"), "s", rng) for i in range(rng.randint(1, 60))]
    settings = ProfileSettings(base_rates={"NET": 0.3, "ENT": 0.2, "ABS": 0.1, "PRI": 0.25}, top_evidence=2)
    agg = ProfileAggregator(settings)
    for c in codings:
        agg.add_coding(c)
    assert [p.to_dict() for p in agg.profiles()] == [p.to_dict() for p in build_profiles(codings, settings)]


def test_unfinished_run_is_resumed_and_a_live_one_refused(tmp_path):
    with open_store(tmp_path / "r.db") as store:
        run, _ = store.begin_run("/c", "v1")
        assert store.begin_run("/c", "v1") == (run, True)  # same process: take it up again
        dead = subprocess.Popen([sys.executable, "-c", "pass"])
        dead.wait()
        alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
        try:
            with store.transaction() as conn:
                from pipeline.store_schema import runs
                conn.execute(runs.update().values(pid=alive.pid))
            with pytest.raises(StoreError, match=f"process {alive.pid}"):
                store.begin_run("/c", "v1")
            with store.transaction() as conn:
                conn.execute(runs.update().values(pid=dead.pid))
            assert store.begin_run("/c", "v1") == (run, True)
            new, resumed = store.begin_run("/c", "v2")  # another model: the old run is abandoned
            assert not resumed and new != run
            assert [r["status"] for r in store.list_runs(None)] == ["interrupted", "running"]
        finally:
            alive.kill()
            alive.wait()


def test_corrupted_database_names_the_file_and_the_recovery(tmp_path, capsys):
    model = hash_model()
    corpus = tmp_path / "corpus"
    write_corpus(corpus, 2)
    db = tmp_path / "results.db"
    with open_store(db) as store:
        refresh(corpus, store, model)
    backup = tmp_path / "results.db.bak"
    assert backup.is_file()
    with open_store(backup) as copy:  # the backup is a complete, readable database
        assert copy.count_passages() == 4 and copy.list_runs()[0]["status"] == "ok"
    db.write_bytes(random.Random(7).randbytes(8192))
    with pytest.raises(StoreError) as info:
        open_store(db)
    message = str(info.value)
    assert str(db) in message and f"cp {backup} {db}" in message
    assert main(["history", "firm000", "--db", str(db)]) == 1
    assert f"cp {backup} {db}" in capsys.readouterr().err
    # following the advice works
    db.write_bytes(backup.read_bytes())
    assert main(["history", "firm000", "--db", str(db)]) == 0


def test_damage_inside_a_valid_header_is_a_store_error(tmp_path):
    db = tmp_path / "r.db"
    with open_store(db) as store:
        store.begin_run("/c", "v1")
    data = bytearray(db.read_bytes())
    data[100:] = random.Random(8).randbytes(len(data) - 100)
    db.write_bytes(bytes(data))
    for suffix in ("-wal", "-shm"):
        (tmp_path / f"r.db{suffix}").unlink(missing_ok=True)
    with pytest.raises(StoreError, match="no backup"):
        with open_store(db) as store:
            store.list_runs()


def test_db_option_accepts_paths_and_urls(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("INTCAP_DB", raising=False)
    assert resolve_url(None) == f"sqlite:///{tmp_path / 'intcap.db'}"
    assert resolve_url("x/y.db") == f"sqlite:///{tmp_path / 'x' / 'y.db'}"
    assert resolve_url("postgresql+psycopg://u@h/db") == "postgresql+psycopg://u@h/db"
    monkeypatch.setenv("INTCAP_DB", "sqlite:////tmp/other.db")
    assert resolve_url(None) == "sqlite:////tmp/other.db"


def test_history_table_and_inline_svg_chart(tmp_path, capsys):
    model = hash_model()
    corpus = tmp_path / "corpus"
    write_corpus(corpus, 2)
    db = tmp_path / "r.db"
    with open_store(db) as store:
        refresh(corpus, store, model)
        (corpus / "firm000.txt").write_text("Our distributors abroad opened every market for us.\n")
        refresh(corpus, store, model)
        rows = store.history("firm000")
        assert [r["run_id"] for r in rows] == [1, 2]
        table = format_history(rows)
        assert len(table.splitlines()) == 4 and "NET cov/str" in table
        for metric in ("coverage", "strength"):
            svg = line_chart("firm000", rows, [r["run_id"] for r in rows], metric)
            ET.fromstring(svg)  # well-formed
            assert svg.count("<polyline") == len(CODES) and "<script" not in svg
        section = history_section(store)  # two charts per firm, and a legend key per code
        assert section.count("<svg") == 2 * 2 + len(CODES) and "http://" not in section.replace("http://www.w3.org/2000/svg", "")
    assert main(["history", "FIRM000", "--db", str(db)]) == 0  # case-insensitive when unambiguous
    out = capsys.readouterr().out
    assert "firm000: 2 run(s)" in out and out.count("\n") >= 4
    assert main(["history", "nobody", "--db", str(db)]) == 1
    assert "known: firm000, firm001" in capsys.readouterr().err


def test_profiles_per_run_are_stored(tmp_path):
    model = hash_model()
    corpus = tmp_path / "corpus"
    write_corpus(corpus, 3)
    with open_store(tmp_path / "r.db") as store:
        first = refresh(corpus, store, model)
        profiles = store.profiles_of_run(first["run_id"])
        assert [p["company"] for p in profiles] == ["firm000", "firm001", "firm002"]
        codings = list(store.iter_codings())
        manifest = json.loads((model / "manifest.json").read_text())
        settings = ProfileSettings(base_rates=manifest["base_rates"])
        assert profiles == [p.to_dict() for p in build_profiles(codings, settings)]
        second = refresh(corpus, store, model)
        assert store.profiles_of_run(second["run_id"]) == profiles


def test_history_of_a_missing_database_does_not_create_it(tmp_path, capsys):
    db = tmp_path / "none.db"
    assert main(["history", "x", "--db", str(db)]) == 1
    assert not db.exists() and "intcap refresh" in capsys.readouterr().err
