"""Metric code on a tiny hand-made case with known answers (no encoder, no full run)."""
from __future__ import annotations

import numpy as np
import pytest

from pipeline.candidates import Predictions
from pipeline.evaluate import coding_metrics, gold_codings, loco, rating_levels, select_strength_norm
from pipeline.examples import Example
from pipeline.profile import ProfileSettings


def ex(i, company, codes):
    return Example(f"e{i}", company, f"text {i}", codes)


EXAMPLES = [ex(0, "A", {"NET": "+"}), ex(1, "A", {"NET": "-", "ENT": "+"}), ex(2, "B", {}), ex(3, "B", {"ABS": "0"})]


def onehot(labels):
    v = np.zeros((len(labels), 4, 3))
    for i, row in enumerate(labels):
        for j, s in enumerate(row):
            v[i, j, "+-0".index(s)] = 1
    return v


def test_kappa_f1_valence_known():
    # NET gold 1,1,0,0 vs pred 1,0,0,0: po=.75, pe=.5 -> kappa .5; F1 = 2/3
    assigned = np.array([[1, 1, 0, 0], [0, 1, 0, 0], [0, 0, 0, 0], [0, 0, 1, 0]])
    valence = onehot(["++++", "-+++", "++++", "++0+"])  # all three gold valences right: NET+, NET-, ENT+, ABS0
    m = coding_metrics(EXAMPLES, Predictions(assigned.astype(float), assigned, valence))
    assert m["kappa"]["NET"] == pytest.approx(0.5)
    assert m["f1"]["NET"] == pytest.approx(2 / 3, abs=1e-4)
    # ENT gold 0,1,0,0 vs pred 1,1,0,0: po=.75, p1=.25, p2=.5, pe=.5 -> .5
    assert m["kappa"]["ENT"] == pytest.approx(0.5)
    assert m["kappa"]["ABS"] == pytest.approx(1.0)
    assert m["kappa"]["PRI"] == pytest.approx(0.0)  # never present, never predicted
    assert m["mean_kappa"] == pytest.approx((0.5 + 0.5 + 1.0 + 0.0) / 4)
    assert m["valence_accuracy"] == pytest.approx(1.0)
    wrong = onehot(["-+++", "++++", "++++", "+++0"])
    m2 = coding_metrics(EXAMPLES, Predictions(assigned.astype(float), assigned, wrong))
    assert m2["valence_accuracy"] == pytest.approx(1 / 4)  # only ENT+ of e1 right


class Memoriser:
    """Predicts, for a held-out firm, the codes seen most in training (checks fold isolation)."""

    name = "memo"

    def fit(self, examples):
        self.seen_ = {e.company for e in examples}
        return self

    def predict(self, examples):
        assert not self.seen_ & {e.company for e in examples}, "held-out firm leaked into training"
        n = len(examples)
        return Predictions(np.zeros((n, 4)), np.zeros((n, 4), dtype=int), np.full((n, 4, 3), 1 / 3))


def test_loco_holds_out_each_company():
    pred, _ = loco(Memoriser(), EXAMPLES)
    assert pred.assigned.shape == (4, 4)


def test_strength_norm_selection_prefers_ranking_fit():
    gold = gold_codings(EXAMPLES)
    levels = rating_levels({"A": {"p3_network_knowledge": 1, "p4_network_establishment": 0,
                                  "p5_entrepreneurial_routines": 1, "p6_entrepreneurial_activity": 1},
                            "B": {"p3_network_knowledge": 0, "p4_network_establishment": 0,
                                  "p5_entrepreneurial_routines": 0, "p6_entrepreneurial_activity": 0}})
    assert levels == {"A": {"NET": 1, "ENT": 2}, "B": {"NET": 0, "ENT": 0}}
    assert select_strength_norm(gold, levels, ProfileSettings()) in ("share", "sqrt", "count")


def test_cluster_bootstrap_interval_brackets_the_estimate_and_resamples_companies():
    from pipeline.agreement import cluster_bootstrap_kappa
    from pipeline.classify import kappa

    rng = np.random.default_rng(1)
    gold = (rng.random((200, 4)) < 0.3).astype(int)
    pred = np.where(rng.random((200, 4)) < 0.85, gold, 1 - gold)
    groups = [f"firm{i // 10}" for i in range(200)]
    ci = cluster_bootstrap_kappa(gold, pred, groups, n_boot=300)
    for j, code in enumerate(("NET", "ENT", "ABS", "PRI")):
        k = kappa(gold[:, j], pred[:, j])
        assert ci["kappa"][code][0] <= k <= ci["kappa"][code][1]
    assert ci["mean_kappa"][0] < ci["mean_kappa"][1]
    perfect = cluster_bootstrap_kappa(gold, gold, groups, n_boot=50)
    assert perfect["mean_kappa"] == [1.0, 1.0]
    one_firm = cluster_bootstrap_kappa(gold[:10], pred[:10], groups[:10], n_boot=50)
    assert "over 1 companies" in one_firm["method"]
