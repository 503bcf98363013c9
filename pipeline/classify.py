"""Per-code presence and valence heads (sklearn estimator contract).

``CodeHeads`` is an estimator: parameters in ``__init__``; ``fit(X, presence, valence,
groups, texts=None)`` learns one logistic presence head per code over the dense
features ``X`` (embedding + codebook features), optionally fused (probability
average) with a TF-IDF logistic head over ``texts``, plus a valence head per code.
Each code's decision threshold is chosen by grouped (by company) cross-validation
on the training data only. State is plain arrays and JSON (npz + JSON, never pickles).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold
from sklearn.utils.validation import check_is_fitted

from pipeline.records import CODES, VALENCES


def logistic_head(C: float, balanced: bool) -> LogisticRegression:
    # tol 1e-6, not sklearn's 1e-4: on the ~5,000 training passages lbfgs stopped early enough that
    # embeddings differing by float rounding (another machine, another batch order) moved ABS and
    # PRI probabilities by up to 0.03 and the thresholds with them; converged, they move < 0.001
    return LogisticRegression(C=C, class_weight="balanced" if balanced else None, max_iter=3000, tol=1e-6)


def kappa(y: np.ndarray, pred: np.ndarray) -> float:
    """Cohen's kappa for two binary vectors (fast; equals sklearn's cohen_kappa_score)."""
    y, pred = np.asarray(y, dtype=float), np.asarray(pred, dtype=float)
    if len(y) == 0:
        return 0.0
    po = float((y == pred).mean())
    p1, p2 = y.mean(), pred.mean()
    pe = float(p1 * p2 + (1 - p1) * (1 - p2))
    return 0.0 if pe >= 1.0 else (po - pe) / (1.0 - pe)


def best_threshold(y: np.ndarray, p: np.ndarray) -> float:
    """Threshold maximising Cohen's kappa of (p >= t) against y."""
    best_t, best_k = 0.5, -1.0
    for t in np.linspace(0.05, 0.95, 91):
        pred = (p >= t).astype(int)
        if pred.min() == pred.max():
            continue
        k = kappa(y, pred)
        if k > best_k + 1e-9:
            best_t, best_k = float(t), k
    return best_t


def _tfidf() -> TfidfVectorizer:
    return TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)


class CodeHeads(BaseEstimator):
    """Multi-label presence heads with CV thresholds, and a valence head per code.

    Parameters
    ----------
    C : float
        Inverse regularisation strength of the dense presence heads.
    balanced : bool
        Re-weight classes so rare codes (ABS, PRI) are not ignored.
    threshold_folds : int
        Grouped CV folds (by company) used to choose decision thresholds.
    tfidf_weight : float
        Weight of a TF-IDF logistic head in the presence probability (0 = off);
        the dense head has weight 1.
    valence_C : float
        Inverse regularisation of the valence heads.
    valence_balanced : bool
        Re-weight valence classes (off: the "+" majority is kept as a prior).
    valence_tfidf : bool
        Also learn valence from TF-IDF n-grams (with ``tfidf_weight`` > 0) and average it with the
        dense valence head: lack is often worded ("never", "just waited", "ikke"), not only meant.
    valence_evidence : bool
        The dense valence head of a code also reads the passage's evidence sentence for that code
        (the sentence its presence head scores highest, the one the coding shows): a passage that
        shows a capability in one sentence and its lack in another is judged by the sentence
        that carries the code. Needs ``sentence_X`` and ``owner`` in ``fit`` and prediction.
    """

    def __init__(self, C: float = 4.0, balanced: bool = True, threshold_folds: int = 5, tfidf_weight: float = 0.0,
                 valence_C: float = 1.0, valence_balanced: bool = False, valence_tfidf: bool = False,
                 valence_evidence: bool = False):
        self.C = C
        self.balanced = balanced
        self.threshold_folds = threshold_folds
        self.tfidf_weight = tfidf_weight
        self.valence_C = valence_C
        self.valence_balanced = valence_balanced
        self.valence_tfidf = valence_tfidf
        self.valence_evidence = valence_evidence

    # -- fitting -------------------------------------------------------------------------
    def _fit_presence(self, X, T, y, w):
        """One code's presence models on a training subset: (dense head, TF-IDF head or None);
        ``T`` is the subset's TF-IDF matrix (None = no TF-IDF head)."""
        dense = logistic_head(self.C, self.balanced).fit(X, y, sample_weight=w)
        sparse = logistic_head(1.0, self.balanced).fit(T, y, sample_weight=w) if T is not None else None
        return dense, sparse

    def _fused(self, dense, sparse, X, T) -> np.ndarray:
        p = dense.predict_proba(X)[:, 1]
        if sparse is not None:
            p = (p + self.tfidf_weight * sparse.predict_proba(T)[:, 1]) / (1 + self.tfidf_weight)
        return p

    def fit(self, X: np.ndarray, presence: np.ndarray, valence: np.ndarray, groups: np.ndarray | None = None,
            texts: list[str] | None = None, valence_X: np.ndarray | None = None,
            sample_weight: np.ndarray | None = None, sentence_X: np.ndarray | None = None,
            owner: np.ndarray | None = None) -> "CodeHeads":
        """X (n, d); presence (n, 4) in {0,1}; valence (n, 4) of "+", "-", "0" or "".

        ``texts`` feed the optional TF-IDF head; ``valence_X`` (default X) the valence heads;
        ``sample_weight`` (n,) weighs examples in every head (thresholds are chosen unweighted);
        ``sentence_X`` (sentences, d) and ``owner`` (sentence -> passage) the evidence sentences
        that ``valence_evidence`` reads.
        """
        X = np.asarray(X, dtype=np.float64)
        VX = X if valence_X is None else np.asarray(valence_X, dtype=np.float64)
        groups = np.arange(len(X)) if groups is None else np.asarray(groups)
        w = np.ones(len(X)) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
        use_tfidf = self.tfidf_weight > 0 and texts is not None
        texts = list(texts) if texts is not None else None
        self.coef_ = np.zeros((len(CODES), X.shape[1]))
        self.intercept_ = np.zeros(len(CODES))
        self.thresholds_ = np.full(len(CODES), 0.5)
        if self.valence_evidence:
            sentence_X, owner = self._check_sentences(X, sentence_X, owner)
        self.valence_coef_ = np.zeros((len(CODES), len(VALENCES),
                                       VX.shape[1] + (sentence_X.shape[1] if self.valence_evidence else 0)))
        self.valence_intercept_ = np.zeros((len(CODES), len(VALENCES)))
        self.valence_prior_ = np.zeros((len(CODES), len(VALENCES)))
        if use_tfidf:
            vec = _tfidf().fit(texts)
            self.tfidf_vocabulary_ = {t: int(i) for t, i in vec.vocabulary_.items()}
            self.tfidf_idf_ = vec.idf_.astype(np.float64)
            self.tfidf_coef_ = np.zeros((len(CODES), len(self.tfidf_idf_)))
            self.tfidf_intercept_ = np.zeros(len(CODES))
            T = vec.transform(texts)
            if self.valence_tfidf:
                self.valence_tfidf_coef_ = np.zeros((len(CODES), len(VALENCES), len(self.tfidf_idf_)))
                self.valence_tfidf_intercept_ = np.zeros((len(CODES), len(VALENCES)))
        n_folds = min(self.threshold_folds, len(np.unique(groups)))
        splits = list(GroupKFold(n_splits=n_folds).split(X, groups=groups)) if n_folds >= 2 else []
        # each threshold fold's TF-IDF (vocabulary from its training part) serves all four codes:
        # the vectoriser does not depend on the labels, and refitting it per code was a third of fit()
        fold_tfidf = [_fold_tfidf(texts, tr, te) if use_tfidf else (None, None) for tr, te in splits]
        for j in range(len(CODES)):
            y = presence[:, j].astype(int)
            if y.min() == y.max():  # a code never (or always) seen: constant
                self.intercept_[j] = 20.0 if y.min() == 1 else -20.0
                continue
            head = logistic_head(self.C, self.balanced).fit(X, y, sample_weight=w)
            self.coef_[j], self.intercept_[j] = head.coef_[0], head.intercept_[0]
            if use_tfidf:
                sh = logistic_head(1.0, self.balanced).fit(T, y, sample_weight=w)
                self.tfidf_coef_[j], self.tfidf_intercept_[j] = sh.coef_[0], sh.intercept_[0]
            if splits:
                oof = np.full(len(y), np.nan)
                for (tr, te), (T_tr, T_te) in zip(splits, fold_tfidf):
                    if y[tr].min() == y[tr].max():
                        continue
                    dense, sparse = self._fit_presence(X[tr], T_tr, y[tr], w[tr])
                    oof[te] = self._fused(dense, sparse, X[te], T_te)
                ok = ~np.isnan(oof)
                if ok.any() and y[ok].min() != y[ok].max():  # tiny sets: every inner split constant
                    self.thresholds_[j] = best_threshold(y[ok], oof[ok])
            VXj = self._with_evidence(VX, sentence_X, owner, j) if self.valence_evidence else VX
            self._fit_valence(j, VXj[y == 1], valence[y == 1, j], w[y == 1])
            if use_tfidf and self.valence_tfidf:
                self._fit_valence(j, T[y == 1], valence[y == 1, j], w[y == 1], sparse=True)
        return self

    def _fit_valence(self, j: int, X, v: np.ndarray, w: np.ndarray, sparse: bool = False) -> None:
        coef, intercept = ((self.valence_tfidf_coef_, self.valence_tfidf_intercept_) if sparse
                           else (self.valence_coef_, self.valence_intercept_))
        if not sparse:
            counts = np.array([(v == s).sum() for s in VALENCES], dtype=float)
            self.valence_prior_[j] = (counts + 1) / (counts.sum() + len(VALENCES))
        present = [k for k, s in enumerate(VALENCES) if (v == s).any()]
        if len(present) < 2:
            return
        head = logistic_head(self.valence_C, self.valence_balanced).fit(X, v, sample_weight=w)
        for cls, c, icpt in zip(head.classes_, *_multiclass(head)):
            k = VALENCES.index(cls)
            coef[j, k], intercept[j, k] = c, icpt
        for k in set(range(len(VALENCES))) - {VALENCES.index(c) for c in head.classes_}:
            intercept[j, k] = -1e3  # a valence never seen in training is never predicted

    @staticmethod
    def _check_sentences(X, sentence_X, owner):
        if sentence_X is None or owner is None:
            raise ValueError("valence_evidence needs the sentences' features (sentence_X) and their passages (owner)")
        sentence_X, owner = np.asarray(sentence_X, dtype=np.float64), np.asarray(owner, dtype=int)
        if len(sentence_X) != len(owner) or sentence_X.shape[1] != np.shape(X)[1]:
            raise ValueError(f"sentence_X {sentence_X.shape} and owner ({len(owner)},) do not match X {np.shape(X)}")
        return sentence_X, owner

    def evidence_rows(self, sentence_X: np.ndarray, owner: np.ndarray, n: int, j: int) -> np.ndarray:
        """Per passage, the index of its sentence that code j's dense head scores highest (-1: none),
        the sentence a coding shows as evidence."""
        return best_sentences(sentence_X @ self.coef_[j], owner, n)

    def _with_evidence(self, VX: np.ndarray, sentence_X: np.ndarray, owner: np.ndarray, j: int) -> np.ndarray:
        rows = self.evidence_rows(sentence_X, owner, len(VX), j)
        E = np.zeros((len(VX), sentence_X.shape[1]))
        E[rows >= 0] = sentence_X[rows[rows >= 0]]  # a passage without sentences reads zeros
        return np.hstack([VX, E])

    # -- prediction ----------------------------------------------------------------------
    def _tfidf_matrix(self, texts: list[str]):
        vec = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, vocabulary=self.tfidf_vocabulary_)
        vec.idf_ = self.tfidf_idf_
        return vec.transform(texts)

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        """Dense-head logits per code, shape (n, 4) (used to rank sentences as evidence)."""
        check_is_fitted(self, "coef_")
        return np.asarray(X, dtype=np.float64) @ self.coef_.T + self.intercept_

    def sentence_scores(self, codebook_X: np.ndarray | None, texts: list[str]) -> np.ndarray:
        """Cheap per-text scores (n, 4) from the parts that need no encoder: the dense heads'
        weights on the trailing codebook features, plus the TF-IDF head's logits."""
        check_is_fitted(self, "coef_")
        z = np.zeros((len(texts), len(CODES)))
        if codebook_X is not None and codebook_X.shape[1]:
            z += codebook_X @ self.coef_[:, -codebook_X.shape[1]:].T
        if getattr(self, "tfidf_coef_", None) is not None and texts:
            z += self.tfidf_weight * np.asarray(self._tfidf_matrix(list(texts)) @ self.tfidf_coef_.T)
        return z

    def predict_proba(self, X: np.ndarray, texts: list[str] | None = None) -> np.ndarray:
        """Presence probability per code, shape (n, 4)."""
        p = 1.0 / (1.0 + np.exp(-self.decision_function(X)))
        if getattr(self, "tfidf_coef_", None) is not None and texts is not None and len(texts):
            z = np.asarray(self._tfidf_matrix(list(texts)) @ self.tfidf_coef_.T) + self.tfidf_intercept_
            p = (p + self.tfidf_weight / (1.0 + np.exp(-z))) / (1 + self.tfidf_weight)
        return p

    def predict(self, X: np.ndarray, texts: list[str] | None = None) -> np.ndarray:
        return (self.predict_proba(X, texts) >= self.thresholds_).astype(int)

    def predict_valence_proba(self, X: np.ndarray, texts: list[str] | None = None,
                              sentence_X: np.ndarray | None = None, owner: np.ndarray | None = None) -> np.ndarray:
        """Valence distribution per code, shape (n, 4, 3) over VALENCES (``texts`` feed the
        TF-IDF valence head when there is one; ``sentence_X`` and ``owner`` the evidence
        sentences, with ``valence_evidence``)."""
        check_is_fitted(self, "coef_")
        X = np.asarray(X, dtype=np.float64)
        if getattr(self, "valence_evidence", False):
            sentence_X, owner = self._check_sentences(X, sentence_X, owner)
            VX = [self._with_evidence(X, sentence_X, owner, j) for j in range(len(CODES))]
        else:
            VX = X
        p = self._valence_softmax(VX, self.valence_coef_, self.valence_intercept_)
        if getattr(self, "valence_tfidf_coef_", None) is not None and texts is not None and len(texts):
            T = self._tfidf_matrix(list(texts))
            pt = self._valence_softmax(T, self.valence_tfidf_coef_, self.valence_tfidf_intercept_)
            p = (p + self.tfidf_weight * pt) / (1 + self.tfidf_weight)
        return p

    def _valence_softmax(self, X, coef: np.ndarray, intercept: np.ndarray) -> np.ndarray:
        """``X``: one feature matrix for every code, or a list of one per code."""
        per_code = X if isinstance(X, list) else [X] * len(CODES)
        z = np.stack([np.asarray(per_code[j] @ coef[j].T) for j in range(len(CODES))], axis=1) + intercept
        trained = np.abs(coef).sum(axis=(1, 2)) > 0
        z = z - z.max(axis=2, keepdims=True)
        p = np.exp(z) / np.exp(z).sum(axis=2, keepdims=True)
        p[:, ~trained] = self.valence_prior_[~trained]
        return p

    # -- persistence: arrays in npz, vocabulary in JSON, nothing executable ----------------
    _ARRAYS = ("coef_", "intercept_", "thresholds_", "valence_coef_", "valence_intercept_", "valence_prior_")
    _TFIDF = ("tfidf_idf_", "tfidf_coef_", "tfidf_intercept_")
    _VALENCE_TFIDF = ("valence_tfidf_coef_", "valence_tfidf_intercept_")
    _VOCABULARY_SIZED = ("tfidf_idf_", "tfidf_coef_", "valence_tfidf_coef_")

    def save(self, directory: Path) -> list[Path]:
        directory.mkdir(parents=True, exist_ok=True)
        arrays = {a: getattr(self, a) for a in self._ARRAYS}
        has_tfidf = getattr(self, "tfidf_coef_", None) is not None
        if has_tfidf:
            arrays.update({a: getattr(self, a) for a in self._TFIDF})
        if getattr(self, "valence_tfidf_coef_", None) is not None:
            arrays.update({a: getattr(self, a) for a in self._VALENCE_TFIDF})
        # the vocabulary-sized arrays in float32: they are most of the file, and float32 changes a
        # probability by about 1e-7; compressed, since a valence head's TF-IDF weights are zero for
        # every term its code's passages lack (5.9 MB -> 3.9 MB for the shipped default)
        arrays = {a: v.astype(np.float32) if a in self._VOCABULARY_SIZED else v for a, v in arrays.items()}
        np.savez_compressed(directory / "heads.npz", **arrays)
        (directory / "heads.json").write_text(json.dumps(
            {**self.get_params(), "codes": list(CODES), "valences": list(VALENCES),
             "tfidf_vocabulary": self.tfidf_vocabulary_ if has_tfidf else None}, indent=1, ensure_ascii=False))
        return [directory / "heads.npz", directory / "heads.json"]

    @classmethod
    def load(cls, directory: Path) -> "CodeHeads":
        params = json.loads((directory / "heads.json").read_text())
        vocabulary = params.pop("tfidf_vocabulary", None)
        if list(params.pop("codes", CODES)) != list(CODES) or list(params.pop("valences", VALENCES)) != list(VALENCES):
            raise ValueError(f"{directory}: model was trained for other codes/valences")
        heads = cls(**{k: v for k, v in params.items() if k in cls().get_params()})
        with np.load(directory / "heads.npz", allow_pickle=False) as data:
            for a in cls._ARRAYS:
                setattr(heads, a, data[a])
            if vocabulary is not None:
                for a in cls._TFIDF:
                    setattr(heads, a, data[a].astype(np.float64))
                heads.tfidf_vocabulary_ = vocabulary
            for a in cls._VALENCE_TFIDF:
                if a in data.files:
                    setattr(heads, a, data[a].astype(np.float64))
        return heads


def best_sentences(scores: np.ndarray, owner: np.ndarray, n: int) -> np.ndarray:
    """Per passage (0..n-1), the index of its highest-scoring sentence (the first on ties; -1: none);
    ``owner`` maps each sentence to its passage. The coder's evidence and the evidence-reading
    valence heads both pick sentences with it, so valence reads the sentence a coding shows."""
    best = np.full(n, -1)
    order = np.lexsort((-np.asarray(scores), owner))  # by passage, best sentence first (stable on ties)
    first = np.ones(len(order), dtype=bool)
    first[1:] = owner[order][1:] != owner[order][:-1]
    best[owner[order][first]] = order[first]
    return best


def _fold_tfidf(texts: list[str], train: np.ndarray, test: np.ndarray):
    """(TF-IDF of the training texts, of the test texts), vocabulary fitted on the training part."""
    vec = _tfidf()
    return vec.fit_transform([texts[i] for i in train]), vec.transform([texts[i] for i in test])


def _multiclass(head: LogisticRegression) -> tuple[np.ndarray, np.ndarray]:
    """Per-class coefficients, also for the binary case sklearn stores as one row."""
    if len(head.classes_) == 2:
        return np.vstack([-head.coef_[0], head.coef_[0]]) / 2, np.array([-head.intercept_[0], head.intercept_[0]]) / 2
    return head.coef_, head.intercept_
