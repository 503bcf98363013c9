"""Weak labels from the thesis's Analysis section, measured on the LOCO folds.

    .venv/bin/python bench/weak_labels.py [--out out/weak_labels.json]

The Analysis discusses the firms proposition by proposition, and each proposition
speaks mostly to one component: P1 to absorptive capacity (ABS), P2 to prior
knowledge (PRI), P3-P4 to networks (NET), P5-P6 to entrepreneurship (ENT). Every
Analysis paragraph under P1-P6 becomes a weakly labelled example carrying its
proposition's code (valence "+", other codes absent), with every firm name masked.
Leakage guard: in the fold that holds out firm F, paragraphs that name F are dropped
(the authors' statements about F are its answers). Rows: the default without and with
the weak examples (weight 1 and as sentences), scored on the 198 thesis passages
and on the 64 new-firm OOD dev passages (trained on everything).
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline import paths  # noqa: E402
from pipeline.candidates import CoderCandidate, Predictions  # noqa: E402
from pipeline.coder import MINILM_ROUTED  # noqa: E402
from pipeline.evaluate import coding_metrics, companies_of, memo_factory  # noqa: E402
from pipeline.examples import Example, load_examples  # noqa: E402
from pipeline.records import CODES, VALENCES  # noqa: E402
from pipeline.sentences import split_sentences  # noqa: E402

PROPOSITION_CODE = {1: "ABS", 2: "PRI", 3: "NET", 4: "NET", 5: "ENT", 6: "ENT"}
OOD_DEV = paths.CORPUS / "pilot" / "new_firms.jsonl"


def firm_patterns(companies: list[str]) -> dict[str, re.Pattern]:
    """A loose pattern per firm: the first word's first five letters (the thesis misspells
    some names, e.g. "Acoplatic", "Stålundustri")."""
    out = {}
    for c in companies:
        stem = re.escape(c.split()[0][:5])
        out[c] = re.compile(rf"\b{stem}\w*(?:['’]s?)?", re.IGNORECASE)
    return out


def analysis_paragraphs(thesis: str) -> list[tuple[int, str]]:
    """(proposition, paragraph) for P1-P6 of the Analysis; broken page lines re-joined."""
    body = thesis.split("\nAnalysis\n", 1)[1].split("\nDiscussion\n", 1)[0]
    out: list[tuple[int, str]] = []
    current = 0
    for line in (x.strip() for x in body.splitlines()):
        if not line:
            continue
        m = re.match(r"Proposition (\d):", line)
        if m:
            current = int(m.group(1))
            continue
        if current not in PROPOSITION_CODE:
            continue
        if out and out[-1][0] == current and line[0].islower():  # a paragraph cut by a page break
            out[-1] = (current, out[-1][1] + " " + line)
        else:
            out.append((current, line))
    return out


def weak_examples(companies: list[str], sentences: bool = False) -> list[tuple[Example, set[str]]]:
    """(example, firms it names) per Analysis paragraph (or sentence)."""
    pats = firm_patterns(companies)
    out = []
    for k, (prop, para) in enumerate(analysis_paragraphs(paths.THESIS.joinpath("thesis.txt").read_text())):
        units = [para[a:b] for a, b in split_sentences(para)] if sentences else [para]
        for s, unit in enumerate(units):
            named = {c for c, p in pats.items() if p.search(unit)}
            text = unit
            for c in named:
                text = pats[c].sub("the company", text)
            out.append((Example(f"analysis-p{prop}-{k:03d}-{s:02d}", "(analysis)", text,
                                {PROPOSITION_CODE[prop]: "+"}, "weak"), named))
    return out


def loco(cand, english: list[Example], weak: list[tuple[Example, set[str]]]) -> dict:
    n = len(english)
    presence, assigned = np.zeros((n, len(CODES))), np.zeros((n, len(CODES)), dtype=int)
    valence = np.zeros((n, len(CODES), len(VALENCES)))
    for company in companies_of(english):
        idx = [i for i, e in enumerate(english) if e.company == company]
        train = [e for e in english if e.company != company] + [w for w, named in weak if company not in named]
        cand.fit(train)
        pred = cand.predict([english[i] for i in idx])
        presence[idx], assigned[idx], valence[idx] = pred.presence, pred.assigned, pred.valence
    return coding_metrics(english, Predictions(presence, assigned, valence))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=ROOT / "out" / "weak_labels.json")
    args = ap.parse_args(argv)
    english = load_examples(paths.CODED_PASSAGES)
    ood = load_examples(OOD_DEV)
    new = [e for e in ood if not e.id.startswith("ood-") or int(e.id.split("-")[1]) > 42]
    companies = companies_of(english)
    from dataclasses import replace
    s = replace(MINILM_ROUTED, register_augment="", multilingual="")  # as the ablation rows
    cand = CoderCandidate("default", memo_factory()(s.encoder), s)
    report = {}
    for name, weak in (("default", []), ("+ Analysis paragraphs", weak_examples(companies)),
                       ("+ Analysis sentences", weak_examples(companies, sentences=True))):
        t0 = time.perf_counter()
        m = loco(cand, english, weak)
        cand.fit(english + [w for w, _ in weak])
        o = coding_metrics(new, cand.predict(new))
        report[name] = {"loco": m, "ood_new": o, "weak_examples": len(weak)}
        print(f"| {name} ({len(weak)}) | " + " | ".join(f"{m['kappa'][c]:.3f}" for c in CODES)
              + f" | **{m['mean_kappa']:.3f}** | {m['valence_accuracy']:.3f} | {o['mean_kappa']:.3f} |"
              + f" ({time.perf_counter() - t0:.0f} s)", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
