"""Queue: uncertainty ordering around each code's threshold, diversity, reviewed passages leave."""
from __future__ import annotations

import numpy as np
import pytest

from pipeline.outputs import read_codings
from pipeline.review.answers import ReviewError
from pipeline.review.corpus import ReviewCorpus, infer_thresholds
from pipeline.review.queue import (DistinctUncertainty, DiverseUncertainty, Pool, RandomSampling, ReviewQueue,
                                   UncertaintySampling, code_uncertainty, make_strategy, similarity, tfidf_vectors)
from pipeline.review.store import LabelStore
from test_review_support import coding_row, small_out_dir, write_out_dir


def test_uncertainty_is_highest_at_each_codes_threshold():
    thresholds = np.array([0.5, 0.3, 0.7, 0.5])
    presence = np.array([[0.5, 0.3, 0.7, 0.5], [0.9, 0.9, 0.1, 0.1], [0.4, 0.35, 0.65, 0.45]])
    for measure in ("margin", "entropy"):
        u = code_uncertainty(presence, thresholds, measure)
        assert np.allclose(u[0], 1.0)
        assert (u[2] > u[1]).all() and (u >= 0).all() and (u <= 1).all()
    # same distance in probability counts for more on the narrow side of an off-centre threshold
    u = code_uncertainty(np.array([[0.2, 0.2, 0.2, 0.2], [0.4, 0.4, 0.4, 0.4]]), np.full(4, 0.3))
    assert u[0, 0] < u[1, 0]
    with pytest.raises(ReviewError, match="expected one of margin, entropy"):
        code_uncertainty(presence, thresholds, "variance")


def test_uncertainty_sampling_orders_by_summed_uncertainty():
    presence = np.array([[0.95, 0.05, 0.9, 0.1],    # confident everywhere
                         [0.5, 0.5, 0.5, 0.5],      # at every threshold
                         [0.6, 0.1, 0.9, 0.05],     # near on one code
                         [0.55, 0.45, 0.6, 0.4]])   # near on all codes
    pool = Pool(presence, np.full(4, 0.5))
    order = UncertaintySampling().query(pool, np.arange(4), np.array([], dtype=int), 4)
    assert order.tolist() == [1, 3, 2, 0]
    assert UncertaintySampling().query(pool, np.array([0, 2]), np.array([1]), 5).tolist() == [2, 0]


def test_random_sampling_is_a_seeded_permutation():
    pool = Pool(np.zeros((10, 4)), np.full(4, 0.5))
    a = RandomSampling(3).query(pool, np.arange(10), np.array([], dtype=int), 10)
    b = RandomSampling(3).query(pool, np.arange(10), np.array([], dtype=int), 10)
    assert sorted(a.tolist()) == list(range(10)) and a.tolist() == b.tolist()


def near_duplicate_pool():
    """Three topics, each as a near-duplicate pair; the pairs are the most uncertain passages."""
    texts = ["Our distributor network in Germany opened the market for us quickly.",
             "Our distributor network in Germany opened the market for us very quickly.",
             "The founder took big risks entering the Chinese market alone.",
             "The founder took big risks entering the Chinese market all alone.",
             "We learned the regulations by hiring a consultant in Boston.",
             "We learned the regulations by hiring a consultant in Boston, USA.",
             "Quality control was handled at the Danish headquarters."]
    presence = np.array([[0.50, 0.5, 0.5, 0.5], [0.51, 0.5, 0.5, 0.5], [0.52, 0.5, 0.5, 0.5],
                         [0.53, 0.5, 0.5, 0.5], [0.56, 0.5, 0.5, 0.5], [0.57, 0.5, 0.5, 0.5],
                         [0.95, 0.05, 0.05, 0.05]])
    return texts, Pool(presence, np.full(4, 0.5), tfidf_vectors(texts))


def test_diverse_strategy_never_shows_near_duplicates_back_to_back():
    texts, pool = near_duplicate_pool()
    sims = similarity(pool.vectors, pool.vectors)
    assert min(sims[0, 1], sims[2, 3], sims[4, 5]) > 0.8 and sims[0, 2] < 0.5
    plain = UncertaintySampling().query(pool, np.arange(7), np.array([], dtype=int), 6).tolist()
    assert plain[:2] == [0, 1]  # uncertainty alone would show a pair back to back
    for labeled in ([], [0]):
        unlabeled = np.array([i for i in range(7) if i not in labeled])
        order = DiverseUncertainty().query(pool, unlabeled, np.array(labeled, dtype=int), len(unlabeled)).tolist()
        sequence = labeled + order
        assert sorted(order) == unlabeled.tolist()
        for a, b in zip(sequence, sequence[1:]):
            assert sims[a, b] < 0.8, f"near-duplicates {a} and {b} back to back in {sequence}"
    # one pick at a time, as the review page asks for them, with the last reviewed passage as context
    shown: list[int] = []
    while len(shown) < 7:
        rest = np.array([i for i in range(7) if i not in shown])
        shown += DiverseUncertainty().query(pool, rest, np.array(shown, dtype=int), 1).tolist()
    assert all(sims[a, b] < 0.8 for a, b in zip(shown, shown[1:])), shown
    with pytest.raises(ReviewError, match="needs vectors"):
        DiverseUncertainty().query(Pool(pool.presence, pool.thresholds), np.arange(7), np.array([], dtype=int), 1)


def test_distinct_strategy_keeps_uncertainty_order_but_splits_near_duplicates():
    texts, pool = near_duplicate_pool()
    sims = similarity(pool.vectors, pool.vectors)
    plain = UncertaintySampling().query(pool, np.arange(7), np.array([], dtype=int), 7).tolist()
    order = DistinctUncertainty().query(pool, np.arange(7), np.array([], dtype=int), 7).tolist()
    assert plain == [0, 1, 2, 3, 4, 5, 6]
    assert all(sims[a, b] < 0.8 for a, b in zip(order, order[1:])), order
    # the most uncertain remaining passage unless it repeats the previous one; only when
    # nothing else is left does the confident passage 6 come before 5, the twin of 4
    assert order == [0, 2, 1, 3, 4, 6, 5]
    assert isinstance(make_strategy("distinct"), DistinctUncertainty)


def test_make_strategy_names_the_choices():
    assert isinstance(make_strategy("diverse"), DiverseUncertainty)
    with pytest.raises(ReviewError, match="expected one of distinct, diverse, uncertainty, random"):
        make_strategy("bald")


def test_thresholds_are_recovered_from_the_codings(tmp_path):
    out = small_out_dir(tmp_path / "out", companies=2)
    codings = read_codings(out)
    t = infer_thresholds(codings)
    for j, code in enumerate(("NET", "ENT", "ABS", "PRI")):
        for c in codings:
            assert (c.codes[code].p >= t[j]) == (code in c.assigned)


def test_reviewed_passages_leave_the_queue(tmp_path):
    texts = [("dup-a", "Our distributor network in Germany opened the market for us quickly."),
             ("dup-b", "Our distributor network in Germany opened the market for us very quickly.")]
    out = small_out_dir(tmp_path / "out", companies=2, extra=texts)
    corpus = ReviewCorpus.load(out)
    queue = ReviewQueue(corpus, UncertaintySampling())
    first = queue.next_ids([], n=5)
    assert len(first) == 5 and len(set(first)) == 5
    store = LabelStore.open(out)
    for pid in first[:3]:
        store.record(corpus.name, corpus.get(pid), {}, "ann")
    reviewed = store.reviewed_ids(corpus.name)
    store.close()
    assert reviewed == first[:3]
    after = queue.next_ids(reviewed, n=len(corpus))
    assert not set(after) & set(reviewed) and len(after) == len(corpus) - 3
    assert after[:2] == first[3:5]  # the rest of the order is unchanged
    assert queue.next_ids(reviewed, exclude=[after[0]], n=1) == [after[1]]
    ranking = queue.ranking(reviewed)
    assert [r["id"] for r in ranking] == after and ranking[0]["uncertainty"] >= ranking[-1]["uncertainty"]


def test_context_and_evidence_offsets(tmp_path):
    rows = [coding_row("s-1", "F", "f.md", 0, "First passage. More.", {"NET": "+"}),
            coding_row("s-2", "F", "f.md", 22, "Second one here. And more.", {"ENT": "-"}),
            coding_row("t-1", "G", "g.md", 0, "Other source.", {})]
    rows[1]["evidence"] = {"ENT": [22 + 7, 22 + 15], "NET": [0, 5]}  # the second span lies outside the passage
    corpus = ReviewCorpus.load(write_out_dir(tmp_path / "out", rows))
    prev, nxt = corpus.neighbours(1)
    assert prev.passage.id == "s-1" and nxt is None
    assert corpus.neighbours(2) == (None, None)
    assert corpus.evidence_spans(1) == [{"code": "ENT", "start": 7, "end": 15}]
    assert "Second one here. And more."[7:15] == "one here"


def test_uncertainty_boundary_is_the_balanced_half_by_default_or_each_codes_threshold():
    # thresholds chosen on few labels are noisy: by default a passage is most uncertain
    # at 0.5 of the class-balanced probability, not at the code's threshold
    thresholds = np.full(4, 0.3)
    presence = np.array([[0.3, 0.3, 0.3, 0.3], [0.5, 0.5, 0.5, 0.5]])
    pool = Pool(presence, thresholds)
    none = np.array([], dtype=int)
    assert UncertaintySampling().query(pool, np.arange(2), none, 2).tolist() == [1, 0]
    assert UncertaintySampling(boundary="threshold").query(pool, np.arange(2), none, 2).tolist() == [0, 1]
    assert pool.informativeness(boundary="threshold")[0] == pytest.approx(4.0)  # at all four thresholds
    assert pool.informativeness()[1] == pytest.approx(4.0)
    with pytest.raises(ReviewError, match="expected one of balanced, threshold"):
        UncertaintySampling(boundary="middle").query(pool, np.arange(2), none, 1)
