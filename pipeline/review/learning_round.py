"""One learning round: export the reviewed labels, update the model, re-code, rebuild the queue.

Two updates. The default, ``adapt_answers``, keeps the model that coded the corpus and fits an
``AnswerAdapter`` on the answers: no encoder runs and nothing is retrained, so a round on a
corpus of thousands of passages takes seconds (bench/review_round_bench.py). ``retrain``
(``retrain=True``) refits every head on the thesis, the written corpus and the answers into a
new model directory, for when the answers should become training data of a model that codes
other corpora too.

Plain functions; ``flows/review_round.py`` runs the same steps as Prefect tasks
(``RoundSteps`` swapped for task-wrapped versions), like ``pipeline.batch.Steps``.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.batch import RunSummary, code_folder, finish_run
from pipeline.coder import CoderSettings, PassageCoder
from pipeline.embed import load_encoder
from pipeline.errors import IntcapError
from pipeline.modeldir import load_model
from pipeline.outputs import PassageWriter, read_codings, write_json
from pipeline.records import Coding
from pipeline.review.corpus import ReviewCorpus
from pipeline.review.corpus import corpus_name as default_corpus_name
from pipeline.review.queue import ReviewQueue, make_strategy
from pipeline.review.store import LabelStore, suggestion_provenance
from pipeline.train import train_model

LABELS_FILE = "review_labels.jsonl"
QUEUE_FILE = "review_queue.json"
#: the codings of the model itself, kept on the first adapted round so every round adapts from them
BASE_FILE = "passages.base.jsonl"
ADAPTATION_FILE = "review_adaptation.json"
#: below this many answers the held-back gain is not estimated
MIN_GAIN_ANSWERS = 10


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


def rewrite_results(out_dir: Path, coder: PassageCoder, make_codings: Callable[[], list]) -> dict:
    """Write the codings ``make_codings`` returns over OUT_DIR's passages, profiles, report and run.json;
    on any failure the earlier results stay as they were."""
    writer = PassageWriter(out_dir)
    try:
        codings = make_codings()
        writer.write(codings)
    except BaseException:
        writer.close(failed=True)
        raise
    writer.close()
    summary = RunSummary(str(out_dir), coder.version, transcripts=len({c.passage.source for c in codings}),
                         passages=writer.count)
    finish_run(out_dir, coder, codings, summary)
    return vars(summary)


def recode_stored(out_dir: Path, model_dir: Path) -> dict:
    """Re-code the passages already in OUT_DIR/passages.jsonl with a new model (no re-ingest)."""
    out_dir = Path(out_dir)
    coder = load_model(Path(model_dir))
    passages = [c.passage for c in read_codings(out_dir)]
    return rewrite_results(out_dir, coder, lambda: coder.code(passages))


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


def _base_codings(out_dir: Path) -> list:
    """The unadapted codings: passages.jsonl as ``intcap code`` wrote it, kept as BASE_FILE the
    first time a round adapts it (a later ``intcap code`` into OUT_DIR replaces both)."""
    import shutil

    current = read_codings(out_dir)
    base_path = out_dir / BASE_FILE
    if any("+a" not in c.model_version for c in current) or not base_path.is_file():
        shutil.copyfile(out_dir / "passages.jsonl", base_path)
        return current
    return [Coding.from_dict(json.loads(line)) for line in base_path.read_text(encoding="utf-8").splitlines() if line]


def _base_model(out_dir: Path, version: str, base_model: Path | None) -> Path:
    """The directory of the model that coded OUT_DIR: the adapter names it as its base."""
    from pipeline import paths
    from pipeline.errors import ModelError
    from pipeline.modeldir import read_manifest

    candidates = [Path(base_model)] if base_model else [paths.DEFAULT_MODEL, *sorted((out_dir / "models").glob("round-*"))]
    for directory in candidates:
        try:
            if read_manifest(directory).get("version") == version:
                return directory
        except ModelError:
            continue
    raise IntcapError(f"{out_dir}: coded by model {version}, which is not in {', '.join(map(str, candidates))}; "
                      "give the model directory it was coded with (--base-model DIR), or retrain (--retrain)")


def _answer_rows(labels: Path) -> dict[str, dict]:
    return {str(r["id"]): r for r in (json.loads(x) for x in Path(labels).read_text(encoding="utf-8").splitlines()
                                      if x.strip())}


def adapt_answers(out_dir: Path, labels: Path, model_dir: Path, base_model: Path | None = None,
                  params: dict | None = None) -> dict:
    """Fit the AnswerAdapter on the answers, re-code OUT_DIR from the unadapted codings, write the
    held-back gain (ADAPTATION_FILE) and the adapter (``model_dir``, hashed manifest)."""
    from dataclasses import replace

    from pipeline.modeldir import read_manifest, root_model_dir, save_adapter
    from pipeline.records import CODES
    from pipeline.review.adapter import AnswerAdapter, coder_thresholds, coding_presence, held_back_gain

    out_dir, model_dir = Path(out_dir), Path(model_dir)
    base = _base_codings(out_dir)
    versions = sorted({c.model_version for c in base})
    if len(versions) != 1:
        raise IntcapError(f"{out_dir}: passages.jsonl mixes model versions {versions}; re-code the corpus with one "
                          "model first (intcap code)")
    base_dir = _base_model(out_dir, versions[0], base_model)
    # the trained model's manifest: its encoder and base rates shape the profiles
    manifest = read_manifest(root_model_dir(base_dir))
    answers = _answer_rows(labels)
    rows = [i for i, c in enumerate(base) if c.passage.id in answers]
    texts = [c.passage.text for c in base]
    presence, thresholds = coding_presence(base), coder_thresholds(base, base_dir)  # what the model decided with
    y = np.array([[int(code in answers[base[i].passage.id]["codes"]) for code in CODES] for i in rows],
                 dtype=int).reshape(-1, len(CODES))
    params = params or {}
    adapter = AnswerAdapter(**params).fit([texts[i] for i in rows], presence[rows], thresholds[rows], y,
                                          corpus_texts=texts)
    version = save_adapter(adapter, model_dir, base_dir=base_dir, base_version=versions[0], answers=len(rows))["version"]
    z = adapter.decision_function(texts, presence, thresholds)
    adapted = adapter.predict_proba(texts, presence, thresholds)
    codings = []
    for i, c in enumerate(base):
        scores = {code: replace(c.codes[code], p=float(adapted[i, j])) for j, code in enumerate(CODES)
                  if code in c.codes}
        assigned = [code for j, code in enumerate(CODES) if code in c.codes and z[i, j] >= 0]
        codings.append(replace(c, codes=scores, assigned=assigned, model_version=version,
                               evidence={k: v for k, v in c.evidence.items() if k in assigned}))
    # a coder that carries the manifest for profiles and run.json; it codes nothing (encoders load lazily)
    carrier = PassageCoder(load_encoder(manifest["encoder"]), version=version, info={**manifest, "version": version})
    summary = rewrite_results(out_dir, carrier, lambda: codings)
    gain = held_back_gain([texts[i] for i in rows], presence[rows], thresholds[rows], y,
                          [base[i].passage.source for i in rows], texts, min_answers=MIN_GAIN_ANSWERS, **params)
    import datetime as dt

    write_json(out_dir / ADAPTATION_FILE, {
        "format": "intcap-review-adaptation.v1", "base_model_version": versions[0], "model_version": version,
        "answers": len(rows), "min_answers": MIN_GAIN_ANSWERS,
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "held_back": gain})
    return {"model_version": version, "passages": summary["passages"], "answers": len(rows), "held_back": gain}


@dataclass
class RoundSteps:
    """The stage functions of a round; the Prefect flow swaps in task-wrapped versions."""

    export: Callable = export_labels
    adapt: Callable = adapt_answers
    train: Callable = retrain
    recode: Callable = recode
    queue: Callable = rebuild_queue


def review_round(out_dir: Path, *, corpus: Path | None = None, db: str | None = None, model_dir: Path | None = None,
                 corpus_name: str | None = None, settings: CoderSettings | None = None,
                 steps: RoundSteps | None = None, retrain: bool = False, base_model: Path | None = None) -> dict:
    """Export -> adapt (or retrain, then re-code) -> rebuild the queue; returns what each step produced."""
    steps = steps or RoundSteps()
    out_dir = Path(out_dir)
    corpus_name = corpus_name or default_corpus_name(out_dir)
    labels, n_labels = steps.export(out_dir, db, corpus_name)
    if n_labels == 0:
        raise IntcapError(f"no reviewed labels for {corpus_name!r} in the label store; expected at least one answer. "
                          f"Review some passages first: intcap review serve {out_dir}")
    model_dir = Path(model_dir) if model_dir else next_model_dir(out_dir)
    gain = None
    if retrain:
        version = steps.train(model_dir, labels, settings)
        summary = steps.recode(out_dir, model_dir, corpus)
    else:
        if corpus is not None:
            raise IntcapError("--corpus re-ingests transcripts, which only a retrain needs; the fast round re-codes "
                              "the passages in OUT_DIR (drop --corpus, or add --retrain)")
        summary = steps.adapt(out_dir, labels, model_dir, base_model)
        version, gain = summary["model_version"], summary["held_back"]
    queue = steps.queue(out_dir, db, corpus_name)
    return {"labels": str(labels), "n_labels": n_labels, "model_dir": str(model_dir), "model_version": version,
            "update": "retrain" if retrain else "adapt", "held_back": gain,
            "passages": summary["passages"], "queued": queue["queued"], "reviewed": queue["reviewed"]}
