"""Presence fused with the best sentence's score: a probe, not a shipped recipe (not a test).

    .venv/bin/python bench/best_sentence_probe.py          # dev set, ~3 minutes with the embeddings cached
    .venv/bin/python bench/best_sentence_probe.py --loco   # approximate thesis LOCO, ~7 minutes

Each code's presence probability is today's mean of the dense passage head and the TF-IDF head;
the probe adds a third term, the dense head applied to each sentence and maxed over the passage
(multi-instance pooling), with the decision threshold chosen on grouped 5-fold out-of-fold
probabilities as CodeHeads does. Features are the shipped model's (models/default; e5 sentence
embeddings from the cache). Dev: trained on corpus/train/ only. --loco: each thesis firm coded by
heads trained on the 13 other firms, their rewrites and corpus/train/; to keep it to minutes the
thresholds come from one out-of-fold pass over the whole pool instead of one per fold, the same
for both variants, so its "shipped" row is close to, not equal to, `intcap evaluate`'s LOCO.
Figures: docs/EVALUATION.md.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sklearn.model_selection import GroupKFold  # noqa: E402

from pipeline import corpus, paths  # noqa: E402
from pipeline.classify import _tfidf, best_threshold, kappa, logistic_head  # noqa: E402
from pipeline.examples import label_matrices, load_examples  # noqa: E402
from pipeline.records import CODES  # noqa: E402

#: (dense passage, TF-IDF, best sentence) probabilities -> presence probability
FUSIONS = {
    "passage + TF-IDF (shipped)": lambda d, t, s: (d + t) / 2,
    "passage + TF-IDF + best sentence": lambda d, t, s: (d + t + s) / 3,
}


class Pool:
    """Examples featurised once by the shipped coder; heads fitted and applied on index sets."""

    def __init__(self, examples):
        from pipeline.modeldir import load_model

        coder = load_model(paths.DEFAULT_MODEL, cache_path=paths.embedding_cache())
        self.f = coder.features([e.text for e in examples], [e.company for e in examples])
        self.Y = label_matrices(examples)[0]
        self.companies = np.array([e.company for e in examples])

    def fit(self, idx: np.ndarray, j: int):
        dense = logistic_head(4.0, True).fit(self.f.X[idx], self.Y[idx, j])
        vec = _tfidf()
        sparse = logistic_head(1.0, True).fit(vec.fit_transform([self.f.texts[i] for i in idx]), self.Y[idx, j])
        return dense, vec, sparse

    def probabilities(self, heads, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        dense, vec, sparse = heads
        keep = np.isin(self.f.owner, idx)
        position = np.full(len(self.Y), -1)
        position[idx] = np.arange(len(idx))
        best = np.full(len(idx), -np.inf)
        np.maximum.at(best, position[self.f.owner[keep]], dense.decision_function(self.f.sentence_X[keep]))
        return (dense.predict_proba(self.f.X[idx])[:, 1],
                sparse.predict_proba(vec.transform([self.f.texts[i] for i in idx]))[:, 1],
                1 / (1 + np.exp(-best)))

    def thresholds(self, idx: np.ndarray, j: int) -> dict[str, float]:
        """Per fusion, the kappa-best threshold on grouped 5-fold out-of-fold probabilities of ``idx``."""
        oof = np.zeros((3, len(idx)))
        for a, b in GroupKFold(5).split(idx, groups=self.companies[idx]):
            oof[:, b] = self.probabilities(self.fit(idx[a], j), idx[b])
        return {name: best_threshold(self.Y[idx, j], fuse(*oof)) for name, fuse in FUSIONS.items()}


def report(name: str, kappas: list[float]) -> None:
    print(f"{name}: mean kappa {np.mean(kappas):.3f} ({', '.join(f'{c} {k:.3f}' for c, k in zip(CODES, kappas))})")


def dev_probe() -> None:
    train, dev = corpus.examples(corpus.training_rows()), corpus.examples(corpus.dev_rows())
    pool = Pool(train + dev)
    tr, dv = np.arange(len(train)), np.arange(len(train), len(train) + len(dev))
    kappas = {name: [] for name in FUSIONS}
    for j in range(len(CODES)):
        threshold = pool.thresholds(tr, j)
        p = pool.probabilities(pool.fit(tr, j), dv)
        for name, fuse in FUSIONS.items():
            kappas[name].append(kappa(pool.Y[dv, j], (fuse(*p) >= threshold[name]).astype(int)))
    for name, ks in kappas.items():
        report(f"dev set, {name}", ks)


def loco_probe() -> None:
    from pipeline.coder import CoderSettings
    from pipeline.train import augment_examples

    thesis = load_examples(paths.CODED_PASSAGES)
    pool = Pool(thesis + augment_examples(CoderSettings(), thesis) + corpus.examples(corpus.training_rows()))
    everything = np.arange(len(pool.Y))
    threshold = [pool.thresholds(everything, j) for j in range(len(CODES))]
    predicted = {name: np.zeros((len(thesis), len(CODES)), dtype=int) for name in FUSIONS}
    for firm in sorted({e.company for e in thesis}):
        test = np.flatnonzero(pool.companies[:len(thesis)] == firm)
        train = np.flatnonzero(pool.companies != firm)
        for j in range(len(CODES)):
            p = pool.probabilities(pool.fit(train, j), test)
            for name, fuse in FUSIONS.items():
                predicted[name][test, j] = (fuse(*p) >= threshold[j][name]).astype(int)
    for name, pred in predicted.items():
        report(f"approximate thesis LOCO, {name}",
               [kappa(pool.Y[:len(thesis), j], pred[:, j]) for j in range(len(CODES))])


if __name__ == "__main__":
    loco_probe() if "--loco" in sys.argv[1:] else dev_probe()
