"""Self-training during review (CEAL, Wang et al. 2016), replayed with the simulate protocol.

    .venv/bin/python bench/review_self_training.py [--first-seed 10] [--margin 0.6] [--weight 0.5]

Uncertainty sampling sends the passages the model is least sure of to the reviewer;
CEAL also trains on the pool passages it is most sure of, with its own predictions as
labels. Here: after each batch the shipped heads are fitted on the labels, every
unlabelled pool passage whose presence probability for a code lies at least
``margin``/2 from 0.5 gets that code's pseudo-label (per code, so a passage can be
confident on NET and uncertain on ABS), and the heads are refitted on labels +
pseudo-labels (weight ``weight``); the CV thresholds are still scored on human labels
only. With every label given there is nothing left to pseudo-label, so the all-labels
kappa is unchanged. Replays uncertainty and random sampling with ``intcap review
simulate``'s protocol (3 firm folds, seed set 10, batch 5) and prints the labels to
95%. Result and verdict: docs/REVIEW.md ("Self-training").
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.review.simulate import ShippedHeads, SimSettings, simulate  # noqa: E402


class SelfTrainingHeads(ShippedHeads):
    """The shipped heads plus confident pseudo-labels on the unlabelled pool."""

    margin = 0.6
    weight = 0.5

    def fit_predict(self, labeled, Y, unlabeled=None):
        labeled = np.asarray(labeled, dtype=int)
        proba, thresholds = self._fit_predict(labeled, Y)
        if unlabeled is None or not len(unlabeled):
            return proba, thresholds
        extra = []
        for j in range(Y.shape[1]):
            p = proba[unlabeled, j]
            sure = np.abs(p - 0.5) >= self.margin / 2
            extra.append((unlabeled[sure], (p[sure] >= 0.5).astype(int)))
        return self._fit_predict(labeled, Y, extra, self.weight)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--first-seed", type=int, default=10, help="10-19 and 20-29 are development seeds")
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--margin", type=float, default=SelfTrainingHeads.margin)
    ap.add_argument("--weight", type=float, default=SelfTrainingHeads.weight)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    SelfTrainingHeads.margin, SelfTrainingHeads.weight = args.margin, args.weight
    r = simulate(SimSettings(first_seed=args.first_seed, seeds=args.seeds), heads_class=SelfTrainingHeads,
                 progress=lambda line: print(line, file=sys.stderr, flush=True))
    print(json.dumps({"labels_to_95": r["labels_to_95"], "labels_to_95_of_mean_curve": r["labels_to_95_of_mean_curve"],
                      "all_labels_kappa": r["all_labels_kappa"], "acceptance": r["acceptance"],
                      "seconds": r["seconds"]}, indent=1))
    if args.json:
        args.json.write_text(json.dumps(r, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
