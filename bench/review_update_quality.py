"""Is the fast update as good as a retrain? (not a test; minutes per retrain)

    .venv/bin/python bench/review_update_quality.py [--seed 0] [--answers 50 all]

On one seed's split of the dev pool (the same split as `intcap review simulate --pool`), the
answers of the review part are taken in that seed's random order; for each answer count the
held-out firms' mean kappa is measured after
* the fast round's update: the AnswerAdapter on the shipped model's stored probabilities;
* a full retrain: ``intcap train`` on the thesis, the written corpus and the answers (as
  ``intcap review round --retrain`` does), the held-out passages then coded by the new model.
Writes bench/results/review_update_quality.json.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main(argv=None) -> int:
    from pipeline.records import CODES, Passage
    from pipeline.review.adapter import AnswerAdapter, coder_thresholds, coding_presence, mean_kappa, offsets
    from pipeline.review.pool_simulation import DEFAULT_POOL, load_pool, prepare_pool
    from pipeline.modeldir import load_model
    from pipeline import paths
    from pipeline.train import train_model

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--answers", nargs="+", default=["50", "all"])
    ap.add_argument("--json", type=Path, default=ROOT / "bench" / "results" / "review_update_quality.json")
    args = ap.parse_args(argv)
    examples = load_pool(DEFAULT_POOL)
    data = prepare_pool(DEFAULT_POOL)
    a = data.arrays
    rng = np.random.default_rng(args.seed)  # the split of pool_simulation._seed_task
    companies = rng.permutation(np.unique(data.firms))
    held = set(companies[:max(1, int(round(len(companies) / 3)))])
    test = np.flatnonzero([f in held for f in data.firms])
    review = rng.permutation(np.flatnonzero([f not in held for f in data.firms]))
    order = np.random.default_rng(args.seed).permutation(review)  # one random reading order
    Y = a["Y"]
    out = {"seed": args.seed, "held_out_passages": len(test), "review_passages": len(review),
           "start_kappa": round(mean_kappa(Y[test], (a["o"][test] >= 0).astype(int))[0], 4), "points": [],
           "loadavg_start": os.getloadavg()}
    by_id = {e.id: e for e in examples}
    ids = [e.id for e in examples]
    for n_str in args.answers:
        n = len(order) if n_str == "all" else int(n_str)
        rows = order[:n]
        adapter = AnswerAdapter()
        adapter.vocabulary_, adapter.idf_ = a["vocabulary"], a["idf"]
        z = adapter.fit_rows(a["T"][rows], a["o"][rows], Y[rows]).decide_rows(a["T"], a["o"])
        k_adapt = mean_kappa(Y[test], (z[test] >= 0).astype(int))[0]
        with tempfile.TemporaryDirectory(prefix="intcap-retrain-") as tmp:
            labels = Path(tmp) / "answers.jsonl"
            labels.write_text("".join(json.dumps({"id": ids[i], "company": by_id[ids[i]].company,
                                                  "text": by_id[ids[i]].text, "codes": by_id[ids[i]].codes,
                                                  "label_source": "review:oracle"}, ensure_ascii=False) + "\n"
                                      for i in rows), encoding="utf-8")
            t = time.perf_counter()
            train_model(Path(tmp) / "model", extra=[labels])
            train_s = time.perf_counter() - t
            coder = load_model(Path(tmp) / "model", cache_path=paths.embedding_cache())
            codings = coder.code([Passage(ids[i], by_id[ids[i]].company, ids[i], 0, len(by_id[ids[i]].text),
                                          by_id[ids[i]].text) for i in test])
        o = offsets(coding_presence(codings), coder_thresholds(codings))
        k_retrain = mean_kappa(Y[test], (o >= 0).astype(int))[0]
        point = {"answers": int(n), "adapter_kappa": round(k_adapt, 4), "retrain_kappa": round(k_retrain, 4),
                 "retrain_seconds": round(train_s, 1)}
        print(json.dumps(point), flush=True)
        out["points"].append(point)
    out["loadavg_end"] = os.getloadavg()
    args.json.write_text(json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
