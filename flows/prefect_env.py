"""Offline Prefect settings, applied before Prefect is first imported."""
from __future__ import annotations

import os
from pathlib import Path


def configure_offline(home: Path | None = None) -> None:
    """Point Prefect at a project-local home and turn off everything that phones out."""
    home = home or Path(os.environ.get("INTCAP_PREFECT_HOME", Path.cwd() / ".prefect"))
    os.environ.setdefault("PREFECT_HOME", str(home))
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_UI_ENABLED", "false")

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
