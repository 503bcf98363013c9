"""Label-efficiency benchmark mechanics, on small synthetic data (the real run is `intcap review simulate`)."""
from __future__ import annotations

import numpy as np

from pipeline.review.simulate import RidgeHeads, SimSettings, kappa, labels_to_target, simulate


def synthetic(n_firms: int = 6, per_firm: int = 20, seed: int = 0):
    """Four codes, each a noisy linear concept in 16 dimensions; firms shift the features a little."""
    rng = np.random.default_rng(seed)
    w = rng.normal(size=(16, 4))
    X, firms = [], []
    for f in range(n_firms):
        X.append(rng.normal(size=(per_firm, 16)) + rng.normal(scale=0.3, size=16))
        firms += [f"firm{f}"] * per_firm
    X = np.vstack(X)
    Y = ((X @ w + rng.normal(scale=0.5, size=(len(X), 4))) > np.array([0.0, 0.5, 1.5, 2.0])).astype(int)
    X = X / np.linalg.norm(X, axis=1, keepdims=True)
    return X, Y, np.array(firms)


def test_kappa_matches_sklearn():
    from sklearn.metrics import cohen_kappa_score

    rng = np.random.default_rng(1)
    a, b = rng.integers(0, 2, 50), rng.integers(0, 2, 50)
    assert np.isclose(kappa(a, b), cohen_kappa_score(a, b))
    assert kappa(np.ones(5, int), np.ones(5, int)) == 0.0


def test_labels_to_target():
    labels, kappas = [10, 20, 30, 40], [0.1, 0.5, 0.4, 0.52]
    assert labels_to_target(labels, kappas, 0.52, 0.95) == 20
    assert labels_to_target(labels, kappas, 0.52, 0.95, sustained=True) == 40


def test_ridge_heads_learn_a_separable_code():
    X, Y, _ = synthetic()
    heads = RidgeHeads(X @ X.T + 1.0)
    decision = heads.fit_predict(np.arange(60), Y)
    assert kappa(Y[60:, 0], (decision[60:, 0] >= 0).astype(int)) > 0.5
    assert ((heads.proba(decision) >= 0.5) == (decision >= 0)).all()


def test_simulation_reports_curves_for_every_strategy():
    settings = SimSettings(seeds=2, folds=2, batch=10, seed_size=10)
    result = simulate(settings, data=synthetic())
    assert result["labels_total"] == 60.0 and result["seeds"] == [0, 1]
    assert set(result["labels_to_95"]) == {"active", "random", "uncertainty", "diverse"}
    assert result["labels_to_95"]["active"] == result["labels_to_95"]["uncertainty"]
    for name, curve in result["curves"].items():
        assert curve["labels"][0] == 10 and curve["labels"][-1] == 60.0
        assert len(curve["labels"]) == len(curve["kappa"])
    finals = {c["kappa"][-1] for c in result["curves"].values()}
    assert len(finals) == 1  # all labels = the same model for every strategy
    assert 10 <= result["labels_to_95"]["random"] <= 60
    assert len(result["per_seed"]) == 2 and set(result["acceptance"]) == {
        "active_share_of_labels", "random_over_active", "passed"}
