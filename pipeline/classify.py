"""Per-code presence and valence heads over passage embeddings (sklearn estimator contract).

``CodeHeads`` is an estimator: parameters in ``__init__``, ``fit(X, presence, valence,
groups)`` learns one calibrated logistic head per code plus a valence head per code,
and picks each code's decision threshold by grouped cross-validation on the training
data only. Its state is plain arrays, saved as npz + JSON (never pickles).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold
from sklearn.utils.validation import check_is_fitted

from pipeline.records import CODES, VALENCES


def _logreg(C: float, balanced: bool) -> LogisticRegression:
    return LogisticRegression(C=C, class_weight="balanced" if balanced else None, max_iter=2000)


def best_threshold(y: np.ndarray, p: np.ndarray) -> float:
    """Threshold maximising Cohen's kappa of (p >= t) against y."""
    from sklearn.metrics import cohen_kappa_score

    best_t, best_k = 0.5, -1.0
    for t in np.linspace(0.05, 0.95, 91):
        pred = (p >= t).astype(int)
        if pred.min() == pred.max():
            continue
        k = cohen_kappa_score(y, pred)
        if k > best_k + 1e-9:
            best_t, best_k = float(t), k
    return best_t


class CodeHeads(BaseEstimator):
    """Multi-label presence heads with CV thresholds, and a valence head per code.

    Parameters
    ----------
    C : float
        Inverse regularisation strength of every logistic head.
    balanced : bool
        Re-weight classes so rare codes (ABS, PRI) are not ignored.
    threshold_folds : int
        Grouped CV folds (by company) used to choose decision thresholds.
    """

    def __init__(self, C: float = 2.0, balanced: bool = True, threshold_folds: int = 5):
        self.C = C
        self.balanced = balanced
        self.threshold_folds = threshold_folds

    def fit(self, X: np.ndarray, presence: np.ndarray, valence: np.ndarray, groups: np.ndarray | None = None) -> "CodeHeads":
        """X (n, d); presence (n, 4) in {0,1}; valence (n, 4) of "+", "-", "0" or ""."""
        X = np.asarray(X, dtype=np.float64)
        groups = np.arange(len(X)) if groups is None else np.asarray(groups)
        self.coef_ = np.zeros((len(CODES), X.shape[1]))
        self.intercept_ = np.zeros(len(CODES))
        self.thresholds_ = np.full(len(CODES), 0.5)
        self.valence_coef_ = np.zeros((len(CODES), len(VALENCES), X.shape[1]))
        self.valence_intercept_ = np.zeros((len(CODES), len(VALENCES)))
        self.valence_prior_ = np.zeros((len(CODES), len(VALENCES)))
        n_folds = min(self.threshold_folds, len(np.unique(groups)))
        for j in range(len(CODES)):
            y = presence[:, j].astype(int)
            head = _logreg(self.C, self.balanced).fit(X, y)
            self.coef_[j], self.intercept_[j] = head.coef_[0], head.intercept_[0]
            if n_folds >= 2:
                oof = np.zeros(len(y))
                for tr, te in GroupKFold(n_splits=n_folds).split(X, y, groups):
                    if y[tr].min() == y[tr].max():
                        continue
                    oof[te] = _logreg(self.C, self.balanced).fit(X[tr], y[tr]).predict_proba(X[te])[:, 1]
                self.thresholds_[j] = best_threshold(y, oof)
            self._fit_valence(j, X[y == 1], valence[y == 1, j])
        return self

    def _fit_valence(self, j: int, X: np.ndarray, v: np.ndarray) -> None:
        counts = np.array([(v == s).sum() for s in VALENCES], dtype=float)
        self.valence_prior_[j] = (counts + 1) / (counts.sum() + len(VALENCES))
        present = [k for k, s in enumerate(VALENCES) if (v == s).any()]
        if len(present) < 2:
            return
        head = _logreg(self.C, self.balanced).fit(X, v)
        for cls, coef, icpt in zip(head.classes_, *_multiclass(head)):
            k = VALENCES.index(cls)
            self.valence_coef_[j, k], self.valence_intercept_[j, k] = coef, icpt
        for k in set(range(len(VALENCES))) - {VALENCES.index(c) for c in head.classes_}:
            self.valence_intercept_[j, k] = -1e3  # a valence never seen in training is never predicted

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Presence probability per code, shape (n, 4)."""
        check_is_fitted(self, "coef_")
        z = np.asarray(X, dtype=np.float64) @ self.coef_.T + self.intercept_
        return 1.0 / (1.0 + np.exp(-z))

    def predict(self, X: np.ndarray) -> np.ndarray:
        return (self.predict_proba(X) >= self.thresholds_).astype(int)

    def predict_valence_proba(self, X: np.ndarray) -> np.ndarray:
        """Valence distribution per code, shape (n, 4, 3) over VALENCES."""
        check_is_fitted(self, "coef_")
        X = np.asarray(X, dtype=np.float64)
        z = np.einsum("nd,ckd->nck", X, self.valence_coef_) + self.valence_intercept_
        trained = np.abs(self.valence_coef_).sum(axis=(1, 2)) > 0
        z = z - z.max(axis=2, keepdims=True)
        p = np.exp(z) / np.exp(z).sum(axis=2, keepdims=True)
        p[:, ~trained] = self.valence_prior_[~trained]
        return p

    # -- persistence: arrays in npz, nothing executable -------------------------------
    _ARRAYS = ("coef_", "intercept_", "thresholds_", "valence_coef_", "valence_intercept_", "valence_prior_")

    def save(self, directory: Path) -> list[Path]:
        directory.mkdir(parents=True, exist_ok=True)
        np.savez(directory / "heads.npz", **{a: getattr(self, a) for a in self._ARRAYS})
        (directory / "heads.json").write_text(json.dumps(
            {"C": self.C, "balanced": self.balanced, "threshold_folds": self.threshold_folds,
             "codes": list(CODES), "valences": list(VALENCES)}, indent=2))
        return [directory / "heads.npz", directory / "heads.json"]

    @classmethod
    def load(cls, directory: Path) -> "CodeHeads":
        params = json.loads((directory / "heads.json").read_text())
        heads = cls(C=params["C"], balanced=params["balanced"], threshold_folds=params["threshold_folds"])
        with np.load(directory / "heads.npz", allow_pickle=False) as data:
            for a in cls._ARRAYS:
                setattr(heads, a, data[a])
        return heads


def _multiclass(head: LogisticRegression) -> tuple[np.ndarray, np.ndarray]:
    """Per-class coefficients, also for the binary case sklearn stores as one row."""
    if len(head.classes_) == 2:
        return np.vstack([-head.coef_[0], head.coef_[0]]) / 2, np.array([-head.intercept_[0], head.intercept_[0]]) / 2
    return head.coef_, head.intercept_
