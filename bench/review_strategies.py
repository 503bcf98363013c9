"""Query strategies tried on the development seeds (10-19) before the reported run.

    .venv/bin/python bench/review_strategies.py [--json out/review_strategies.json]

Every candidate below was replayed with the protocol of ``intcap review simulate``
(3 firm folds, 10-passage seed set, batch 5, the shipped heads) on seeds 10-19; the
one that needed fewest labels (``uncert05``: margin to 0.5 of the class-balanced
probability instead of to each code's CV threshold) became the product's default
boundary, and only then was the reported run (seeds 0-9) made. Runs in one process
(the candidates are registered here, not in the workers): 24 minutes on one core.
Results: docs/REVIEW.md.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.review import queue as Q  # noqa: E402
from pipeline.review.queue import QueryStrategy, code_uncertainty, similarity  # noqa: E402

class Density(QueryStrategy):
    """information density: uncertainty x mean similarity to the unlabeled pool ^ beta"""
    def __init__(self, measure="margin", beta=1.0, **_):
        self.measure, self.beta = measure, beta
    def query(self, pool, unlabeled, labeled, n):
        unlabeled = np.asarray(unlabeled, dtype=int)
        u = pool.informativeness(self.measure, "threshold")[unlabeled]
        V = pool.vectors[unlabeled]
        d = np.clip(similarity(V, V).mean(axis=1), 1e-6, None)
        return unlabeled[np.argsort(-(u * d ** self.beta), kind="stable")[:n]]

class MaxCode(QueryStrategy):
    """the most uncertain code (threshold boundary) instead of the sum"""
    def __init__(self, measure="margin", **_):
        self.measure = measure
    def query(self, pool, unlabeled, labeled, n):
        unlabeled = np.asarray(unlabeled, dtype=int)
        u = code_uncertainty(pool.presence, pool.thresholds, self.measure).max(axis=1)[unlabeled]
        return unlabeled[np.argsort(-u, kind="stable")[:n]]

class ClusterBatch(QueryStrategy):
    """top-k uncertain candidates, greedily pick far-apart ones (k-center within top 4n)"""
    def __init__(self, measure="margin", factor=4, **_):
        self.measure, self.factor = measure, factor
    def query(self, pool, unlabeled, labeled, n):
        unlabeled = np.asarray(unlabeled, dtype=int)
        u = pool.informativeness(self.measure, "threshold")[unlabeled]
        top = unlabeled[np.argsort(-u, kind="stable")[: self.factor * n]]
        V = pool.vectors[top]
        picked = [0]
        sim = similarity(V, V[:1])[:, 0]
        while len(picked) < min(n, len(top)):
            s = sim.copy(); s[picked] = np.inf
            b = int(np.argmin(s)); picked.append(b)
            sim = np.maximum(sim, similarity(V, V[b:b+1])[:, 0])
        return top[picked]

class DensityBatch(ClusterBatch):
    """density-weighted uncertainty, then k-center among the top candidates"""
    def query(self, pool, unlabeled, labeled, n):
        unlabeled = np.asarray(unlabeled, dtype=int)
        u = pool.informativeness(self.measure, "threshold")[unlabeled]
        V = pool.vectors[unlabeled]
        d = np.clip(similarity(V, V).mean(axis=1), 1e-6, None)
        sc = u * d
        top = unlabeled[np.argsort(-sc, kind="stable")[: self.factor * n]]
        W = pool.vectors[top]
        picked = [0]; sim = similarity(W, W[:1])[:, 0]
        while len(picked) < min(n, len(top)):
            s = sim.copy(); s[picked] = np.inf
            b = int(np.argmin(s)); picked.append(b)
            sim = np.maximum(sim, similarity(W, W[b:b+1])[:, 0])
        return top[picked]


class RarePos(QueryStrategy):
    """per-code margin weighted toward codes the model predicts rarely in the pool"""
    def __init__(self, measure="margin", **_):
        self.measure = measure
    def query(self, pool, unlabeled, labeled, n):
        unlabeled = np.asarray(unlabeled, dtype=int)
        m = code_uncertainty(pool.presence, pool.thresholds, self.measure)
        rate = np.clip((pool.presence >= pool.thresholds).mean(axis=0), 0.05, 0.95)
        w = 1.0 / np.minimum(rate, 1 - rate); w = w / w.mean()
        u = (m * w).sum(axis=1)[unlabeled]
        return unlabeled[np.argsort(-u, kind="stable")[:n]]


class Uncert05(QueryStrategy):
    """margin to 0.5 of the (class-balanced) probability, thresholds ignored"""
    def __init__(self, measure="margin", **_):
        pass
    def query(self, pool, unlabeled, labeled, n):
        unlabeled = np.asarray(unlabeled, dtype=int)
        u = code_uncertainty(pool.presence, np.full(pool.presence.shape[1], 0.5)).sum(axis=1)[unlabeled]
        return unlabeled[np.argsort(-u, kind="stable")[:n]]

class Entropy(Q.UncertaintySampling):
    """the shipped uncertainty strategy (threshold boundary) with binary entropy"""
    def __init__(self, measure="margin", **_):
        super().__init__("entropy", boundary="threshold")

class Mid(QueryStrategy):
    """margin to the midpoint of 0.5 and the threshold (threshold shrunk toward 0.5)"""
    def __init__(self, measure="margin", **_):
        pass
    def query(self, pool, unlabeled, labeled, n):
        unlabeled = np.asarray(unlabeled, dtype=int)
        t = 0.5 * (np.asarray(pool.thresholds) + 0.5)
        u = code_uncertainty(pool.presence, t).sum(axis=1)[unlabeled]
        return unlabeled[np.argsort(-u, kind="stable")[:n]]


def _u05(pool, measure="margin"):
    return code_uncertainty(pool.presence, np.full(pool.presence.shape[1], 0.5), measure)

class U05Entropy(QueryStrategy):
    """binary entropy around 0.5"""
    def __init__(self, measure="margin", **_): pass
    def query(self, pool, unlabeled, labeled, n):
        unlabeled = np.asarray(unlabeled, dtype=int)
        u = _u05(pool, "entropy").sum(axis=1)[unlabeled]
        return unlabeled[np.argsort(-u, kind="stable")[:n]]

class U05Max(QueryStrategy):
    """the most uncertain code around 0.5"""
    def __init__(self, measure="margin", **_): pass
    def query(self, pool, unlabeled, labeled, n):
        unlabeled = np.asarray(unlabeled, dtype=int)
        u = _u05(pool).max(axis=1)[unlabeled]
        return unlabeled[np.argsort(-u, kind="stable")[:n]]

class U05Cluster(QueryStrategy):
    """margin around 0.5, then k-center among the top 3n candidates"""
    def __init__(self, measure="margin", factor=3, **_): self.factor = factor
    def query(self, pool, unlabeled, labeled, n):
        unlabeled = np.asarray(unlabeled, dtype=int)
        u = _u05(pool).sum(axis=1)[unlabeled]
        top = unlabeled[np.argsort(-u, kind="stable")[: self.factor * n]]
        V = pool.vectors[top]
        picked = [0]; sim = similarity(V, V[:1])[:, 0]
        while len(picked) < min(n, len(top)):
            s = sim.copy(); s[picked] = np.inf
            b = int(np.argmin(s)); picked.append(b)
            sim = np.maximum(sim, similarity(V, V[b:b+1])[:, 0])
        return top[picked]



Q.STRATEGIES.update({"density": Density, "maxcode": MaxCode, "cluster": ClusterBatch, "densitybatch": DensityBatch,
                     "rarepos": RarePos, "uncert05": Uncert05, "entropy": Entropy, "mid": Mid,
                     "u05entropy": U05Entropy, "u05max": U05Max, "u05cluster": U05Cluster})

CANDIDATES = ("density", "maxcode", "cluster", "densitybatch", "diverse", "rarepos", "uncert05", "entropy", "mid",
              "u05entropy", "u05max", "u05cluster")


def main(argv=None) -> int:
    from pipeline.review.simulate import SimSettings, simulate

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", type=Path, default=ROOT / "out" / "review_strategies.json")
    ap.add_argument("--first-seed", type=int, default=10)
    args = ap.parse_args(argv)
    r = simulate(SimSettings(first_seed=args.first_seed, boundary="threshold", others=CANDIDATES, jobs=1),
                 progress=lambda line: print(line, file=sys.stderr, flush=True))
    total = r["labels_total"]
    print("| strategy | labels to 95% | share | sustained |\n|---|---|---|---|")
    for name in ("uncertainty", "random", *CANDIDATES):
        v = r["labels_to_95"][name]
        print(f"| {name} | {v:.1f} | {v / total:.0%} | {r['labels_to_95_sustained'][name]:.1f} |")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(r, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
