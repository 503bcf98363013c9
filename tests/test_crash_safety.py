"""A SIGKILL while coding leaves the previous results whole and no half-written file."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from pipeline import paths


def make_corpus(folder: Path, copies: int) -> None:
    folder.mkdir()
    for i in range(copies):
        for src in paths.INTERVIEWS.glob("*.md"):
            shutil.copy(src, folder / f"{src.stem}_{i:02d}.md")


def run_code(corpus: Path, out: Path, model: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "intcap", "code", str(corpus), "--out", str(out), "--model-dir", str(model),
         "--no-prefect", "--batch-size", "1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )


def test_sigkill_mid_run_keeps_previous_results(tmp_path, trained_model):
    small, big, out = tmp_path / "small", tmp_path / "big", tmp_path / "out"
    make_corpus(small, 1)
    assert run_code(small, out, trained_model).wait(timeout=300) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file() and not p.name.startswith(".")}
    assert len((out / "passages.jsonl").read_text().splitlines()) == 198

    make_corpus(big, 12)
    proc = run_code(big, out, trained_model)
    deadline = time.time() + 240
    # kill once the new run is demonstrably writing passages
    while time.time() < deadline and not any(p.name.startswith(".passages.jsonl") and p.stat().st_size > 0
                                             for p in out.iterdir()):
        time.sleep(0.2)
    assert proc.poll() is None, "the run finished before it could be killed; make the corpus bigger"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()

    after = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file() and not p.name.startswith(".")}
    assert after == before, "visible results are exactly the last complete run's"
    for line in (out / "passages.jsonl").read_text().splitlines():
        json.loads(line)

    # the next run completes and sweeps the dead run's temporary files
    assert run_code(small, out, trained_model).wait(timeout=300) == 0
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]
