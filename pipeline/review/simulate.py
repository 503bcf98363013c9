"""Label-efficiency benchmark: replay review on the thesis's hand-coded passages.

For each seed the 14 firms are shuffled into ``folds`` groups; each group in turn is
held out as the test set while the other firms form the pool, whose labels are
revealed on demand (the thesis coders are the oracle). Every strategy starts from
the same random seed set, queries ``batch`` passages at a time with the real
``pipeline.review.queue`` strategies, and after each batch a light classifier is
refitted and scored by Cohen's kappa (mean over the four codes) on the held-out
firms. The fold curves are averaged, so every firm is test data once per seed.

Fairness: same seed set, folds, classifier and batch size for every strategy; the
all-labels kappa is the same model for all of them (the full pool); random order
is drawn per seed and fold. Embeddings are frozen and computed once (cached).
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import numpy as np

from pipeline import paths
from pipeline.examples import label_matrices, load_examples
from pipeline.review.queue import Pool, make_strategy

STRATEGIES = ("uncertainty", "random", "diverse")


@dataclass
class SimSettings:
    seeds: int = 10
    folds: int = 3
    batch: int = 5
    seed_size: int = 10
    ridge: float = 1.0
    temperature: float = 4.0
    measure: str = "margin"
    active: str = "uncertainty"
    target: float = 0.95
    encoder: str = "minilm.v1"


class RidgeHeads:
    """A light presence classifier: class-balanced kernel ridge (linear kernel + bias), one per code."""

    def __init__(self, gram: np.ndarray, ridge: float = 1.0, temperature: float = 4.0):
        self.gram, self.ridge, self.temperature = gram, ridge, temperature

    def fit_predict(self, labeled: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Decision values (n_all, codes) for every example, trained on ``labeled`` rows with labels ``y``."""
        out = np.zeros((len(self.gram), y.shape[1]))
        k_ll = self.gram[np.ix_(labeled, labeled)]
        for j in range(y.shape[1]):
            col = y[labeled, j]
            pos = int(col.sum())
            if pos in (0, len(col)):
                out[:, j] = 1.0 if pos else -1.0
                continue
            weight = np.where(col == 1, len(col) / (2 * pos), len(col) / (2 * (len(col) - pos)))
            alpha = np.linalg.solve(k_ll + self.ridge * np.diag(1 / weight), np.where(col == 1, 1.0, -1.0))
            out[:, j] = self.gram[:, labeled] @ alpha
        return out

    def proba(self, decision: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-self.temperature * decision))


def kappa(y: np.ndarray, pred: np.ndarray) -> float:
    """Cohen's kappa of two binary vectors (0 when either is constant and they differ in chance terms)."""
    n = len(y)
    po = float(np.mean(y == pred))
    pe = float(np.mean(y) * np.mean(pred) + (1 - np.mean(y)) * (1 - np.mean(pred)))
    return 0.0 if n == 0 or pe >= 1.0 else (po - pe) / (1 - pe)


def mean_kappa(y: np.ndarray, decision: np.ndarray) -> float:
    return float(np.mean([kappa(y[:, j], (decision[:, j] >= 0).astype(int)) for j in range(y.shape[1])]))


def replay(strategy_name: str, heads: RidgeHeads, X: np.ndarray, Y: np.ndarray, pool: np.ndarray,
           test: np.ndarray, start: np.ndarray, s: SimSettings, rng_seed: int) -> list[tuple[int, float]]:
    """One strategy on one fold: (labels used, held-out kappa) after the seed set and each batch."""
    kwargs = {"seed": rng_seed} if strategy_name == "random" else {"measure": s.measure}
    strategy = make_strategy(strategy_name, **kwargs)
    labeled = [int(i) for i in start]
    curve = []
    while True:
        decision = heads.fit_predict(np.array(labeled), Y)
        curve.append((len(labeled), mean_kappa(Y[test], decision[test])))
        taken = set(labeled)
        unlabeled = np.array([i for i in pool if i not in taken], dtype=int)
        if not len(unlabeled):
            return curve
        view = Pool(heads.proba(decision), np.full(Y.shape[1], 0.5), X)
        labeled += [int(i) for i in strategy.query(view, unlabeled, np.array(labeled), min(s.batch, len(unlabeled)))]


def labels_to_target(labels: list[float], kappas: list[float], full: float, target: float,
                     sustained: bool = False) -> float:
    """First label count whose kappa reaches target x full (sustained: and never drops below again)."""
    goal = target * full
    if sustained:
        reached = labels[-1]
        for n, k in zip(labels[::-1], kappas[::-1]):
            if k < goal:
                break
            reached = n
        return reached
    return next((n for n, k in zip(labels, kappas) if k >= goal), labels[-1])


def thesis_data(encoder: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Frozen embeddings (encoded once, cached under .cache/), presence labels and firms."""
    from pipeline.embed import EmbeddingCache, load_encoder

    examples = load_examples(paths.CODED_PASSAGES)
    X = EmbeddingCache(paths.ROOT / ".cache" / "embeddings.sqlite").encode(load_encoder(encoder),
                                                                          [e.text for e in examples])
    presence, _ = label_matrices(examples)
    return np.asarray(X, dtype=np.float64), presence, np.array([e.company for e in examples])


def simulate(settings: SimSettings | None = None, data=None, progress=None) -> dict:
    """Run the benchmark; returns the JSON-able result (see docs/REVIEW.md)."""
    s = settings or SimSettings()
    t0 = time.perf_counter()
    X, Y, firms = data if data is not None else thesis_data(s.encoder)
    heads = RidgeHeads(X @ X.T + 1.0, s.ridge, s.temperature)
    companies = np.unique(firms)
    per_seed, mean_curves, totals, fulls = [], {k: [] for k in STRATEGIES}, [], []
    for seed in range(s.seeds):
        rng = np.random.default_rng(seed)
        groups = np.array_split(rng.permutation(companies), s.folds)
        fold_curves = {k: [] for k in STRATEGIES}
        pools = []
        for f, group in enumerate(groups):
            test, pool = np.flatnonzero(np.isin(firms, group)), np.flatnonzero(~np.isin(firms, group))
            start = rng.choice(pool, min(s.seed_size, len(pool)), replace=False)
            pools.append(len(pool))
            for name in STRATEGIES:
                fold_curves[name].append(replay(name, heads, X, Y, pool, test, start, s, seed * 1000 + f))
        steps = min(len(c) for c in fold_curves["random"]) - 1  # shared label counts, then "all labels"
        full = float(np.mean([c[-1][1] for c in fold_curves["random"]]))
        total = float(np.mean(pools))
        row = {"seed": seed, "labels_total": total, "all_labels_kappa": round(full, 4), "labels_to_95": {},
               "labels_to_95_sustained": {}}
        for name in STRATEGIES:
            labels = [fold_curves[name][0][i][0] for i in range(steps)] + [total]
            kappas = [float(np.mean([c[i][1] for c in fold_curves[name]])) for i in range(steps)]
            kappas.append(float(np.mean([c[-1][1] for c in fold_curves[name]])))
            row["labels_to_95"][name] = labels_to_target(labels, kappas, full, s.target)
            row["labels_to_95_sustained"][name] = labels_to_target(labels, kappas, full, s.target, True)
            mean_curves[name].append((labels, kappas))
        per_seed.append(row)
        totals.append(total)
        fulls.append(full)
        if progress:
            progress(f"seed {seed}: " + ", ".join(f"{k} {v:.0f}" for k, v in row["labels_to_95"].items())
                     + f" of {total:.0f} labels (all-labels kappa {full:.3f})")
    return summarize(s, per_seed, mean_curves, totals, fulls, time.perf_counter() - t0)


def summarize(s: SimSettings, per_seed: list[dict], mean_curves: dict, totals: list, fulls: list,
              seconds: float) -> dict:
    def mean_of(key: str, name: str) -> float:
        return round(float(np.mean([r[key][name] for r in per_seed])), 1)

    steps = min(len(labels) for curves in mean_curves.values() for labels, _ in curves) - 1
    curves = {}
    for name, runs in mean_curves.items():
        curves[name] = {"labels": [int(runs[0][0][i]) for i in range(steps)] + [round(float(np.mean(totals)), 1)],
                        "kappa": [round(float(np.mean([k[i] for _, k in runs])), 4) for i in range(steps)]
                        + [round(float(np.mean([k[-1] for _, k in runs])), 4)]}
    to95 = {name: mean_of("labels_to_95", name) for name in STRATEGIES}
    total = round(float(np.mean(totals)), 1)
    active, random = to95[s.active], to95["random"]
    return {
        "labels_total": total,
        "labels_to_95": {"active": active, "random": random, **to95},
        "labels_to_95_sustained": {"active": mean_of("labels_to_95_sustained", s.active),
                                   **{n: mean_of("labels_to_95_sustained", n) for n in STRATEGIES}},
        "all_labels_kappa": round(float(np.mean(fulls)), 4),
        "acceptance": {"active_share_of_labels": round(active / total, 3),
                       "random_over_active": round(random / max(active, 1e-9), 2),
                       "passed": bool(active <= 0.4 * total and random >= 1.5 * active)},
        "seeds": list(range(s.seeds)),
        "per_seed": per_seed,
        "curves": curves,
        "settings": asdict(s),
        "seconds": round(seconds, 1),
    }
