"""Print the shipped default's figures from `intcap evaluate --json` as the markdown that
docs/EVALUATION.md and the README quote, so the documents say what the run measured.

    .venv/bin/python bench/evaluation_summary.py [bench/results/evaluate.json]
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

CODES = ("NET", "ENT", "ABS", "PRI")


def summary(result: dict) -> str:
    loco, dev, prof = result["loco"], result["dev"], result["profiles"]
    lines = ["| set | NET κ | ENT κ | ABS κ | PRI κ | mean κ (95 % interval) | macro-F1 | valence acc |",
             "|---|---|---|---|---|---|---|---|"]
    for name, r in ((f"dev set ({dev['n']} passages, new firms)", dev),
                    (f"thesis LOCO ({result['n_examples']} held-out)", loco)):
        lo, hi = r["ci"]["mean_kappa"]
        lines.append(f"| {name} | " + " | ".join(f"{r['kappa'][c]:.3f}" for c in CODES)
                     + f" | **{r['mean_kappa']:.3f}** ({lo:.2f}–{hi:.2f}) | {r['macro_f1']:.3f} | {r['valence_accuracy']:.3f} |")
    v = prof["vs_hand"]
    lines += [
        "",
        f"- dev: English ({dev['english_n']}) mean κ {dev['english_mean_kappa']:.3f}, Danish ({dev['danish_n']}) "
        f"{dev['danish_mean_kappa']:.3f}; valence accuracy {dev['valence_accuracy']:.3f} against "
        f"{dev['valence_majority_accuracy']:.3f} for always the training majority",
        "- thesis LOCO per-code 95 % intervals: " + ", ".join(
            f"{c} {loco['ci']['kappa'][c][0]:.2f}–{loco['ci']['kappa'][c][1]:.2f}" for c in CODES),
        "- profiles from held-out codings vs the same profiles from the hand coding: Spearman of coverage "
        + ", ".join(f"{c} {v['spearman_coverage'][c]:.3f}" for c in CODES)
        + f"; primary focus {v['focus_matches']}/{v['companies']}",
        f"- vs the thesis's ratings: Spearman network {prof['spearman_network']:.3f}, entrepreneurship "
        f"{prof['spearman_entrepreneurship']:.3f}; P7 {prof['p7_matches']}/{prof['companies']}",
        "- baselines on the thesis folds: " + ", ".join(f"{k} {b['mean_kappa']:.3f}" for k, b in result["baselines"].items())
        + f"; margin {result['margin_over_best_baseline']:+.3f}",
        f"- trained on the thesis firms plus {result['n_training_corpus']} written passages; the run took "
        f"{result['seconds']:.0f} s",
    ]
    return "\n".join(lines)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    path = Path(argv[0]) if argv else Path(__file__).resolve().parent / "results" / "evaluate.json"
    print(summary(json.loads(path.read_text())))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
