"""Children die with their parent: a SIGKILLed intcap leaves no Prefect server behind."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from test_crash_safety import make_corpus

ROOT = Path(__file__).resolve().parents[1]


def children(pid: int) -> list[int]:
    out = []
    for status in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = status.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(status.parent.name))
    return out


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.slow
def test_sigkill_of_intcap_leaves_no_prefect_server(tmp_path, trained_model, prefect_home):
    corpus = tmp_path / "corpus"
    make_corpus(corpus, 3)
    env = {**os.environ, "PREFECT_HOME": str(prefect_home)}
    proc = subprocess.Popen([sys.executable, "-m", "intcap", "code", str(corpus), "--out", str(tmp_path / "out"),
                             "--model-dir", str(trained_model), "--batch-size", "1"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    server = None
    deadline = time.time() + 120
    while time.time() < deadline and server is None and proc.poll() is None:
        server = next((c for c in children(proc.pid) if "uvicorn" in cmdline(c)), None)
        time.sleep(0.2)
    assert server is not None, "the run did not start a temporary Prefect server"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    deadline = time.time() + 10
    while time.time() < deadline and alive(server):
        time.sleep(0.2)
    left = alive(server)
    if left:
        os.kill(server, signal.SIGKILL)
    assert not left, "the Prefect server outlived its parent by 10 s"


def descendants(pid: int) -> set[int]:
    found, todo = set(), [pid]
    while todo:
        for child in children(todo.pop()):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


@pytest.mark.slow
def test_sigkill_of_a_dask_refresh_leaves_no_worker(tmp_path, trained_model, prefect_home):
    """`intcap refresh --workers 2` starts a local Dask cluster (and the temporary Prefect server);
    after SIGKILL of intcap every one of its descendant processes is gone within 10 s."""
    corpus = tmp_path / "corpus"
    make_corpus(corpus, 2)
    env = {**os.environ, "PREFECT_HOME": str(prefect_home)}
    proc = subprocess.Popen([sys.executable, "-m", "intcap", "refresh", str(corpus), "--db", str(tmp_path / "r.db"),
                             "--model-dir", str(trained_model), "--workers", "2", "--batch-size", "1"], cwd=ROOT,
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    seen: set[int] = set()
    deadline = time.time() + 180
    while time.time() < deadline and proc.poll() is None:
        seen |= descendants(proc.pid)
        if sum("uvicorn" not in cmdline(p) and "python" in cmdline(p) for p in seen) >= 2:
            break  # the Dask workers are up
        time.sleep(0.3)
    assert proc.poll() is None and len(seen) >= 2, "the refresh did not start its workers"
    seen |= descendants(proc.pid)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    deadline = time.time() + 10
    while time.time() < deadline and any(alive(p) for p in seen):
        time.sleep(0.2)
    left = [p for p in seen if alive(p)]
    for p in left:
        os.kill(p, signal.SIGKILL)
    assert left == [], f"{len(left)} of {len(seen)} child processes outlived their parent by 10 s"
