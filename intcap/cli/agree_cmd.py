"""intcap agree: how far two codings of the same passages agree (κ, α, F1 per code, with intervals).

A and B may each be a results folder of `intcap code` (or its passages.jsonl), hand-coded JSONL
(the thesis file, `intcap labels export`, `intcap import --out`) or a REFI-QDA project; one
project holding several coders is compared as two of them with --coders ("model" names
intcap's own codings in a project exported by `intcap export`). See docs/AGREEMENT.md.
"""
from __future__ import annotations

from pathlib import Path

from pipeline.records import CODES


def add_parser(sub):
    p = sub.add_parser("agree", help="agreement between two codings (coders, or a coder and the model)",
                       description=__doc__)
    p.add_argument("codings", type=Path, nargs="+", metavar="A [B]",
                   help="two codings, or one .qdpx/JSONL holding several coders (with --coders)")
    p.add_argument("--coders", nargs=2, metavar=("NAME1", "NAME2"), default=(),
                   help="the two coders to compare (REFI-QDA user names; 'model' for intcap's codings); "
                        "with two files, one coder of each")
    p.add_argument("--map", dest="mapping", type=Path, default=None,
                   help="for a .qdpx: CSV/JSON mapping their code names to NET/ENT/ABS/PRI (as `intcap import`)")
    p.add_argument("--sources-dir", type=Path, default=None,
                   help="for a .qdpx: folder that sources stored outside the archive may be read from")
    p.add_argument("--top", type=int, default=10, help="how many of the most disagreeing passages to name (default 10)")
    p.add_argument("--json", type=Path, default=None, help="also write the full results as JSON to this file")
    return p


def codes_text(codes: dict[str, str]) -> str:
    return " ".join(f"{c}{codes[c]}" for c in CODES if c in codes) or "(none)"


def _interval(ci: list[float]) -> str:
    return f"[{ci[0]:.2f}, {ci[1]:.2f}]"


def agreement_table(r: dict) -> list[str]:
    """Per code and mean: κ with interval, α, F1, prevalences and the confusion counts."""
    rows = [("code", "κ", "95% interval", "α", "F1", "prevalence A / B", "both / only A / only B / neither")]
    for c in CODES:
        n = r["confusion"][c]
        rows.append((c, f"{r['kappa'][c]:.3f}", _interval(r["ci"]["kappa"][c]), f"{r['alpha'][c]:.3f}",
                     f"{r['f1'][c]:.3f}", f"{r['prevalence'][c]['a']:.1%} / {r['prevalence'][c]['b']:.1%}",
                     f"{n['both']} / {n['only_a']} / {n['only_b']} / {n['neither']}"))
    rows.append(("mean", f"{r['mean_kappa']:.3f}", _interval(r["ci"]["mean_kappa"]), f"{r['mean_alpha']:.3f}",
                 f"{r['mean_f1']:.3f}", "", ""))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]


def _ids(ids: list[str], limit: int = 5) -> str:
    return ", ".join(ids[:limit]) + (f" and {len(ids) - limit} more" if len(ids) > limit else "")


def format_report(r: dict) -> str:
    m = r["matching"]
    lines = [f"A: {r['a']}", f"B: {r['b']}",
             f"units: {m['units']} compared ({m['by_id']} matched by passage id, {m['by_span']} by (source, start, end)"
             + (f", {m['only_in_a']} coded only in A and {m['only_in_b']} only in B (the other records only the "
                "spans it coded)" if m["only_in_a"] or m["only_in_b"] else "") + ")"]
    for side in ("a", "b"):
        left = m[f"unmatched_{side}"]
        if left:
            lines.append(f"not matched, left out: {len(left)} unit(s) of {side.upper()} ({_ids(left)})")
    lines.append("passage agreement on presence (κ: 1 = perfect, 0 = what chance alone gives):")
    lines += agreement_table(r["units"])
    lines.append(f"  intervals: {r['units']['ci']['method']}")
    v = r["valence"]
    lines.append("valence where both gave the code: " + "; ".join(
        f"{c} {v[c]['n']} unit(s)" + (f", {v[c]['same']:.0%} same" if v[c]["n"] else "")
        + (f" (κ {v[c]['kappa']:.2f})" if v[c]["kappa"] is not None else "") for c in CODES))
    ch = r["characters"]
    if "skipped" in ch:
        lines.append(f"character agreement: not computed ({ch['skipped']})")
    else:
        lines.append(f"character agreement over {ch['sources']} source(s), {ch['characters']:,} characters "
                     "(every character a unit):")
        for key, what in (("all", "all characters (as NVivo counts; uncoded text inflates it)"),
                          ("coded_material", "coded material only (characters either coder coded)")):
            a = ch[key]
            lines.append(f"  {what}: mean κ {a['mean_kappa']:.3f} {_interval(a['ci']['mean_kappa'])}, "
                         + ", ".join(f"{c} {a['kappa'][c]:.3f}" for c in CODES))
        for key, what in (("not_shared", "sources only one coding covers, left out"),
                          ("different_text", "sources whose text differs between A and B, left out"),
                          ("length_inferred",
                           "sources without stored text (length taken as the last coded character)")):
            if ch[key]:
                lines.append(f"  {what}: {_ids(ch[key])}")
    if r["disagreements"]:
        lines.append("most disagreement (for discussion):")
        for d in r["disagreements"]:
            text = " ".join(d["text"].split())
            where = f"; {d['span'][0]} [{d['span'][1]}, {d['span'][2]})" if d["span"] else ""
            lines.append(f"  {d['id']} ({d['company']}{where}): A {codes_text(d['a'])} | B {codes_text(d['b'])}"
                         f" | {text[:90]}{'...' if len(text) > 90 else ''}")
    return "\n".join(lines)


def run(args) -> int:
    from pipeline.agreement_files import compare, read_coding_sets
    from pipeline.errors import IntcapError
    from pipeline.outputs import write_json

    if args.top < 0:
        raise IntcapError(f"--top: expected a count >= 0, found {args.top}")
    a, b = read_coding_sets(args.codings, args.coders, mapping=args.mapping, sources_dir=args.sources_dir)
    report = compare(a, b, top=args.top)
    print(format_report(report))
    if args.json:
        write_json(args.json, report)
    return 0
