"""Train the default coder on all hand-coded examples and write a model directory."""
from __future__ import annotations

from pathlib import Path

from pipeline import paths
from pipeline.coder import CoderSettings, PassageCoder
from pipeline.embed import cached_encoder, load_encoder
from pipeline.errors import ModelError
from pipeline.language import COMPANION_LANGUAGES
from pipeline.examples import Example, base_rates, load_examples, merge_examples
from pipeline.modeldir import save_model
from pipeline.records import text_hash


def training_examples(extra: list[Path] = (), *, with_corpus: bool = True) -> list[Example]:
    """The thesis's hand-coded passages, the written training corpus (corpus/train/) and any
    extra JSONL files (later ones win on id)."""
    from pipeline import corpus

    written = corpus.examples(corpus.training_rows()) if with_corpus else []
    return merge_examples(load_examples(paths.CODED_PASSAGES), written, *(load_examples(p) for p in extra))


def examples_hash(examples: list[Example]) -> str:
    return text_hash("\n".join(f"{e.id}\t{e.company}\t{e.text}\t{sorted(e.codes.items())}" for e in examples))


def companion_coders(settings: CoderSettings, examples: list[Example], encoder=None) -> dict[str, PassageCoder]:
    """{"da": the multilingual coder} trained on ``examples`` plus the Danish rendering of the
    thesis passages among them (same labels), or {} when ``settings.multilingual`` is empty."""
    if not settings.multilingual:
        return {}
    from dataclasses import replace

    by_id = {e.id: e for e in examples}  # labels as merged (a reviewer's relabel carries over)
    danish = [replace(by_id[d.id[3:]], id=d.id, text=d.text, language="da") for d in danish_examples()
              if d.id[3:] in by_id]
    comp = settings.companion()
    # the companion codes only the languages routed to it, so it learns from those passages (the
    # multilingual encoder is several times slower than MiniLM: all English passages would make training
    # take longer than the 10 minutes a user's machine may spend); with no written corpus yet it
    # keeps the thesis's English passages as well
    own = [e for e in examples if e.language in COMPANION_LANGUAGES]
    pool = own + danish if own else examples + danish
    return {"da": PassageCoder(encoder or cached_encoder(comp.encoder)).fit(pool, comp)}


def train_model(model_dir: Path, *, extra: list[Path] = (), settings: CoderSettings | None = None) -> str:
    """Fit on all examples (the thesis, the written corpus when ``settings.training_corpus``,
    and ``extra``); return the new model version."""
    settings = settings or CoderSettings()
    return train_on(model_dir, training_examples(list(extra), with_corpus=settings.training_corpus), settings)


def train_on(model_dir: Path, examples: list[Example], settings: CoderSettings) -> str:
    """Fit ``settings``'s recipe on exactly ``examples`` (plus the register augmentation the
    settings ask for) and write the model; return its version."""
    rates = base_rates(examples)
    examples = examples + augment_examples(settings, examples)
    companions = companion_coders(settings, examples)
    if not settings.finetune:
        coder = PassageCoder(cached_encoder(settings.encoder)).fit(examples, settings)
        return save_model(coder, settings, model_dir, data_hash=examples_hash(examples), n_examples=len(examples),
                          extra={"base_rates": rates}, companions=companions)
    import tempfile

    from pipeline.embed import SentenceTransformerEncoder
    from pipeline.finetune import finetune, finetune_multilabel

    base = load_encoder(settings.encoder)
    if not isinstance(base, SentenceTransformerEncoder):
        raise ModelError(f"--finetune needs a sentence-transformers encoder, not {settings.encoder!r}: "
                         "use --encoder minilm.v1 --finetune")
    with tempfile.TemporaryDirectory(prefix=".tmp-finetune-", dir=Path(model_dir).parent) as tmp:
        tune = {"contrastive": finetune, "multilabel": finetune_multilabel}.get(settings.finetune_method)
        if tune is None:
            raise ModelError(f"unknown finetune_method {settings.finetune_method!r}; use contrastive or multilabel")
        enc_dir = tune(examples, base.path, Path(tmp) / "encoder")
        coder = PassageCoder(SentenceTransformerEncoder("finetuned", enc_dir)).fit(examples, settings)
        return save_model(coder, settings, model_dir, data_hash=examples_hash(examples), n_examples=len(examples),
                          extra={"base_rates": rates, "base_encoder": settings.encoder},
                          encoder_dir=enc_dir, companions=companions)


DANISH = paths.THESIS / "coded_passages.da.jsonl"


def danish_examples() -> list[Example]:
    """The Danish rendering of the thesis passages (same labels), ids prefixed "da:"."""
    from dataclasses import replace

    return [replace(e, id="da:" + e.id) for e in load_examples(DANISH)] if DANISH.is_file() else []


REWRITES = paths.THESIS / "register_rewrites.jsonl"


def derived_rewrites() -> list[Example]:
    """First-person / Q-A rewrites of thesis passages (each row's ``company`` is the thesis firm
    it rewrites, so leave-one-company-out drops it with that firm); ids prefixed "rw:"."""
    from dataclasses import replace

    return [replace(e, id="rw:" + e.id) for e in load_examples(REWRITES)] if REWRITES.is_file() else []


def augment_examples(settings: CoderSettings, examples: list[Example]) -> list[Example]:
    """The register-shifted extra training examples that ``settings.register_augment`` asks for."""
    kinds = {k for k in settings.register_augment.split("+") if k}
    unknown = kinds - {"derived", "first-person"}
    if unknown:
        raise ModelError(f"unknown register_augment {sorted(unknown)}; use derived, first-person or both (+)")
    extra = derived_rewrites() if "derived" in kinds else []
    if "first-person" in kinds:
        extra += first_person_examples(examples)
    return extra


def first_person_examples(examples: list[Example]) -> list[Example]:
    """Automatic first-person renderings of ``examples`` (register augmentation), ids prefixed "fp:"."""
    from dataclasses import replace

    from pipeline.masking import first_person

    return [replace(e, id="fp:" + e.id, text=first_person(e.text, e.company)) for e in examples]
