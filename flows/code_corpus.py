"""The ``code_corpus`` flow: ingest -> segment -> embed/classify -> profile -> report.

Orchestration only: each Prefect task wraps a pipeline function, and the loop is
``pipeline.batch.code_folder`` with those tasks swapped in.

No task caches or persists its result (``NO_CACHE``): a cache key means hashing every input,
and the model among them is large and, once its Danish companion has encoded something,
holds ctypes pointers that cannot be pickled at all. The model is loaded once per run:
``flows.run`` loads it while Prefect's server starts and hands it over with :func:`preloaded`.
"""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from pipeline import batch
from pipeline.coder import PassageCoder
from pipeline.modeldir import load_model


def stage(fn, name: str):
    return task(fn, name=name, cache_policy=NO_CACHE, persist_result=False)


STEPS = batch.Steps(
    read=stage(batch.read_batch, "ingest"),
    segment=stage(batch.segment_batch, "segment"),
    code=stage(batch.code_batch, "embed-classify"),
    finish=stage(batch.finish_run, "profile-report"),
)

#: models loaded before the flow started, by resolved model folder (see :func:`preloaded`)
_loaded: dict[str, PassageCoder] = {}


@contextmanager
def preloaded(model_dir: Path, coder: PassageCoder):
    """Within the block, the flow's load-model task takes ``coder`` instead of loading ``model_dir`` again."""
    key = str(Path(model_dir).resolve())
    _loaded[key] = coder
    try:
        yield
    finally:
        _loaded.pop(key, None)


@task(name="load-model", cache_policy=NO_CACHE, persist_result=False)
def load_coder(model_dir: str, cache_path: str | None) -> PassageCoder:
    coder = _loaded.get(str(Path(model_dir).resolve()))
    return coder or load_model(Path(model_dir), cache_path=Path(cache_path) if cache_path else None)


@flow(name="code_corpus")
def code_corpus(corpus: str, out_dir: str, model_dir: str, batch_size: int = 16, show_progress: bool = False,
                cache_path: str | None = None, interviewer: str | None = None) -> dict:
    """Code every transcript under ``corpus`` into ``out_dir`` with the model in ``model_dir``.

    ``interviewer`` names the interviewer speaker ("A; B") where a manifest row names none.
    """
    coder = load_coder(model_dir, cache_path)
    summary = batch.code_folder(Path(corpus), Path(out_dir), coder, batch_size=batch_size, steps=STEPS,
                                show_progress=show_progress, interviewer=interviewer)
    return vars(summary)
