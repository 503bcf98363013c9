"""Model candidates on the written corpus: the dev set and the thesis LOCO, in one run.

    .venv/bin/python bench/corpus_models.py [--only NAME ...] [--loco NAME ...] [--curve]
                                            [--out bench/results/corpus_models.json]

Every candidate trains on the thesis passages, their register rewrites and corpus/train/
(the written corpus), then codes corpus/dev/ (firms never trained on); with ``--loco`` the
named candidates are also measured leave-one-company-out on the thesis (each fold trains
on 13 thesis firms plus the whole written corpus, which is about other firms). Choose on
the dev set; the LOCO column is reported next to it. ``--curve`` draws the dev learning
curve of the first candidate at 250, 500, 1,000, 2,000, 4,000 and all written passages.

Embeddings come through the on-disk cache, so a re-run encodes only new texts; coding
speed is measured separately on an uncached encoder (passages/s on the dev texts).
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline import corpus, paths  # noqa: E402
from pipeline.candidates import CoderCandidate, RoutedCandidate  # noqa: E402
from pipeline.coder import MINILM_ROUTED, CoderSettings  # noqa: E402
from pipeline.embed import COMPOSITES, CachedEncoder, ConcatEncoder, EmbeddingCache, cached_encoder, load_encoder  # noqa: E402
from pipeline.evaluate import coding_metrics, dev_metrics, loco_pool  # noqa: E402
from pipeline.examples import load_examples  # noqa: E402
from pipeline.train import augment_examples  # noqa: E402

#: the rows are variations of the recipe they were measured on (docs/EVALUATION.md); "e5-small for every
#: language" is today's default
DEFAULT = MINILM_ROUTED


def candidates() -> dict[str, CoderSettings]:
    return {
        "thesis only (previous default)": replace(DEFAULT, training_corpus=False),
        "default recipe + corpus": DEFAULT,
        "valence heads balanced": replace(DEFAULT, valence_balanced=True),
        "TF-IDF valence head too": replace(DEFAULT, valence_tfidf=True),
        "no TF-IDF head": replace(DEFAULT, tfidf_weight=0.0),
        "C=1": replace(DEFAULT, C=1.0),
        "written corpus weighted 0.5 (real coded text counts double)": replace(DEFAULT, written_weight=0.5),
        "written corpus weighted 0.25": replace(DEFAULT, written_weight=0.25),
        "passage pooling": replace(DEFAULT, pooling="passage"),
        "companion passage pooling (faster Nordic coding)": replace(DEFAULT, multilingual_pooling="passage"),
        # e5 per sentence is ~20 min of encoding on 2 cores for the corpus; these compare at passage pooling
        "e5-small for every language (passage pooling)": replace(DEFAULT, encoder="e5-small.v1", multilingual="",
                                                                 pooling="passage"),
        "MiniLM+e5 concatenated, passage pooling (ensemble)": replace(DEFAULT, encoder="minilm+e5.v1",
                                                                      multilingual="", pooling="passage"),
        # since e5 runs in torch (about twice the C engine's speed) sentence pooling is affordable; the
        # companion already caches e5 sentence embeddings of every training text
        # CoderSettings() until session 11; the default since session 12 is the evidence row below
        "e5-small for every language": replace(DEFAULT, encoder="e5-small.v1", multilingual=""),
        "MiniLM+e5 concatenated (ensemble)": replace(DEFAULT, encoder="minilm+e5.v1", multilingual=""),
        # e5 for English too, the Nordic passages still routed to the e5 companion (trained with the
        # thesis's Danish rendering as well)
        "e5-small main coder + e5 companion": replace(DEFAULT, encoder="e5-small.v1"),
        # regularisation of the dense heads once the corpus passed 6,000 passages (C=4 was chosen at 2,800)
        "e5-small, C=1": replace(CoderSettings(), C=1.0, valence_evidence=False),
        "e5-small, C=16": replace(CoderSettings(), C=16.0, valence_evidence=False),
        "e5-small, C=64": replace(CoderSettings(), C=64.0, valence_evidence=False),
        # the dense valence heads also read each code's evidence sentence (= CoderSettings() since session 12)
        "e5-small, valence reads the evidence sentence": CoderSettings(),
    }


class Encoders:
    """Cached encoders by name (composites built from cached parts)."""

    def __init__(self, cache: EmbeddingCache):
        self.cache = cache
        self.loaded = {}

    def __call__(self, name: str):
        if name not in self.loaded:
            if name in COMPOSITES:
                self.loaded[name] = ConcatEncoder(name, [self(p) for p in COMPOSITES[name]])
            else:
                self.loaded[name] = cached_encoder(name, self.cache.path)
        return self.loaded[name]


class _Swap:
    """Encoders, with one name answered by another encoder (a fine-tuned one)."""

    def __init__(self, encoders, name, encoder):
        self.encoders, self.name, self.encoder = encoders, name, encoder

    def __call__(self, name):
        return self.encoder if name == self.name else self.encoders(name)


def tuned_encoder(written, encoders: Encoders):
    """MiniLM fine-tuned end to end with a multi-label head on the written corpus (cached on disk
    under models/bench-finetuned-<hash>)."""
    from pipeline.embed import SentenceTransformerEncoder
    from pipeline.finetune import finetune_multilabel
    from pipeline.records import text_hash

    key = text_hash("\n".join(e.id + str(sorted(e.codes.items())) for e in written))[:10]
    out = ROOT / "models" / f"bench-finetuned-{key}"
    if not (out / "model.safetensors").is_file():
        t0 = time.perf_counter()
        finetune_multilabel(written, load_encoder("minilm.v1").path, out)
        print(f"fine-tuned on {len(written)} passages in {time.perf_counter() - t0:.0f} s", flush=True)
    return CachedEncoder(SentenceTransformerEncoder(f"bench-finetuned-{key}", out), encoders.cache)


def make_candidate(settings: CoderSettings, encoders: Encoders):
    if settings.multilingual:
        return RoutedCandidate("c", encoders(settings.encoder), settings, encoders(settings.multilingual))
    return CoderCandidate("c", encoders(settings.encoder), settings)


def pool_for(settings: CoderSettings, thesis, written):
    return thesis + augment_examples(settings, thesis) + (written if settings.training_corpus else [])


def speed(settings: CoderSettings, fitted, texts) -> float:
    """Passages/s coding ``texts`` with uncached encoders (model loading excluded)."""
    raw = {n: load_encoder(n) for n in {settings.encoder, settings.multilingual} - {""}}
    for enc in raw.values():
        enc.encode(["warm-up"])
    fitted.use_encoder(raw[settings.encoder])
    for comp in fitted.coder_.companions.values():
        comp.encoder = raw[settings.multilingual]
    examples = [t for t in texts]
    t0 = time.perf_counter()
    fitted.predict(examples)
    return round(len(examples) / max(time.perf_counter() - t0, 1e-9), 1)


def markdown_table(results: dict) -> str:
    """The ablation table of a results file (as docs/EVALUATION.md shows it)."""
    lines = ["| candidate | dev NET | ENT | ABS | PRI | dev mean κ | valence (majority) | en / da | thesis LOCO | passages/s | fit s |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, row in results["rows"].items():
        d = row["dev"]
        loco = f"{row['loco']['mean_kappa']:.3f}" if "loco" in row else "—"
        speed = f"{row['passages_per_s']}" if "passages_per_s" in row else "—"
        lines.append(f"| {name} | " + " | ".join(f"{d['kappa'][c]:.3f}" for c in d["kappa"])
                     + f" | **{d['mean_kappa']:.3f}** | {d['valence_accuracy']:.3f} ({d['valence_majority_accuracy']:.3f})"
                     + f" | {d.get('english_mean_kappa', float('nan')):.3f} / {d.get('danish_mean_kappa', float('nan')):.3f}"
                     + f" | {loco} | {speed} | {row['train_seconds_cached']:.0f} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", nargs="*", default=None)
    ap.add_argument("--loco", nargs="*", default=[], help="candidates also measured on the thesis LOCO ('all' = every one)")
    ap.add_argument("--curve", action="store_true")
    ap.add_argument("--curve-only", action="store_true",
                    help="only the learning curve of the first --only candidate, without its 'all' point (that is its row)")
    ap.add_argument("--finetune", action="store_true",
                    help="add the end-to-end fine-tuned candidate (its encoder trained on corpus/train only, so "
                         "neither the dev set nor the thesis firms leak into it)")
    ap.add_argument("--speed", action="store_true", help="measure coding speed with uncached encoders")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "corpus_models.json")
    ap.add_argument("--table", type=Path, nargs="+", help="print the markdown table of these results files and exit")
    args = ap.parse_args(argv)
    if args.table:
        merged = {"rows": {}}
        for f in args.table:
            merged["rows"].update(json.loads(f.read_text())["rows"])
        print(markdown_table(merged))
        return 0
    encoders = Encoders(EmbeddingCache(paths.embedding_cache()))
    thesis = load_examples(paths.CODED_PASSAGES)
    written = corpus.examples(corpus.training_rows())
    dev = corpus.examples(corpus.dev_rows())
    print(f"thesis {len(thesis)}, written training corpus {len(written)}, dev {len(dev)}", flush=True)
    results = {"n_thesis": len(thesis), "n_written": len(written), "n_dev": len(dev), "rows": {}}
    chosen = {k: v for k, v in candidates().items() if args.only is None or k in args.only}
    if args.finetune:
        chosen["fine-tuned MiniLM, multi-label head (encoder tuned on corpus/train only)"] = replace(
            DEFAULT, finetune=True, finetune_method="multilabel", multilingual="e5-small.v1")
    for name, settings in ({} if args.curve_only else chosen).items():
        t0 = time.perf_counter()
        if settings.finetune:
            tuned = tuned_encoder(written, encoders)
            row_encoders = _Swap(encoders, settings.encoder, tuned)
        else:
            row_encoders = encoders
        pool = pool_for(settings, thesis, written)
        cand = make_candidate(settings, row_encoders).fit(pool)
        fit_s = time.perf_counter() - t0
        row = {"settings": asdict(settings), "train_seconds_cached": round(fit_s, 1),
               "dev": dev_metrics(dev, cand.predict(dev), pool)}
        if args.speed:
            row["passages_per_s"] = speed(settings, cand, dev)
        if name in args.loco or "all" in args.loco:
            t1 = time.perf_counter()
            main_cand = CoderCandidate("c", row_encoders(settings.encoder), settings)
            row["loco"] = coding_metrics(thesis, loco_pool(main_cand, pool, thesis))
            row["loco_seconds"] = round(time.perf_counter() - t1, 1)
        results["rows"][name] = row
        d = row["dev"]
        print(f"{name:40s} dev κ {d['mean_kappa']:.3f} (" + " ".join(f"{c} {d['kappa'][c]:.3f}" for c in d["kappa"])
              + f") val {d['valence_accuracy']:.3f}/{d['valence_majority_accuracy']:.3f}"
              + f" en {d.get('english_mean_kappa', float('nan')):.3f} da {d.get('danish_mean_kappa', float('nan')):.3f}"
              + (f" | LOCO {row['loco']['mean_kappa']:.3f}" if "loco" in row else "")
              + (f" | {row['passages_per_s']}/s" if "passages_per_s" in row else "")
              + f" | fit {fit_s:.0f}s", flush=True)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=1, ensure_ascii=False))
    if args.curve or args.curve_only:
        name, settings = next(iter(chosen.items()))
        by_firm: dict[str, list] = {}
        for e in written:
            by_firm.setdefault(e.company, []).append(e)
        firms = sorted(by_firm)
        random.Random(0).shuffle(firms)
        curve = []
        for size in [250, 500, 1000, 2000, 4000, len(written)]:
            if size > len(written):
                continue
            if size == len(written) and name in results["rows"]:  # the row above is this point
                d = results["rows"][name]["dev"]
                curve.append({"written_passages": size, "dev_mean_kappa": d["mean_kappa"], "dev_kappa": d["kappa"],
                              "dev_valence_accuracy": d["valence_accuracy"]})
                continue
            if size == len(written) and args.curve_only:  # that point is the candidate's own row
                continue
            subset = []
            for f in firms:  # whole firms, in a fixed random order, until the size is reached
                if len(subset) >= size:
                    break
                subset += by_firm[f]
            pool = pool_for(settings, thesis, subset[:size])
            cand = make_candidate(settings, encoders).fit(pool)
            d = dev_metrics(dev, cand.predict(dev), pool)
            curve.append({"written_passages": size, "dev_mean_kappa": d["mean_kappa"], "dev_kappa": d["kappa"],
                          "dev_valence_accuracy": d["valence_accuracy"]})
            print(f"curve {size:5d}: dev κ {d['mean_kappa']:.3f}", flush=True)
        results["learning_curve"] = {"candidate": name, "points": curve}
        args.out.write_text(json.dumps(results, indent=1, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
