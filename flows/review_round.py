"""The ``review_round`` flow: export reviewed labels -> adapt (or retrain and re-code) -> rebuild the queue.

Orchestration only: each Prefect task wraps a function of ``pipeline.review.learning_round``,
and the round itself is ``pipeline.review.learning_round.review_round`` with those tasks swapped in.
"""
from __future__ import annotations

from pathlib import Path

from prefect import flow, task

from pipeline.review import learning_round as review

STEPS = review.RoundSteps(
    export=task(review.export_labels, name="export-labels"),
    adapt=task(review.adapt_answers, name="adapt"),
    train=task(review.retrain, name="retrain"),
    recode=task(review.recode, name="re-code"),
    queue=task(review.rebuild_queue, name="rebuild-queue"),
)


@flow(name="review_round")
def review_round(out_dir: str, corpus: str | None = None, db: str | None = None, model_dir: str | None = None,
                 corpus_name: str | None = None, retrain: bool = False, base_model: str | None = None) -> dict:
    """One learning round over OUT_DIR: labels from the store update the model that re-codes the corpus."""
    return review.review_round(Path(out_dir), corpus=Path(corpus) if corpus else None, db=db,
                               model_dir=Path(model_dir) if model_dir else None, corpus_name=corpus_name,
                               steps=STEPS, retrain=retrain, base_model=Path(base_model) if base_model else None)
