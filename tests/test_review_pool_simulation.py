"""Review replayed on a new hand-coded pool (`intcap review simulate --pool`): the protocol's invariants,
on a fast real model (hashing encoder, trained on the thesis) and a slice of the dev set."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pipeline import paths
from pipeline.coder import CoderSettings
from pipeline.errors import IntcapError
from pipeline.review.pool_simulation import PoolSimSettings, load_pool, prepare_pool, simulate_pool
from pipeline.train import train_model
from test_review_support import HASH_ENCODER


@pytest.fixture(scope="module")
def model_and_pool(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("poolsim")
    model = tmp / "model"
    train_model(model, settings=CoderSettings(encoder=HASH_ENCODER, threshold_folds=2, training_corpus=False,
                                              multilingual=""))
    rows = [json.loads(x) for x in (paths.ROOT / "corpus" / "dev" / "d1.jsonl").read_text().splitlines()[:120]]
    pool = tmp / "pool.jsonl"
    pool.write_text("".join(json.dumps({k: r[k] for k in ("id", "company", "text", "codes")}) + "\n" for r in rows))
    return model, pool


def test_replay_reports_what_the_issue_asks(model_and_pool):
    model, pool = model_and_pool
    settings = PoolSimSettings(seeds=2, batch=10, checkpoints=(50,), jobs=1)
    result = simulate_pool(pool, model, settings)
    assert result["pool"] == str(pool.resolve()) and result["seeds"] == [0, 1]
    for key in ("active", "random", "diverse"):
        assert isinstance(result["gain_after"]["50"][key], float)
        assert 0 < result["labels_to_95"][key] <= result["labels_total"]
    for row in result["per_seed"]:
        assert row["labels_total"] + row["held_out_passages"] == 120
        curves = row["curves"]
        # every order starts at the shipped model and ends at the same all-answers model
        assert len({c["kappa"][0] for c in curves.values()}) == 1 == len({c["kappa"][-1] for c in curves.values()})
        assert all(c["labels"][0] == 0 and c["labels"][-1] == row["labels_total"] for c in curves.values())
        assert all(np.all(np.diff(c["labels"]) <= 10) for c in curves.values())
        assert curves["random"]["kappa"] != curves["uncertainty"]["kappa"]
    # the seeds split the firms differently
    assert result["per_seed"][0]["curves"]["random"] != result["per_seed"][1]["curves"]["random"]
    assert result["curves"]["uncertainty"]["labels"][-1] == result["labels_total"]


def test_start_is_the_models_own_agreement(model_and_pool):
    """Point 0 of every curve is the shipped model's kappa on the held-out firms, computed here directly."""
    from pipeline.classify import kappa
    from pipeline.examples import label_matrices
    from pipeline.records import CODES

    model, pool = model_and_pool
    data = prepare_pool(pool, model)
    result = simulate_pool(pool, model, PoolSimSettings(seeds=1, strategies=("random",), jobs=1), data=data)
    examples = load_pool(pool)
    rng = np.random.default_rng(0)
    companies = rng.permutation(np.unique([e.company for e in examples]))
    held = set(companies[:round(len(companies) / 3)])
    test = [i for i, e in enumerate(examples) if e.company in held]
    Y = label_matrices(examples)[0][test]
    assigned = data.arrays["o"][test] >= 0
    expected = np.mean([kappa(Y[:, j], assigned[:, j]) for j in range(len(CODES))])
    assert result["per_seed"][0]["start_kappa"] == pytest.approx(expected, abs=1e-4)


def test_bad_pools_are_named(tmp_path):
    with pytest.raises(IntcapError, match="no hand-coded JSONL pool"):
        load_pool(tmp_path / "missing")
    few = tmp_path / "few.jsonl"
    few.write_text(json.dumps({"id": "a", "company": "A", "text": "x", "codes": {}}) + "\n")
    with pytest.raises(IntcapError, match="at least 4"):
        load_pool(few)


def test_cli_writes_the_json(model_and_pool, tmp_path):
    from intcap.cli import main

    model, pool = model_and_pool
    out = tmp_path / "sim.json"
    assert main(["review", "simulate", "--pool", str(pool), "--model-dir", str(model), "--seeds", "1",
                 "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert {"pool", "labels_total", "gain_after", "labels_to_95", "seeds", "curves"} <= set(result)
    assert Path(result["pool"]) == pool.resolve()
