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
