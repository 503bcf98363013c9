"""Learning round: reviewed labels retrain the model, which re-codes the corpus; the queue moves on."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pipeline.coder import CoderSettings
from pipeline.errors import IntcapError
from pipeline.examples import load_examples
from pipeline.modeldir import load_model
from pipeline import paths
from pipeline.outputs import PassageWriter, read_codings
from pipeline.records import Passage
from pipeline.review.learning_round import QUEUE_FILE, next_model_dir, review_round
from pipeline.review.session import ReviewSession, Visit
from pipeline.train import train_model
from test_review_support import HASH_ENCODER

FAST = CoderSettings(encoder=HASH_ENCODER, threshold_folds=2, training_corpus=False)


@pytest.fixture()
def coded(tmp_path) -> tuple[Path, Path]:
    """OUT_DIR coded by a (fast, real) model trained on the thesis; passage ids are the thesis ids."""
    model_dir = tmp_path / "model-0"
    train_model(model_dir, settings=FAST)
    coder = load_model(model_dir)
    examples = load_examples(paths.CODED_PASSAGES)[:60]
    passages, start = [], 0
    for e in examples:
        passages.append(Passage(e.id, e.company, f"{e.company}.md", start, start + len(e.text), e.text))
        start += len(e.text) + 2
    out = tmp_path / "out"
    writer = PassageWriter(out)
    writer.write(coder.code(passages))
    writer.close()
    return out, model_dir


def test_round_retrains_recodes_and_requeues(coded, tmp_path):
    out, model_dir = coded
    before = {c.passage.id: c for c in read_codings(out)}
    old_version = next(iter(before.values())).model_version
    session = ReviewSession.open(out, strategy="uncertainty")
    # flip NET on the passages the model is most sure about, so the change must show
    flipped = sorted(before.values(), key=lambda c: -abs(c.codes["NET"].p - 0.5))[:8]
    for c in flipped:
        codes = {k: c.codes[k].valence for k in c.assigned if k != "NET"}
        if "NET" not in c.assigned:
            codes["NET"] = "+"
        session.answer(c.passage.id, codes, "ann")
    session.store.close()

    result = review_round(out, settings=FAST)
    assert result["n_labels"] == 8 and result["model_dir"] == str(out / "models" / "round-1")
    assert result["model_version"] != old_version
    assert next_model_dir(out).name == "round-2"
    after = {c.passage.id: c for c in read_codings(out)}
    assert set(after) == set(before)
    assert {c.model_version for c in after.values()} == {result["model_version"]}
    delta = [after[c.passage.id].codes["NET"].p - before[c.passage.id].codes["NET"].p for c in flipped]
    direction = [1 if "NET" not in c.assigned else -1 for c in flipped]
    assert np.mean(np.sign(delta) == direction) >= 0.75, (delta, direction)  # moved towards the reviewed labels
    assert any(after[i].assigned != before[i].assigned or after[i].codes != before[i].codes for i in after)

    queue = json.loads((out / QUEUE_FILE).read_text())
    reviewed = {c.passage.id for c in flipped}
    assert queue["reviewed"] == 8 and queue["queued"] == len(after) - 8
    assert queue["model_version"] == result["model_version"]
    assert not reviewed & {r["id"] for r in queue["top"]}
    fresh = ReviewSession.open(out, strategy="diverse")
    seen = set()
    visit = Visit()
    for _ in range(5):
        coding = fresh.next_coding(visit)
        seen.add(coding.passage.id)
        fresh.skip(coding.passage.id, visit)
    assert not seen & reviewed
    fresh.store.close()


def test_round_without_labels_says_what_to_do(coded):
    out, _ = coded
    with pytest.raises(IntcapError, match="Review some passages first"):
        review_round(out, settings=FAST)


def test_review_round_flow_wraps_the_same_steps():
    pytest.importorskip("prefect")
    from flows.prefect_env import configure_offline

    configure_offline()
    from flows import review_round as flow_module
    from pipeline.review import learning_round

    for name in ("export", "train", "recode", "queue"):
        step = getattr(flow_module.STEPS, name)
        assert step.fn is getattr(learning_round.RoundSteps(), name)
    assert flow_module.review_round.name == "review_round"
