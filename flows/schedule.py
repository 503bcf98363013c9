"""Scheduled refreshes: a Prefect deployment of ``refresh_corpus`` with a cron schedule.

The deployment lives on a Prefect server (``prefect server start``, loopback) in a
*process* work pool; a ``prefect worker`` process polls the pool and runs each
scheduled refresh as a subprocess of the checkout (no image, no git, no network).
The whole set-up is in docs/SCHEDULING.md.
"""
from __future__ import annotations

import contextlib
import io
import os
from contextlib import nullcontext
from pathlib import Path

from pipeline import paths
from pipeline.errors import IntcapError
from pipeline.store import resolve_url

POOL = "intcap"
FLOW_NAME = "refresh_corpus"
ENTRYPOINT = "flows/refresh_corpus.py:refresh_corpus"


def deployment_name(corpus: Path) -> str:
    return f"refresh-{Path(corpus).resolve().name or 'corpus'}"


def check_cron(cron: str, timezone: str | None = None) -> None:
    """Prefect's own validation of the expression and time zone, as a clear error."""
    from prefect.client.schemas.schedules import CronSchedule

    try:
        CronSchedule(cron=cron, timezone=timezone or "UTC")
    except ValueError as exc:
        zone = f" --timezone {timezone!r}" if timezone else ""
        raise IntcapError(f"--cron {cron!r}{zone}: {_first_error(exc)}; expected five fields (minute hour day "
                          "month weekday, e.g. '0 3 * * *' for 03:00 every day) and an IANA time zone") from None


def _first_error(exc: ValueError) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        try:
            return str(errors()[0]["msg"])
        except (IndexError, KeyError, TypeError):
            pass
    return str(exc).splitlines()[0]


def _api_settings(api_url: str | None):
    from prefect.settings import PREFECT_API_URL, temporary_settings

    return temporary_settings({PREFECT_API_URL: api_url}) if api_url else nullcontext()


def current_api_url() -> str | None:
    from prefect.settings import PREFECT_API_URL

    return PREFECT_API_URL.value()


def ensure_pool(client, pool: str) -> None:
    """Create the process work pool if the server does not have it yet."""
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound

    try:
        existing = client.read_work_pool(pool)
    except ObjectNotFound:
        try:
            client.create_work_pool(WorkPoolCreate(name=pool, type="process"))
        except ObjectAlreadyExists:
            pass
        return
    if existing.type != "process":
        raise IntcapError(f"work pool {pool!r} exists with type {existing.type!r}; intcap needs a 'process' pool "
                          "(pick another name with --pool)")


def schedule_refresh(corpus: Path, cron: str, *, db: str | None = None, out_dir: Path | None = None,
                     model_dir: Path = paths.DEFAULT_MODEL, workers: int | None = None,
                     dask_address: str | None = None, batch_size: int | None = None,
                     api_url: str | None = None, pool: str = POOL, name: str | None = None,
                     timezone: str | None = None, interviewer: str | None = None) -> dict:
    """Register (or update) the deployment; returns its id, full name, pool and parameters.

    ``interviewer`` names the interviewer speaker ("A; B") where a manifest row names none.
    """
    from flows.prefect_env import configure_offline

    configure_offline()
    corpus = Path(corpus).resolve()
    if not corpus.is_dir():
        raise IntcapError(f"{corpus}: no such folder")
    check_cron(cron, timezone)
    parameters = {
        # absolute paths: the worker runs the flow in its own process and folder
        "corpus": str(corpus), "db": resolve_url(db), "out_dir": str(Path(out_dir).resolve()) if out_dir else None,
        "model_dir": str(Path(model_dir).resolve()), "workers": workers, "dask_address": dask_address,
        "batch_size": batch_size, "interviewer": interviewer,
    }
    name = name or deployment_name(corpus)
    with _api_settings(api_url):
        url = current_api_url()
        if not url:
            raise IntcapError("no Prefect server given: start one (see docs/SCHEDULING.md) and pass "
                              "--api-url http://127.0.0.1:4200/api or set PREFECT_API_URL")
        import httpx
        from prefect import Flow
        from prefect.client.orchestration import get_client
        from prefect.schedules import Cron

        try:
            with get_client(sync_client=True) as client:
                client.api_healthcheck()
                ensure_pool(client, pool)
            flow = Flow.from_source(source=str(paths.ROOT), entrypoint=ENTRYPOINT)
            with contextlib.redirect_stdout(io.StringIO()):  # Prefect prints its own table
                deployment_id = flow.deploy(
                    name=name, work_pool_name=pool, schedule=Cron(cron, timezone=timezone or "UTC"),
                    parameters=parameters, build=False, push=False, print_next_steps=False, ignore_warnings=True,
                    description=f"intcap refresh of {corpus} into {parameters['db']}",
                )
        except (httpx.HTTPError, OSError) as exc:
            raise IntcapError(f"cannot reach the Prefect server at {url} ({exc}); is `prefect server start` "
                              "running? (docs/SCHEDULING.md)") from exc
    return {"id": str(deployment_id), "name": f"{FLOW_NAME}/{name}", "pool": pool, "api_url": url, "cron": cron,
            "timezone": timezone or "UTC", "parameters": parameters}


def worker_command(pool: str = POOL) -> str:
    """The command that runs scheduled refreshes (from the checkout, with the project's venv)."""
    prefect = Path(os.environ.get("VIRTUAL_ENV", paths.ROOT / ".venv")) / "bin" / "prefect"
    return f"{prefect} worker start --pool {pool} --type process"
