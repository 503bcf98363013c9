"""PassageCoder: an encoder plus per-code heads; turns Passages into Codings."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pipeline.classify import CodeHeads
from pipeline.embed import Encoder
from pipeline.examples import Example, label_matrices
from pipeline.records import CODES, VALENCES, CodeScore, Coding, Passage


@dataclass
class CoderSettings:
    """Everything that defines a trained model besides its data (stored in the manifest)."""

    encoder: str = "minilm.v1"
    C: float = 2.0
    balanced: bool = True
    threshold_folds: int = 5


class PassageCoder:
    """fit on hand-coded examples, predict_proba on texts, code Passages."""

    def __init__(self, encoder: Encoder, heads: CodeHeads | None = None, version: str = "", info: dict | None = None):
        self.encoder = encoder
        self.heads = heads
        self.version = version
        #: the model manifest (encoder, training data hash, base rates, ...)
        self.info = info or {}

    def fit(self, examples: Sequence[Example], settings: CoderSettings) -> "PassageCoder":
        X = self.encoder.encode([ex.text for ex in examples])
        presence, valence = label_matrices(list(examples))
        groups = np.array([ex.company for ex in examples])
        self.heads = CodeHeads(settings.C, settings.balanced, settings.threshold_folds).fit(X, presence, valence, groups)
        return self

    def predict_proba(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(presence (n, 4), valence (n, 4, 3)) for raw texts."""
        X = self.encoder.encode(list(texts))
        return self.heads.predict_proba(X), self.heads.predict_valence_proba(X)

    def code(self, passages: Sequence[Passage]) -> list[Coding]:
        """Code the passages whose role is "answer"; others are returned uncoded-free (skipped)."""
        todo = [p for p in passages if p.coded]
        if not todo:
            return []
        presence, valence = self.predict_proba([p.text for p in todo])
        return [self._coding(p, presence[i], valence[i]) for i, p in enumerate(todo)]

    def _coding(self, passage: Passage, presence: np.ndarray, valence: np.ndarray) -> Coding:
        codes = {}
        for j, code in enumerate(CODES):
            vp = {v: round(float(valence[j, k]), 4) for k, v in enumerate(VALENCES)}
            codes[code] = CodeScore(p=round(float(presence[j]), 4), valence=max(vp, key=vp.get), valence_p=vp)
        assigned = [c for j, c in enumerate(CODES) if presence[j] >= self.heads.thresholds_[j]]
        return Coding(passage, codes, assigned, model_version=self.version)
