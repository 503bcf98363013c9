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
from pipeline.review.queue import QueryStrategy, UncertaintySampling, code_uncertainty, similarity  # noqa: E402


def k_center(vectors, candidates: np.ndarray, n: int) -> np.ndarray:
    """Greedy k-center among ``candidates`` (best first): start with the first, then
    repeatedly take the one least similar to everything taken."""
    V = vectors[candidates]
    picked = [0]
    sim = similarity(V, V[:1])[:, 0]
    while len(picked) < min(n, len(candidates)):
        s = sim.copy()
        s[picked] = np.inf
        best = int(np.argmin(s))
        picked.append(best)
        sim = np.maximum(sim, similarity(V, V[best:best + 1])[:, 0])
    return candidates[picked]


class Scored(QueryStrategy):
    """Rank the unlabelled passages by ``score(pool, unlabeled)``; with ``spread`` = k,
    take a k-center batch among the top k*n instead of the top n."""

    def __init__(self, score, spread: int | None = None):
        self.score, self.spread = score, spread

    def query(self, pool, unlabeled, labeled, n):
        unlabeled = np.asarray(unlabeled, dtype=int)
        ranked = unlabeled[np.argsort(-self.score(pool, unlabeled), kind="stable")]
        return ranked[:n] if self.spread is None else k_center(pool.vectors, ranked[: self.spread * n], n)


def per_code(pool, boundary: str) -> np.ndarray:
    """Per-code margin around each code's CV threshold or around 0.5."""
    at = pool.thresholds if boundary == "threshold" else np.full(pool.presence.shape[1], 0.5)
    return code_uncertainty(pool.presence, at)


def density(pool, unlabeled) -> np.ndarray:
    """Threshold margin x mean similarity to the unlabelled pool (information density)."""
    V = pool.vectors[unlabeled]
    return per_code(pool, "threshold").sum(axis=1)[unlabeled] * np.clip(similarity(V, V).mean(axis=1), 1e-6, None)


def rare_weighted(pool, unlabeled) -> np.ndarray:
    """Threshold margin weighted toward the codes the model predicts rarely in the pool."""
    rate = np.clip((pool.presence >= pool.thresholds).mean(axis=0), 0.05, 0.95)
    w = 1.0 / np.minimum(rate, 1 - rate)
    return (per_code(pool, "threshold") * (w / w.mean())).sum(axis=1)[unlabeled]


def midway(pool, unlabeled) -> np.ndarray:
    """Margin around the midpoint of 0.5 and each code's threshold."""
    return code_uncertainty(pool.presence, 0.5 * (np.asarray(pool.thresholds) + 0.5)).sum(axis=1)[unlabeled]


def threshold_sum(pool, unlabeled):
    return per_code(pool, "threshold").sum(axis=1)[unlabeled]


# make_strategy passes measure/boundary; each candidate fixes its own
CANDIDATE_FACTORIES = {
    "density": lambda **_: Scored(density),
    "maxcode": lambda **_: Scored(lambda pool, u: per_code(pool, "threshold").max(axis=1)[u]),
    "cluster": lambda **_: Scored(threshold_sum, spread=4),
    "densitybatch": lambda **_: Scored(density, spread=4),
    "rarepos": lambda **_: Scored(rare_weighted),
    "uncert05": lambda **_: UncertaintySampling("margin", boundary="balanced"),
    "entropy": lambda **_: UncertaintySampling("entropy", boundary="threshold"),
    "mid": lambda **_: Scored(midway),
    "u05entropy": lambda **_: UncertaintySampling("entropy", boundary="balanced"),
    "u05max": lambda **_: Scored(lambda pool, u: per_code(pool, "balanced").max(axis=1)[u]),
    "u05cluster": lambda **_: Scored(lambda pool, u: per_code(pool, "balanced").sum(axis=1)[u], spread=3),
}
Q.STRATEGIES.update(CANDIDATE_FACTORIES)

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
