"""Coding methods compared by ``intcap evaluate``: the shipped coder and the baselines."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from pipeline.coder import CoderSettings, PassageCoder
from pipeline.embed import Encoder
from pipeline.examples import Example, label_matrices
from pipeline.records import CODES, VALENCES


@dataclass
class Predictions:
    """Held-out outputs: presence p (n, 4), assigned 0/1 (n, 4), valence p (n, 4, 3)."""

    presence: np.ndarray
    assigned: np.ndarray
    valence: np.ndarray


class Candidate(Protocol):
    """A coding method under evaluation: fit on examples, predict on others."""

    name: str

    def fit(self, examples: Sequence[Example]) -> "Candidate": ...

    def predict(self, examples: Sequence[Example]) -> Predictions: ...


class PlainLogReg:
    """Baseline: one logistic regression per code at threshold 0.5 over given features."""

    def __init__(self, name: str, featurize):
        self.name = name
        self.featurize = featurize

    def fit(self, examples: Sequence[Example]) -> "PlainLogReg":
        texts = [e.text for e in examples]
        if hasattr(self.featurize, "fit"):
            self.featurize.fit(texts)
        X = self.featurize(texts)
        presence, valence = label_matrices(list(examples))
        self.heads_ = [LogisticRegression(max_iter=2000).fit(X, presence[:, j]) for j in range(len(CODES))]
        self.valence_ = []
        for j in range(len(CODES)):
            mask = presence[:, j] == 1
            labels = valence[mask, j]
            self.valence_.append(LogisticRegression(max_iter=2000).fit(X[mask], labels)
                                 if len(set(labels)) > 1 else (labels[0] if len(labels) else "+"))
        return self

    def predict(self, examples: Sequence[Example]) -> Predictions:
        X = self.featurize([e.text for e in examples])
        p = np.column_stack([h.predict_proba(X)[:, 1] for h in self.heads_])
        v = np.zeros((len(examples), len(CODES), len(VALENCES)))
        for j, head in enumerate(self.valence_):
            if isinstance(head, str):
                v[:, j, VALENCES.index(head)] = 1.0
            else:
                for k, cls in enumerate(head.classes_):
                    v[:, j, VALENCES.index(cls)] = head.predict_proba(X)[:, k]
        return Predictions(p, (p >= 0.5).astype(int), v)


class TfidfFeatures:
    def fit(self, texts):
        self.vectorizer_ = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True).fit(texts)

    def __call__(self, texts):
        return self.vectorizer_.transform(texts)


class EncoderFeatures:
    def __init__(self, encoder: Encoder):
        self.encoder = encoder

    def __call__(self, texts):
        return self.encoder.encode(list(texts))


class CoderCandidate:
    """The shipped method: PassageCoder (encoder + CV-thresholded heads)."""

    def __init__(self, name: str, encoder: Encoder, settings: CoderSettings):
        self.name = name
        self.encoder = encoder
        self.settings = settings

    def fit(self, examples: Sequence[Example]) -> "CoderCandidate":
        self.coder_ = PassageCoder(self.encoder).fit(examples, self.settings)
        return self

    def predict(self, examples: Sequence[Example]) -> Predictions:
        presence, valence = self.coder_.predict_proba([e.text for e in examples])
        return Predictions(presence, (presence >= self.coder_.heads.thresholds_).astype(int), valence)
