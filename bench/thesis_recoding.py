"""How far the thesis's own hand coding is from a coding that follows CODEBOOK.md.

    .venv/bin/python bench/thesis_recoding.py [--no-loco] [--out bench/results/thesis_recoding.json]

The thesis LOCO scores the model against the thesis authors' coding of their 198 passages. The
written corpus, the dev set and the maintainers' unseen text are coded by CODEBOOK.md. To see
how much of the LOCO gap is the model and how much is the difference between those two
standards, the 198 passages were coded again, blind, by two coders who saw only CODEBOOK.md and
the passage text (id, company, text), as every corpus passage was; their disagreements were
adjudicated by the codebook (corpus/thesis/codebook_recoding.jsonl keeps both passes).

Reports Cohen's κ (presence, per code) between the two passes, between each pass and the hand
coding, and between the adjudicated re-coding and the hand coding; then the shipped recipe's
thesis LOCO codings (the same folds as ``intcap evaluate``) against the hand coding and against
the re-coding.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline import corpus, paths  # noqa: E402
from pipeline.classify import kappa as cohen_kappa  # noqa: E402
from pipeline.coder import CoderSettings  # noqa: E402
from pipeline.evaluate import coding_metrics, loco_pool, memo_factory, shipped_candidate  # noqa: E402
from pipeline.examples import Example, load_examples  # noqa: E402
from pipeline.records import CODES, VALENCES  # noqa: E402
from pipeline.train import augment_examples  # noqa: E402

RECODING = paths.CODED_PASSAGES.parent / "codebook_recoding.jsonl"


def presence(codes: list[dict]) -> np.ndarray:
    return np.array([[c in row for c in CODES] for row in codes], dtype=int)


def kappas(a: list[dict], b: list[dict]) -> dict:
    pa, pb = presence(a), presence(b)
    k = {c: round(float(cohen_kappa(pa[:, j], pb[:, j])), 4) for j, c in enumerate(CODES)}
    shared = [(x[c], y[c]) for x, y in zip(a, b) for c in CODES if c in x and c in y]
    return {"kappa": k, "mean_kappa": round(float(np.mean(list(k.values()))), 4),
            "same_valence_on_shared_codes": round(sum(u == v for u, v in shared) / max(len(shared), 1), 4),
            "shared_codes": len(shared)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--no-loco", action="store_true", help="only the coders' agreement (no model run)")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "thesis_recoding.json")
    args = ap.parse_args(argv)

    hand = load_examples(paths.CODED_PASSAGES)
    rows = {r["id"]: r for r in map(json.loads, RECODING.read_text(encoding="utf-8").splitlines()) if r}
    missing = [e.id for e in hand if e.id not in rows]
    if missing:
        raise SystemExit(f"{RECODING}: no re-coding for {len(missing)} thesis passages, e.g. {missing[:3]}")
    hand_codes = [e.codes for e in hand]
    passes = [[rows[e.id]["passes"][k]["codes"] for e in hand] for k in range(2)]
    recoded = [rows[e.id]["codes"] for e in hand]
    out = {
        "n": len(hand),
        "pass_a_vs_pass_b": kappas(*passes),
        "pass_a_vs_hand": kappas(passes[0], hand_codes),
        "pass_b_vs_hand": kappas(passes[1], hand_codes),
        "recoding_vs_hand": kappas(recoded, hand_codes),
        "adjudicated_rows": sum(rows[e.id].get("adjudicated", False) for e in hand),
    }
    if not args.no_loco:
        t0 = time.perf_counter()
        settings = CoderSettings()
        written = corpus.examples(corpus.training_rows())
        pool = hand + augment_examples(settings, hand) + written
        pred = loco_pool(shipped_candidate(settings, memo_factory()), pool, hand)
        as_recoded = [Example(e.id, e.company, e.text, rows[e.id]["codes"]) for e in hand]
        out["model_loco_vs_hand"] = coding_metrics(hand, pred)
        out["model_loco_vs_recoding"] = coding_metrics(as_recoded, pred)
        out["loco_seconds"] = round(time.perf_counter() - t0, 1)
        # each passage's held-out codes, for reading the errors
        out["loco_codings"] = {e.id: {c: VALENCES[int(np.argmax(pred.valence[i, j]))]
                                      for j, c in enumerate(CODES) if pred.assigned[i, j]}
                               for i, e in enumerate(hand)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1, ensure_ascii=False))
    for key, value in out.items():
        if isinstance(value, dict) and "mean_kappa" in value:
            print(f"{key:28s} mean κ {value['mean_kappa']:.3f}  "
                  + " ".join(f"{c} {value['kappa'][c]:.3f}" for c in CODES))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
