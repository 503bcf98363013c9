"""The ``refresh_corpus`` flow: keep the results database up to date with a corpus folder.

Orchestration only: ``pipeline.refresh.refresh`` does the work. On Dask (``workers`` /
``dask_address``) its coding batches go straight to the cluster of the flow's Dask task
runner, as Dask tasks (:class:`DaskExecutor`): a Prefect task per batch cost about 160 ms
of CPU (flow, API server and worker together) and API round trips the worker waits for,
which took 2 workers from 1.76x to 1.63x of 1 on 2 cores (bench/dask_bench.py). Without
Dask they run as ``embed-classify`` Prefect tasks in this process (:class:`PrefectExecutor`).
The outer flow is what deployments run: it picks the task runner from its parameters and
calls the inner flow with it.
"""
from __future__ import annotations

import json
import uuid
from pathlib import Path

from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.context import FlowRunContext
from prefect.futures import as_completed

from flows.dask_runner import dask_workers, parallelism, task_runner, warm_workers
from pipeline import paths
from pipeline.modeldir import read_manifest
from pipeline.refresh import code_transcripts, refresh
from pipeline.records import Transcript
from pipeline.store import open_store, resolve_url


@task(name="embed-classify", cache_policy=NO_CACHE, persist_result=False)
def code_batch(model_dir: str, version: str, payload: str) -> dict:
    """Segment and code one batch of transcripts on a worker (its model is loaded once per process).

    The batch travels as one JSON string: Prefect then has nothing to walk through or
    rebuild in the parameters (it rebuilds annotated values such as ``quote`` on Dask).
    """
    items = [(name, [Transcript.from_dict(t) for t in transcripts]) for name, transcripts in json.loads(payload)]
    return code_transcripts(model_dir, version, items)


def batch_payload(batch: list[tuple[str, list[Transcript]]]) -> str:
    return json.dumps([(name, [t.to_dict() for t in transcripts]) for name, transcripts in batch])


class PrefectExecutor:
    """Submits coding batches as Prefect tasks, at most ``window`` at a time, yielding results as they finish."""

    def __init__(self, window: int):
        self.window = max(1, window)

    def map(self, model_dir: str, version: str, batches):
        inflight = []
        for batch in batches:
            inflight.append(code_batch.submit(model_dir, version, batch_payload(batch)))
            while len(inflight) >= self.window:
                done = next(as_completed(inflight))
                inflight.remove(done)
                yield done.result()
        for done in as_completed(inflight):
            yield done.result()


class DaskExecutor:
    """Sends coding batches to a Dask cluster as plain Dask tasks, at most ``window`` at a time,
    yielding results as they finish. Each worker has loaded the coder already (``warm_workers``)."""

    def __init__(self, client, window: int, workers: int):
        self.client = client
        self.window = max(1, window)
        self.workers = workers

    def map(self, model_dir: str, version: str, batches):
        from distributed import as_completed

        inflight, n = as_completed(loop=self.client.loop), 0
        for i, batch in enumerate(batches):
            inflight.add(self.client.submit(code_transcripts, model_dir, version, batch, pure=False,
                                            key=f"embed-classify-{uuid.uuid4().hex[:12]}-{i}"))
            n += 1
            while n >= self.window:
                n -= 1
                yield next(inflight).result()
        for done in inflight:
            yield done.result()


@flow(name="refresh_corpus_batches")
def refresh_batches(corpus: str, db: str, model_dir: str, out_dir: str | None = None,
                    batch_size: int | None = None, interviewer: str | None = None) -> dict:
    ctx = FlowRunContext.get()
    window = 2 * parallelism(ctx.task_runner) if ctx else 2
    workers = dask_workers(ctx.task_runner) if ctx else None
    if workers:  # each worker loads the coder now, all at once, before the first batch
        warm_workers(ctx.task_runner, model_dir, read_manifest(Path(model_dir))["version"])
        executor = DaskExecutor(ctx.task_runner.client, window, workers)
    else:
        executor = PrefectExecutor(window)
    with open_store(db) as store:
        return refresh(Path(corpus), store, Path(model_dir), batch_size=batch_size, executor=executor,
                       out_dir=Path(out_dir) if out_dir else None, interviewer=interviewer)


@flow(name="refresh_corpus")
def refresh_corpus(corpus: str, db: str | None = None, out_dir: str | None = None,
                   model_dir: str = str(paths.DEFAULT_MODEL), workers: int | None = None,
                   dask_address: str | None = None, batch_size: int | None = None,
                   interviewer: str | None = None) -> dict:
    """Code new and changed transcripts under ``corpus`` into the database ``db``.

    ``interviewer`` names the interviewer speaker ("A; B") where a manifest row names none.
    ``batch_size`` None: on Dask, batches sized to the workers by file size; else 16 files.
    """
    runner = task_runner(workers, dask_address)
    return refresh_batches.with_options(task_runner=runner)(
        str(Path(corpus).resolve()), resolve_url(db), str(Path(model_dir).resolve()),
        str(Path(out_dir).resolve()) if out_dir else None, batch_size, interviewer)
