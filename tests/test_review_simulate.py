"""Label-efficiency benchmark mechanics, on small synthetic data (the real run is `intcap review simulate`)."""
from __future__ import annotations

import numpy as np

from pipeline.review.simulate import ShippedHeads, SimSettings, kappa, labels_to_target, mean_kappa, simulate

WORDS = ["network", "partner", "market", "entry", "analysis", "learning", "experience", "history", "the", "firm"]


def synthetic(n_firms: int = 6, per_firm: int = 20, seed: int = 0):
    """Four codes, each a noisy linear concept in 16 dimensions; firms shift the features a little.
    Texts name the words of the two strongest dimensions (for the TF-IDF head)."""
    rng = np.random.default_rng(seed)
    w = rng.normal(size=(16, 4))
    X, firms = [], []
    for f in range(n_firms):
        X.append(rng.normal(size=(per_firm, 16)) + rng.normal(scale=0.3, size=16))
        firms += [f"firm{f}"] * per_firm
    X = np.vstack(X)
    Y = ((X @ w + rng.normal(scale=0.5, size=(len(X), 4))) > np.array([0.0, 0.5, 1.5, 2.0])).astype(int)
    texts = [" ".join(WORDS[k % len(WORDS)] for k in np.argsort(-x)[:3]) + " and so on" for x in X]
    X = X / np.linalg.norm(X, axis=1, keepdims=True)
    return X, Y, np.array(firms), texts


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


def test_heads_are_the_shipped_code_heads():
    """The benchmark's fast refit gives the shipped CodeHeads' probabilities and CV thresholds."""
    from pipeline.classify import CodeHeads

    X, Y, firms, texts = synthetic()
    train = np.arange(80)
    proba, thresholds = ShippedHeads(X, texts, firms).fit_predict(train, Y)
    shipped = CodeHeads(4.0, True, 5, 1.0).fit(X[train], Y[train], np.full(Y[train].shape, ""), firms[train],
                                               texts=[texts[i] for i in train])
    assert np.allclose(thresholds, shipped.thresholds_)
    assert np.allclose(proba, shipped.predict_proba(X, texts), atol=1e-4)
    assert mean_kappa(Y[80:], proba[80:], thresholds) > 0.3


def test_simulation_reports_curves():
    settings = SimSettings(seeds=2, folds=2, batch=10, seed_size=10, others=("diverse",), jobs=1)
    X, Y, firms, _ = synthetic()
    result = simulate(settings, data=(X, Y, firms))  # dense head only: fast
    assert result["labels_total"] == 60.0 and result["seeds"] == [0, 1]
    assert set(result["labels_to_95"]) == {"active", "random", "uncertainty", "diverse"}
    assert result["labels_to_95"]["active"] == result["labels_to_95"]["uncertainty"]
    for name in ("active", "random"):
        assert 10 <= result["labels_to_95"][name] <= result["labels_total"]
    for name, curve in result["curves"].items():
        labels, kappas = curve["labels"], curve["kappa"]
        assert labels[0] == 10 and labels[-1] == 60.0 and len(labels) == len(kappas)
        assert all(a < b for a, b in zip(labels, labels[1:]))
        assert all(-1.0 <= k <= 1.0 for k in kappas)
    finals = {c["kappa"][-1] for c in result["curves"].values()}
    assert len(finals) == 1 and finals == {result["all_labels_kappa"]}  # all labels: one model for everyone
    assert result["curves"]["random"]["kappa"][0] == result["curves"]["uncertainty"]["kappa"][0]  # same seed set
    assert len(result["per_seed"]) == 2 and set(result["acceptance"]) == {
        "active_share_of_labels", "random_over_active", "passed", "of_mean_curve"}
    # read off the seed-averaged curve: the first label count at 95% of the all-labels kappa
    curve = result["curves"]["random"]
    goal = 0.95 * result["all_labels_kappa"]
    first = next(n for n, k in zip(curve["labels"], curve["kappa"]) if k >= goal)
    assert result["labels_to_95_of_mean_curve"]["random"] == first


def test_a_development_seed_range_is_disjoint_from_the_reported_one():
    settings = SimSettings(seeds=1, first_seed=10, folds=2, batch=20, seed_size=10, jobs=1)
    X, Y, firms, _ = synthetic()
    result = simulate(settings, data=(X, Y, firms))
    assert result["seeds"] == [10] and result["per_seed"][0]["seed"] == 10


def test_learner_is_handed_the_unlabelled_pool():
    """A semi-supervised learner (``heads_class``) gets exactly the pool rows still without a label."""
    calls = []

    class Recording(ShippedHeads):
        def fit_predict(self, labeled, Y, unlabeled=None):
            calls.append((set(map(int, labeled)), None if unlabeled is None else set(map(int, unlabeled))))
            return super().fit_predict(labeled, Y, unlabeled)

    X, Y, firms, _ = synthetic()
    simulate(SimSettings(seeds=1, folds=2, batch=10, seed_size=10, jobs=1), data=(X, Y, firms), heads_class=Recording)
    steps = [(lab, unl) for lab, unl in calls if unl is not None]
    assert steps and all(len(lab) + len(unl) == 60 and not lab & unl for lab, unl in steps)  # pool = 3 firms x 20
    assert {len(lab) for lab, _ in steps} == {10, 20, 30, 40, 50}


def test_pseudo_labels_that_equal_the_truth_train_like_labels():
    """Extra rows at weight 1 with the true labels give the heads fitted on all rows."""
    X, Y, firms, texts = synthetic()
    heads = ShippedHeads(X, texts, firms)
    labeled, rest = np.arange(60), np.arange(60, 120)
    with_extra, _ = heads._fit_predict(labeled, Y, [(rest, Y[rest, j]) for j in range(Y.shape[1])], 1.0)
    everything, _ = heads._fit_predict(np.arange(120), Y)
    only_labels, _ = heads._fit_predict(labeled, Y)
    assert np.allclose(with_extra, everything, atol=1e-4)
    assert not np.allclose(with_extra, only_labels, atol=1e-2)
