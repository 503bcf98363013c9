"""Grouped cross-validation on a researcher's own coding (pipeline/user_evaluation.py, `intcap evaluate --examples`).

Real fits use the weight-free hashing.v1 encoder on small data; the claim that the user path
reproduces the thesis leave-one-company-out is checked twice: the training sets of every fold
are the same lists in the same order (no fitting, full thesis and written corpus), and with the
hashing coder on a few firms the two paths give the same predictions and figures.
"""
from __future__ import annotations

import json
import zipfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from intcap.cli import main
from pipeline import corpus, paths
from pipeline.candidates import Predictions
from pipeline.coder import CoderSettings
from pipeline.evaluate import coding_metrics, loco_pool, memo_factory, shipped_candidate
from pipeline.examples import load_examples
from pipeline.records import CODES
from pipeline.train import augment_examples
from pipeline.user_evaluation import (UserData, cross_validate, grouped_folds, learning_curve, load_user_data,
                                      run_user_evaluation, training_extras, user_metrics)

FIXTURES = Path(__file__).resolve().parent / "fixtures"
USER = FIXTURES / "agreement" / "user_coded.jsonl"
HASHING = replace(CoderSettings(), encoder="hashing.v1")


class Recorder:
    """Records what every fold trains on and codes; predicts nothing."""

    name = "recorder"

    def __init__(self):
        self.fits, self.predicted = [], []

    def fit(self, examples):
        self.fits.append([e.id for e in examples])
        return self

    def predict(self, examples):
        self.predicted.append([e.id for e in examples])
        n = len(examples)
        return Predictions(np.zeros((n, 4)), np.zeros((n, 4), dtype=int), np.full((n, 4, 3), 1 / 3))


def test_folds_leave_one_group_out_up_to_20_groups_else_10_grouped_folds():
    groups = [f"g{i % 7}" for i in range(40)]
    folds, scheme = grouped_folds(groups)
    assert folds == [[f"g{i}"] for i in range(7)] and scheme == "leave-one-group-out"
    many = [f"firm{i % 33:02d}" for i in range(200)]
    folds, scheme = grouped_folds(many)
    assert scheme == "10 grouped folds" and len(folds) == 10
    flat = [g for f in folds for g in f]
    assert sorted(flat) == sorted(set(many)) and len(flat) == len(set(flat))


def test_thesis_file_as_user_data_trains_every_fold_as_the_thesis_loco_does():
    """Same settings as `intcap evaluate`: the full thesis, register rewrites and written corpus."""
    settings = CoderSettings()
    thesis = load_examples(paths.CODED_PASSAGES)
    written = corpus.examples(corpus.training_rows())
    loco = Recorder()
    loco_pool(loco, thesis + augment_examples(settings, thesis) + written, thesis)  # run_evaluation's pool
    mine = Recorder()
    extras = training_extras(settings, thesis)
    assert [e.id for e in extras] == [e.id for e in augment_examples(settings, thesis) + written]
    cross_validate(mine, UserData(thesis, [e.company for e in thesis]), extras)
    assert len(mine.fits) == 14
    assert mine.fits == loco.fits and mine.predicted == loco.predicted


def test_user_path_reproduces_thesis_loco_figures_with_the_hashing_coder():
    thesis = load_examples(paths.CODED_PASSAGES)
    firms = {"acubiz", "Colourbox", "Brodersen"}
    few = [e for e in thesis if e.company in firms]
    written = corpus.examples(corpus.training_rows())[:40]
    pool = few + augment_examples(HASHING, few) + written
    expected = loco_pool(shipped_candidate(HASHING, memo_factory()), pool, few)
    data = UserData(few, [e.company for e in few])
    got, _ = cross_validate(shipped_candidate(HASHING, memo_factory()), data, augment_examples(HASHING, few) + written)
    assert np.array_equal(got.assigned, expected.assigned)
    assert np.allclose(got.presence, expected.presence, rtol=0, atol=1e-12)
    thesis_figures = coding_metrics(few, expected)
    user = user_metrics(data, got, n_boot=200)  # what run_user_evaluation reports under "user"
    assert user["kappa"] == thesis_figures["kappa"]
    assert abs(user["mean_kappa"] - thesis_figures["mean_kappa"]) <= 1e-4  # the mean of unrounded κs
    assert user["valence_accuracy"] == thesis_figures["valence_accuracy"]


def test_learning_curve_reads_a_straight_line_on_log_scale():
    curve = learning_curve([(0.25, 10.0, 0.40), (0.5, 20.0, 0.50), (1.0, 40.0, 0.60)])
    assert curve["kappa_per_doubling"] == pytest.approx(0.1)
    assert curve["expected_mean_kappa_at_twice"] == pytest.approx(0.7)
    assert curve["line"].startswith("with twice the labels you would expect a mean κ of about 0.70")
    assert "rough guide" in curve["line"]
    capped = learning_curve([(0.25, 10.0, 0.80), (0.5, 20.0, 0.90), (1.0, 40.0, 0.99)])
    assert capped["expected_mean_kappa_at_twice"] <= 1.0


def test_evaluate_own_examples(tmp_path, capsys):
    out = tmp_path / "user.json"
    status = main(["evaluate", "--examples", str(USER), "--own-only", "--encoder", "hashing.v1", "--no-learning-curve",
                   "--json", str(out)])
    assert status == 0
    printed = capsys.readouterr().out
    assert "4 company groups, leave-one-group-out (4 folds)" in printed and "mean" in printed
    r = json.loads(out.read_text(encoding="utf-8"))
    user = r["user"]
    for code in CODES:
        assert -1 <= user["kappa"][code] <= 1 and code in user["alpha"] and code in user["f1"]
        lo, hi = user["ci"]["kappa"][code]
        assert lo <= hi
        assert set(user["confusion"][code]) == {"both", "only_a", "only_b", "neither"}
        assert sum(user["confusion"][code].values()) == 41
        assert set(user["prevalence"][code]) == {"a", "b"}
    assert len(user["ci"]["mean_kappa"]) == 2 and "over 4 company groups" in user["ci"]["method"]
    rows = [json.loads(x) for x in USER.read_text(encoding="utf-8").splitlines()]
    assert user["prevalence"]["NET"]["a"] == round(sum("NET" in x["codes"] for x in rows) / len(rows), 4)
    assert "learning_curve" not in user
    assert r["n_extra_training"] == 0 and r["encoder"] == "hashing.v1"


class Guesser(Recorder):
    """Codes NET wherever the training data's majority has it, more often with more data (cheap)."""

    def fit(self, examples):
        super().fit(examples)
        self.n_ = len(examples)
        return self

    def predict(self, examples):
        super().predict(examples)
        n = len(examples)
        assigned = np.zeros((n, 4), dtype=int)
        assigned[: min(n, self.n_ // 10), 0] = 1
        return Predictions(assigned.astype(float), assigned, np.full((n, 4, 3), 1 / 3))


def test_learning_curve_refits_on_a_share_of_the_training_groups():
    data = load_user_data([USER], group="source")
    assert len(set(data.groups)) == 12
    fake = Guesser()
    report = run_user_evaluation(data, HASHING, extras=[], candidate_factory=lambda s: fake, n_boot=50)
    curve = report["user"]["learning_curve"]
    assert [p["fraction"] for p in curve["points"]] == [0.25, 0.5, 1.0]
    sizes = [p["labels"] for p in curve["points"]]
    assert sizes[0] < sizes[1] < sizes[2] == pytest.approx(41 * 11 / 12, abs=2)
    assert len(fake.fits) == 3 * 12  # 12 folds at 100 %, 50 % and 25 %
    # each 25 % refit keeps round(0.25 * 11) = 3 of the 11 training sources
    source_of = dict(zip((e.id for e in data.examples), data.groups))
    quarter = fake.fits[12:24]  # the full run first, then 25 %, then 50 %
    assert all(len({source_of[i] for i in fit}) == 3 for fit in quarter)
    assert curve["line"].startswith("with twice the labels you would expect")
    assert abs(curve["points"][-1]["mean_kappa"] - report["user"]["mean_kappa"]) <= 1e-4


def test_default_extras_add_the_thesis_rewrites_and_corpus_but_not_held_out_firms():
    own = load_user_data([USER]).examples
    extras = training_extras(HASHING, own, with_corpus=False)
    thesis_ids = {e.id for e in load_examples(paths.CODED_PASSAGES)}
    assert {e.id for e in extras if e.id in thesis_ids}  # the thesis passages join training
    data = load_user_data([USER])
    rec = Recorder()
    cross_validate(rec, data, extras)
    for fit, held in zip(rec.fits, grouped_folds(data.groups)[0]):
        companies = {e.company for e in extras if e.id in fit} | {e.company for e in own if e.id in fit}
        assert held[0] not in companies  # the held-out firm's thesis passages and rewrites leave with it


@pytest.mark.parametrize("case", ["no_source", "one_company", "bad_group"])
def test_bad_user_data_is_one_line(case, tmp_path, capsys):
    f = tmp_path / "mine.jsonl"
    rows = [{"id": f"x{i}", "company": "Solo" if case == "one_company" else f"F{i % 2}", "text": f"text {i}",
             "codes": {}} for i in range(4)]
    f.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    argv = ["evaluate", "--examples", str(f), "--encoder", "hashing.v1", "--own-only"]
    argv += {"no_source": ["--group", "source"], "one_company": [], "bad_group": []}[case]
    if case == "bad_group":
        with pytest.raises(Exception):
            load_user_data([f], group="interviewer")
        return
    assert main(argv) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"intcap: error: {f}")


def test_qdpx_coding_as_user_data(tmp_path):
    qdpx = tmp_path / "atlas.qdpx"
    with zipfile.ZipFile(qdpx, "w") as zf:
        for p in sorted((FIXTURES / "refi" / "atlas").rglob("*")):
            if p.is_file():
                zf.write(p, p.relative_to(FIXTURES / "refi" / "atlas").as_posix())
    with pytest.raises(Exception, match="holds the codings of 2 coders"):
        load_user_data(qdpx=qdpx)
    data = load_user_data(qdpx=qdpx, coder="Anna", group="source")
    assert len(data.examples) == 4 and all(e.label_source == "refi-qda" for e in data.examples)
    assert sorted(set(data.groups)) == ["Aero Molle.docx", "Fjordfisk interview.txt"]
    assert "only the spans someone coded" in data.notes[0]
    assert load_user_data([USER]).notes == []
