"""Agreement statistics with uncertainty: Cohen's κ per code with a cluster bootstrap interval.

Passages of one company are not independent (one interview, one coder's reading of it), so the
interval resamples companies, not passages: each replicate draws as many companies as there are,
with replacement, and takes all their passages.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from pipeline.classify import kappa
from pipeline.records import CODES


def cluster_bootstrap_kappa(gold: np.ndarray, pred: np.ndarray, groups: Sequence[str], *, n_boot: int = 1000,
                            seed: int = 0, level: float = 0.95) -> dict:
    """95 % intervals of per-code κ and of the mean κ over codes (presence matrices (n, 4))."""
    gold, pred = np.asarray(gold), np.asarray(pred)
    groups = np.asarray(list(groups))
    firms = np.unique(groups)
    members = [np.flatnonzero(groups == f) for f in firms]
    rng = np.random.default_rng(seed)
    stats = np.zeros((n_boot, len(CODES) + 1))
    for b in range(n_boot):
        idx = np.concatenate([members[k] for k in rng.integers(0, len(firms), len(firms))])
        per_code = [kappa(gold[idx, j], pred[idx, j]) for j in range(len(CODES))]
        stats[b] = [*per_code, np.mean(per_code)]
    lo, hi = np.quantile(stats, [(1 - level) / 2, 1 - (1 - level) / 2], axis=0)
    return {"kappa": {c: [round(float(lo[j]), 4), round(float(hi[j]), 4)] for j, c in enumerate(CODES)},
            "mean_kappa": [round(float(lo[-1]), 4), round(float(hi[-1]), 4)],
            "method": f"cluster bootstrap over {len(firms)} companies, {n_boot} replicates, {level:.0%}"}
