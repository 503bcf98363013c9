"""What the CLI calls to code or refresh a corpus: the Prefect flow, or the plain loop.

Choosing the orchestration is orchestration, so it lives here; ``pipeline/`` never imports
``flows/``. With Prefect, the checks that need no model come first (one clear line, before
anything starts), then Prefect's API server starts in the background while this process
loads the model and what the first batch needs, so a run waits for the slower of the two
rather than for both one after the other.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from pipeline import paths
from pipeline.errors import IntcapError
from pipeline.modeldir import load_model, read_manifest
from pipeline.refresh import DEFAULT_BATCH_SIZE, refresh

Status = Callable[[str], None]


def _quiet(line: str) -> None:
    pass


def start_prefect(status: Status):
    """Say what is starting, then start (or find) the Prefect API in the background."""
    from flows.prefect_env import offline_settings
    from flows.prefect_server import open_api

    status("starting Prefect and loading the model ...")
    offline_settings()
    return open_api()


def run_coding(corpus: Path, out_dir: Path, model_dir: Path, *, batch_size: int = 16,
               interviewer: str | None = None, use_prefect: bool = True, show_progress: bool = False,
               debug: bool = False, status: Status = _quiet) -> dict:
    """Code ``corpus`` into ``out_dir``; returns the run summary as a dict.

    Embeddings go through the on-disk cache, so re-coding unchanged passages encodes nothing.
    ``interviewer`` names the interviewer speaker ("A; B") where a manifest row names none;
    ``debug`` lets Prefect's own log through; ``status`` is told what is starting.
    """
    from pipeline.batch import check_run, code_folder, warm_up

    read_manifest(Path(model_dir))  # clear one-line errors before anything slow starts
    check_run(Path(corpus), Path(out_dir))
    cache = paths.embedding_cache()
    if not use_prefect:
        status("loading the model ...")
        coder = load_model(Path(model_dir), cache_path=cache)
        return vars(code_folder(Path(corpus), Path(out_dir), coder, batch_size=batch_size,
                                show_progress=show_progress, interviewer=interviewer))
    server = start_prefect(status)
    coder = load_model(Path(model_dir), cache_path=cache)
    warm_up()
    from flows.code_corpus import code_corpus, preloaded
    from flows.prefect_env import quiet_console
    from flows.prefect_server import api_settings

    server.wait()
    with preloaded(Path(model_dir), coder), api_settings(server), quiet_console(debug):
        return code_corpus(str(corpus), str(out_dir), str(model_dir), batch_size, show_progress, str(cache),
                           interviewer)


def run_refresh(corpus: Path, *, db: str | None = None, out_dir: Path | None = None, model_dir: Path,
                workers: int | None = None, dask_address: str | None = None, batch_size: int = DEFAULT_BATCH_SIZE,
                interviewer: str | None = None, use_prefect: bool = True, debug: bool = False,
                status: Status = _quiet) -> dict:
    """What ``intcap refresh`` runs: the Prefect flow (optionally on Dask), or the plain loop."""
    if not Path(corpus).is_dir():
        raise IntcapError(f"{corpus}: no such folder; `intcap refresh` keeps a corpus folder up to date")
    manifest = read_manifest(Path(model_dir))  # a clear error before anything starts
    if not use_prefect:
        if workers is not None or dask_address:
            raise IntcapError("--workers and --dask-address run on Prefect's Dask task runner; drop --no-prefect")
        from pipeline.store import open_store

        with open_store(db) as store:
            return refresh(Path(corpus), store, Path(model_dir), batch_size=batch_size, out_dir=out_dir,
                           interviewer=interviewer)
    server = start_prefect(status)
    if workers is None and not dask_address:  # coded in this process: its model loads while the server starts
        from pipeline.batch import warm_up
        from pipeline.refresh import worker_coder

        worker_coder(str(Path(model_dir).resolve()), manifest["version"])
        warm_up()
    from flows.prefect_env import quiet_console
    from flows.prefect_server import api_settings
    from flows.refresh_corpus import refresh_corpus

    server.wait()
    with api_settings(server), quiet_console(debug):
        return refresh_corpus(str(corpus), db, str(out_dir) if out_dir else None, str(model_dir), workers,
                              dask_address, batch_size, interviewer)
