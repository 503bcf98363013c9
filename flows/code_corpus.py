"""The ``code_corpus`` flow: ingest -> segment -> embed/classify -> profile -> report.

Orchestration only: each Prefect task wraps a pipeline function, and the loop is
``pipeline.batch.code_folder`` with those tasks swapped in.
"""
from __future__ import annotations

from pathlib import Path

from prefect import flow, task

from pipeline import batch
from pipeline.modeldir import load_model

STEPS = batch.Steps(
    read=task(batch.read_batch, name="ingest"),
    segment=task(batch.segment_batch, name="segment"),
    code=task(batch.code_batch, name="embed-classify"),
    finish=task(batch.finish_run, name="profile-report"),
)


@flow(name="code_corpus")
def code_corpus(corpus: str, out_dir: str, model_dir: str, batch_size: int = 16, show_progress: bool = False,
                cache_path: str | None = None) -> dict:
    """Code every transcript under ``corpus`` into ``out_dir`` with the model in ``model_dir``."""
    coder = task(load_model, name="load-model")(Path(model_dir), cache_path=Path(cache_path) if cache_path else None)
    summary = batch.code_folder(Path(corpus), Path(out_dir), coder, batch_size=batch_size, steps=STEPS,
                                 show_progress=show_progress)
    return vars(summary)
