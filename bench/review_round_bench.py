"""Review round benchmark (not a test): how long one learning round takes on a 2,000-passage corpus.

    .venv/bin/python bench/review_round_bench.py [--passages 2000] [--answers 50] [--retrain]

Set-up (not timed): 2,000 passages of the written training corpus (corpus/train/), as 2,000 / 5
sources of 5 passages, are coded by the shipped model into a results folder, and ``--answers``
of them, chosen the way the review page would (the queue's order), are answered from their
hand coding into the real SQLite label store. Timed: the default (fast) round
``review_round`` = export the answers, adapt the model, re-code every passage, write profiles,
report and run.json, estimate the held-back gain, rebuild the queue; each step separately, then
the same round once more with 50 more answers (the second round of a session). ``--retrain``
also times the full retrain round (minutes) on the same answers for comparison.
Writes bench/results/review_round.json. Target: a round <= 60 s on 2 cores.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "bench" / "results"
TARGET_S = 60.0


def build_results_folder(out: Path, n: int) -> list:
    from pipeline import corpus, paths
    from pipeline.modeldir import load_model
    from pipeline.outputs import PassageWriter
    from pipeline.records import Passage

    rows = corpus.examples(corpus.training_rows())[:n]
    coder = load_model(paths.DEFAULT_MODEL, cache_path=paths.embedding_cache())
    passages, start = [], 0
    for i, e in enumerate(rows):
        if i % 5 == 0:
            start = 0
        passages.append(Passage(e.id, e.company, f"source-{i // 5:04d}.txt", start, start + len(e.text), e.text))
        start += len(e.text) + 2
    writer = PassageWriter(out)
    writer.write(coder.code(passages))
    writer.close()
    return rows


def answer(out: Path, rows: list, n: int) -> None:
    from pipeline.review.session import ReviewSession, Visit

    truth = {e.id: e.codes for e in rows}
    session = ReviewSession.open(out)
    visit = Visit()
    try:
        for _ in range(n):
            coding = session.next_coding(visit, "bench")
            session.answer(coding.passage.id, dict(truth[coding.passage.id]), "bench", visit)
    finally:
        session.store.close()


def timed_round(out: Path, retrain: bool = False) -> dict:
    """One round with each step timed (the RoundSteps swapped for timing wrappers)."""
    from pipeline.review import learning_round as lr

    times: dict[str, float] = {}

    def timing(name, fn):
        def wrapped(*args, **kwargs):
            t = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                times[name] = round(time.perf_counter() - t, 2)
        return wrapped

    base = lr.RoundSteps()
    steps = lr.RoundSteps(**{k: timing(k, getattr(base, k)) for k in ("export", "adapt", "train", "recode", "queue")})
    t0 = time.perf_counter()
    result = lr.review_round(out, steps=steps, retrain=retrain)
    return {"seconds": round(time.perf_counter() - t0, 2), "steps": times, "n_labels": result["n_labels"],
            "passages": result["passages"], "model_version": result["model_version"],
            "held_back": result.get("held_back")}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--passages", type=int, default=2000)
    ap.add_argument("--answers", type=int, default=50)
    ap.add_argument("--retrain", action="store_true", help="also time the full retrain round")
    ap.add_argument("--json", type=Path, default=RESULTS / "review_round.json")
    args = ap.parse_args(argv)
    result = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                          "loadavg_start": os.getloadavg()}}
    with tempfile.TemporaryDirectory(prefix="intcap-round-") as tmp:
        out = Path(tmp) / "out"
        t = time.perf_counter()
        rows = build_results_folder(out, args.passages)
        result["setup_coding_s"] = round(time.perf_counter() - t, 1)
        answer(out, rows, args.answers)
        result["first_round"] = timed_round(out)
        answer(out, rows, args.answers)
        result["second_round"] = timed_round(out)
        if args.retrain:
            result["retrain_round"] = timed_round(out, retrain=True)
    result["passages"] = args.passages
    result["target_s"] = TARGET_S
    result["passed"] = max(result["first_round"]["seconds"], result["second_round"]["seconds"]) <= TARGET_S
    result["machine"]["loadavg_end"] = os.getloadavg()
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "machine"}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
