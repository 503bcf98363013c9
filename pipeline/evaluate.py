"""Leave-one-company-out evaluation against the thesis's hand coding.

Train on 13 firms, code the 14th, repeat; score all held-out predictions together
(per-code Cohen's kappa and F1, macro-F1, valence accuracy), then build company
profiles from those held-out codings and compare them with company_ratings.csv.
Baselines run on the same folds in the same call. Each distinct text is encoded
once per encoder (``MemoEncoder``); coding speed is measured separately, with an
uncached encoder, on a model trained on all examples.
"""
from __future__ import annotations

import csv
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr
from sklearn.metrics import f1_score

from pipeline import paths
from pipeline.classify import kappa as cohen_kappa
from pipeline.candidates import (Candidate, CoderCandidate, EncoderFeatures, PlainLogReg, Predictions, RoutedCandidate,
                                 TfidfFeatures)
from pipeline.coder import CoderSettings
from pipeline.embed import MemoEncoder, cached_encoder, load_encoder
from pipeline.examples import Example, base_rates, label_matrices, load_examples
from pipeline.profile import STRENGTH_NORMS, ProfileSettings, build_profiles
from pipeline.records import CODES, VALENCES, CodeScore, Coding, Passage

#: the frozen-embedding baseline's encoder (the issue's "frozen MiniLM + LR")
BASELINE_ENCODER = "minilm.v1"


def companies_of(examples: Sequence[Example]) -> list[str]:
    return sorted({e.company for e in examples})


def loco(candidate: Candidate, examples: list[Example]) -> tuple[Predictions, float]:
    """Held-out predictions for every example (folds: companies in sorted order); also
    returns the held-out prediction rate (passages/s; with memoised encoders this is
    not the coding speed, see ``coding_speed``)."""
    n = len(examples)
    presence, assigned = np.zeros((n, len(CODES))), np.zeros((n, len(CODES)), dtype=int)
    valence = np.zeros((n, len(CODES), len(VALENCES)))
    companies = companies_of(examples)
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


def loco_pool(candidate: Candidate, train_pool: list[Example], test: list[Example]) -> Predictions:
    """Per firm of ``test``: fit on every pool example of the *other* firms (so the held-out
    firm's passages in any language or register are excluded), code the firm's test passages."""
    n = len(test)
    presence, assigned = np.zeros((n, len(CODES))), np.zeros((n, len(CODES)), dtype=int)
    valence = np.zeros((n, len(CODES), len(VALENCES)))
    for company in companies_of(test):
        idx = [i for i, e in enumerate(test) if e.company == company]
        candidate.fit([e for e in train_pool if e.company != company])
        pred = candidate.predict([test[i] for i in idx])
        presence[idx], assigned[idx], valence[idx] = pred.presence, pred.assigned, pred.valence
    return Predictions(presence, assigned, valence)


def danish_routed(settings: CoderSettings, examples: list[Example], memo) -> dict | None:
    """The shipped default as trained by ``intcap train`` (main coder + multilingual companion)
    coding the Danish rendering of each held-out firm's passages, trained on the other 13
    firms' English passages (and, for the companion, their Danish rendering); routing by
    language detection. None without a companion or the Danish file."""
    from pipeline.language import detect_language
    from pipeline.train import DANISH

    if not settings.multilingual or not DANISH.is_file():
        return None
    danish = load_examples(DANISH)
    cand = RoutedCandidate("routed", memo(settings.encoder), settings, memo(settings.multilingual))
    m = coding_metrics(danish, loco_pool(cand, list(examples), danish))
    m["routed_to_companion"] = round(sum(detect_language(e.text) == "da" for e in danish) / len(danish), 4)
    return m


def coding_metrics(examples: list[Example], pred: Predictions) -> dict:
    gold, gold_valence = label_matrices(examples)
    kappa, f1 = {}, {}
    for j, code in enumerate(CODES):
        kappa[code] = round(float(cohen_kappa(gold[:, j], pred.assigned[:, j])), 4)
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


def rating_levels(ratings: dict[str, dict]) -> dict[str, dict[str, int]]:
    """Per company, the thesis's network (P3+P4) and entrepreneurship (P5+P6) levels."""
    return {c: {"NET": int(r["p3_network_knowledge"]) + int(r["p4_network_establishment"]),
                "ENT": int(r["p5_entrepreneurial_routines"]) + int(r["p6_entrepreneurial_activity"])}
            for c, r in ratings.items()}


def gold_codings(examples: list[Example]) -> list[Coding]:
    """The hand coding as Codings (p = 1, one-hot valence)."""
    presence, valence = label_matrices(examples)
    onehot = np.zeros((len(examples), len(CODES), len(VALENCES)))
    for i in range(len(examples)):
        for j in range(len(CODES)):
            onehot[i, j, VALENCES.index(valence[i, j]) if valence[i, j] else 0] = 1.0
    return as_codings(examples, Predictions(presence.astype(float), presence, onehot))


def _spearmans(profiles, levels) -> tuple[float, float]:
    out = []
    for code in ("NET", "ENT"):
        xs = [p.codes[code].strength for p in profiles if p.company in levels]
        ys = [levels[p.company][code] for p in profiles if p.company in levels]
        rho = spearmanr(xs, ys)[0] if len(xs) > 2 else float("nan")
        out.append(0.0 if rho != rho else float(rho))
    return out[0], out[1]


def select_strength_norm(codings: list[Coding], levels: dict[str, dict[str, int]], settings: ProfileSettings) -> str:
    """The STRENGTH_NORMS key whose profiles of ``codings`` best rank ``levels`` (mean of
    the network and entrepreneurship Spearman; ties go to the default, then to order)."""
    scores = {}
    for norm in STRENGTH_NORMS:
        profiles = build_profiles(codings, ProfileSettings(**{**vars(settings), "strength_norm": norm}))
        scores[norm] = (round(float(np.mean(_spearmans(profiles, levels))), 6), norm == ProfileSettings.strength_norm)
    return max(STRENGTH_NORMS, key=lambda n: scores[n])


def profile_metrics(examples: list[Example], pred: Predictions, settings: ProfileSettings) -> dict:
    """Profiles from held-out codings against the thesis's per-company ratings.

    The strength normaliser is chosen inside the leave-one-company-out loop: for each
    held-out firm, on the gold codings and ratings of the other 13 only; the held-out
    firm's profile then uses that choice.
    """
    ratings = load_ratings()
    levels = rating_levels(ratings)
    held_out = as_codings(examples, pred)
    gold = gold_codings(examples)
    chosen: dict[str, str] = {}
    profiles = []
    for company in companies_of(examples):
        if company not in ratings:
            continue
        others = {c: v for c, v in levels.items() if c != company}
        norm = select_strength_norm([g for g in gold if g.passage.company != company], others, settings)
        chosen[company] = norm
        mine = [c for c in held_out if c.passage.company == company]
        profiles += build_profiles(mine, ProfileSettings(**{**vars(settings), "strength_norm": norm}))
    net, ent = _spearmans(profiles, levels)
    matches = sum(p.primary_focus == ratings[p.company]["p7_primary_focus"] for p in profiles)
    gold_profiles = build_profiles(gold, settings)
    gold_net, gold_ent = _spearmans(gold_profiles, levels)
    return {
        "spearman_network": round(net, 4), "spearman_entrepreneurship": round(ent, 4),
        "p7_matches": int(matches), "companies": len(profiles),
        "strength_norm_chosen": dict(Counter(chosen.values())),
        "focus": {p.company: p.primary_focus for p in profiles},
        # the same aggregation applied to the hand coding: the ceiling the aggregation allows
        "gold_codings": {"spearman_network": round(gold_net, 4), "spearman_entrepreneurship": round(gold_ent, 4),
                         "p7_matches": int(sum(p.primary_focus == ratings[p.company]["p7_primary_focus"]
                                               for p in gold_profiles if p.company in ratings))},
    }


def profiles_vs_hand(examples: list[Example], pred: Predictions, settings: ProfileSettings) -> dict:
    """Profiles built from held-out codings against profiles built the same way from the hand
    coding: Spearman of coverage per code across the firms, and primary-focus matches."""
    held = {p.company: p for p in build_profiles(as_codings(examples, pred), settings)}
    hand = {p.company: p for p in build_profiles(gold_codings(examples), settings)}
    firms = sorted(held.keys() & hand.keys())
    rho = {}
    for code in CODES:
        r = spearmanr([held[f].codes[code].coverage for f in firms], [hand[f].codes[code].coverage for f in firms])[0]
        rho[code] = 0.0 if r != r else round(float(r), 4)
    return {"spearman_coverage": rho, "focus_matches": int(sum(held[f].primary_focus == hand[f].primary_focus
                                                                 for f in firms)), "companies": len(firms)}


def intervals(examples: list[Example], pred: Predictions) -> dict:
    """Cluster-bootstrap (by company) 95 % intervals of the per-code and mean κ."""
    from pipeline.agreement import cluster_bootstrap_kappa

    gold, _ = label_matrices(examples)
    return cluster_bootstrap_kappa(gold, pred.assigned, [e.company for e in examples])


def dev_metrics(examples: list[Example], pred: Predictions, train: list[Example]) -> dict:
    """Coding metrics on the dev set, overall and for its English and Danish passages, with the
    valence accuracy of always predicting the training data's majority valence per code."""
    out = coding_metrics(examples, pred)
    for name, lang in (("english", "en"), ("danish", "da")):
        idx = [i for i, e in enumerate(examples) if e.language == lang]
        if idx:
            sub = coding_metrics([examples[i] for i in idx],
                                 Predictions(pred.presence[idx], pred.assigned[idx], pred.valence[idx]))
            out[f"{name}_mean_kappa"] = sub["mean_kappa"]
            out[f"{name}_kappa"] = sub["kappa"]
            out[f"{name}_n"] = len(idx)
    out["n"] = len(examples)
    majority = {c: Counter(e.codes[c] for e in train if c in e.codes).most_common(1)[0][0]
                for c in CODES if any(c in e.codes for e in train)}
    hits = [e.codes[c] == majority.get(c) for e in examples for c in e.codes]
    out["valence_majority_accuracy"] = round(sum(hits) / max(len(hits), 1), 4)
    return out


def evaluate_candidate(candidate: Candidate, examples: list[Example]) -> dict:
    pred, _ = loco(candidate, examples)
    return {**coding_metrics(examples, pred), "_predictions": pred}


def coding_speed(candidate: Candidate, examples: list[Example], encoder_name: str | None) -> float:
    """Passages/s of coding with an *uncached* encoder: fit on all examples (memoised),
    then time predict on all of them with a fresh, non-memoised encoder."""
    candidate.fit(examples)
    if encoder_name is not None and hasattr(candidate, "use_encoder"):
        raw = load_encoder(encoder_name)
        raw.encode(["warm-up"])  # model loading is not coding time
        candidate.use_encoder(raw)
    t0 = time.perf_counter()
    candidate.predict(examples)
    return len(examples) / max(time.perf_counter() - t0, 1e-9)


def shipped_candidate(settings: CoderSettings, memo: Callable[[str], MemoEncoder]) -> CoderCandidate:
    return CoderCandidate("default", memo(settings.encoder), settings)


def baseline_candidates(memo: Callable[[str], MemoEncoder]) -> list[tuple[Candidate, str | None]]:
    """The two reference methods, on raw text, class-balanced, threshold 0.5."""
    return [(PlainLogReg("tfidf", TfidfFeatures()), None),
            (PlainLogReg("frozen", EncoderFeatures(memo(BASELINE_ENCODER))), BASELINE_ENCODER)]


def memo_factory() -> Callable[[str], MemoEncoder]:
    encoders: dict[str, MemoEncoder] = {}

    def memo(name: str) -> MemoEncoder:
        if name not in encoders:
            # through the on-disk cache too: a training run or an earlier evaluation encoded most texts
            encoders[name] = MemoEncoder(cached_encoder(name))
        return encoders[name]

    return memo


def run_evaluation(settings: CoderSettings | None = None, examples: list[Example] | None = None,
                   measure_speed: bool = True, with_danish: bool = True, with_corpus: bool = True) -> dict:
    """The full report: the shipped method leave-one-company-out, its profiles, and both baselines."""
    from pipeline import corpus
    from pipeline.train import augment_examples

    settings = settings or CoderSettings()
    examples = examples or load_examples(paths.CODED_PASSAGES)
    written = corpus.examples(corpus.training_rows()) if with_corpus else []
    dev = corpus.examples(corpus.dev_rows()) if with_corpus else []
    memo = memo_factory()
    t0 = time.perf_counter()

    candidate = shipped_candidate(settings, memo)
    # register-augmented examples belong to the firm they rewrite: they leave with it; the
    # written training corpus is about other firms and stays in every fold
    pool = examples + augment_examples(settings, examples) + written
    pred = loco_pool(candidate, pool, examples)
    main = coding_metrics(examples, pred)
    main["ci"] = intervals(examples, pred)
    # base rates from all examples are the training statistics a deployed model would carry
    profile_settings = ProfileSettings(base_rates=base_rates(examples + written))
    profiles = profile_metrics(examples, pred, profile_settings)
    profiles["vs_hand"] = profiles_vs_hand(examples, pred, profile_settings)
    dev_result = None
    if dev:
        routed = (RoutedCandidate("routed", memo(settings.encoder), settings, memo(settings.multilingual))
                  if settings.multilingual else candidate).fit(pool)
        dev_pred = routed.predict(dev)
        dev_result = dev_metrics(dev, dev_pred, pool)
        dev_result["ci"] = intervals(dev, dev_pred)
    main["passages_per_s"] = round(coding_speed(candidate, examples, settings.encoder), 1) if measure_speed else None
    baselines = {}
    for baseline, encoder_name in baseline_candidates(memo):
        result = evaluate_candidate(baseline, examples)
        result.pop("_predictions")
        result["passages_per_s"] = (round(coding_speed(baseline, examples, encoder_name), 1)
                                    if measure_speed else None)
        baselines[baseline.name] = result
    margin = main["mean_kappa"] - max(b["mean_kappa"] for b in baselines.values())
    danish = danish_routed(settings, pool, memo) if with_danish else None
    return {"n_examples": len(examples), "n_training_corpus": len(written), "encoder": settings.encoder,
            "settings": vars(settings).copy(), "loco": main, "dev": dev_result, "profiles": profiles, "baselines": baselines,
            "margin_over_best_baseline": round(margin, 4), "danish_routed": danish, "seconds": round(time.perf_counter() - t0, 1)}
