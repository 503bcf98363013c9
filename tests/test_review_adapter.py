"""AnswerAdapter contract: no answers = the model itself; answers pull the model toward them; state
round-trips through npz/JSON."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone

from pipeline.review.adapter import AnswerAdapter, coder_thresholds, held_back_gain, offsets
from pipeline.records import CODES, CodeScore, Coding, Passage

MARKETS = ["Chile", "Poland", "Japan", "Kenya", "Peru", "Spain"]


def corpus(n: int = 240, seed: int = 0):
    """A corpus where the model misses one wording: "the buyer took us along" is NET in this corpus's
    hand coding, and the model's NET probability ignores it."""
    rng = np.random.default_rng(seed)
    pull = rng.random(n) < 0.4
    texts = [("the buyer took us along to " if pulled else "we exported crates to ") + MARKETS[i % 6]
             + f" in year {2000 + i % 17}" for i, pulled in enumerate(pull)]
    presence = rng.uniform(0.2, 0.8, (n, len(CODES)))
    answers = (rng.random((n, len(CODES))) < 0.5).astype(int)
    answers[:, 0] = pull.astype(int)
    return texts, presence, np.full(len(CODES), 0.5), answers


def test_no_answers_reproduce_the_model():
    texts, presence, t, _ = corpus()
    adapter = AnswerAdapter().fit([], presence[:0], t, np.zeros((0, 4), int), corpus_texts=texts)
    assert np.allclose(adapter.predict_proba(texts, presence, t), presence)
    assert (adapter.predict(texts, presence, t) == (presence >= t)).all()


def test_answers_teach_a_wording_the_model_missed():
    texts, presence, t, answers = corpus()
    before = ((presence[120:, 0] >= 0.5) == answers[120:, 0]).mean()
    adapter = AnswerAdapter().fit(texts[:120], presence[:120], t, answers[:120], corpus_texts=texts)
    after = (adapter.predict(texts[120:], presence[120:], t)[:, 0] == answers[120:, 0]).mean()
    assert before < 0.65 and after > 0.95


def test_estimator_contract_and_round_trip(tmp_path):
    texts, presence, t, answers = corpus()
    adapter = AnswerAdapter(C=2.0, C_base=0.5).fit(texts[:60], presence[:60], t, answers[:60], corpus_texts=texts)
    assert clone(adapter).get_params() == {"C": 2.0, "C_base": 0.5, "balanced": True}
    adapter.save(tmp_path)
    again = AnswerAdapter.load(tmp_path)
    assert np.abs(again.predict_proba(texts, presence, t) - adapter.predict_proba(texts, presence, t)).max() < 1e-5
    assert again.get_params() == adapter.get_params()


def test_mismatched_saved_arrays_are_refused(tmp_path):
    texts, presence, t, answers = corpus()
    AnswerAdapter().fit(texts[:60], presence[:60], t, answers[:60], corpus_texts=texts).save(tmp_path)
    with np.load(tmp_path / "adapter.npz") as data:
        arrays = dict(data)
    arrays["coef_"] = arrays["coef_"][:, :3]
    np.savez(tmp_path / "adapter.npz", **arrays)
    with pytest.raises(ValueError, match="do not match"):
        AnswerAdapter.load(tmp_path)


def test_offsets_are_the_models_decision():
    p = np.array([[0.2, 0.31, 0.7, 0.05]])
    t = np.array([0.3, 0.3, 0.7, 0.5])
    assert ((offsets(p, t) >= 0) == (p >= t)).all()


def test_held_back_gain_predicts_each_answer_unseen():
    texts, presence, t, answers = corpus()
    groups = [f"source{i % 12}" for i in range(len(texts))]
    gain = held_back_gain(texts, presence, t, answers, groups, texts)
    assert gain["folds"] == 5 and gain["answers"] == len(texts)
    assert gain["per_code"]["NET"]["after"] > 0.9 > gain["per_code"]["NET"]["before"] + 0.5
    assert held_back_gain(texts[:9], presence[:9], t, answers[:9], groups[:9], texts) is None


def test_thresholds_come_from_each_coder():
    def coding(i, coder, p, assigned):
        return Coding(Passage(str(i), "A", "a.md", 0, 1, "x"), {c: CodeScore(p, "+", {}) for c in CODES},
                      assigned, coder=coder)

    codings = [coding(0, "english", 0.4, []), coding(1, "english", 0.6, list(CODES)),
               coding(2, "multilingual", 0.2, []), coding(3, "multilingual", 0.3, list(CODES))]
    t = coder_thresholds(codings)
    assert np.allclose(t[:2], 0.5) and np.allclose(t[2:], 0.25)
