"""intcap corpus: statistics and checks of the written training and dev corpora."""
from __future__ import annotations

from pathlib import Path


def add_parser(sub):
    p = sub.add_parser("corpus", help="statistics, pass agreement and checks of corpus/train and corpus/dev",
                       description=__doc__)
    p.add_argument("--json", type=Path, default=None, help="also write the statistics as JSON to this file")
    return p


def format_stats(name: str, s: dict) -> list[str]:
    lines = [f"{name}: {s['passages']} passages, {s['firms']} firms, {s['countries']} countries, "
             f"{s['industries']} industries; spoken {s['spoken_share']:.0%}, Danish {s['danish_share']:.0%}, "
             f"no code {s['no_code_share']:.0%} ({s['lookalikes']} look-alikes), {s['near_pairs']} near-pairs",
             "  languages: " + ", ".join(f"{k} {v}" for k, v in s["languages"].items()),
             "  codes: " + "; ".join(f"{c} {v['positives']} (+{v['+']} -{v['-']} 0:{v['0']})"
                                     for c, v in s["codes"].items())]
    a = s["pass_agreement"]
    if a.get("n"):
        lines.append(f"  κ between the two blind passes (presence, {a['n']} passages): "
                     + ", ".join(f"{c} {k:.3f}" for c, k in a["kappa"].items())
                     + f"; mean {a['mean_kappa']:.3f}; same valence on {a['valence_agreement']:.1%} of shared codes")
    for batch, b in s["pass_agreement_by_batch"].items():
        if b.get("n"):
            lines.append(f"    {batch}: mean κ {b['mean_kappa']:.3f} ("
                         + ", ".join(f"{c} {k:.2f}" for c, k in b["kappa"].items()) + ")")
    return lines


def run(args) -> int:
    from pipeline import corpus, paths
    from pipeline.evaluate import companies_of
    from pipeline.examples import load_examples
    from pipeline.outputs import write_json

    train, dev = corpus.training_rows(), corpus.dev_rows()
    problems = corpus.validate(train, dev, reserved_firms=companies_of(load_examples(paths.CODED_PASSAGES)))
    stats = {"train": corpus.statistics(train), "dev": corpus.statistics(dev), "problems": problems}
    for name in ("train", "dev"):
        print("\n".join(format_stats(name, stats[name])))
    print(f"problems: {len(problems)}" + "".join(f"\n  {p}" for p in problems[:20]))
    if args.json:
        write_json(args.json, stats)
    return 1 if problems else 0
