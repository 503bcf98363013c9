"""intcap schedule against a real Prefect server on loopback: deploy with a cron schedule,
run it through a process worker, find the results in the store; stop everything by PID."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

try:
    from refresh_support import free_port, offline_env, write_corpus
except ImportError:  # tests/ imported as a package
    from tests.refresh_support import free_port, offline_env, write_corpus

from intcap.cli import main
from pipeline.store import open_store

pytestmark = pytest.mark.slow

PREFECT = [sys.executable, "-m", "prefect"]


def wait_healthy(url: str, proc: subprocess.Popen, log: Path, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"prefect server exited:\n{log.read_text()[-3000:]}"
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.3)
    pytest.fail(f"prefect server not healthy after {timeout} s:\n{log.read_text()[-3000:]}")


def stop(proc: subprocess.Popen | None, first=signal.SIGINT, grace: float = 15) -> None:
    """Stop a process we started (and its children: it leads its own session) by its PID."""
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, first)
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=15)
    except ProcessLookupError:
        pass


def test_scheduled_deployment_runs_on_a_real_server(tmp_path, trained_model, prefect_home, capsys):
    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = offline_env(tmp_path / "prefect-home")
    corpus = tmp_path / "corpus"
    write_corpus(corpus, 3, paragraphs=1)
    db = tmp_path / "scheduled.db"
    server = worker = None
    server_log, worker_log = tmp_path / "server.log", tmp_path / "worker.log"
    try:
        with server_log.open("wb") as log:
            server = subprocess.Popen(PREFECT + ["server", "start", "--host", "127.0.0.1", "--port", str(port)],
                                      env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        wait_healthy(api, server, server_log)

        assert main(["schedule", str(corpus), "--cron", "0 3 * * *", "--db", str(db), "--api-url", api,
                     "--model-dir", str(trained_model), "--name", "nightly"]) == 0
        out = capsys.readouterr().out
        assert "scheduled refresh_corpus/nightly (0 3 * * * UTC)" in out and "worker start --pool intcap" in out
        # scheduling again updates the same deployment
        assert main(["schedule", str(corpus), "--cron", "30 2 * * 1-5", "--db", str(db), "--api-url", api,
                     "--model-dir", str(trained_model), "--name", "nightly"]) == 0

        from prefect.client.orchestration import get_client
        from prefect.deployments import run_deployment
        from prefect.settings import PREFECT_API_URL, temporary_settings

        with temporary_settings({PREFECT_API_URL: api}):
            with get_client(sync_client=True) as client:
                deployments = client.read_deployments()
                assert [d.name for d in deployments] == ["nightly"]
                deployment = deployments[0]
                assert [s.schedule.cron for s in deployment.schedules] == ["30 2 * * 1-5"]
                assert deployment.work_pool_name == "intcap"
                assert deployment.parameters["db"] == f"sqlite:///{db}"

            worker_env = dict(env, PREFECT_API_URL=api)
            with worker_log.open("wb") as log:
                worker = subprocess.Popen(PREFECT + ["worker", "start", "--pool", "intcap", "--type", "process"],
                                          env=worker_env, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT,
                                          start_new_session=True)
            flow_run = run_deployment("refresh_corpus/nightly", timeout=240)
            assert flow_run.state.is_completed(), worker_log.read_text()[-4000:]

        with open_store(db) as store:
            runs = store.list_runs()
            assert [(r["added"], r["passages_coded"]) for r in runs] == [(3, 3)]
            assert [p["company"] for p in store.profiles_of_run(runs[0]["id"])] == ["firm000", "firm001", "firm002"]
    finally:
        stop(worker, signal.SIGINT)
        stop(server, signal.SIGTERM)
    assert worker.poll() is not None and server.poll() is not None


def test_schedule_errors_are_clear(tmp_path, capsys, prefect_home):
    corpus = tmp_path / "corpus"
    write_corpus(corpus, 1)
    assert main(["schedule", str(corpus), "--cron", "61 3 * * *", "--api-url", "http://127.0.0.1:9/api"]) == 1
    assert "--cron '61 3 * * *'" in capsys.readouterr().err
    port = free_port()  # nothing listens there
    assert main(["schedule", str(corpus), "--cron", "0 3 * * *", "--api-url", f"http://127.0.0.1:{port}/api"]) == 1
    assert "cannot reach the Prefect server" in capsys.readouterr().err
