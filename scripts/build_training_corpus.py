"""Assemble corpus/train/ and corpus/dev/ from the writers' batches and the blind coding passes.

    python scripts/build_training_corpus.py --work DIR

DIR holds ``written/<batch>.jsonl`` (the writer's rows with the intended codes),
``coded/<batch>.<pass>.jsonl`` (blind passes: ``{"id", "codes"}``) and optionally
``adjudicated/<batch>.jsonl`` (``{"id", "codes"}`` decided by an adjudicator for the rows whose
opinions the majority rule could not settle). Batches named ``d*`` go to the dev set, the
others to training. Each output row keeps every opinion in ``passes``; ``codes`` is the
majority of the writer's intent and the blind passes, with unsettled valences taken from the
adjudicator. ``label_source``: ``agreed`` (all opinions identical), ``majority`` or
``adjudicated``. The raw folder is not part of the repository; the output rows are.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.corpus import DEV_DIR, TRAIN_DIR, adjudicate, load_rows, parse_row  # noqa: E402

FIELDS = ("id", "company", "text", "codes", "language", "register", "country", "industry")


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]


def build_batch(work: Path, batch: str) -> tuple[list[dict], int]:
    written = read_jsonl(work / "written" / f"{batch}.jsonl")
    passes = {}
    for f in sorted((work / "coded").glob(f"{batch}.*.jsonl")):
        name = f.name[len(batch) + 1:-len(".jsonl")]
        passes[name] = {r["id"]: r["codes"] for r in read_jsonl(f)}
    adjudicated = {}
    adj_file = work / "adjudicated" / f"{batch}.jsonl"
    if adj_file.is_file():
        adjudicated = {r["id"]: r["codes"] for r in read_jsonl(adj_file)}
    out, unsettled_total = [], 0
    for w in written:
        opinions = [("writer", w["codes"])] + [(f"blind-{name}", p[w["id"]]) for name, p in passes.items()
                                               if w["id"] in p]
        codes, unsettled = adjudicate([o for _, o in opinions])
        source = "agreed" if all(o == opinions[0][1] for _, o in opinions) else "majority"
        if unsettled:
            unsettled_total += 1
            if w["id"] in adjudicated:
                decided = adjudicated[w["id"]]
                for code in unsettled:
                    if code in decided:
                        codes[code] = decided[code]
                source = "adjudicated"
        row = {k: w[k] for k in FIELDS}
        row.update(codes=codes, label_source=source, batch=batch,
                   passes=[{"coder": name, "codes": o} for name, o in opinions])
        if w.get("lookalike"):
            row["lookalike"] = True
        if w.get("pair"):
            row["pair"] = w["pair"]
        parse_row(row)  # validates
        out.append(row)
    return out, unsettled_total


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", type=Path, required=True)
    ap.add_argument("--min-passes", type=int, default=2, help="blind passes a batch needs to be included")
    args = ap.parse_args(argv)
    for batch_file in sorted((args.work / "written").glob("*.jsonl")):
        batch = batch_file.stem
        n_passes = len(list((args.work / "coded").glob(f"{batch}.*.jsonl")))
        if n_passes < args.min_passes:
            print(f"{batch}: {n_passes} blind pass(es), skipped")
            continue
        rows, unsettled = build_batch(args.work, batch)
        target = (DEV_DIR if batch.startswith("d") else TRAIN_DIR) / f"{batch}.jsonl"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
        load_rows(target)
        print(f"{batch}: {len(rows)} rows -> {target.relative_to(target.parents[2])} ({unsettled} with unsettled valence)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
