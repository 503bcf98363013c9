"""Train the default coder on all hand-coded examples and write a model directory."""
from __future__ import annotations

from pathlib import Path

from pipeline import paths
from pipeline.coder import CoderSettings, PassageCoder
from pipeline.embed import load_encoder
from pipeline.examples import Example, base_rates, load_examples, merge_examples
from pipeline.modeldir import save_model
from pipeline.records import text_hash


def training_examples(extra: list[Path] = ()) -> list[Example]:
    """The thesis's hand-coded passages plus any extra JSONL files (later ones win on id)."""
    return merge_examples(load_examples(paths.CODED_PASSAGES), *(load_examples(p) for p in extra))


def examples_hash(examples: list[Example]) -> str:
    return text_hash("\n".join(f"{e.id}\t{e.company}\t{e.text}\t{sorted(e.codes.items())}" for e in examples))


def train_model(model_dir: Path, *, extra: list[Path] = (), settings: CoderSettings | None = None) -> str:
    """Fit on all examples; return the new model version."""
    settings = settings or CoderSettings()
    examples = training_examples(list(extra))
    coder = PassageCoder(load_encoder(settings.encoder)).fit(examples, settings)
    return save_model(coder, settings, model_dir, data_hash=examples_hash(examples), n_examples=len(examples),
                      extra={"base_rates": base_rates(examples)})
