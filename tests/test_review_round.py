"""Learning round: reviewed labels update the model (adapted, or retrained), which re-codes the corpus;
the queue moves on."""
from __future__ import annotations

import json
import shutil
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
from pipeline.review.learning_round import ADAPTATION_FILE, BASE_FILE, QUEUE_FILE, next_model_dir, review_round
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


def _flip_confident(out: Path, n: int) -> list:
    """Answer the ``n`` passages the model is most sure about on NET with the opposite, so the change
    must show."""
    before = read_codings(out)
    session = ReviewSession.open(out, strategy="uncertainty")
    flipped = sorted(before, key=lambda c: -abs(c.codes["NET"].p - 0.5))[:n]
    for c in flipped:
        codes = {k: c.codes[k].valence for k in c.assigned if k != "NET"}
        if "NET" not in c.assigned:
            codes["NET"] = "+"
        session.answer(c.passage.id, codes, "ann")
    session.store.close()
    return flipped


def _moved_toward_answers(before: dict, after: dict, flipped: list) -> float:
    delta = [after[c.passage.id].codes["NET"].p - before[c.passage.id].codes["NET"].p for c in flipped]
    direction = [1 if "NET" not in c.assigned else -1 for c in flipped]
    return float(np.mean(np.sign(delta) == direction))


def _queue_skips_reviewed(out: Path, result: dict, flipped: list, n_passages: int) -> None:
    queue = json.loads((out / QUEUE_FILE).read_text())
    reviewed = {c.passage.id for c in flipped}
    assert queue["reviewed"] == len(flipped) and queue["queued"] == n_passages - len(flipped)
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


def test_fast_round_adapts_recodes_and_requeues(coded):
    out, model_dir = coded
    base_rows = (out / "passages.jsonl").read_text()
    before = {c.passage.id: c for c in read_codings(out)}
    old_version = next(iter(before.values())).model_version
    flipped = _flip_confident(out, 12)

    result = review_round(out, base_model=model_dir)
    assert result["update"] == "adapt" and result["n_labels"] == 12
    assert result["model_version"].startswith(old_version + "+a")
    after = {c.passage.id: c for c in read_codings(out)}
    assert set(after) == set(before)
    assert {c.model_version for c in after.values()} == {result["model_version"]}
    assert _moved_toward_answers(before, after, flipped) == 1.0
    for i in after:  # valences and evidence of kept codes come from the model itself
        assert all(after[i].codes[k].valence == before[i].codes[k].valence for k in after[i].codes)
        assert all(after[i].evidence[k] == before[i].evidence[k] for k in after[i].evidence)
    assert (out / BASE_FILE).read_text() == base_rows

    adapter_dir = Path(result["model_dir"])
    manifest = json.loads((adapter_dir / "manifest.json").read_text())
    assert manifest["version"] == result["model_version"] and manifest["base_model_version"] == old_version
    assert set(manifest["files"]) == {"adapter.npz", "adapter.json"}
    gain = json.loads((out / ADAPTATION_FILE).read_text())
    assert gain["answers"] == 12 and gain["held_back"]["answers"] == 12
    assert -1 <= gain["held_back"]["kappa_before"] <= 1 and -1 <= gain["held_back"]["kappa_after"] <= 1
    from pipeline.review.gain import read_gain

    assert read_gain(out)["held_back"] == gain["held_back"]  # what the review page shows
    _queue_skips_reviewed(out, result, flipped, len(after))

    # the next round adapts the model's own codings again, not the adapted ones: same answers, same result
    again = review_round(out, base_model=model_dir)
    assert again["model_version"] == result["model_version"]
    assert [c.codes for c in read_codings(out)] == [after[i].codes for i in after]


def test_adapted_model_codes_new_text_as_the_round_did(coded, tmp_path):
    """The round's adapter directory is a model: ``intcap code --model-dir OUT/models/round-1`` codes
    with what the reviewer taught, and a second round stacks on it."""
    from intcap.cli import main

    out, model_dir = coded
    _flip_confident(out, 12)
    result = review_round(out, base_model=model_dir)
    after = read_codings(out)
    adapted = load_model(Path(result["model_dir"]))
    assert adapted.version == result["model_version"] and adapted.info["adapted"]["answers"] == 12
    fresh = {c.passage.id: c for c in adapted.code([c.passage for c in after])}
    near = 0
    for c in after:  # the round re-coded from stored probabilities (4 decimals): equal but at the edge
        same = set(fresh[c.passage.id].assigned) == set(c.assigned)
        close = all(abs(fresh[c.passage.id].codes[k].p - c.codes[k].p) < 2e-3 for k in c.codes)
        assert close and (same or near < 1), (c.passage.id, fresh[c.passage.id].codes, c.codes)
        near += not same
    assert any(set(fresh[c.passage.id].assigned) != set(b.assigned)  # and it differs from the base model
               for c, b in zip(after, load_model(model_dir).code([c.passage for c in after])))

    corpus = tmp_path / "new"
    corpus.mkdir()
    (corpus / "firm.txt").write_text("We met our Spanish distributor at a fair in Lyon, and he brought us into "
                                     "Portugal too. Nobody here had exported before, so we learned as we went.\n")
    assert main(["code", str(corpus), "--out", str(tmp_path / "coded"), "--model-dir", result["model_dir"],
                 "--no-prefect"]) == 0
    run = json.loads((tmp_path / "coded" / "run.json").read_text())
    assert {c.model_version for c in read_codings(tmp_path / "coded")} == {result["model_version"]}
    assert result["model_version"] in json.dumps(run)


def test_adapter_files_are_checked_on_load(coded):
    from pipeline.errors import ModelError

    out, model_dir = coded
    _flip_confident(out, 6)
    adapter_dir = Path(review_round(out, base_model=model_dir)["model_dir"])
    other = adapter_dir.parent / "elsewhere"
    shutil.copytree(adapter_dir, other)
    data = bytearray((adapter_dir / "adapter.npz").read_bytes())
    data[-40] ^= 1
    (adapter_dir / "adapter.npz").write_bytes(bytes(data))
    with pytest.raises(ModelError, match="adapter.npz.*hash"):
        load_model(adapter_dir)
    manifest = json.loads((other / "manifest.json").read_text())
    manifest["base_model_dir"] = str(out / "nowhere")
    (other / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelError, match="base model .*nowhere.* missing"):
        load_model(other)


def test_fast_round_needs_the_model_that_coded(coded, tmp_path):
    out, _ = coded
    _flip_confident(out, 3)
    with pytest.raises(IntcapError, match="--base-model"):
        review_round(out, base_model=tmp_path / "elsewhere")


def test_retrain_round_retrains_recodes_and_requeues(coded):
    out, model_dir = coded
    before = {c.passage.id: c for c in read_codings(out)}
    old_version = next(iter(before.values())).model_version
    flipped = _flip_confident(out, 8)

    result = review_round(out, settings=FAST, retrain=True)
    assert result["n_labels"] == 8 and result["model_dir"] == str(out / "models" / "round-1")
    assert result["update"] == "retrain" and result["model_version"] != old_version
    assert next_model_dir(out).name == "round-2"
    after = {c.passage.id: c for c in read_codings(out)}
    assert set(after) == set(before)
    assert {c.model_version for c in after.values()} == {result["model_version"]}
    assert _moved_toward_answers(before, after, flipped) >= 0.75
    assert any(after[i].assigned != before[i].assigned or after[i].codes != before[i].codes for i in after)
    _queue_skips_reviewed(out, result, flipped, len(after))


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

    for name in ("export", "adapt", "train", "recode", "queue"):
        step = getattr(flow_module.STEPS, name)
        assert step.fn is getattr(learning_round.RoundSteps(), name)
    assert flow_module.review_round.name == "review_round"
