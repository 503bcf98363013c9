"""Review on a corpus in another register (not a test): the thesis's passages as the user's corpus.

    .venv/bin/python bench/review_new_register.py [--seeds 10] [--json bench/results/review_simulate_thesis_pool.json]

On the dev-set pool (``intcap review simulate --pool corpus/dev``) a reviewer has little to
teach: the dev set was written to the codebook from the same kinds of instructions as the
training corpus, and the shipped model already agrees at about κ 0.75 on it. A user's own
corpus is text by other authors. The one such hand-coded text here is the thesis: 198
third-person summaries of 14 Danish firms, coded by the thesis's authors. So this bench:

1. trains the shipped recipe (``CoderSettings()``) on the written corpus alone (corpus/train/;
   no thesis passage, none of their rewrites or Danish renderings) into models/corpus-only/;
2. replays review with the thesis as the pool and its authors' coding as the oracle, exactly
   as ``intcap review simulate --pool corpus/thesis/coded_passages.jsonl --model-dir
   models/corpus-only`` does (pipeline/review/pool_simulation.py: firms split a third held out,
   batches of 10, the fast round's AnswerAdapter refitted after each batch, uncertainty,
   random and diverse order, 10 seeds).

The model is trained once (about 2 minutes with the embedding cache warm) and reused when its
training data has not changed. ``--penalty-grid`` instead replays the development seeds 100-104
of both pools (the thesis pool with this model, the dev pool with the shipped model) for the
adapter's penalties C in {4, 16, 64} x C_base in {1, 4, 16} (about 10 minutes).
``--dense-grid`` replays the same development seeds with each passage's dense features (the
coder's mean sentence embedding, centred) appended to the adapter's TF-IDF rows at scales
0.5-16 (a larger scale is a weaker pull toward the model; about 6 minutes).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
MODEL_DIR = ROOT / "models" / "corpus-only"
POOL = ROOT / "corpus" / "thesis" / "coded_passages.jsonl"


def corpus_only_model(model_dir: Path = MODEL_DIR) -> str:
    """The shipped recipe fitted on corpus/train/ only; skipped when the saved model's data hash matches."""
    from dataclasses import asdict, replace

    from pipeline import corpus
    from pipeline.coder import CoderSettings
    from pipeline.train import examples_hash, train_on

    settings = replace(CoderSettings(), register_augment="")  # the rewrites are of thesis passages
    examples = corpus.examples(corpus.training_rows())
    manifest = model_dir / "manifest.json"
    if manifest.is_file():
        saved = json.loads(manifest.read_text())
        if saved.get("training_data_sha256") == examples_hash(examples) and saved.get("settings") == asdict(settings):
            return saved["version"]
    return train_on(model_dir, examples, settings)


def development_pools():
    """(name, prepared pool, pool path, model dir) of the two pools the grids replay on seeds 100-104."""
    from pipeline import paths
    from pipeline.review.pool_simulation import prepare_pool

    for name, pool, model_dir in (("thesis pool, corpus-only model", POOL, MODEL_DIR),
                                  ("dev pool, shipped model", ROOT / "corpus" / "dev", paths.DEFAULT_MODEL)):
        yield name, prepare_pool(pool, model_dir), pool, model_dir


def replay_row(label: str, data, **settings) -> None:
    """Replay development seeds 100-104 and print the gains after 50 and 100 answers."""
    from pipeline.review.pool_simulation import PoolSimSettings, simulate_pool

    r = simulate_pool(settings=PoolSimSettings(first_seed=100, seeds=5, **settings), data=data)
    g = r["gain_after"]
    print(f"{label}: start {r['start_kappa']:.3f} all {r['all_labels_kappa']:.3f}; after 50 active "
          f"{g['50']['active']:+.3f} random {g['50']['random']:+.3f}; after 100 active "
          f"{g['100']['active']:+.3f} random {g['100']['random']:+.3f}; to 95 % {r['labels_to_95']}", flush=True)


def penalty_grid() -> None:
    """The adapter's penalties on development seeds 100-104 of both pools (docs/REVIEW.md)."""
    for name, data, _, _ in development_pools():
        for C in (4, 16, 64):
            for C_base in (1, 4, 16):
                replay_row(f"{name}: C={C} C_base={C_base}", data, C=C, C_base=C_base)


def dense_grid() -> None:
    """The adapter with the passages' embeddings beside TF-IDF, on development seeds 100-104 (docs/REVIEW.md)."""
    from scipy import sparse

    from pipeline import paths
    from pipeline.modeldir import load_model
    from pipeline.review.pool_simulation import PoolData, load_pool

    for name, data, pool, model_dir in development_pools():
        examples = load_pool(pool)
        coder = load_model(model_dir, cache_path=paths.embedding_cache())  # features read from the cache
        X = coder.features([e.text for e in examples], [e.company for e in examples]).X[:, :coder.encoder.dim]
        X = X - X.mean(0)  # centred, so the adapter's bias stays the bias
        for scale in (0, 0.5, 1, 2, 4, 8, 16):
            rows = sparse.hstack([data.arrays["T"], sparse.csr_matrix(scale * X)]).tocsr() if scale else data.arrays["T"]
            replay_row(f"{name}: dense scale {scale}", PoolData(data.pool, data.model_version, data.firms,
                                                                 {**data.arrays, "T": rows}, 0))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--json", type=Path, default=ROOT / "bench" / "results" / "review_simulate_thesis_pool.json")
    ap.add_argument("--penalty-grid", action="store_true", help="the adapter's penalties on development seeds")
    ap.add_argument("--dense-grid", action="store_true", help="the adapter with dense features, on development seeds")
    args = ap.parse_args(argv)

    from pipeline.review.pool_simulation import PoolSimSettings, simulate_pool

    version = corpus_only_model()
    print(f"starting model {version} (written corpus only) -> {MODEL_DIR.relative_to(ROOT)}", flush=True)
    if args.penalty_grid or args.dense_grid:
        penalty_grid() if args.penalty_grid else dense_grid()
        return 0
    result = simulate_pool(POOL, MODEL_DIR, PoolSimSettings(seeds=args.seeds), progress=print)
    result["starting_model"] = "the shipped recipe trained on corpus/train/ only (bench/review_new_register.py)"
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=1) + "\n")
    for key in ("start_kappa", "all_labels_kappa", "gain_after", "labels_to_95", "acceptance", "seconds"):
        print(f"{key}: {result.get(key)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
