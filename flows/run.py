"""What the CLI calls to code or refresh a corpus: the Prefect flow, or the plain loop.

Choosing the orchestration is orchestration, so it lives here; ``pipeline/`` never imports
``flows/``. With Prefect, the checks that need nothing slow come first; then Prefect's API
server starts in the background while this process checks and loads the model and what the
first batch needs, so a run waits for the slower of the two rather than for both in turn.
Every error before the flow starts is one clear line (the model is checked before any flow
runs); the imports that take seconds (the model's, Prefect's) happen only after the server
has been started.
"""
from __future__ import annotations

import os
from pathlib import Path

from pipeline import paths
from pipeline.batch import DEFAULT_BATCH_SIZE
from pipeline.errors import IntcapError


def start_prefect():
    """Start (or find) the Prefect API; it comes up in the background."""
    from flows.prefect_env import offline_settings
    from flows.prefect_server import open_api

    offline_settings()
    return open_api()


def run_coding(corpus: Path, out_dir: Path, model_dir: Path, *, batch_size: int = DEFAULT_BATCH_SIZE,
               interviewer: str | None = None, use_prefect: bool = True, show_progress: bool = False,
               debug: bool = False) -> dict:
    """Code ``corpus`` into ``out_dir``; returns the run summary as a dict.

    Embeddings go through the on-disk cache, so re-coding unchanged passages encodes nothing.
    ``interviewer`` names the interviewer speaker ("A; B") where a manifest row names none;
    ``debug`` lets Prefect's own log through.
    """
    from pipeline.batch import check_run, code_folder, warm_up

    check_run(Path(corpus), Path(out_dir))
    server = start_prefect() if use_prefect else None
    from pipeline.modeldir import load_model, read_manifest

    read_manifest(Path(model_dir))  # a clear one-line error before any flow runs
    cache = paths.embedding_cache()
    cold_cache = not cache.exists()
    coder = load_model(Path(model_dir), cache_path=cache)
    if server is None:
        return vars(code_folder(Path(corpus), Path(out_dir), coder, batch_size=batch_size,
                                show_progress=show_progress, interviewer=interviewer))
    warm_up(coder.encoder if cold_cache else None)  # nothing cached: every passage is encoded
    from flows.code_corpus import code_corpus, preloaded
    from flows.prefect_env import quiet_console
    from flows.prefect_server import api_settings

    server.wait()
    with preloaded(Path(model_dir), coder), api_settings(server), quiet_console(debug):
        return code_corpus(str(corpus), str(out_dir), str(model_dir), batch_size, show_progress, str(cache),
                           interviewer)


def run_refresh(corpus: Path, *, db: str | None = None, out_dir: Path | None = None, model_dir: Path,
                workers: int | None = None, dask_address: str | None = None, batch_size: int | None = None,
                interviewer: str | None = None, use_prefect: bool = True, debug: bool = False) -> dict:
    """What ``intcap refresh`` runs: the Prefect flow (optionally on Dask), or the plain loop."""
    if not Path(corpus).is_dir():
        raise IntcapError(f"{corpus}: no such folder; `intcap refresh` keeps a corpus folder up to date")
    if not use_prefect and (workers is not None or dask_address):
        raise IntcapError("--workers and --dask-address run on Prefect's Dask task runner; drop --no-prefect")
    server = start_prefect() if use_prefect else None
    from pipeline.modeldir import read_manifest

    manifest = read_manifest(Path(model_dir))  # a clear error before any flow runs
    if server is None:
        from pipeline.refresh import refresh
        from pipeline.store import open_store

        with open_store(db) as store:
            return refresh(Path(corpus), store, Path(model_dir), batch_size=batch_size, out_dir=out_dir,
                           interviewer=interviewer)
    if workers is None and not dask_address:  # coded in this process: its model loads while the server starts
        from pipeline.batch import warm_up
        from pipeline.refresh import worker_coder

        worker_coder(str(Path(model_dir).resolve()), manifest["version"])
        warm_up()
    from flows.prefect_env import quiet_console
    from flows.prefect_server import api_settings
    from flows.refresh_corpus import refresh_corpus

    db = _password_into_environment(db)
    server.wait()
    with api_settings(server), quiet_console(debug):
        return refresh_corpus(str(corpus), db, str(out_dir) if out_dir else None, str(model_dir), workers,
                              dask_address, batch_size, interviewer)


def _password_into_environment(db: str | None) -> str | None:
    """A password typed into ``--db`` goes to PGPASSWORD for this process, and the flow gets the
    URL without it: flow parameters are stored in Prefect's run records."""
    if not db or "://" not in str(db):
        return db
    import sqlalchemy as sa

    from pipeline.store import without_password

    try:
        password = sa.make_url(str(db)).password
    except Exception:  # not a URL sqlalchemy reads: the store reports it
        return db
    if password:
        os.environ.setdefault("PGPASSWORD", str(password))
        return without_password(str(db))
    return db
