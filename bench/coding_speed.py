"""Coding speed of trained models on passages of different lengths (not a test).

Codes the same passage sets with each model folder given (default: the shipped `models/default`),
with no embedding cache so every text is encoded, in interleaved runs in one process, and reports
passages/s per model, set and run, plus the ratio of each model to the first. The sets: the thesis's
198 passages (English, one thesis paragraph each), the dev set's English passages and the whole dev
set (all languages; a model with a companion routes the Nordic ones to it). One run; the ratios are
the figures to read (absolute rates move with the host's load).

    .venv/bin/python bench/coding_speed.py [--model-dir DIR ...] [--runs 2] [--json FILE]

For the previous default (MiniLM with an e5 companion):
    .venv/bin/python -m intcap train --recipe minilm-routed --model-dir models/minilm-routed
    .venv/bin/python bench/coding_speed.py --model-dir models/default models/minilm-routed --json bench/results/coding_speed.json
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline import paths  # noqa: E402
from pipeline.corpus import load_corpus  # noqa: E402
from pipeline.examples import load_examples  # noqa: E402
from pipeline.modeldir import load_model  # noqa: E402
from pipeline.sentences import split_sentences  # noqa: E402


def passage_sets() -> dict[str, list]:
    dev = load_corpus(ROOT / "corpus" / "dev")
    return {"thesis passages (English)": load_examples(paths.CODED_PASSAGES),
            "dev set, English": [ex for ex in dev if ex.language == "en"],
            "dev set, every language": dev}


def seconds_to_code(coder, examples) -> float:
    texts, companies = [ex.text for ex in examples], [ex.company for ex in examples]
    langs = [ex.language or "en" for ex in examples]
    t0 = time.perf_counter()
    coder.predict_routed(texts, companies, langs)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model-dir", nargs="+", default=[str(ROOT / "models" / "default")])
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--json", default="")
    args = ap.parse_args()
    import torch

    coders = {}
    for d in args.model_dir:
        coder = load_model(Path(d))  # no cache_path: every text is encoded
        coder.predict_routed(["warm up: the weights load before the clock starts"], ["F"], ["en"])
        for comp in coder.companions.values():
            comp.encoder.encode(["warm up"])
        coders[f"{Path(d).name} ({coder.version}, {coder.info.get('encoder')}"
               + (", companion" if coder.companions else "") + ")"] = coder
    sets = passage_sets()
    out = {"torch_threads": torch.get_num_threads(), "cpus": os.cpu_count(), "runs": args.runs, "sets": {}}
    for label, examples in sets.items():
        sentences = sum(len(split_sentences(ex.text)) for ex in examples) / len(examples)
        row = {"passages": len(examples), "mean_sentences": round(sentences, 2),
               "mean_chars": round(sum(len(ex.text) for ex in examples) / len(examples)), "models": {}}
        for run in range(args.runs):
            for name, coder in coders.items():  # interleaved: load drifts hit every model alike
                rate = len(examples) / seconds_to_code(coder, examples)
                row["models"].setdefault(name, []).append(round(rate, 1))
        first = next(iter(row["models"].values()))
        row["ratio_to_first"] = {n: [round(r / f, 3) for r, f in zip(rates, first)] for n, rates in row["models"].items()}
        out["sets"][label] = row
        print(label, json.dumps(row, indent=1), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
