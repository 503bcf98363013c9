"""One learning round: export the reviewed labels, retrain, re-code, rebuild the queue.

Plain functions; ``flows/review_round.py`` runs the same steps as Prefect tasks
(``RoundSteps`` swapped for task-wrapped versions), like ``pipeline.batch.Steps``.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pipeline.batch import RunSummary, code_folder, finish_run
from pipeline.coder import CoderSettings
from pipeline.errors import IntcapError
from pipeline.modeldir import load_model
from pipeline.outputs import PassageWriter, read_codings, write_json
from pipeline.review.corpus import ReviewCorpus
from pipeline.review.corpus import corpus_name as default_corpus_name
from pipeline.review.queue import ReviewQueue, make_strategy
from pipeline.review.store import LabelStore, suggestion_provenance
from pipeline.train import train_model

LABELS_FILE = "review_labels.jsonl"
QUEUE_FILE = "review_queue.json"


def export_labels(out_dir: Path, db: str | None = None, corpus_name: str | None = None) -> tuple[Path, int]:
    """The reviewed labels as hand-coded JSONL in OUT_DIR (latest live answer per passage)."""
    store = LabelStore.open(out_dir, db)
    try:
        path = Path(out_dir) / LABELS_FILE
        return path, store.export_jsonl(path, corpus_name, suggestion_provenance(out_dir))
    finally:
        store.close()


def next_model_dir(out_dir: Path) -> Path:
    """OUT_DIR/models/round-N, N one past the last round."""
    rounds = [int(p.name.split("-")[1]) for p in (Path(out_dir) / "models").glob("round-*")
              if p.name.split("-")[1].isdigit()]
    return Path(out_dir) / "models" / f"round-{max(rounds, default=0) + 1}"


def retrain(model_dir: Path, labels: Path, settings: CoderSettings | None = None) -> str:
    """Thesis examples plus the reviewed labels (which win on passage id); returns the new version."""
    return train_model(Path(model_dir), extra=[Path(labels)], settings=settings)


def recode_stored(out_dir: Path, model_dir: Path) -> dict:
    """Re-code the passages already in OUT_DIR/passages.jsonl with a new model (no re-ingest)."""
    out_dir = Path(out_dir)
    coder = load_model(Path(model_dir))
    passages = [c.passage for c in read_codings(out_dir)]
    summary = RunSummary(str(out_dir), coder.version, transcripts=len({p.source for p in passages}))
    writer = PassageWriter(out_dir)
    try:
        codings = coder.code(passages)
        writer.write(codings)
    except BaseException:
        writer.close(failed=True)
        raise
    writer.close()
    summary.passages = writer.count
    finish_run(out_dir, coder, codings, summary)
    return vars(summary)


def recode(out_dir: Path, model_dir: Path, corpus: Path | None = None) -> dict:
    """Re-code ``corpus`` into OUT_DIR with the new model, or, without a corpus, the stored passages."""
    if corpus is None:
        return recode_stored(out_dir, model_dir)
    if not Path(corpus).exists():
        raise IntcapError(f"{corpus}: no such corpus folder or file; expected the transcripts OUT_DIR was coded from")
    return vars(code_folder(Path(corpus), Path(out_dir), load_model(Path(model_dir))))


def rebuild_queue(out_dir: Path, db: str | None = None, corpus_name: str | None = None,
                  strategy: str = "distinct", top: int = 200) -> dict:
    """Rank what is still unreviewed under the new codings; writes OUT_DIR/review_queue.json."""
    corpus = ReviewCorpus.load(Path(out_dir), corpus_name)
    store = LabelStore.open(out_dir, db)
    try:
        reviewed = store.reviewed_ids(corpus.name)
    finally:
        store.close()
    queue = ReviewQueue(corpus, make_strategy(strategy))
    pending = len(queue.pending(reviewed))
    versions = sorted({c.model_version for c in corpus.codings})
    result = {"corpus": corpus.name, "model_version": versions[0] if len(versions) == 1 else versions,
              "strategy": strategy, "reviewed": len(set(reviewed) & set(corpus.index)), "queued": pending,
              "thresholds": [round(float(t), 4) for t in corpus.thresholds],
              "top": queue.ranking(reviewed, min(top, pending))}
    write_json(Path(out_dir) / QUEUE_FILE, result)
    return result


@dataclass
class RoundSteps:
    """The stage functions of a round; the Prefect flow swaps in task-wrapped versions."""

    export: Callable = export_labels
    train: Callable = retrain
    recode: Callable = recode
    queue: Callable = rebuild_queue


def review_round(out_dir: Path, *, corpus: Path | None = None, db: str | None = None, model_dir: Path | None = None,
                 corpus_name: str | None = None, settings: CoderSettings | None = None,
                 steps: RoundSteps | None = None) -> dict:
    """Export -> retrain -> re-code -> rebuild the queue; returns what each step produced."""
    steps = steps or RoundSteps()
    out_dir = Path(out_dir)
    corpus_name = corpus_name or default_corpus_name(out_dir)
    labels, n_labels = steps.export(out_dir, db, corpus_name)
    if n_labels == 0:
        raise IntcapError(f"no reviewed labels for {corpus_name!r} in the label store; expected at least one answer. "
                          f"Review some passages first: intcap review serve {out_dir}")
    model_dir = Path(model_dir) if model_dir else next_model_dir(out_dir)
    version = steps.train(model_dir, labels, settings)
    summary = steps.recode(out_dir, model_dir, corpus)
    queue = steps.queue(out_dir, db, corpus_name)
    return {"labels": str(labels), "n_labels": n_labels, "model_dir": str(model_dir), "model_version": version,
            "passages": summary["passages"], "queued": queue["queued"], "reviewed": queue["reviewed"]}
