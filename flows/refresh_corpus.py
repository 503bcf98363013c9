"""The ``refresh_corpus`` flow: keep the results database up to date with a corpus folder.

Orchestration only: ``pipeline.refresh.refresh`` does the work; its coding batches
run as ``embed-classify`` tasks on the chosen task runner (a Dask cluster with
``workers``/``dask_address``). The outer flow is what deployments run: it picks the
task runner from its parameters and calls the inner flow with it.
"""
from __future__ import annotations

import json
from pathlib import Path

from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.context import FlowRunContext
from prefect.futures import as_completed

from flows.dask_runner import parallelism, task_runner
from pipeline import paths
from pipeline.refresh import DEFAULT_BATCH_SIZE, code_transcripts, refresh
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
    """Submits coding batches as tasks, at most ``window`` at a time, yielding results as they finish."""

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


@flow(name="refresh_corpus_batches")
def refresh_batches(corpus: str, db: str, model_dir: str, out_dir: str | None = None,
                    batch_size: int = DEFAULT_BATCH_SIZE, interviewer: str | None = None) -> dict:
    ctx = FlowRunContext.get()
    window = 2 * parallelism(ctx.task_runner) if ctx else 2
    with open_store(db) as store:
        return refresh(Path(corpus), store, Path(model_dir), batch_size=batch_size, executor=PrefectExecutor(window),
                       out_dir=Path(out_dir) if out_dir else None, interviewer=interviewer)


@flow(name="refresh_corpus")
def refresh_corpus(corpus: str, db: str | None = None, out_dir: str | None = None,
                   model_dir: str = str(paths.DEFAULT_MODEL), workers: int | None = None,
                   dask_address: str | None = None, batch_size: int = DEFAULT_BATCH_SIZE,
                   interviewer: str | None = None) -> dict:
    """Code new and changed transcripts under ``corpus`` into the database ``db``.

    ``interviewer`` names the interviewer speaker ("A; B") where a manifest row names none.
    """
    runner = task_runner(workers, dask_address)
    return refresh_batches.with_options(task_runner=runner)(
        str(Path(corpus).resolve()), resolve_url(db), str(Path(model_dir).resolve()),
        str(Path(out_dir).resolve()) if out_dir else None, batch_size, interviewer)
