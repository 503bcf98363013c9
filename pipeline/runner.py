"""Entry points the CLI calls: pick Prefect or the plain runner, train a missing model."""
from __future__ import annotations

from pathlib import Path

from pipeline.errors import ModelError
from pipeline.modeldir import load_model


def run_coding(corpus: Path, out_dir: Path, model_dir: Path, *, batch_size: int = 16,
               use_prefect: bool = True, show_progress: bool = False) -> dict:
    """Code ``corpus`` into ``out_dir``; returns the run summary as a dict."""
    if not Path(corpus).exists():
        raise ModelError(f"{corpus}: no such file or folder")
    if use_prefect:
        from flows.prefect_env import configure_offline

        configure_offline()
        from flows.code_corpus import code_corpus

        return code_corpus(str(corpus), str(out_dir), str(model_dir), batch_size, show_progress)
    from pipeline.batch import code_folder

    return vars(code_folder(Path(corpus), Path(out_dir), load_model(Path(model_dir)),
                            batch_size=batch_size, show_progress=show_progress))
