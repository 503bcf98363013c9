"""Offline Prefect settings, applied before Prefect is first imported."""
from __future__ import annotations

import logging
import os
from contextlib import contextmanager
from pathlib import Path


def offline_settings(home: Path | None = None) -> None:
    """Point Prefect at a project-local home and turn off everything that phones out (environment only)."""
    home = home or Path(os.environ.get("INTCAP_PREFECT_HOME", Path.cwd() / ".prefect"))
    os.environ.setdefault("PREFECT_HOME", str(home))
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_UI_ENABLED", "false")


def configure_offline(home: Path | None = None) -> None:
    """Offline settings, and Prefect's own temporary server (should Prefect start one) tied to this process.

    ``flows.run`` starts its server itself (``flows.prefect_server``) and needs only
    :func:`offline_settings`: the tie imports Prefect's whole server package (seconds).
    """
    offline_settings(home)
    tie_temporary_server_to_this_process()


class _LifelineSubprocess:
    """Stands in for the ``subprocess`` module inside Prefect's server module: the temporary API
    server (``python -m uvicorn ...``) is started through ``flows.lifeline``, so it ends when this
    process ends, however it ends."""

    def __getattr__(self, name):
        import subprocess

        return getattr(subprocess, name)

    def Popen(self, args, *rest, **kw):  # noqa: N802 - the name Prefect calls
        import subprocess
        import sys

        args = list(args)
        if args[:3] == [sys.executable, "-m", "uvicorn"]:
            args = [sys.executable, "-m", "flows.lifeline", str(os.getpid()), *args[1:]]
        return subprocess.Popen(args, *rest, **kw)


def tie_temporary_server_to_this_process() -> None:
    from prefect.server.api import server

    if not isinstance(server.subprocess, _LifelineSubprocess):
        server.subprocess = _LifelineSubprocess()


@contextmanager
def quiet_console(debug: bool = False):
    """Keep Prefect's console log (a traceback per failed task and flow) off the terminal unless
    ``debug``: intcap reports the failure itself, in one line. Logs still go to the Prefect API."""
    if debug:
        yield
        return
    handlers = [h for h in logging.getLogger().handlers if type(h).__name__ == "PrefectConsoleHandler"]
    levels = [h.level for h in handlers]
    for h in handlers:
        h.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        for h, level in zip(handlers, levels):
            h.setLevel(level)
