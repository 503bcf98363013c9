"""Review on a new corpus, replayed: how fast do a reviewer's answers lift agreement?

The user's situation: the shipped model (trained on the thesis and the written corpus)
meets a corpus of their own, from other firms and in other registers. Here that corpus is
a hand-coded pool, by default the dev set (corpus/dev/, never trained on). Per seed:

1. the pool's firms are split at random into a review part and a held-out part
   (``held_out`` of the firms);
2. the shipped model codes every passage once, exactly as ``intcap code`` would (its
   stored probabilities and each coder's thresholds are the starting point);
3. each strategy asks for ``batch`` passages of the review part at a time; the oracle
   answers from the pool's hand coding; after each batch the ``AnswerAdapter`` is refitted
   on all answers so far, exactly as the fast review round does, and the queue re-ranked
   with the adapted probabilities;
4. mean Cohen's kappa (NET/ENT/ABS/PRI presence) on the held-out firms is recorded after
   every batch, from 0 answers (the shipped model) to every passage of the review part.

Gain = kappa after n answers minus kappa at 0. ``labels_to_95``: answers until the gain
first reaches 95 % of the all-answers gain. Every strategy sees the same split, the same
starting model and the same update; random order is drawn per seed.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from pipeline import paths
from pipeline.errors import IntcapError
from pipeline.examples import Example, label_matrices, load_examples
from pipeline.records import CODES, Passage
from pipeline.review.adapter import (DEFAULT_C, DEFAULT_C_BASE, AnswerAdapter, coder_thresholds, coding_presence,
                                     mean_kappa, offsets)
from pipeline.review.queue import Pool, make_strategy, tfidf_vectors

DEFAULT_POOL = paths.ROOT / "corpus" / "dev"


@dataclass
class PoolSimSettings:
    seeds: int = 10
    #: 0-9 is the reported run; other ranges are for development
    first_seed: int = 0
    #: share of the pool's firms held out for scoring
    held_out: float = 1 / 3
    batch: int = 10
    #: "active" is the first; the others are replayed beside it
    strategies: tuple = ("uncertainty", "random", "diverse")
    target: float = 0.95
    #: answers at which the gain is reported (gain_after)
    checkpoints: tuple = (50, 100)
    #: the adapter's parameters, as the fast review round uses them
    C: float = DEFAULT_C
    C_base: float = DEFAULT_C_BASE
    balanced: bool = True
    jobs: int = -1


def load_pool(path: Path) -> list[Example]:
    """A hand-coded pool: one JSONL file, or a folder of them (e.g. corpus/dev/)."""
    path = Path(path)
    files = sorted(path.glob("*.jsonl")) if path.is_dir() else [path]
    if not files or not all(f.is_file() for f in files):
        raise IntcapError(f"{path}: no hand-coded JSONL pool here; expected a .jsonl file or a folder of them "
                          '(rows {"id", "company", "text", "codes"})')
    examples = [e for f in files for e in load_examples(f)]
    if len({e.company for e in examples}) < 4:
        raise IntcapError(f"{path}: the pool has {len({e.company for e in examples})} firm(s); "
                          "splitting it by firm needs at least 4")
    return examples


def code_pool(examples: list[Example], model_dir: Path):
    """The shipped model's codings of the pool (one Passage per example, language detected);
    embeddings are read through the project's cache (the replay times nothing of the coding)."""
    from pipeline.modeldir import load_model

    coder = load_model(Path(model_dir), cache_path=paths.embedding_cache())
    passages = [Passage(id=e.id, company=e.company, source=e.id, start=0, end=len(e.text), text=e.text)
                for e in examples]
    codings = coder.code(passages)
    return codings, coder.version


def _replay(name: str, seed: int, rows, s: PoolSimSettings, data: dict) -> list[tuple[int, float]]:
    """One strategy on one split: (answers, held-out mean kappa) from 0 answers to all."""
    review, test = rows
    T, o, Y, presence, thresholds, vectors = (data[k] for k in ("T", "o", "Y", "presence", "thresholds", "vectors"))
    kwargs = {"seed": seed} if name == "random" else {}
    strategy = make_strategy(name, **kwargs)
    labeled: list[int] = []
    curve = [(0, mean_kappa(Y[test], (o[test] >= 0).astype(int))[0])]
    adapted = presence
    while len(labeled) < len(review):
        taken = set(labeled)
        unlabeled = np.array([i for i in review if i not in taken], dtype=int)
        pick = strategy.query(Pool(adapted, thresholds, vectors), unlabeled, np.array(labeled, dtype=int),
                              min(s.batch, len(unlabeled)))
        labeled += [int(i) for i in pick]
        adapter = AnswerAdapter(C=s.C, C_base=s.C_base, balanced=s.balanced)
        adapter.vocabulary_, adapter.idf_ = data["vocabulary"], data["idf"]
        adapter.fit_rows(T[labeled], o[labeled], Y[labeled])
        z = adapter.decide_rows(T, o)
        curve.append((len(labeled), mean_kappa(Y[test], (z[test] >= 0).astype(int))[0]))
        t = np.clip(thresholds, 1e-6, 1 - 1e-6)
        adapted = 0.5 * (1 + np.tanh(0.5 * (z + np.log(t / (1 - t)))))
    return curve


def _seed_task(seed: int, s: PoolSimSettings, data: dict, firms: np.ndarray):
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(seed)
    companies = rng.permutation(np.unique(firms))
    held = set(companies[:max(1, int(round(s.held_out * len(companies))))])
    test = np.flatnonzero([f in held for f in firms])
    review = rng.permutation(np.flatnonzero([f not in held for f in firms]))
    with threadpool_limits(1):
        return {name: _replay(name, seed, (review, test), s, data) for name in s.strategies}, len(review), len(test)


def labels_to_gain(curve: list[tuple[int, float]], share: float) -> float | None:
    """First answer count whose gain reaches ``share`` of the all-answers gain (None: no gain to reach)."""
    start, full = curve[0][1], curve[-1][1]
    if full - start <= 0:
        return None
    return float(next(n for n, k in curve if k - start >= share * (full - start)))


def gain_at(curve: list[tuple[int, float]], n: int) -> float:
    """Gain after the first batch boundary at or past ``n`` answers."""
    return next(k for m, k in curve if m >= n or m == curve[-1][0]) - curve[0][1]


@dataclass
class PoolData:
    """A pool coded once by the starting model: what every replay needs."""

    pool: str
    model_version: str
    firms: np.ndarray
    arrays: dict
    coding_seconds: float


def prepare_pool(pool: Path = DEFAULT_POOL, model_dir: Path = paths.DEFAULT_MODEL) -> PoolData:
    """Code the pool with the model and precompute the adapter's rows and offsets."""
    t0 = time.perf_counter()
    examples = load_pool(pool)
    codings, version = code_pool(examples, model_dir)
    by_id = {c.passage.id: c for c in codings}
    examples = [e for e in examples if e.id in by_id]
    codings = [by_id[e.id] for e in examples]
    texts = [e.text for e in examples]
    presence, thresholds = coding_presence(codings), coder_thresholds(codings, model_dir)
    vocab = AnswerAdapter().fit_vocabulary(texts)  # the whole corpus's text, no labels (as the round does)
    arrays = {"T": vocab.transform_texts(texts), "o": offsets(presence, thresholds), "Y": label_matrices(examples)[0],
              "presence": presence, "thresholds": thresholds, "vectors": tfidf_vectors(texts),
              "vocabulary": vocab.vocabulary_, "idf": vocab.idf_}
    shown = Path(pool).resolve()
    shown = shown.relative_to(paths.ROOT) if shown.is_relative_to(paths.ROOT) else shown
    return PoolData(str(shown), version, np.array([e.company for e in examples]), arrays,
                    time.perf_counter() - t0)


def simulate_pool(pool: Path = DEFAULT_POOL, model_dir: Path = paths.DEFAULT_MODEL,
                  settings: PoolSimSettings | None = None, progress=None, data: PoolData | None = None) -> dict:
    """Run the replay; returns the JSON-able result (docs/REVIEW.md explains the keys).
    ``data``: the pool already coded (``prepare_pool``), e.g. to replay several settings."""
    s = settings or PoolSimSettings()
    t0 = time.perf_counter()
    data = data or prepare_pool(pool, model_dir)
    from joblib import Parallel, delayed

    seeds = list(range(s.first_seed, s.first_seed + s.seeds))
    results = Parallel(n_jobs=s.jobs)(delayed(_seed_task)(seed, s, data.arrays, data.firms) for seed in seeds)
    active = s.strategies[0]
    per_seed = []
    for seed, (curves, n_review, n_test) in zip(seeds, results):
        row = {"seed": seed, "labels_total": n_review, "held_out_passages": n_test,
               "start_kappa": round(curves[active][0][1], 4), "all_labels_kappa": round(curves[active][-1][1], 4),
               "gain_after": {str(n): {k: round(gain_at(c, n), 4) for k, c in curves.items()} for n in s.checkpoints},
               "labels_to_95": {k: labels_to_gain(c, s.target) for k, c in curves.items()},
               "curves": {k: {"labels": [n for n, _ in c], "kappa": [round(x, 4) for _, x in c]}
                          for k, c in curves.items()}}
        per_seed.append(row)
        if progress:
            progress(f"seed {seed}: start {row['start_kappa']:.3f}, all answers {row['all_labels_kappa']:.3f}; "
                     + ", ".join(f"{k} {v:+.3f}" for k, v in row["gain_after"][str(s.checkpoints[0])].items())
                     + f" after {s.checkpoints[0]}")
    return summarize(s, per_seed, data.pool, data.model_version, data.coding_seconds, time.perf_counter() - t0)


def _mean(values) -> float | None:
    values = [v for v in values if v is not None]
    return round(float(np.mean(values)), 4) if values else None


def summarize(s: PoolSimSettings, per_seed: list[dict], pool: str, version: str, coded_s: float,
              seconds: float) -> dict:
    names = list(s.strategies)
    active = names[0]
    alias = {"active": active, **{n: n for n in names}}
    total = _mean(r["labels_total"] for r in per_seed)
    gain_after = {str(n): {k: _mean(r["gain_after"][str(n)][v] for r in per_seed) for k, v in alias.items()}
                  for n in s.checkpoints}
    # a seed with no all-answers gain has nothing to reach: it counts as needing every answer
    to95 = {k: _mean(r["labels_to_95"][v] if r["labels_to_95"][v] is not None else r["labels_total"]
                     for r in per_seed) for k, v in alias.items()}
    steps = min(len(r["curves"][active]["labels"]) for r in per_seed)
    curves = {k: {"labels": [int(x) for x in per_seed[0]["curves"][k]["labels"][:steps - 1]] + [total],
                  "kappa": [_mean(r["curves"][k]["kappa"][i] for r in per_seed) for i in range(steps - 1)]
                  + [_mean(r["curves"][k]["kappa"][-1] for r in per_seed)]} for k in names}
    start, full = _mean(r["start_kappa"] for r in per_seed), _mean(r["all_labels_kappa"] for r in per_seed)
    first = str(s.checkpoints[0])
    return {
        "pool": pool,
        "model_version": version,
        "labels_total": total,
        "start_kappa": start,
        "all_labels_kappa": full,
        "all_labels_gain": round(full - start, 4),
        "gain_after": gain_after,
        "labels_to_95": to95,
        "acceptance": {
            f"gain_after_{first}_active": gain_after[first]["active"],
            "active_share_of_labels": round(to95["active"] / total, 3),
            "random_over_active": round(to95["random"] / max(to95["active"], 1e-9), 2),
            "passed": bool(gain_after[first]["active"] >= 0.10 and to95["active"] <= 0.4 * total
                           and to95["random"] >= 1.5 * to95["active"]),
        },
        "seeds": [r["seed"] for r in per_seed],
        "curves": curves,
        "per_seed": per_seed,
        "settings": asdict(s),
        "coding_seconds": round(coded_s, 1),
        "seconds": round(seconds, 1),
    }
