"""Label store: round trip on a real SQLite file, durability settings, undo history, export, concurrency."""
from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from intcap.cli import main
from pipeline.examples import load_examples
from pipeline.outputs import read_codings
from pipeline.review.answers import ReviewError, Suggestion, format_codes, parse_answer
from pipeline.review.store import LabelStore, database_url
from test_review_support import small_out_dir

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture()
def out_dir(tmp_path) -> Path:
    return small_out_dir(tmp_path / "out", companies=2)


def test_round_trip_on_a_real_sqlite_file(out_dir):
    codings = read_codings(out_dir)
    store = LabelStore.open(out_dir)
    first = store.record("out", codings[0], {"NET": "+", "ABS": "0"}, "ann")
    store.record("out", codings[1], {}, "bob")
    store.close()

    db = out_dir / "labels.sqlite"
    assert db.is_file()
    reopened = LabelStore.open(out_dir)
    history = reopened.history("out")
    assert [(a.passage_id, a.codes, a.reviewer) for a in history] == [
        (codings[0].passage.id, {"NET": "+", "ABS": "0"}, "ann"), (codings[1].passage.id, {}, "bob")]
    a = history[0]
    assert a.id == first.id and a.company == codings[0].passage.company and a.text == codings[0].passage.text
    assert (a.start, a.end, a.source) == (codings[0].passage.start, codings[0].passage.end, codings[0].passage.source)
    assert a.model_version == "test-v1" and a.created.endswith("+00:00")
    assert a.agrees == ({"NET": "+", "ABS": "0"} == Suggestion.from_coding(codings[0]).assigned)
    reopened.close()

    with sqlite3.connect(db) as con:  # WAL by default; suggestions apart from human answers
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        shown = con.execute("SELECT passage_id, model_version, codes, assigned FROM suggestions ORDER BY id").fetchall()
        links = con.execute("SELECT suggestion_id FROM answers ORDER BY id").fetchall()
    assert [s[0] for s in shown] == [codings[0].passage.id, codings[1].passage.id]
    assert json.loads(shown[0][2])["NET"]["p"] == codings[0].codes["NET"].p
    assert json.loads(shown[0][3]) == Suggestion.from_coding(codings[0]).assigned
    assert all(link[0] is not None for link in links)


def test_commits_with_synchronous_full(out_dir):
    store = LabelStore.open(out_dir)
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    store.close()


def test_undo_keeps_history_and_export_takes_the_latest_live_answer(out_dir, tmp_path):
    codings = read_codings(out_dir)
    store = LabelStore.open(out_dir)
    store.record("out", codings[0], {"NET": "+"}, "ann")
    store.record("out", codings[0], {"NET": "-"}, "bob")
    store.record("out", codings[1], {"PRI": "0"}, "bob")
    undone = store.undo_last("out", "bob")
    assert undone.passage_id == codings[1].passage.id and undone.undone
    assert store.undo_last("out", "nobody") is None
    history = store.history("out")
    assert len(history) == 3 and [a.undone for a in history] == [False, False, True]
    assert store.reviewed_ids("out") == [codings[0].passage.id]

    target = tmp_path / "labels.jsonl"
    assert store.export_jsonl(target) == 1
    [example] = load_examples(target)  # the hand-coded format `intcap train --examples` reads
    assert (example.id, example.codes, example.label_source) == (codings[0].passage.id, {"NET": "-"}, "review:bob")
    assert example.text == codings[0].passage.text and example.company == codings[0].passage.company
    store.close()

    [row] = [json.loads(x) for x in target.read_text().splitlines()]
    assert row["reviewer"] == "bob" and row["model_version"] and row["answered"]
    assert (row["source"], row["start"], row["end"]) == (codings[0].passage.source, codings[0].passage.start,
                                                        codings[0].passage.end)

    cli_target = tmp_path / "cli.jsonl"
    assert main(["labels", "export", str(out_dir), "--out", str(cli_target)]) == 0
    [cli_row] = [json.loads(x) for x in cli_target.read_text().splitlines()]
    assert load_examples(cli_target) == load_examples(target)
    # the suggestion's provenance, from the results folder's passages.jsonl
    assert set(cli_row["suggestion"]) == {"model_version", "coder", "language", "evidence_text"}
    assert cli_row["suggestion"]["model_version"] == row["model_version"]


def test_bad_answers_are_refused_with_a_clear_message(out_dir):
    coding = read_codings(out_dir)[0]
    store = LabelStore.open(out_dir)
    with pytest.raises(ReviewError, match="codes must map NET/ENT/ABS/PRI"):
        store.record("out", coding, {"FOO": "+"}, "ann")
    with pytest.raises(ReviewError, match="reviewer must be"):
        store.record("out", coding, {}, "   ")
    assert store.history() == []
    store.close()


def test_parse_terminal_answers(out_dir):
    suggestion = Suggestion.from_coding(read_codings(out_dir)[0])
    assert parse_answer("NET+ abs0", suggestion) == {"NET": "+", "ABS": "0"}
    assert parse_answer("none", suggestion) == {}
    assert parse_answer("PRI", suggestion) == {"PRI": suggestion.valence_for("PRI")}
    assert format_codes({"ABS": "-", "NET": "+"}) == "NET+ ABS-"
    with pytest.raises(ReviewError, match="expected a code"):
        parse_answer("NET++", suggestion)


def test_database_url_forms(tmp_path):
    assert database_url(tmp_path) == f"sqlite:///{(tmp_path / 'labels.sqlite').resolve()}"
    assert database_url(None, "postgresql+psycopg://u@h/db") == "postgresql+psycopg://u@h/db"
    assert database_url(tmp_path, str(tmp_path / "x.db")).endswith("/x.db")


WRITER = textwrap.dedent("""
    import sys
    from pipeline.outputs import read_codings
    from pipeline.review.store import LabelStore
    out, reviewer, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    codings = read_codings(out)
    store = LabelStore.open(out)
    print("ready", flush=True)
    sys.stdin.readline()
    for i in range(n):
        store.record("out", codings[i % len(codings)], {"NET": "+"} if i % 2 else {}, reviewer)
    print("done", flush=True)
""")


def test_two_reviewer_processes_answering_at_once_lose_nothing(out_dir):
    n = 40
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(out_dir), name, str(n)], cwd=ROOT, text=True,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE) for name in ("ann", "bob")]
    for p in procs:
        assert p.stdout.readline().strip() == "ready"
    for p in procs:  # release both writers together
        p.stdin.write("go\n")
        p.stdin.flush()
    for p in procs:
        assert p.stdout.readline().strip() == "done"
        assert p.wait(60) == 0
    store = LabelStore.open(out_dir)
    history = store.history("out")
    store.close()
    assert len(history) == 2 * n and len({a.id for a in history}) == 2 * n
    assert sorted(a.reviewer for a in history) == ["ann"] * n + ["bob"] * n


def test_damaged_label_database_is_one_clear_line(tmp_path, capsys):
    """A database whose header is valid but whose pages are garbage: every command that reads
    it says so in one line (no SQLAlchemy traceback), and the server answers 503."""
    from intcap.cli import main
    from pipeline.errors import StoreError
    from test_review_support import small_out_dir

    out = small_out_dir(tmp_path / "out", companies=1)
    store = LabelStore.open(out)
    store.close()
    db = out / "labels.sqlite"
    data = bytearray(db.read_bytes())
    page = int.from_bytes(data[16:18], "big") or 65536
    for at in range(page, len(data)):  # keep page 1's 100-byte header, wreck everything after it
        data[at] = (at * 131) % 251
    db.write_bytes(bytes(data))
    for wal in out.glob("labels.sqlite-*"):
        wal.unlink()
    assert main(["labels", "export", str(out), "--out", str(tmp_path / "x.jsonl")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("intcap: error: ") and "damaged" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    with pytest.raises(StoreError, match="damaged|cannot read"):
        LabelStore.open(out)


def test_holds_are_respected_across_processes(tmp_path):
    """Two review sessions with their own connections (as two `review cli` processes) never get
    the same passage while the other holds it."""
    from pipeline.review.session import ReviewSession, Visit

    out = small_out_dir(tmp_path / "out", companies=2)
    a, b = ReviewSession.open(out, strategy="uncertainty"), ReviewSession.open(out, strategy="uncertainty")
    try:
        va, vb = Visit(), Visit()
        answered: list[str] = []
        while True:
            ca, cb = a.next_coding(va, "terminal:ann"), b.next_coding(vb, "terminal:bob")
            if ca is None and cb is None:
                break
            assert ca is None or cb is None or ca.passage.id != cb.passage.id
            for sess, c, who, v in ((a, ca, "ann", va), (b, cb, "bob", vb)):
                if c is not None:
                    sess.answer(c.passage.id, {}, who, v)
                    answered.append(c.passage.id)
        assert len(answered) == len(set(answered)) == len(a.corpus)
    finally:
        a.store.close()
        b.store.close()
