"""Which passage a reviewer sees next: pluggable query strategies over a pool of codings.

A ``QueryStrategy`` has one method, ``query(pool, unlabeled, labeled, n)``, returning
up to ``n`` indices of ``unlabeled``, most informative first (the small-text contract
without the classifier argument: the pool already carries the model's probabilities).

* ``UncertaintySampling`` - per-code closeness to the decision boundary (margin or
  entropy), summed over the four codes. The boundary is 0.5 of the class-balanced
  presence probability (``boundary="balanced"``, default) or each code's CV threshold
  (``"threshold"``): thresholds chosen on few labels are noisy, and querying around a
  wrong one wastes answers (docs/REVIEW.md has the comparison).
* ``RandomSampling`` - the baseline.
* ``DiverseUncertainty`` - ranked batch-mode selection: uncertainty traded against
  dissimilarity to what was already labelled or picked, and never a near-duplicate
  of the previous passage back to back.
* ``DistinctUncertainty`` - uncertainty order with only the near-duplicate guard
  (the review default).
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer

from pipeline.review.answers import ReviewError
from pipeline.review.corpus import ReviewCorpus

MEASURES = ("margin", "entropy")
#: where a passage is most uncertain: 0.5 of the class-balanced probability, or the code's threshold
BOUNDARIES = ("balanced", "threshold")


def code_uncertainty(presence: np.ndarray, thresholds: np.ndarray, measure: str = "margin") -> np.ndarray:
    """Per-code uncertainty in [0, 1] (1 = exactly at the threshold), shape like ``presence``.

    The probability is first rescaled piecewise-linearly so the threshold maps to 0.5;
    ``margin`` is then 1 - 2|q - 0.5| and ``entropy`` the binary entropy of q in bits.
    """
    if measure not in MEASURES:
        raise ReviewError(f"unknown uncertainty measure {measure!r}; expected one of {', '.join(MEASURES)}")
    p = np.clip(np.asarray(presence, dtype=float), 0.0, 1.0)
    t = np.clip(np.asarray(thresholds, dtype=float), 1e-6, 1 - 1e-6)
    q = np.where(p < t, 0.5 * p / t, 0.5 + 0.5 * (p - t) / (1 - t))
    if measure == "margin":
        return 1.0 - 2.0 * np.abs(q - 0.5)
    q = np.clip(q, 1e-12, 1 - 1e-12)
    return -(q * np.log2(q) + (1 - q) * np.log2(1 - q))


def tfidf_vectors(texts: Sequence[str]) -> sparse.csr_matrix:
    """L2-normalised TF-IDF rows: cheap vectors for spotting near-duplicate passages."""
    if not texts:
        return sparse.csr_matrix((0, 1))
    return TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True).fit_transform(list(texts)).tocsr()


def similarity(a, b) -> np.ndarray:
    """Cosine similarity of L2-normalised rows (dense or sparse), as a dense (len(a), len(b)) array."""
    out = a @ b.T
    return np.asarray(out.toarray() if sparse.issparse(out) else out, dtype=float)


@dataclass
class Pool:
    """Candidates for labelling: presence probabilities, thresholds, optional L2-normalised vectors."""

    presence: np.ndarray
    thresholds: np.ndarray
    vectors: object = None

    def __len__(self) -> int:
        return len(self.presence)

    def informativeness(self, measure: str = "margin", boundary: str = "balanced") -> np.ndarray:
        """Per-passage uncertainty summed across codes, around ``boundary`` (see BOUNDARIES)."""
        if boundary not in BOUNDARIES:
            raise ReviewError(f"unknown decision boundary {boundary!r}; expected one of {', '.join(BOUNDARIES)}")
        at = np.full(self.presence.shape[1], 0.5) if boundary == "balanced" else self.thresholds
        return code_uncertainty(self.presence, at, measure).sum(axis=1)


class QueryStrategy(ABC):
    """Choose what to label next."""

    @abstractmethod
    def query(self, pool: Pool, unlabeled: np.ndarray, labeled: np.ndarray, n: int) -> np.ndarray:
        """Up to ``n`` indices from ``unlabeled``, best first; ``labeled`` is ordered oldest first."""


class RandomSampling(QueryStrategy):
    def __init__(self, seed: int | None = 0):
        self.seed = seed
        self.rng = np.random.default_rng(seed)

    def query(self, pool, unlabeled, labeled, n):
        unlabeled = np.asarray(unlabeled, dtype=int)
        return self.rng.permutation(unlabeled)[:n]


class UncertaintySampling(QueryStrategy):
    def __init__(self, measure: str = "margin", boundary: str = "balanced"):
        self.measure = measure
        self.boundary = boundary

    def query(self, pool, unlabeled, labeled, n):
        unlabeled = np.asarray(unlabeled, dtype=int)
        scores = pool.informativeness(self.measure, self.boundary)[unlabeled]
        return unlabeled[np.argsort(-scores, kind="stable")[:n]]


class DiverseUncertainty(QueryStrategy):
    """Ranked batch-mode sampling (Cardoso et al., 2017) with a near-duplicate guard.

    score = (1 - a) * uncertainty + a * (1 - max similarity to the labelled and already
    picked passages), with ``a = |unlabeled| / (|unlabeled| + |labeled|)`` unless ``alpha``
    is given: diversity first while little is labelled, uncertainty later. A candidate at
    least ``duplicate`` similar to the previous passage is never picked next while any
    other candidate remains. Needs ``pool.vectors``.
    """

    def __init__(self, measure: str = "margin", duplicate: float = 0.8, alpha: float | None = None,
                 memory: int = 1000, boundary: str = "balanced"):
        self.measure = measure
        self.boundary = boundary
        self.duplicate = duplicate
        self.alpha = alpha
        self.memory = memory

    def query(self, pool, unlabeled, labeled, n):
        if pool.vectors is None:
            raise ReviewError("this strategy needs vectors for the pool (embeddings or TF-IDF) to tell near-duplicates; "
                              "found none")
        unlabeled, labeled = np.asarray(unlabeled, dtype=int), np.asarray(labeled, dtype=int)
        if not len(unlabeled):
            return unlabeled
        u = pool.informativeness(self.measure, self.boundary)[unlabeled]
        u = u / max(float(u.max()), 1e-12)
        vectors = pool.vectors[unlabeled]
        alpha = self.alpha if self.alpha is not None else len(unlabeled) / (len(unlabeled) + len(labeled))
        recent = labeled[-self.memory:] if alpha > 0 else labeled[:0]  # at alpha 0 the similarity term is unused
        sim = similarity(vectors, pool.vectors[recent]).max(axis=1) if len(recent) else np.zeros(len(unlabeled))
        previous = similarity(vectors, pool.vectors[labeled[-1:]])[:, 0] if len(labeled) else None
        picked: list[int] = []
        taken = np.zeros(len(unlabeled), dtype=bool)
        for _ in range(min(n, len(unlabeled))):
            score = (1 - alpha) * u + alpha * (1 - np.clip(sim, 0, 1))
            if previous is not None:
                score = score - 10.0 * (previous >= self.duplicate)  # behind every non-duplicate
            score[taken] = -np.inf
            best = int(np.argmax(score))
            picked.append(best)
            taken[best] = True
            previous = similarity(vectors, vectors[best:best + 1])[:, 0]
            sim = np.maximum(sim, previous)
        return unlabeled[picked]


class DistinctUncertainty(DiverseUncertainty):
    """Uncertainty order, except that a near-duplicate of the previous passage is never next.

    ``DiverseUncertainty`` with its similarity term off (alpha = 0): in the benchmark the
    ranked-batch term costs labels while little is labelled, the duplicate guard costs
    none (docs/REVIEW.md).
    """

    def __init__(self, measure: str = "margin", duplicate: float = 0.8, memory: int = 1000,
                 boundary: str = "balanced"):
        super().__init__(measure, duplicate=duplicate, alpha=0.0, memory=memory, boundary=boundary)


STRATEGIES = {"distinct": DistinctUncertainty, "diverse": DiverseUncertainty, "uncertainty": UncertaintySampling,
              "random": RandomSampling}


def make_strategy(name: str, **kwargs) -> QueryStrategy:
    if name not in STRATEGIES:
        raise ReviewError(f"unknown query strategy {name!r}; expected one of {', '.join(STRATEGIES)}")
    return STRATEGIES[name](**kwargs)


class ReviewQueue:
    """A corpus's passages ranked by a strategy; reviewed passages leave the queue."""

    def __init__(self, corpus: ReviewCorpus, strategy: QueryStrategy | None = None, vectors=None):
        self.corpus = corpus
        self.strategy = strategy or DistinctUncertainty()
        vectors = vectors if vectors is not None else tfidf_vectors([c.passage.text for c in corpus.codings])
        self.pool = Pool(corpus.presence(), corpus.thresholds, vectors)

    def _indices(self, ids: Iterable[str]) -> list[int]:
        return [self.corpus.index[i] for i in ids if i in self.corpus.index]

    def pending(self, reviewed: Iterable[str], exclude: Iterable[str] = ()) -> np.ndarray:
        gone = set(self._indices(reviewed)) | set(self._indices(exclude))
        return np.array([i for i in range(len(self.corpus)) if i not in gone], dtype=int)

    def next_ids(self, reviewed: Sequence[str], exclude: Iterable[str] = (), n: int = 1,
                 recent: Sequence[str] = ()) -> list[str]:
        """The next ``n`` passage ids; ``reviewed`` (oldest first) and ``exclude`` are left out.

        ``recent`` (e.g. skipped passages, in the order seen) count as already seen for diversity.
        """
        seen = self._indices(list(reviewed) + [r for r in recent if r not in set(reviewed)])
        picks = self.strategy.query(self.pool, self.pending(reviewed, exclude), np.array(seen, dtype=int), n)
        return [self.corpus.codings[int(i)].passage.id for i in picks]

    def ranking(self, reviewed: Sequence[str] = (), n: int | None = None) -> list[dict]:
        """The queue in order with each passage's per-code uncertainty (for review_queue.json)."""
        pending = self.pending(reviewed)
        order = self.strategy.query(self.pool, pending, np.array(self._indices(reviewed), dtype=int),
                                    len(pending) if n is None else n)
        scores = self.pool.informativeness(getattr(self.strategy, "measure", "margin"),
                                           getattr(self.strategy, "boundary", "balanced"))
        return [{"id": self.corpus.codings[int(i)].passage.id, "uncertainty": round(float(scores[i]), 4)}
                for i in order]
