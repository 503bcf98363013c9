"""intcap evaluate: leave-one-company-out agreement with the thesis's hand coding, or grouped
cross-validation on your own hand coding (--examples FILE... / --qdpx FILE --map M)."""
from __future__ import annotations

from pathlib import Path

from pipeline.records import CODES


def add_parser(sub):
    p = sub.add_parser("evaluate", help="leave-one-company-out evaluation on corpus/thesis", description=__doc__)
    p.add_argument("--json", type=Path, default=None, help="also write the full results as JSON to this file")
    p.add_argument("--danish-loco", action="store_true",
                   help="also code the Danish rendering of the thesis leave-one-company-out (slow: trains the "
                        "multilingual coder 14 times; the dev set's Danish figure is reported either way)")
    p.add_argument("--thesis-only", action="store_true",
                   help="train without the written corpus (corpus/train/), as before it existed")
    p.add_argument("--encoder", default=None,
                   help="encoder of the coder under evaluation (default: the shipped one; hashing.v1 is instant "
                        "and weight-free, for a quick check of the set-up)")
    own = p.add_argument_group("your own hand coding (grouped cross-validation instead of the thesis)")
    own.add_argument("--examples", type=Path, nargs="+", default=[], metavar="FILE",
                     help="hand-coded JSONL files ({\"id\", \"company\", \"text\", \"codes\"}; later files win on id)")
    own.add_argument("--qdpx", type=Path, default=None, help="a REFI-QDA project whose coding to evaluate on")
    own.add_argument("--map", dest="mapping", type=Path, default=None,
                     help="for --qdpx: CSV/JSON mapping their code names to NET/ENT/ABS/PRI (as `intcap import`)")
    own.add_argument("--coder", default=None, help="for --qdpx with several coders: whose coding to use")
    own.add_argument("--sources-dir", type=Path, default=None,
                     help="for --qdpx: folder that sources stored outside the archive may be read from")
    own.add_argument("--group", choices=("company", "source"), default="company",
                     help="what a fold holds out (default company; source for few companies with many interviews)")
    own.add_argument("--own-only", action="store_true",
                     help="train each fold on your examples alone (no thesis passages, rewrites or written corpus)")
    own.add_argument("--no-learning-curve", action="store_true",
                     help="skip the refits on 25%% and 50%% of the training groups (with the bundled data each "
                          "costs about as much as the main run)")
    return p


def format_table(result: dict) -> str:
    rows = [("method", "NET", "ENT", "ABS", "PRI", "mean κ", "macro-F1", "valence acc", "passages/s")]
    for name, r in [("intcap (default)", result["loco"])] + [(f"baseline: {k}", v) for k, v in result["baselines"].items()]:
        rows.append((name, *(f"{r['kappa'][c]:.3f}" for c in ("NET", "ENT", "ABS", "PRI")),
                     f"{r['mean_kappa']:.3f}", f"{r['macro_f1']:.3f}", f"{r['valence_accuracy']:.3f}",
                     f"{r['passages_per_s']:.0f}"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)) for row in rows]
    ci = result["loco"].get("ci")
    if ci:
        lines.append(f"95% interval of the default's mean κ ({ci['method']}): "
                     f"{ci['mean_kappa'][0]:.3f} to {ci['mean_kappa'][1]:.3f}")
    p = result["profiles"]
    lines.append(f"margin over the best baseline: {result['margin_over_best_baseline']:+.3f} mean κ "
                 f"(encoder {result['encoder']}; baselines: class-balanced LR at 0.5 on TF-IDF / frozen MiniLM)")
    lines.append(f"profiles (from held-out codings): Spearman network {p['spearman_network']:.3f}, "
                 f"entrepreneurship {p['spearman_entrepreneurship']:.3f}; P7 focus {p['p7_matches']}/{p['companies']}"
                 f" (strength normaliser chosen per fold on the other 13 firms: {p['strength_norm_chosen']})")
    g = p["gold_codings"]
    lines.append(f"same aggregation on the hand coding (ceiling): Spearman network {g['spearman_network']:.3f}, "
                 f"entrepreneurship {g['spearman_entrepreneurship']:.3f}; P7 {g['p7_matches']}/{p['companies']}")
    v = p.get("vs_hand")
    if v:
        lines.append("profiles from held-out codings vs the same profiles from the hand coding: Spearman of coverage "
                     + ", ".join(f"{c} {v['spearman_coverage'][c]:.3f}" for c in ("NET", "ENT", "ABS", "PRI"))
                     + f"; primary focus {v['focus_matches']}/{v['companies']}")
    dev = result.get("dev")
    if dev:
        lines.append(f"dev set ({dev['n']} passages, firms never trained on): mean κ {dev['mean_kappa']:.3f} ("
                     + ", ".join(f"{c} {dev['kappa'][c]:.3f}" for c in ("NET", "ENT", "ABS", "PRI"))
                     + f"), valence acc {dev['valence_accuracy']:.3f} (majority {dev['valence_majority_accuracy']:.3f})"
                     + (f", English {dev['english_mean_kappa']:.3f}" if "english_mean_kappa" in dev else "")
                     + (f", Danish {dev['danish_mean_kappa']:.3f}" if "danish_mean_kappa" in dev else "")
                     + (f"; 95% interval {dev['ci']['mean_kappa'][0]:.3f} to {dev['ci']['mean_kappa'][1]:.3f}"
                        if "ci" in dev else ""))
    if result.get("n_training_corpus"):
        lines.append(f"trained on the thesis firms plus {result['n_training_corpus']} written corpus passages (corpus/train)")
    d = result.get("danish_routed")
    if d:
        lines.append(f"Danish (routed to the multilingual companion, {d['routed_to_companion']:.0%} detected; trained on "
                     "13 firms, coding the 14th's Danish passages): mean κ " f"{d['mean_kappa']:.3f} ("
                     + ", ".join(f"{c} {d['kappa'][c]:.3f}" for c in ("NET", "ENT", "ABS", "PRI"))
                     + f"), valence acc {d['valence_accuracy']:.3f}")
    lines.append(f"passages/s: coding with an uncached encoder, model trained on all examples; "
                 f"run took {result['seconds']:.0f} s")
    return "\n".join(lines)


def format_user_report(result: dict) -> str:
    from intcap.cli.agree_cmd import agreement_table

    u, g = result["user"], result["groups"]
    lines = [f"your hand coding: {result['n_examples']} examples from {result['origin']}; {g['n']} {g['by']} "
             f"groups, {g['scheme']} ({g['folds']} folds); each fold trained on the other groups plus "
             f"{result['n_extra_training']} bundled examples (encoder {result['encoder']})",
             "held-out agreement with your coding (A = you, B = intcap; κ: 1 = perfect, 0 = chance):"]
    lines += agreement_table(u)
    lines.append(f"  intervals: {u['ci']['method']}")
    v = u["valence"]
    lines.append(f"valence accuracy {u['valence_accuracy']:.3f}; where both gave the code, same valence: "
                 + ", ".join(f"{c} {v[c]['same']:.0%} of {v[c]['n']}" if v[c]["n"] else f"{c} -" for c in CODES))
    curve = u.get("learning_curve")
    if curve:
        lines.append("learning curve (mean κ by your labels per fold): " + ", ".join(
            f"{p['fraction']:.0%} ({p['labels']:.0f}) {p['mean_kappa']:.3f}" for p in curve["points"]))
        lines.append(curve["line"])
    lines += [f"note: {n}" for n in result.get("notes", [])]
    lines.append(f"run took {result['seconds']:.0f} s")
    return "\n".join(lines)


def run(args) -> int:
    from dataclasses import replace

    from pipeline.coder import CoderSettings
    from pipeline.outputs import write_json

    settings = replace(CoderSettings(), training_corpus=not args.thesis_only)
    if args.encoder:
        settings = replace(settings, encoder=args.encoder)
    if args.examples or args.qdpx:
        from pipeline.user_evaluation import load_user_data, run_user_evaluation

        data = load_user_data(args.examples, args.qdpx, args.mapping, group=args.group, coder=args.coder,
                              sources_dir=args.sources_dir)
        result = run_user_evaluation(data, settings, with_reference=not args.own_only,
                                     with_corpus=not args.thesis_only and not args.own_only,
                                     with_curve=not args.no_learning_curve)
        print(format_user_report(result))
        if args.json:
            write_json(args.json, result)
        return 0
    from pipeline.evaluate import run_evaluation

    result = run_evaluation(settings, with_danish=args.danish_loco, with_corpus=not args.thesis_only)
    print(format_table(result))
    if args.json:
        write_json(args.json, result)
    return 0
