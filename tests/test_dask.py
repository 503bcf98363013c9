"""The refresh flow on Prefect's Dask task runner: a real local 2-worker cluster
(``--workers 2``) and an existing cluster by address, with the real model."""
from __future__ import annotations

import pytest

try:
    from refresh_support import hash_model, write_corpus
except ImportError:  # tests/ imported as a package
    from tests.refresh_support import hash_model, write_corpus

from pipeline.errors import IntcapError
from flows.run import run_refresh
from pipeline.refresh import refresh
from pipeline.store import open_store

pytestmark = pytest.mark.slow


def scores(store) -> dict:
    return {(p["source"], p["passage_id"]): p for p in store.dump()["passages"]}


def test_local_two_worker_cluster_loads_the_model_once_per_worker(tmp_path, trained_model, prefect_home):
    corpus = tmp_path / "corpus"
    write_corpus(corpus, 6, paragraphs=1)
    db = tmp_path / "dask.db"
    result = run_refresh(corpus, db=str(db), model_dir=trained_model, workers=2, batch_size=1,
                         out_dir=tmp_path / "out")
    assert result["added"] == 6
    # six batches over two worker processes, each of which loaded the model exactly once
    assert len(result["model_loads"]) == 2 and set(result["model_loads"].values()) == {1}
    with open_store(db) as store:
        run = store.list_runs()[-1]
        assert (run["added"], run["passages_coded"], run["status"]) == (6, 6, "ok")
        on_dask = scores(store)
        with open_store(tmp_path / "inline.db") as inline_store:
            inline = refresh(corpus, inline_store, trained_model)
            assert inline["passages_coded"] == 6
            here = scores(inline_store)
    assert on_dask.keys() == here.keys()
    for key, row in on_dask.items():  # same results (up to float noise from other thread counts)
        for code in ("net", "ent", "abs", "pri"):
            assert row[f"{code}_p"] == pytest.approx(here[key][f"{code}_p"], abs=2e-3)
    assert (tmp_path / "out" / "report.html").is_file()


def test_existing_cluster_by_address(tmp_path, trained_model, prefect_home):
    from distributed import LocalCluster

    corpus = tmp_path / "corpus"
    write_corpus(corpus, 4, paragraphs=1)
    with LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None) as cluster:
        result = run_refresh(corpus, db=str(tmp_path / "addr.db"), model_dir=trained_model,
                             dask_address=cluster.scheduler_address, batch_size=1)
    assert (result["added"], result["passages_coded"]) == (4, 4)
    # one worker process ran every batch and loaded the model once
    assert list(result["model_loads"].values()) == [1]


def copies_of_the_thesis_interviews(folder, copies: int) -> list[int]:
    """``copies`` copies of the bundled interviews; returns the file sizes in corpus order."""
    import shutil

    from pipeline import paths

    folder.mkdir()
    rows = ["file,company"]
    for k in range(copies):
        for src in sorted(paths.INTERVIEWS.glob("*.md")):
            shutil.copy(src, folder / f"{src.stem}-{k}.md")
            rows.append(f"{src.stem}-{k}.md,{src.stem}")
    (folder / "manifest.csv").write_text("\n".join(rows) + "\n")
    return [f.stat().st_size for f in sorted(folder.glob("*.md"))]


def test_without_a_batch_size_dask_batches_are_guided_by_file_size(tmp_path, prefect_home):
    # after test_existing_cluster_by_address: its in-process worker counts this process's model loads
    from pipeline.batch import DEFAULT_BATCH_SIZE, guided_groups

    corpus = tmp_path / "corpus"
    sizes = copies_of_the_thesis_interviews(corpus, 2)
    model = hash_model()
    result = run_refresh(corpus, db=str(tmp_path / "dask.db"), model_dir=model, workers=2)
    expected = guided_groups(sizes, 2)
    assert result["batches"] == len(expected) and 2 < len(expected) < len(sizes)
    assert (result["added"], result["failed"]) == (len(sizes), 0)
    assert len(result["model_loads"]) == 2 and set(result["model_loads"].values()) == {1}
    with open_store(tmp_path / "dask.db") as store:
        on_dask = scores(store)
    with open_store(tmp_path / "inline.db") as store:
        inline = refresh(corpus, store, model)  # no workers: fixed batches of 16 files
        here = scores(store)
    assert inline["batches"] == -(-len(sizes) // DEFAULT_BATCH_SIZE)
    assert on_dask.keys() == here.keys() and inline["passages_coded"] == result["passages_coded"]
    for key, row in on_dask.items():  # the same codes, up to float noise from other thread counts
        for code in ("net", "ent", "abs", "pri"):
            assert row[f"{code}_p"] == pytest.approx(here[key][f"{code}_p"], abs=1e-4)


def test_scale_out_options_are_checked(tmp_path, trained_model):
    from flows.dask_runner import task_runner

    with pytest.raises(IntcapError, match="not both"):
        task_runner(2, "tcp://127.0.0.1:8786")
    with pytest.raises(IntcapError, match="tcp://HOST:8786"):
        task_runner(None, "127.0.0.1:8786")
    with pytest.raises(IntcapError, match="at least 1"):
        task_runner(0)
    corpus = tmp_path / "c"
    write_corpus(corpus, 1)
    with pytest.raises(IntcapError, match="drop --no-prefect"):
        run_refresh(corpus, db=str(tmp_path / "x.db"), model_dir=trained_model, workers=2, use_prefect=False)


def _worker_settings() -> dict:
    import os

    import dask
    import torch

    from pipeline.refresh import apply_thread_limit

    apply_thread_limit()
    return {"trim": os.environ.get("MALLOC_TRIM_THRESHOLD_"), "torch": torch.get_num_threads(),
            "omp": os.environ.get("OMP_NUM_THREADS"), "wait": os.environ.get("OMP_WAIT_POLICY"),
            "profiler": dask.config.get("distributed.worker.profile.enabled"),
            "monitor": dask.config.get("distributed.admin.system-monitor.interval")}


def test_local_cluster_workers_keep_glibc_malloc_and_split_the_cores(prefect_home, monkeypatch):
    """Dask's default MALLOC_TRIM_THRESHOLD_ made torch ~25 % slower per worker, and its profiler and
    monitors wake every 10-500 ms; one torch thread per worker when INTCAP_TORCH_THREADS says so,
    else an equal share of the cores."""
    import os

    from prefect import flow, task

    from flows.dask_runner import task_runner

    settings = task(_worker_settings)

    @flow
    def probe() -> list[dict]:
        return [f.result() for f in [settings.submit() for _ in range(2)]]

    monkeypatch.delenv("INTCAP_TORCH_THREADS", raising=False)
    shares = probe.with_options(task_runner=task_runner(2))()
    threads = max(1, (os.cpu_count() or 1) // 2)
    assert shares == [{"trim": None, "torch": threads, "omp": str(threads), "wait": "PASSIVE",
                       "profiler": False, "monitor": "5s"}] * 2
    monkeypatch.setenv("INTCAP_TORCH_THREADS", "1")
    assert probe.with_options(task_runner=task_runner(1))()[0]["torch"] == 1
