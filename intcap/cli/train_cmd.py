"""intcap train: fit the coder on the thesis's hand-coded examples plus any extra JSONL."""
from __future__ import annotations

from pathlib import Path

from intcap.cli.options import add_model_dir


def add_parser(sub):
    p = sub.add_parser("train", help="train a model on hand-coded examples", description=__doc__)
    p.add_argument("--examples", type=Path, nargs="*", default=[],
                   help="extra hand-coded JSONL files (same format as corpus/thesis/coded_passages.jsonl)")
    add_model_dir(p)
    p.add_argument("--recipe", choices=("e5", "minilm-routed"), default="e5",
                   help="e5: the shipped default (multilingual-e5-small for every language); minilm-routed: the "
                        "default until session 9 (MiniLM, with an e5-small companion for Danish, Swedish, Norwegian "
                        "and German), which codes English about twice as fast and agrees less (docs/EVALUATION.md)")
    p.add_argument("--encoder", default=None, help="sentence encoder instead of the recipe's (e5-small.v1, "
                   "minilm.v1, minilm+e5.v1)")
    p.add_argument("--finetune", action="store_true",
                   help="contrastively fine-tune the encoder on the examples first (SetFit-style; minutes on CPU; "
                        "needs a sentence-transformers encoder: --encoder minilm.v1 --finetune)")
    p.add_argument("--companion", default=None, metavar="ENCODER",
                   help="also train a companion coder on this encoder for Danish, Swedish, Norwegian and German "
                        "passages (--recipe minilm-routed has one)")
    p.add_argument("--no-multilingual", action="store_true",
                   help="no companion coder (the default has none)")
    p.add_argument("--thesis-only", action="store_true",
                   help="train on the thesis's passages (and --examples) without the written corpus in corpus/train/")
    return p


def run(args) -> int:
    from pipeline.coder import RECIPES
    from pipeline.train import train_model

    from dataclasses import replace

    settings = RECIPES[args.recipe]
    if args.encoder:
        settings = replace(settings, encoder=args.encoder)
    if args.companion:
        settings = replace(settings, multilingual=args.companion)
    if args.no_multilingual:
        settings = replace(settings, multilingual="")
    if args.finetune:
        settings = replace(settings, finetune=True)
    if args.thesis_only:
        settings = replace(settings, training_corpus=False)
    version = train_model(args.model_dir, extra=args.examples, settings=settings)
    print(f"trained model {version} -> {args.model_dir}")
    return 0
