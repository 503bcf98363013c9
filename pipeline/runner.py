"""Entry points the CLI calls: pick Prefect or the plain runner, train a missing model."""
from __future__ import annotations

from pathlib import Path

from pipeline import paths
from pipeline.errors import IntcapError
from pipeline.modeldir import load_model


def run_coding(corpus: Path, out_dir: Path, model_dir: Path, *, batch_size: int = 16,
               use_prefect: bool = True, show_progress: bool = False) -> dict:
    """Code ``corpus`` into ``out_dir``; returns the run summary as a dict.

    Embeddings go through the on-disk cache, so re-coding unchanged passages encodes nothing.
    """
    if not Path(corpus).exists():
        raise IntcapError(f"{corpus}: no such file or folder")
    if use_prefect:
        from flows.prefect_env import configure_offline

        configure_offline()
        from flows.code_corpus import code_corpus

        return code_corpus(str(corpus), str(out_dir), str(model_dir), batch_size, show_progress,
                           str(paths.embedding_cache()))
    from pipeline.batch import code_folder

    return vars(code_folder(Path(corpus), Path(out_dir), load_model(Path(model_dir), cache_path=paths.embedding_cache()),
                            batch_size=batch_size, show_progress=show_progress))
