"""What the CLI calls to code or refresh a corpus: the Prefect flow, or the plain loop.

Choosing the orchestration is orchestration, so it lives here; ``pipeline/`` never imports
``flows/``.
"""
from __future__ import annotations

from pathlib import Path

from pipeline import paths
from pipeline.errors import IntcapError
from pipeline.modeldir import load_model, read_manifest
from pipeline.refresh import DEFAULT_BATCH_SIZE, refresh


def run_coding(corpus: Path, out_dir: Path, model_dir: Path, *, batch_size: int = 16,
               use_prefect: bool = True, show_progress: bool = False) -> dict:
    """Code ``corpus`` into ``out_dir``; returns the run summary as a dict.

    Embeddings go through the on-disk cache, so re-coding unchanged passages encodes nothing.
    """
    if not Path(corpus).exists():
        raise IntcapError(f"{corpus}: no such file or folder")
    read_manifest(Path(model_dir))  # a clear one-line error before Prefect starts
    if use_prefect:
        from flows.prefect_env import configure_offline

        configure_offline()
        from flows.code_corpus import code_corpus

        return code_corpus(str(corpus), str(out_dir), str(model_dir), batch_size, show_progress,
                           str(paths.embedding_cache()))
    from pipeline.batch import code_folder

    return vars(code_folder(Path(corpus), Path(out_dir), load_model(Path(model_dir), cache_path=paths.embedding_cache()),
                            batch_size=batch_size, show_progress=show_progress))


def run_refresh(corpus: Path, *, db: str | None = None, out_dir: Path | None = None, model_dir: Path,
                workers: int | None = None, dask_address: str | None = None, batch_size: int = DEFAULT_BATCH_SIZE,
                use_prefect: bool = True) -> dict:
    """What ``intcap refresh`` runs: the Prefect flow (optionally on Dask), or the plain loop."""
    if not Path(corpus).is_dir():
        raise IntcapError(f"{corpus}: no such folder")
    read_manifest(Path(model_dir))  # a clear error before anything starts
    if not use_prefect:
        if workers is not None or dask_address:
            raise IntcapError("--workers and --dask-address run on Prefect's Dask task runner; drop --no-prefect")
        from pipeline.store import open_store

        with open_store(db) as store:
            return refresh(Path(corpus), store, Path(model_dir), batch_size=batch_size, out_dir=out_dir)
    from flows.prefect_env import configure_offline

    configure_offline()
    from flows.refresh_corpus import refresh_corpus

    return refresh_corpus(str(corpus), db, str(out_dir) if out_dir else None, str(model_dir), workers, dask_address,
                          batch_size)
