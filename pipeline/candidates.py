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
    """Baseline: one class-balanced logistic regression per code (sklearn defaults, C=1) at
    threshold 0.5 over given features of the raw text; valence by an unbalanced logistic head."""

    def __init__(self, name: str, featurize, balanced: bool = True):
        self.name = name
        self.featurize = featurize
        self.balanced = balanced

    def fit(self, examples: Sequence[Example]) -> "PlainLogReg":
        texts = [e.text for e in examples]
        if hasattr(self.featurize, "fit"):
            self.featurize.fit(texts)
        X = self.featurize(texts)
        presence, valence = label_matrices(list(examples))
        weights = "balanced" if self.balanced else None
        self.heads_ = [LogisticRegression(class_weight=weights, max_iter=3000).fit(X, presence[:, j])
                       for j in range(len(CODES))]
        self.valence_ = []
        for j in range(len(CODES)):
            mask = presence[:, j] == 1
            labels = valence[mask, j]
            self.valence_.append(LogisticRegression(max_iter=2000).fit(X[mask], labels)
                                 if len(set(labels)) > 1 else (labels[0] if len(labels) else "+"))
        return self

    def use_encoder(self, encoder: Encoder) -> None:
        """Swap the (memoised) encoder for another, e.g. an uncached one to time coding."""
        if isinstance(self.featurize, EncoderFeatures):
            self.featurize.encoder = encoder

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
    """The shipped method: PassageCoder (encoder + codebook features + CV-thresholded heads)."""

    def __init__(self, name: str, encoder: Encoder, settings: CoderSettings):
        self.name = name
        self.encoder = encoder
        self.settings = settings

    def fit(self, examples: Sequence[Example]) -> "CoderCandidate":
        self.coder_ = PassageCoder(self.encoder, settings=self.settings).fit(examples)
        return self

    def use_encoder(self, encoder: Encoder) -> None:
        self.encoder = encoder
        if hasattr(self, "coder_"):
            self.coder_.encoder = encoder

    def predict(self, examples: Sequence[Example]) -> Predictions:
        presence, assigned, valence = self.coder_.predict_routed([e.text for e in examples],
                                                                 [e.company for e in examples],
                                                                 [e.language or None for e in examples])
        return Predictions(presence, assigned, valence)


class RoutedCandidate(CoderCandidate):
    """The shipped default as ``intcap train`` builds it: the main coder plus the multilingual
    companion (trained on the same examples and their Danish rendering); Danish text (by
    detection: examples carry no language) goes to the companion."""

    def __init__(self, name: str, encoder: Encoder, settings: CoderSettings, companion_encoder: Encoder):
        super().__init__(name, encoder, settings)
        self.companion_encoder = companion_encoder

    def fit(self, examples: Sequence[Example]) -> "RoutedCandidate":
        from pipeline.train import companion_coders

        super().fit(examples)
        self.coder_.companions = companion_coders(self.settings, list(examples), self.companion_encoder)
        return self
