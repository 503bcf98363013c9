"""The Prefect API a run talks to, started in the background so it is ready by the time the model is.

``open_api()`` returns at once. It reuses the server PREFECT_API_URL names (which must
answer its health check); otherwise it starts the temporary server Prefect would start
itself (the same ``uvicorn`` command) but *now*, as a separate process, so its start-up
(imports, database migrations: 5-20 s on a busy 2-core machine) overlaps loading the
model in this process. It is started through ``flows.lifeline`` so it dies with this
process however that ends, serves every run of this process (Prefect's own event and log
workers keep the first API address they see) and stops at exit. ``api_settings`` points
Prefect at it for the length of a flow call only: a process this one starts later (a test's
``intcap`` subprocess, say) must not inherit an address that dies with this process.

Nothing here imports Prefect's server package in this process: that alone took ~6 s.
"""
from __future__ import annotations

import atexit
import importlib.util
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path

from pipeline import paths
from pipeline.errors import IntcapError

API_URL = "PREFECT_API_URL"
POLL_SECONDS = 0.1
#: exit status of uvicorn when its port is taken (Prefect retries on another port too)
PORT_TAKEN = 3
LOG_NAME = "intcap-temporary-server.log"


def answers(api_url: str, timeout: float = 2.0) -> bool:
    """Whether a Prefect API answers its health check (no proxy: the server is local)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(f"{api_url.rstrip('/')}/health", timeout=timeout) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prefect_package_dir() -> Path:
    """Where Prefect is installed, found without importing it."""
    spec = importlib.util.find_spec("prefect")
    return Path(next(iter(spec.submodule_search_locations))).parent


class ExistingServer:
    """A Prefect server someone else runs (PREFECT_API_URL)."""

    def __init__(self, api_url: str):
        self.api_url = api_url

    def wait(self) -> None:
        if not answers(self.api_url):
            raise IntcapError(f"PREFECT_API_URL={self.api_url} does not answer; start that server (`prefect server "
                              "start`), or unset PREFECT_API_URL so that intcap starts a temporary one, or use "
                              "--no-prefect")


class TemporaryServer:
    """Prefect's temporary API server, as a child process tied to this one."""

    def __init__(self, home: Path):
        self.home = home
        self.port = free_port()
        self.api_url = f"http://127.0.0.1:{self.port}/api"
        self.log = home / LOG_NAME
        self.process: subprocess.Popen | None = None
        self.ready = False

    def command(self) -> list[str]:
        return [sys.executable, "-m", "flows.lifeline", str(os.getpid()), "-m", "uvicorn",
                "--app-dir", str(prefect_package_dir()), "--factory", "prefect.server.api.server:create_app",
                "--host", "127.0.0.1", "--port", str(self.port), "--log-level", "error", "--lifespan", "on"]

    def environment(self) -> dict[str, str]:
        env = {**os.environ, "PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1", "PREFECT__SERVER_FINAL": "1",
               # intcap's flows use no blocks: skip registering Prefect's ~20 block types (over 1 s on a new
               # database), and do not record it as done, so a later `prefect server start` still registers them
               "PREFECT_API_BLOCKS_REGISTER_ON_START": "false", "PREFECT_MEMOIZE_BLOCK_AUTO_REGISTRATION": "false"}
        env.pop(API_URL, None)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(paths.ROOT), env.get("PYTHONPATH")]))
        return env

    def start(self) -> "TemporaryServer":
        self.ready = False
        self.home.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(self.command(), env=self.environment(), stdin=subprocess.DEVNULL,
                                            stdout=log, stderr=subprocess.STDOUT)
        return self

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def wait(self) -> None:
        """Block until the server answers; a clear error if it stops or takes too long."""
        limit = float(os.environ.get("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90"))
        deadline = time.monotonic() + limit
        while not self.ready:
            status = self.process.poll()
            if status == PORT_TAKEN:
                self.port = free_port()  # someone took the port meanwhile: try another
                self.api_url = f"http://127.0.0.1:{self.port}/api"
                self.start()
            elif status is not None:
                raise IntcapError(f"Prefect's temporary server stopped (exit status {status}) before it answered; "
                                  f"its log is {self.log}. Run with --no-prefect to code without Prefect")
            elif answers(self.api_url, timeout=1.0):
                self.ready = True
            elif time.monotonic() > deadline:
                self.stop()
                raise IntcapError(f"Prefect's temporary server did not answer within {limit:.0f} s (log: {self.log}); "
                                  "raise PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS or run with --no-prefect")
            else:
                time.sleep(POLL_SECONDS)

    def stop(self) -> None:
        if self.running():
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.ready = False


_temporary: TemporaryServer | None = None


def open_api() -> ExistingServer | TemporaryServer:
    """The API this process's runs use: PREFECT_API_URL's server, else one temporary server per process."""
    global _temporary
    given = os.environ.get(API_URL)
    if given:
        server = ExistingServer(given)
        server.wait()  # answers at once, or a clear error before the model is loaded for nothing
        return server
    if _temporary is None:
        _temporary = TemporaryServer(Path(os.environ.get("PREFECT_HOME") or Path.home() / ".prefect")).start()
        atexit.register(_temporary.stop)  # Prefect's workers drain before atexit hooks run
    elif not _temporary.running():
        _temporary.start()  # it died (killed?): the same address again, for the workers that know it
    return _temporary


@contextmanager
def api_settings(server: ExistingServer | TemporaryServer):
    """Point Prefect at ``server`` for a flow call: in its settings (which this thread may have read
    already) and in the environment (which the threads and worker processes it starts read)."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    before = os.environ.get(API_URL)
    os.environ[API_URL] = server.api_url
    try:
        with temporary_settings({PREFECT_API_URL: server.api_url}):
            yield
    finally:
        if before is None:
            os.environ.pop(API_URL, None)
        else:
            os.environ[API_URL] = before
