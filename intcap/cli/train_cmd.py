"""intcap train: fit the coder on the thesis's hand-coded examples plus any extra JSONL."""
from __future__ import annotations

from pathlib import Path

from intcap.cli.options import add_model_dir


def add_parser(sub):
    p = sub.add_parser("train", help="train a model on hand-coded examples", description=__doc__)
    p.add_argument("--examples", type=Path, nargs="*", default=[],
                   help="extra hand-coded JSONL files (same format as corpus/thesis/coded_passages.jsonl)")
    add_model_dir(p)
    p.add_argument("--encoder", default=None, help="sentence encoder (default: the shipped default's, "
                   "e5-small.v1, for every language; minilm.v1 codes English about twice as fast)")
    p.add_argument("--finetune", action="store_true",
                   help="contrastively fine-tune the encoder on the examples first (SetFit-style; minutes on CPU; "
                        "needs a sentence-transformers encoder: --encoder minilm.v1 --finetune)")
    p.add_argument("--companion", default=None, metavar="ENCODER",
                   help="also train a companion coder on this encoder for Danish, Swedish, Norwegian and German "
                        "passages (the previous default: --encoder minilm.v1 --companion e5-small.v1)")
    p.add_argument("--no-multilingual", action="store_true",
                   help="no companion coder (the default has none)")
    p.add_argument("--thesis-only", action="store_true",
                   help="train on the thesis's passages (and --examples) without the written corpus in corpus/train/")
    return p


def run(args) -> int:
    from pipeline.coder import CoderSettings
    from pipeline.train import train_model

    from dataclasses import replace

    settings = CoderSettings()
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
