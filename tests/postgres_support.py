"""A real PostgreSQL server for the tests, from Debian's packages (``make test`` installs them).

initdb into a temporary folder, ``postgres`` on a free loopback port (TCP only, no Unix
socket), password authentication; as root the server runs as the ``postgres`` system user
the package creates, since PostgreSQL refuses to run as root. Stopped by its PID.
"""
from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

try:
    from refresh_support import free_port
except ImportError:  # tests/ imported as a package
    from tests.refresh_support import free_port

SUPERUSER = "intcap"
SERVICE_USER = "postgres"
#: an ICU English collation, as a server set up with a real locale sorts: "Zeta" after "alpha", unlike
#: SQLite's byte order (the schema must give the same order anyway)
ICU = ["--locale-provider=icu", "--icu-locale=en-US"]


def server_binaries() -> Path | None:
    """The folder with initdb and postgres: Debian keeps them under /usr/lib/postgresql/N/bin."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).resolve().parent if initdb else None


def skip_reason() -> str | None:
    """Why the PostgreSQL tests cannot run here, or None."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "the psycopg driver is not installed (pip install -e '.[postgres]', or `make test`)"
    if server_binaries() is None:
        return "PostgreSQL server binaries not found (Debian: apt-get install postgresql, or `make test` as root)"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(SERVICE_USER)
        except KeyError:
            return f"running as root and there is no {SERVICE_USER!r} user to run the server as"
    return None


class PostgresServer:
    """One throw-away cluster; ``url(db)`` names a database in it (with the password)."""

    def __init__(self) -> None:
        self.bin = server_binaries()
        self.password = secrets.token_hex(12)
        self.port = 0
        self.proc: subprocess.Popen | None = None
        # under /tmp itself: the postgres user must reach the folder (pytest's tmp_path is root-only)
        self.base = Path(tempfile.mkdtemp(prefix="intcap-pg-"))
        self.data = self.base / "data"
        self.log = self.base / "server.log"
        self._as = {}
        if os.geteuid() == 0:
            user = pwd.getpwnam(SERVICE_USER)
            os.chown(self.base, user.pw_uid, user.pw_gid)
            self._as = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}

    def url(self, database: str = "postgres", *, password: bool = True, driver: str = "postgresql+psycopg") -> str:
        secret = f":{self.password}" if password else ""
        return f"{driver}://{SUPERUSER}{secret}@127.0.0.1:{self.port}/{database}"

    def init(self) -> None:
        pwfile = self.base / "pw"
        pwfile.write_text(self.password + "\n")
        if self._as:
            os.chown(pwfile, self._as["user"], self._as["group"])
        subprocess.run([str(self.bin / "initdb"), "-D", str(self.data), "-U", SUPERUSER, f"--pwfile={pwfile}",
                        "--auth=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8", *ICU, "--no-sync"],
                       check=True, capture_output=True, cwd=self.base, **self._as)
        pwfile.unlink()

    def start(self, timeout: float = 60) -> None:
        import psycopg

        self.port = self.port or free_port()
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [str(self.bin / "postgres"), "-D", str(self.data), "-p", str(self.port), "-c", "listen_addresses=127.0.0.1",
                 "-c", "unix_socket_directories=", "-c", "max_connections=60", "-c", "shared_buffers=32MB"],
                stdout=log, stderr=subprocess.STDOUT, cwd=self.base, start_new_session=True, **self._as)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"postgres exited:\n{self.log.read_text()[-3000:]}")
            try:
                psycopg.connect(self.url("postgres", driver="postgresql"), connect_timeout=2).close()
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"postgres not ready after {timeout} s:\n{self.log.read_text()[-3000:]}")
                time.sleep(0.2)

    def create_database(self, name: str) -> str:
        """A fresh, empty database; returns its SQLAlchemy URL."""
        import psycopg

        with psycopg.connect(self.url("postgres", driver="postgresql"), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        """Fast shutdown (SIGINT to the postmaster, by its PID); SIGKILL if it hangs."""
        if self.proc is None or self.proc.poll() is not None:
            return
        os.kill(self.proc.pid, signal.SIGINT)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.base, ignore_errors=True)
