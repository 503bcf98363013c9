"""The label store and the results database on a real PostgreSQL server (tests/postgres_support.py):
concurrent reviewers with one killed mid-answer, a killed refresh resumed, a refresh scheduled
through a real Prefect server, and one clear line (no password) when the server is down."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

try:
    from postgres_support import PostgresServer, skip_reason
    from refresh_support import free_port, hash_model, offline_env, write_corpus
    from test_refresh import TESTS, kill_refresh_halfway, resume_killed_refresh, spy  # noqa: F401 - spy is a fixture
    from test_review_support import coding_row, small_out_dir, write_out_dir
    from test_schedule import PREFECT, stop, wait_healthy
except ImportError:  # tests/ imported as a package
    from tests.postgres_support import PostgresServer, skip_reason
    from tests.refresh_support import free_port, hash_model, offline_env, write_corpus
    from tests.test_refresh import TESTS, kill_refresh_halfway, resume_killed_refresh, spy  # noqa: F401
    from tests.test_review_support import coding_row, small_out_dir, write_out_dir
    from tests.test_schedule import PREFECT, stop, wait_healthy

from intcap.cli import main
from pipeline.refresh import refresh
from pipeline.store import open_store

ROOT = TESTS.parent
SKIP = skip_reason()
pytestmark = [pytest.mark.slow, pytest.mark.skipif(SKIP is not None, reason=f"PostgreSQL tests: {SKIP}")]


@pytest.fixture(scope="session")
def postgres():
    server = PostgresServer()
    try:
        server.init()
        server.start()
        yield server
    finally:
        server.remove()


@pytest.fixture
def database(postgres, request) -> str:
    """A fresh database for this test; its SQLAlchemy URL (with the password)."""
    return postgres.create_database(re.sub(r"\W+", "_", request.node.name)[:50].lower())


# -- (a) three reviewers, one killed mid-answer ---------------------------------------------------

REVIEWER = """
import sys
from pipeline.review.session import ReviewSession, Visit
out, name, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
session = ReviewSession.open(out, None, "uncertainty", "team")  # the database: $INTCAP_DB_URL
visit = Visit()
print("ready", flush=True)
sys.stdin.readline()
for i in range(n):
    coding = session.next_coding(visit, name)
    print("answering", coding.passage.id, flush=True)
    answer = session.answer(coding.passage.id, {"NET": "+"} if i % 2 else {}, name, visit)
    print("ack", answer.id, coding.passage.id, flush=True)
print("done", flush=True)
"""


def team_out_dir(folder: Path, n: int) -> Path:
    rows = [coding_row(f"p{i:04d}", f"Firm {i % 40}", f"firm{i % 40}.md", 100 * (i // 40),
                       f"Passage {i} about partners abroad.", {"NET": "+"} if i % 3 else {}) for i in range(n)]
    return write_out_dir(folder, rows)


def test_three_reviewers_and_a_sigkill_lose_nothing_and_duplicate_nothing(database, tmp_path):
    per, kill_after = 200, 70
    out = team_out_dir(tmp_path / "out", 3 * per + 30)
    env = dict(os.environ, INTCAP_DB_URL=database, PYTHONPATH=str(ROOT))
    names = ("ann", "bob", "eve")
    procs = {name: subprocess.Popen([sys.executable, "-c", REVIEWER, str(out), name, str(per)], cwd=ROOT, env=env,
                                    text=True, stdin=subprocess.PIPE, stdout=subprocess.PIPE) for name in names}
    acked: dict[str, list[tuple[int, str]]] = {name: [] for name in names}
    victim = procs["eve"]

    def collect(name: str) -> None:
        for line in procs[name].stdout:
            if line.startswith("ack "):
                _, answer_id, passage_id = line.split()
                acked[name].append((int(answer_id), passage_id))
            elif procs[name] is victim and line.startswith("answering") and len(acked[name]) == kill_after:
                os.kill(victim.pid, signal.SIGKILL)  # while it saves its next answer

    try:
        for p in procs.values():
            assert p.stdout.readline().strip() == "ready"
        readers = [threading.Thread(target=collect, args=(name,)) for name in names]
        for reader in readers:
            reader.start()
        for p in procs.values():  # release all three together
            p.stdin.write("go\n")
            p.stdin.flush()
        for reader in readers:
            reader.join(600)
        assert victim.wait(30) == -signal.SIGKILL
        assert procs["ann"].wait(30) == 0 and procs["bob"].wait(30) == 0
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.kill()
                p.wait()

    import sqlalchemy as sa

    from pipeline.review.store import LabelStore, answers, claims, suggestions

    store = LabelStore(database)
    try:
        stored = store.history("team")
        with store.engine.connect() as conn:
            orphan_answers = conn.execute(sa.select(sa.func.count()).select_from(answers).where(
                ~sa.exists().where(suggestions.c.id == answers.c.suggestion_id))).scalar_one()
            orphan_suggestions = conn.execute(sa.select(sa.func.count()).select_from(suggestions).where(
                ~sa.exists().where(answers.c.suggestion_id == suggestions.c.id))).scalar_one()
            # holds on passages nobody answered: the killed reviewer's, until it expires
            orphan_holds = conn.execute(sa.select(sa.func.count()).select_from(claims).where(~sa.exists().where(
                answers.c.corpus == claims.c.corpus, answers.c.passage_id == claims.c.passage_id))).scalar_one()
    finally:
        store.close()
    by_reviewer = {name: {(a.id, a.passage_id) for a in stored if a.reviewer == name} for name in names}
    figures = {
        "acknowledged": sum(len(v) for v in acked.values()), "stored": len(stored),
        "stored_not_acknowledged": len(by_reviewer["eve"] - set(acked["eve"])),
        "duplicate_rows": len(stored) - len({a.id for a in stored}),
        "passages_answered_twice": len(stored) - len({a.passage_id for a in stored}),
        "orphan_answers": orphan_answers, "orphan_suggestions": orphan_suggestions, "orphan_holds": orphan_holds,
    }
    print("\nPostgreSQL reviewers:", json.dumps(figures))
    assert len(acked["ann"]) == len(acked["bob"]) == per and len(acked["eve"]) == kill_after
    for name in ("ann", "bob"):  # every acknowledged answer is stored, under its reviewer, and nothing else
        assert by_reviewer[name] == set(acked[name])
    # the killed reviewer: all it acknowledged, at most the one answer in flight besides
    assert set(acked["eve"]) <= by_reviewer["eve"] and figures["stored_not_acknowledged"] <= 1
    assert len(stored) == sum(len(v) for v in by_reviewer.values())  # no row without a known reviewer
    assert figures["duplicate_rows"] == figures["passages_answered_twice"] == 0  # holds kept reviewers apart
    assert orphan_answers == orphan_suggestions == 0 and orphan_holds <= 1
    exported = tmp_path / "labels.jsonl"
    assert main(["labels", "export", "--db", database, "--out", str(exported)]) == 0
    assert len(exported.read_text().splitlines()) == len(stored)


def test_holds_compare_the_servers_clock(database, tmp_path):
    """A hold taken from one machine expires by the server's clock, not by the taker's."""
    from pipeline.review.store import LabelStore

    a, b = LabelStore(database), LabelStore(database)
    try:
        assert a.claim("c", "p1", "ann", 600) and not b.claim("c", "p1", "bob", 600)
        assert b.held_by_others("c", "bob") == {"p1"}
        assert a.claim("c", "p2", "ann", -1) and b.claim("c", "p2", "bob", 600)  # expired: taken over
        a.release("c", "p1", "ann")
        assert b.claim("c", "p1", "bob", 600)
    finally:
        a.close()
        b.close()


# -- (b) a refresh killed with SIGKILL and run again --------------------------------------------


def run_files_committed(url: str) -> int:
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.exec_driver_sql("SELECT COUNT(*) FROM run_files").scalar_one()
    except sa.exc.DBAPIError:  # tables not created yet
        return 0
    finally:
        engine.dispose()


def test_sigkill_halfway_resumes_to_the_same_store_as_sqlite(postgres, tmp_path, spy):
    model = hash_model()
    corpus = tmp_path / "corpus"
    write_corpus(corpus, 30)
    killed = postgres.create_database("refresh_killed")
    kill_refresh_halfway(tmp_path, corpus, killed, model, lambda: run_files_committed(killed), cwd=ROOT)
    with open_store(killed) as store:
        resumed, done_before, after_kill = resume_killed_refresh(store, corpus, model, spy)
    assert main(["history", "firm007", "--db", killed]) == 0
    with open_store(postgres.create_database("refresh_straight")) as store:
        straight = refresh(corpus, store, model, batch_size=4)
        uninterrupted = store.dump()
    with open_store(tmp_path / "straight.db") as store:
        on_sqlite = store.dump() if refresh(corpus, store, model, batch_size=4) else None
    print(f"\nPostgreSQL refresh: killed after {len(done_before)} of 30 files; resumed run coded {30 - len(done_before)}")
    assert after_kill == uninterrupted == on_sqlite  # same rows, same order, same schema as SQLite
    assert (resumed["added"], resumed["passages_coded"]) == (straight["added"], straight["passages_coded"]) == (30, 60)


STARTER = """
import sys
from pipeline.errors import StoreError
from pipeline.store import open_store
with open_store(sys.argv[1]) as store:
    print("ready", flush=True)
    sys.stdin.readline()
    try:
        print("started", store.begin_run("/corpus", "v1")[0], flush=True)
    except StoreError as error:
        print("refused", error, flush=True)
    sys.stdin.readline()  # stay alive (a live run) until every starter has tried
"""


def test_refreshes_starting_at_once_start_one_run(database):
    """Starting a run is serialised on the server: of four started together, one runs, three are told."""
    procs = [subprocess.Popen([sys.executable, "-c", STARTER, database], cwd=ROOT, text=True, stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE) for _ in range(4)]
    try:
        for p in procs:
            assert p.stdout.readline().strip() == "ready"
        for p in procs:
            p.stdin.write("go\n")
            p.stdin.flush()
        verdicts = [p.stdout.readline().split()[0] for p in procs]
        for p in procs:
            p.stdin.write("bye\n")
            p.stdin.flush()
            assert p.wait(60) == 0
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    assert sorted(verdicts) == ["refused"] * 3 + ["started"]
    with open_store(database) as store:
        assert [r["status"] for r in store.list_runs(None)] == ["running"]


def test_pg_dump_and_pg_restore_give_back_both_stores(postgres, tmp_path):
    """The backup recipe of docs/TEAM.md: pg_dump -Fc, pg_restore into a new database, carry on."""
    from pipeline.outputs import read_codings
    from pipeline.review.store import LabelStore

    model = hash_model()
    corpus = tmp_path / "corpus"
    write_corpus(corpus, 3)
    source = postgres.create_database("backed_up")
    out = small_out_dir(tmp_path / "out", companies=1)
    codings = read_codings(out)
    with open_store(source) as store:
        refresh(corpus, store, model)
        before = store.dump()
    labels = LabelStore(source)
    labels.record("out", codings[0], {"NET": "+"}, "ann")
    labels.close()
    env = dict(os.environ, PGPASSWORD=postgres.password)
    server = ["-h", "127.0.0.1", "-p", str(postgres.port), "-U", "intcap"]
    archive = tmp_path / "intcap.dump"
    subprocess.run([str(postgres.bin / "pg_dump"), *server, "-Fc", "-d", "backed_up", "-f", str(archive)], env=env,
                   check=True, capture_output=True)
    restored = postgres.create_database("restored")
    subprocess.run([str(postgres.bin / "pg_restore"), *server, "--no-owner", "-d", "restored", str(archive)], env=env,
                   check=True, capture_output=True)
    with open_store(restored) as store:
        assert store.dump() == before
        assert refresh(corpus, store, model)["unchanged"] == 3  # the restored store goes on where it was
    labels = LabelStore(restored)
    try:
        labels.record("out", codings[1], {}, "bob")  # the id sequences came back too
        assert [(a.reviewer, a.passage_id) for a in labels.history("out")] == [
            ("ann", codings[0].passage.id), ("bob", codings[1].passage.id)]
    finally:
        labels.close()


# -- (c) a refresh scheduled through a real Prefect server ---------------------------------------


def test_prefect_server_schedules_a_refresh_into_postgres(postgres, tmp_path, prefect_home, capsys):
    model = hash_model()
    db = postgres.create_database("scheduled")
    public = postgres.url("scheduled", password=False)  # the deployment never holds the password
    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = offline_env(tmp_path / "prefect-home")
    corpus = tmp_path / "corpus"
    write_corpus(corpus, 3, paragraphs=1)
    server = worker = None
    server_log, worker_log = tmp_path / "server.log", tmp_path / "worker.log"
    try:
        with server_log.open("wb") as log:
            server = subprocess.Popen(PREFECT + ["server", "start", "--host", "127.0.0.1", "--port", str(port)],
                                      env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        wait_healthy(api, server, server_log)
        assert main(["schedule", str(corpus), "--cron", "0 3 * * *", "--db", public, "--api-url", api,
                     "--model-dir", str(model), "--name", "nightly-pg"]) == 0
        capsys.readouterr()

        from prefect.client.orchestration import get_client
        from prefect.deployments import run_deployment
        from prefect.settings import PREFECT_API_URL, temporary_settings

        with temporary_settings({PREFECT_API_URL: api}):
            with get_client(sync_client=True) as client:
                [deployment] = client.read_deployments()
                assert deployment.parameters["db"] == public
            # the worker has the password in its environment, as a team's worker would
            worker_env = dict(env, PREFECT_API_URL=api, PGPASSWORD=postgres.password)
            with worker_log.open("wb") as log:
                worker = subprocess.Popen(PREFECT + ["worker", "start", "--pool", "intcap", "--type", "process"],
                                          env=worker_env, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT,
                                          start_new_session=True)
            flow_run = run_deployment("refresh_corpus/nightly-pg", timeout=300)
            assert flow_run.state.is_completed(), worker_log.read_text()[-4000:]
        with open_store(db) as store:
            runs = store.list_runs()
            assert [(r["added"], r["passages_coded"]) for r in runs] == [(3, 3)]
            assert [p["company"] for p in store.profiles_of_run(runs[0]["id"])] == ["firm000", "firm001", "firm002"]
    finally:
        stop(worker, signal.SIGINT)
        stop(server, signal.SIGTERM)
    for log in (server_log, worker_log):
        assert postgres.password not in log.read_text(errors="replace")


# -- (d) the server down, or the wrong password: one clear line ---------------------------------


def intcap(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "intcap", *args], cwd=ROOT, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, env=dict(os.environ, **(env or {})), timeout=300)


def assert_one_clear_line(result: subprocess.CompletedProcess, secret: str, *words: str) -> str:
    text = result.stdout + result.stderr
    assert result.returncode != 0, text
    assert secret not in text and "Traceback" not in text, text
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("intcap: error: ")]
    # one error line; anything else is intcap's own status lines ("intcap: loading ..."), no log or dump
    assert len(errors) == 1 and all(line.startswith("intcap: ") for line in lines), text
    for word in words:
        assert word in errors[0], text
    return errors[0]


def test_server_down_or_wrong_password_is_one_line_without_the_password(postgres, tmp_path, capsys):
    model = hash_model()
    corpus = tmp_path / "corpus"
    write_corpus(corpus, 1)
    out = small_out_dir(tmp_path / "out", companies=1)
    url = postgres.create_database("down")
    commands = {
        "review": ["review", "cli", str(out), "--db", url, "--reviewer", "ann"],
        # --no-prefect: Prefect would first start its API server (half a minute here) to fail the same way
        "refresh": ["refresh", str(corpus), "--db", url, "--model-dir", str(model), "--no-prefect"],
        "history": ["history", "firm000", "--db", url],
        "labels export": ["labels", "export", "--db", url, "--out", str(tmp_path / "x.jsonl")],
    }
    wrong = url.replace(postgres.password, "not-the-password")
    assert_one_clear_line(intcap(*[wrong if a == url else a for a in commands["labels export"]]), "not-the-password",
                          "password authentication failed", "***", "PGPASSWORD")
    assert main(["history", "firm000", "--db", url]) == 1  # an empty database is not created by reading it
    assert "holds no intcap results yet" in capsys.readouterr().err
    postgres.stop()
    try:
        for args in commands.values():
            assert_one_clear_line(intcap(*args), postgres.password, "Connection refused",
                                  "is the database server running", f"127.0.0.1:{postgres.port}")
        # the URL (and password) from the environment
        assert_one_clear_line(intcap("history", "firm000", env={"INTCAP_DB_URL": url}), postgres.password,
                              "Connection refused")
    finally:
        postgres.start()
