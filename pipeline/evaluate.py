"""Leave-one-company-out evaluation against the thesis's hand coding.

Train on 13 firms, code the 14th, repeat; score all held-out predictions together
(per-code Cohen's kappa and F1, macro-F1, valence accuracy), then build company
profiles from those held-out codings and compare them with company_ratings.csv.
Baselines run on the same folds in the same call.
"""
from __future__ import annotations

import csv
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr
from sklearn.metrics import cohen_kappa_score, f1_score

from pipeline import paths
from pipeline.candidates import Candidate, CoderCandidate, EncoderFeatures, PlainLogReg, Predictions, TfidfFeatures
from pipeline.coder import CoderSettings
from pipeline.embed import load_encoder
from pipeline.examples import Example, base_rates, label_matrices, load_examples
from pipeline.profile import ProfileSettings, build_profiles
from pipeline.records import CODES, VALENCES, CodeScore, Coding, Passage


def loco(candidate: Candidate, examples: list[Example]) -> tuple[Predictions, float]:
    """Held-out predictions for every example; also returns coding speed (passages/s)."""
    n = len(examples)
    presence, assigned = np.zeros((n, len(CODES))), np.zeros((n, len(CODES)), dtype=int)
    valence = np.zeros((n, len(CODES), len(VALENCES)))
    companies = sorted({e.company for e in examples})
    predict_time = 0.0
    for company in companies:
        test = [i for i, e in enumerate(examples) if e.company == company]
        train = [e for e in examples if e.company != company]
        candidate.fit(train)
        t0 = time.perf_counter()
        pred = candidate.predict([examples[i] for i in test])
        predict_time += time.perf_counter() - t0
        presence[test], assigned[test], valence[test] = pred.presence, pred.assigned, pred.valence
    return Predictions(presence, assigned, valence), n / max(predict_time, 1e-9)


def coding_metrics(examples: list[Example], pred: Predictions) -> dict:
    gold, gold_valence = label_matrices(examples)
    kappa, f1 = {}, {}
    for j, code in enumerate(CODES):
        kappa[code] = round(float(cohen_kappa_score(gold[:, j], pred.assigned[:, j])), 4)
        f1[code] = round(float(f1_score(gold[:, j], pred.assigned[:, j], zero_division=0)), 4)
    hits = total = 0
    for j in range(len(CODES)):
        for i in np.flatnonzero(gold[:, j]):
            total += 1
            hits += VALENCES[int(np.argmax(pred.valence[i, j]))] == gold_valence[i, j]
    return {
        "kappa": kappa, "f1": f1,
        "mean_kappa": round(float(np.mean(list(kappa.values()))), 4),
        "macro_f1": round(float(np.mean(list(f1.values()))), 4),
        "valence_accuracy": round(hits / max(total, 1), 4),
    }


def as_codings(examples: list[Example], pred: Predictions) -> list[Coding]:
    codings = []
    for i, ex in enumerate(examples):
        codes = {}
        for j, code in enumerate(CODES):
            vp = {v: float(pred.valence[i, j, k]) for k, v in enumerate(VALENCES)}
            codes[code] = CodeScore(float(pred.presence[i, j]), max(vp, key=vp.get), vp)
        assigned = [c for j, c in enumerate(CODES) if pred.assigned[i, j]]
        codings.append(Coding(Passage(ex.id, ex.company, "", 0, len(ex.text), ex.text), codes, assigned))
    return codings


def load_ratings(path: Path = paths.COMPANY_RATINGS) -> dict[str, dict]:
    with Path(path).open(encoding="utf-8") as fh:
        return {row["company"]: row for row in csv.DictReader(fh)}


def profile_metrics(examples: list[Example], pred: Predictions, settings: ProfileSettings) -> dict:
    """Profiles from held-out codings against the thesis's per-company ratings."""
    ratings = load_ratings()
    profiles = [p for p in build_profiles(as_codings(examples, pred), settings) if p.company in ratings]

    def level(p, *cols):
        return sum(int(ratings[p.company][c]) for c in cols)

    net = spearmanr([p.codes["NET"].strength for p in profiles],
                    [level(p, "p3_network_knowledge", "p4_network_establishment") for p in profiles])[0]
    ent = spearmanr([p.codes["ENT"].strength for p in profiles],
                    [level(p, "p5_entrepreneurial_routines", "p6_entrepreneurial_activity") for p in profiles])[0]
    matches = sum(p.primary_focus == ratings[p.company]["p7_primary_focus"] for p in profiles)
    return {
        "spearman_network": round(float(net), 4), "spearman_entrepreneurship": round(float(ent), 4),
        "p7_matches": int(matches), "companies": len(profiles),
        "focus": {p.company: p.primary_focus for p in profiles},
    }


def evaluate_candidate(candidate: Candidate, examples: list[Example]) -> dict:
    pred, speed = loco(candidate, examples)
    return {**coding_metrics(examples, pred), "passages_per_s": round(speed, 1),
            "_predictions": pred}


def run_evaluation(settings: CoderSettings | None = None, examples: list[Example] | None = None) -> dict:
    """The full report: the shipped method leave-one-company-out, its profiles, and both baselines."""
    settings = settings or CoderSettings()
    examples = examples or load_examples(paths.CODED_PASSAGES)
    encoder = load_encoder(settings.encoder)
    main = evaluate_candidate(CoderCandidate("default", encoder, settings), examples)
    pred = main.pop("_predictions")
    # base rates from all examples are the training statistics a deployed model would carry
    profiles = profile_metrics(examples, pred, ProfileSettings(base_rates=base_rates(examples)))
    baselines = {}
    for candidate in (PlainLogReg("tfidf", TfidfFeatures()), PlainLogReg("frozen", EncoderFeatures(encoder))):
        result = evaluate_candidate(candidate, examples)
        result.pop("_predictions")
        baselines[candidate.name] = result
    return {"n_examples": len(examples), "encoder": settings.encoder, "loco": main, "profiles": profiles,
            "baselines": baselines}
