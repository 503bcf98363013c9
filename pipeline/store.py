"""The results database: coded passages, per-run profiles and run records.

SQLite by default (one file, WAL journal), or any SQLAlchemy URL (PostgreSQL for a
team: ``postgresql+psycopg://user@host/intcap``). The schema:

``sources``      one row per corpus file, known by its path (relative to the corpus
                 folder) and a fingerprint of its bytes and manifest entry; ``status``
                 is "active" or "removed" (``removed_run`` says when).
``transcripts``  the transcripts read from a source (one per company it holds), with
                 the stored text the passage offsets refer to and its content hash.
``passages``     one row per coded passage: scores per code as columns (``net_p``,
                 ``net_on``, ...) for SQL, and the full coding as JSON.
``runs``         one row per refresh: model version, counts, status.
``run_files``    what a run did to each file: added / changed / recoded / removed /
                 failed (with the problem).
``profiles``     every company's profile as of each run (the history).

A file's passages, its transcripts, its source row and its run record are written
in ONE transaction (:meth:`Store.commit_file`; a coding batch's files together:
:meth:`Store.commit_files`), so the database is consistent at every instant: a refresh
killed halfway resumes with the files it had finished.
Unique constraints (source path; run + path; run + company; transcript + passage
number) and upserts mean a re-run never duplicates anything.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import socket
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import ArgumentError, DatabaseError, OperationalError, SQLAlchemyError

from pipeline.errors import StoreError
from pipeline.records import CODES, Coding, Transcript
from pipeline.sqlite_wal import backup_file, check_results_file, enable_wal, recovery_hint
from pipeline.store_schema import (
    coding_from_row, meta_table, metadata, passage_row, passages, profiles, run_files, runs, sources, transcripts,
)

SCHEMA_VERSION = "1"
DEFAULT_DB = "intcap.db"
DB_ENV = "INTCAP_DB"
DB_URL_ENV = "INTCAP_DB_URL"
#: a run whose last sign of life is older than this may be taken over by another host
STALE_AFTER_S = 15 * 60
#: seconds to wait for a database server to answer a new connection
CONNECT_TIMEOUT_S = 10
#: advisory lock ids (PostgreSQL) for creating the tables and for starting or resuming a run
SCHEMA_LOCK, RUNS_LOCK = 0x1C4B_0001, 0x1C4B_0002

# run_files.action values
ADDED, CHANGED, RECODED, REMOVED, FAILED = "added", "changed", "recoded", "removed", "failed"
CODED_ACTIONS = (ADDED, CHANGED, RECODED)

def now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def resolve_url(db: str | os.PathLike | None) -> str:
    """A SQLAlchemy URL from ``--db``: a URL as is, a plain path as an SQLite file.

    Without one, ``$INTCAP_DB``, ``$INTCAP_DB_URL`` or ``intcap.db`` in the current folder. A
    URL from the environment comes back without its password (so it can travel in Prefect
    parameters); the store takes the password from the environment again when it connects.
    """
    env = os.environ.get(DB_ENV) or os.environ.get(DB_URL_ENV)
    db = str(db) if db else env or DEFAULT_DB
    if "://" in db:
        return without_password(db) if db == env else db
    return f"sqlite:///{Path(db).expanduser().resolve()}"


def sqlite_path(url: str) -> Path | None:
    """The database file of an SQLite URL (None for other databases and in-memory)."""
    parsed = sa.make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return None
    return Path(parsed.database)


# -- database servers (PostgreSQL): shared with the label store -----------------------------------


def mask_url(url: str | sa.URL) -> str:
    """The URL as messages may show it: the password, if any, as ***."""
    try:
        return sa.make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "a database URL that does not parse"


def without_password(url: str) -> str:
    """The URL with no password at all (what may be passed on, stored in Prefect or printed)."""
    try:
        return sa.make_url(url).set(password=None).render_as_string(hide_password=False)
    except ArgumentError:
        return url


def with_password(url: sa.URL) -> sa.URL:
    """A server URL without a password takes the one $INTCAP_DB_URL (or $INTCAP_DB) gives for the
    same server, user and database; failing that libpq reads PGPASSWORD or ~/.pgpass itself."""
    if url.password is not None or url.get_backend_name() == "sqlite":
        return url
    key = (url.get_backend_name(), url.host, url.port, url.username, url.database)
    for name in (DB_URL_ENV, DB_ENV):
        try:
            other = sa.make_url(os.environ.get(name) or "")
        except ArgumentError:
            continue
        if other.password and (other.get_backend_name(), other.host, other.port, other.username,
                               other.database) == key:
            return url.set(password=other.password)
    return url


def server_engine(url: str) -> Engine:
    """An engine for a database server: password from the environment, a connect timeout (libpq
    waits for ever by default), commits confirmed durable, and a one-line error for a missing driver."""
    try:
        parsed = with_password(sa.make_url(url))
    except ArgumentError as exc:
        raise StoreError(f"{mask_url(url)}: not a database URL; expected an SQLite path or an SQLAlchemy URL "
                         "such as postgresql+psycopg://user@host/intcap") from exc
    connect_args = {}
    if parsed.drivername == "postgresql":  # SQLAlchemy would pick psycopg2; the extra installs psycopg 3
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() == "postgresql":
        defaults = {"connect_timeout": CONNECT_TIMEOUT_S, "application_name": "intcap",
                    "options": "-c synchronous_commit=on"}
        connect_args = {k: v for k, v in defaults.items() if k not in parsed.query}
    try:
        return sa.create_engine(parsed, pool_pre_ping=True, connect_args=connect_args)
    except ImportError as exc:
        raise StoreError(f"{mask_url(url)}: the database driver ({exc.name or exc}) is not installed; "
                         "PostgreSQL needs postgresql+psycopg (or plain postgresql://) and `pip install "
                         "'intcap[postgres]'`") from exc
    except ArgumentError as exc:
        raise StoreError(f"{mask_url(url)}: {str(exc).splitlines()[0]}") from exc


def server_problem(exc: BaseException, url: str | sa.URL) -> str:
    """The driver's reason in one line (never the password) and what to check."""
    text = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0].removeprefix("connection failed: ")
    password = sa.make_url(url).password if isinstance(url, sa.URL) else None
    if password:
        text = text.replace(str(password), "***")
    low = text.lower()
    if "password" in low or "authentication failed" in low or ("role" in low and "does not exist" in low):
        fix = (f"check the user name and the password (from the URL, ${DB_URL_ENV}, PGPASSWORD or ~/.pgpass; "
               "docs/TEAM.md)")
    elif "database" in low and "does not exist" in low:
        fix = "create the database first (`createdb NAME` on the server) or correct its name in the URL"
    elif any(w in low for w in ("refused", "timeout", "could not translate", "unreachable", "no route",
                                "connection to server", "could not connect", "server closed")):
        fix = "is the database server running, and are the host and port in the URL right?"
    else:
        fix = "check the database server and the URL"
    return f"{text[:300]}; {fix}"


def create_tables(engine: Engine, tables: sa.MetaData, lock: int) -> None:
    """CREATE TABLE what is missing; on PostgreSQL under an advisory lock, since processes creating
    the same tables at once otherwise collide on the system catalogue."""
    if engine.dialect.name != "postgresql":
        tables.create_all(engine)
        return
    with engine.begin() as conn:
        serialize(conn, lock)
        tables.create_all(conn)


def serialize(conn: Connection, lock: int) -> None:
    """Hold a transaction-scoped advisory lock (PostgreSQL): one such transaction at a time."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.select(sa.func.pg_advisory_xact_lock(lock)))


@dataclass(frozen=True)
class KnownSource:
    fingerprint: str
    model_version: str
    status: str


class Store:
    """A results database. Open with :func:`open_store`; use as a context manager."""

    def __init__(self, url: str, *, create: bool = True):
        self.url = url
        self.path = sqlite_path(url)
        self._engine: Engine | None = None
        if not create and self.path is not None and not self.path.exists():
            raise StoreError(f"{self.path}: no results database here; create it with `intcap refresh CORPUS_DIR "
                             f"--db {self.path}` (or give --db)")
        if self.path is not None:
            check_results_file(self.path)
        try:
            self._engine = self._create_engine()
            with self._guard("open"):
                if not create and self.path is None and not sa.inspect(self._engine).has_table(meta_table.name):
                    raise StoreError(f"{self.name}: holds no intcap results yet; fill it with `intcap refresh "
                                     "CORPUS_DIR --db URL`")
                create_tables(self._engine, metadata, SCHEMA_LOCK)
                with self._engine.begin() as conn:
                    row = conn.execute(sa.select(meta_table.c.value).where(meta_table.c.key == "schema_version")).first()
                    if row is None:
                        self._upsert(conn, meta_table, {"key": "schema_version", "value": SCHEMA_VERSION}, ("key",))
                    elif row[0] != SCHEMA_VERSION:
                        raise StoreError(f"{self.name}: results database schema version {row[0]}; this intcap "
                                         f"reads version {SCHEMA_VERSION}")
        except BaseException:
            self.close()
            raise

    # -- plumbing -------------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return str(self.path) if self.path else mask_url(self.url)

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            raise StoreError(f"{self.name}: the store is closed")
        return self._engine

    def _create_engine(self) -> Engine:
        if self.path is None:
            return server_engine(self.url)
        engine = sa.create_engine(self.url, connect_args={"timeout": 60})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record):  # noqa: ANN001
            cur = dbapi_conn.cursor()
            enable_wal(cur)
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine

    @contextmanager
    def _guard(self, what: str) -> Iterator[None]:
        """Turn database-level failures into a StoreError naming the database and the fix."""
        try:
            yield
        except StoreError:
            raise
        except (DatabaseError, OperationalError, sqlite3.DatabaseError) as exc:
            if self.path is None:
                raise StoreError(f"{self.name}: cannot {what} the results database: "
                                 f"{server_problem(exc, self.engine.url)}") from exc
            problem = str(getattr(exc, "orig", None) or exc).splitlines()[0]
            hint = recovery_hint(self.path)
            if "locked" in problem:
                hint = "another process holds the database; wait for it to finish"
            raise StoreError(f"{self.name}: cannot {what} the results database ({problem}); {hint}") from exc
        except SQLAlchemyError as exc:
            raise StoreError(f"{self.name}: cannot {what} the results database "
                             f"({str(exc).splitlines()[0][:300]})") from exc

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @contextmanager
    def transaction(self, what: str = "write to") -> Iterator[Connection]:
        with self._guard(what), self.engine.begin() as conn:
            yield conn

    @contextmanager
    def reading(self, what: str = "read") -> Iterator[Connection]:
        with self._guard(what), self.engine.connect() as conn:
            yield conn

    def _upsert(self, conn: Connection, table: sa.Table, values: dict, keys: tuple[str, ...]) -> None:
        """Insert ``values`` or update the row with the same ``keys`` (an ON CONFLICT upsert)."""
        backend = conn.dialect.name
        update = {k: v for k, v in values.items() if k not in keys}
        if backend in ("sqlite", "postgresql"):
            if backend == "sqlite":
                from sqlalchemy.dialects.sqlite import insert
            else:
                from sqlalchemy.dialects.postgresql import insert
            stmt = insert(table).values(**values)
            conn.execute(stmt.on_conflict_do_update(index_elements=list(keys), set_=update) if update
                         else stmt.on_conflict_do_nothing(index_elements=list(keys)))
            return
        where = sa.and_(*(table.c[k] == values[k] for k in keys))
        if conn.execute(sa.select(sa.literal(1)).select_from(table).where(where)).first():
            if update:
                conn.execute(table.update().where(where).values(**update))
        else:
            conn.execute(table.insert().values(**values))

    # -- runs -----------------------------------------------------------------------------------

    def begin_run(self, corpus: str, model_version: str) -> tuple[int, bool]:
        """Start a run, or resume the unfinished one for the same corpus and model.

        Returns (run id, resumed). A run left "running" by a process that is gone (killed,
        crashed) is resumed; one for another corpus or model is marked "interrupted".
        """
        host, pid = socket.gethostname(), os.getpid()
        with self.transaction("start a run in") as conn:
            serialize(conn, RUNS_LOCK)  # two refreshes starting at once must see each other's run
            open_runs = conn.execute(sa.select(runs).where(runs.c.status == "running").order_by(runs.c.id)).all()
            resume = None
            for run in open_runs:
                self._check_not_alive(run, host)
                if run.corpus == corpus and run.model_version == model_version:
                    resume = run.id
                else:
                    conn.execute(runs.update().where(runs.c.id == run.id).values(status="interrupted"))
            if resume is not None:
                for run in open_runs:  # keep one resumable run
                    if run.id != resume and run.corpus == corpus and run.model_version == model_version:
                        conn.execute(runs.update().where(runs.c.id == run.id).values(status="interrupted"))
                conn.execute(runs.update().where(runs.c.id == resume).values(host=host, pid=pid, heartbeat=now()))
                return resume, True
            run_id = conn.execute(runs.insert().values(
                started=now(), heartbeat=now(), status="running", corpus=corpus, model_version=model_version,
                host=host, pid=pid,
            )).inserted_primary_key[0]
            return int(run_id), False

    def _check_not_alive(self, run, host: str) -> None:
        if run.host == host and run.pid and run.pid != os.getpid():
            try:
                os.kill(run.pid, 0)
            except ProcessLookupError:
                return
            except PermissionError:
                pass
            raise StoreError(f"{self.name}: another refresh (run {run.id}, process {run.pid}) is still running on "
                             f"this database; wait for it, or stop it with `kill {run.pid}`")
        if run.host != host and run.heartbeat:
            age = (dt.datetime.now(dt.timezone.utc) - dt.datetime.fromisoformat(run.heartbeat)).total_seconds()
            if age < STALE_AFTER_S:
                raise StoreError(f"{self.name}: a refresh (run {run.id}) on host {run.host} wrote {age:.0f} s ago; "
                                 "wait for it to finish")

    def done_paths(self, run_id: int) -> set[str]:
        """Paths this run has already handled (non-empty only for a resumed run)."""
        with self.reading() as conn:
            return {r[0] for r in conn.execute(sa.select(run_files.c.path).where(run_files.c.run_id == run_id))}

    def known_sources(self) -> dict[str, KnownSource]:
        with self.reading() as conn:
            rows = conn.execute(sa.select(sources.c.path, sources.c.fingerprint, sources.c.model_version,
                                          sources.c.status))
            return {r.path: KnownSource(r.fingerprint, r.model_version, r.status) for r in rows}

    def record_failure(self, run_id: int, path: str, problem: str) -> None:
        with self.transaction() as conn:
            self._upsert(conn, run_files, {"run_id": run_id, "path": path, "action": FAILED, "problem": problem,
                                           "passages": 0}, ("run_id", "path"))

    def commit_file(self, run_id: int, path: str, fingerprint: str, action: str, model_version: str,
                    coded: list[tuple[Transcript, list[Coding]]]) -> int:
        """Replace one file's transcripts and passages and record it, in one transaction.

        Returns the number of passages written.
        """
        return self.commit_files(run_id, model_version, [(path, fingerprint, action, coded)])[0]

    def commit_files(self, run_id: int, model_version: str,
                     files: list[tuple[str, str, str, list[tuple[Transcript, list[Coding]]]]]) -> list[int]:
        """:meth:`commit_file` for several files (path, fingerprint, action, coded) in ONE transaction
        (all of them or none) and a few bulk statements rather than six per file: what a coding batch
        brings back. Committing 2,000 one-passage files one by one took 1.9 ms each (profiled), about
        half of a refresh's own work besides coding. Returns the passages written per file.
        """
        if not files:
            return []
        with self.transaction() as conn:
            ids: dict[str, int] = {}
            paths = [f[0] for f in files]
            for i in range(0, len(paths), 500):
                ids.update((r.path, r.id) for r in conn.execute(
                    sa.select(sources.c.id, sources.c.path).where(sources.c.path.in_(paths[i:i + 500]))))
            known = list(ids.values())
            for i in range(0, len(known), 500):  # replaced files lose their old transcripts and passages
                chunk = known[i:i + 500]
                conn.execute(passages.delete().where(passages.c.transcript_id.in_(
                    sa.select(transcripts.c.id).where(transcripts.c.source_id.in_(chunk)))))
                conn.execute(transcripts.delete().where(transcripts.c.source_id.in_(chunk)))
            if known:
                conn.execute(sources.update().where(sources.c.id == sa.bindparam("b_id")).values(
                    fingerprint=sa.bindparam("b_fp"), model_version=model_version, status="active", coded_run=run_id,
                    removed_run=None), [{"b_id": ids[p], "b_fp": fp} for p, fp, _, _ in files if p in ids])
            new = [{"path": p, "fingerprint": fp, "model_version": model_version, "status": "active",
                    "coded_run": run_id} for p, fp, _, _ in files if p not in ids]
            ids.update(zip((r["path"] for r in new), self._insert_ids(conn, sources, new)))
            rows = [{"source_id": ids[p], "idx": idx, "source": t.source, "company": t.company,
                     "content_hash": t.content_hash, "format": t.format, "interviewee": t.interviewee, "date": t.date,
                     "language": t.language, "text": t.text}
                    for p, _, _, coded in files for idx, (t, _) in enumerate(coded)]
            tids = iter(self._insert_ids(conn, transcripts, rows))
            passage_rows, counts = [], []
            for _, _, _, coded in files:
                counts.append(0)
                for _, codings in coded:
                    tid = next(tids)
                    passage_rows += [passage_row(tid, seq, c) for seq, c in enumerate(codings)]
                    counts[-1] += len(codings)
            if passage_rows:
                conn.execute(passages.insert(), passage_rows)
            self._upsert_many(conn, run_files, [{"run_id": run_id, "path": p, "action": action, "problem": None,
                                                 "passages": n} for (p, _, action, _), n in zip(files, counts)],
                              ("run_id", "path"))
            conn.execute(runs.update().where(runs.c.id == run_id).values(heartbeat=now()))
        return counts

    @staticmethod
    def _insert_ids(conn: Connection, table: sa.Table, rows: list[dict]) -> list[int]:
        """Insert rows; their new ids, in the rows' order (one statement where the backend can)."""
        if not rows:
            return []
        if conn.dialect.insert_executemany_returning_sort_by_parameter_order:
            result = conn.execute(table.insert().returning(table.c.id, sort_by_parameter_order=True), rows)
            return [r[0] for r in result]
        return [conn.execute(table.insert().values(**row)).inserted_primary_key[0] for row in rows]

    def _upsert_many(self, conn: Connection, table: sa.Table, rows: list[dict], keys: tuple[str, ...]) -> None:
        """:meth:`_upsert` for many rows with the same columns (one statement on SQLite and PostgreSQL)."""
        if conn.dialect.name not in ("sqlite", "postgresql"):
            for row in rows:
                self._upsert(conn, table, row, keys)
            return
        if conn.dialect.name == "sqlite":
            from sqlalchemy.dialects.sqlite import insert
        else:
            from sqlalchemy.dialects.postgresql import insert
        stmt = insert(table)
        update = {k: stmt.excluded[k] for k in rows[0] if k not in keys}
        conn.execute(stmt.on_conflict_do_update(index_elements=list(keys), set_=update), rows)

    def _delete_contents(self, conn: Connection, source_id: int) -> None:
        tids = sa.select(transcripts.c.id).where(transcripts.c.source_id == source_id)
        conn.execute(passages.delete().where(passages.c.transcript_id.in_(tids)))
        conn.execute(transcripts.delete().where(transcripts.c.source_id == source_id))

    def mark_removed(self, run_id: int, path: str) -> None:
        """A file gone from the corpus: its passages leave the profiles, its source row stays, marked."""
        with self.transaction() as conn:
            src = conn.execute(sa.select(sources.c.id).where(sources.c.path == path)).first()
            if src is None:
                return
            self._delete_contents(conn, src.id)
            conn.execute(sources.update().where(sources.c.id == src.id).values(status="removed", removed_run=run_id))
            self._upsert(conn, run_files, {"run_id": run_id, "path": path, "action": REMOVED, "problem": None,
                                           "passages": 0}, ("run_id", "path"))

    def finish_run(self, run_id: int, files: int, profile_rows: Iterable[dict]) -> dict:
        """Store the run's profiles and counts and mark it ok, in one transaction; return the run."""
        with self.transaction("finish the run in") as conn:
            counts = dict(conn.execute(
                sa.select(run_files.c.action, sa.func.count()).where(run_files.c.run_id == run_id)
                .group_by(run_files.c.action)).all())
            coded = conn.execute(sa.select(sa.func.coalesce(sa.func.sum(run_files.c.passages), 0))
                                 .where(run_files.c.run_id == run_id)).scalar_one()
            handled = sa.select(run_files.c.path).where(run_files.c.run_id == run_id)
            unchanged = conn.execute(sa.select(sa.func.count()).select_from(sources).where(
                sources.c.status == "active", sources.c.path.not_in(handled))).scalar_one()
            conn.execute(profiles.delete().where(profiles.c.run_id == run_id))
            n_companies = 0
            for position, row in enumerate(profile_rows):
                conn.execute(profiles.insert().values(run_id=run_id, position=position, **row))
                n_companies += 1
            conn.execute(runs.update().where(runs.c.id == run_id).values(
                status="ok", finished=now(), heartbeat=now(), files=files, added=counts.get(ADDED, 0),
                changed=counts.get(CHANGED, 0), recoded=counts.get(RECODED, 0), removed=counts.get(REMOVED, 0),
                failed=counts.get(FAILED, 0), unchanged=int(unchanged), passages_coded=int(coded),
                companies=n_companies))
        self.backup()
        return self.run(run_id)

    # -- reading --------------------------------------------------------------------------------

    def run(self, run_id: int) -> dict:
        with self.reading() as conn:
            row = conn.execute(sa.select(runs).where(runs.c.id == run_id)).mappings().first()
            if row is None:
                raise StoreError(f"{self.name}: no run {run_id}")
            return dict(row)

    def list_runs(self, status: str | None = "ok") -> list[dict]:
        with self.reading() as conn:
            q = sa.select(runs).order_by(runs.c.id)
            if status:
                q = q.where(runs.c.status == status)
            return [dict(r) for r in conn.execute(q).mappings()]

    def files_of_run(self, run_id: int) -> list[dict]:
        with self.reading() as conn:
            return [dict(r) for r in conn.execute(
                sa.select(run_files.c.path, run_files.c.action, run_files.c.problem, run_files.c.passages)
                .where(run_files.c.run_id == run_id).order_by(run_files.c.path)).mappings()]

    def count_passages(self) -> int:
        with self.reading() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(passages)).scalar_one())

    def iter_codings(self, chunk: int = 500) -> Iterator[Coding]:
        """Every stored coding in corpus order (source path, transcript, passage), streamed."""
        order = (transcripts.c.source, transcripts.c.idx, passages.c.seq)
        q = (sa.select(passages, transcripts.c.idx).join(transcripts, passages.c.transcript_id == transcripts.c.id)
             .order_by(*order))
        with self.reading() as conn:
            result = conn.execution_options(stream_results=True, yield_per=chunk).execute(q).mappings()
            for row in result:
                yield coding_from_row(row)

    def codings_by_ids(self, ids: Iterable[str]) -> list[Coding]:
        ids = sorted(set(ids))
        out: list[Coding] = []
        with self.reading() as conn:
            for i in range(0, len(ids), 500):
                rows = conn.execute(sa.select(passages).where(passages.c.passage_id.in_(ids[i:i + 500]))).mappings()
                out.extend(coding_from_row(r) for r in rows)
        return out

    def iter_transcript_texts(self) -> Iterator[tuple[str, str]]:
        """(source name, stored text) of every transcript, streamed."""
        q = sa.select(transcripts.c.source, transcripts.c.text).order_by(transcripts.c.source, transcripts.c.idx)
        with self.reading() as conn:
            yield from ((r.source, r.text) for r in conn.execution_options(stream_results=True, yield_per=50)
                        .execute(q))

    def iter_score_rows(self, chunk: int = 2000) -> Iterator[sa.Row]:
        """Just what profiles need, per coded passage, in corpus order (for the streaming aggregator)."""
        cols = [passages.c.company, passages.c.passage_id]
        for code in CODES:
            c = code.lower()
            cols += [passages.c[f"{c}_on"], passages.c[f"{c}_p"], passages.c[f"{c}_valence"],
                     passages.c[f"{c}_vpos"], passages.c[f"{c}_vneg"]]
        q = (sa.select(*cols).join(transcripts, passages.c.transcript_id == transcripts.c.id)
             .order_by(transcripts.c.source, transcripts.c.idx, passages.c.seq))
        with self.reading() as conn:
            yield from conn.execution_options(stream_results=True, yield_per=chunk).execute(q)

    def profiles_of_run(self, run_id: int) -> list[dict]:
        with self.reading() as conn:
            rows = conn.execute(sa.select(profiles.c.data).where(profiles.c.run_id == run_id)
                                .order_by(profiles.c.position))
            return [json.loads(r.data) for r in rows]

    def history(self, company: str | None = None, *, last: int | None = None) -> list[dict]:
        """Profiles across successful runs: dicts with run id, finished, model version and the profile.

        ``last`` keeps only the most recent runs.
        """
        with self.reading() as conn:
            ok = sa.select(runs.c.id).where(runs.c.status == "ok").order_by(runs.c.id.desc())
            run_ids = [r[0] for r in conn.execute(ok.limit(last) if last else ok)]
        q = (sa.select(profiles.c.run_id, profiles.c.company, profiles.c.data, runs.c.finished, runs.c.model_version)
             .join(runs, profiles.c.run_id == runs.c.id)
             .where(profiles.c.run_id.in_(run_ids))
             .order_by(profiles.c.company, profiles.c.run_id))
        if company is not None:
            q = q.where(profiles.c.company == company)
        with self.reading() as conn:
            return [{"run_id": r.run_id, "finished": r.finished, "model_version": r.model_version,
                     "company": r.company, "profile": json.loads(r.data)} for r in conn.execute(q)]

    def companies(self) -> list[str]:
        with self.reading() as conn:
            return [r[0] for r in conn.execute(sa.select(profiles.c.company).distinct().order_by(profiles.c.company))]

    def dump(self) -> dict[str, list]:
        """Table contents without ids and timestamps, in a stable order (for comparing stores)."""
        def rows(conn, q):
            return [dict(r) for r in conn.execute(q).mappings()]

        src = {r.id: r.path for r in self._all(sources)}
        with self.reading() as conn:
            return {
                "runs": rows(conn, sa.select(*[c for c in runs.c if c.name not in
                                               ("id", "started", "finished", "heartbeat", "host", "pid")])
                             .order_by(runs.c.id)),
                "run_files": rows(conn, sa.select(run_files.c.path, run_files.c.action, run_files.c.problem,
                                                  run_files.c.passages).order_by(run_files.c.run_id, run_files.c.path)),
                "sources": rows(conn, sa.select(sources.c.path, sources.c.fingerprint, sources.c.model_version,
                                                sources.c.status).order_by(sources.c.path)),
                "transcripts": sorted(
                    ({"file": src[r["source_id"]], **{k: v for k, v in r.items() if k not in ("id", "source_id")}}
                     for r in rows(conn, sa.select(transcripts))), key=lambda r: (r["file"], r["idx"])),
                "passages": rows(conn, sa.select(*[c for c in passages.c if c.name not in ("id", "transcript_id")])
                                 .order_by(passages.c.source, passages.c.passage_id, passages.c.seq)),
                "profiles": rows(conn, sa.select(profiles.c.company, profiles.c.position, profiles.c.n_passages,
                                                 profiles.c.primary_focus, profiles.c.data)
                                 .order_by(profiles.c.run_id, profiles.c.position)),
            }

    def _all(self, table: sa.Table) -> list[sa.Row]:
        with self.reading() as conn:
            return list(conn.execute(sa.select(table)))

    # -- backup ---------------------------------------------------------------------------------

    def backup(self) -> Path | None:
        """Copy an SQLite database to ``<db>.bak`` (a server database is backed up with its own tools:
        pg_dump, docs/TEAM.md)."""
        return backup_file(self.path) if self.path is not None else None


def open_store(db: str | os.PathLike | None = None, *, create: bool = True) -> Store:
    """Open (creating it if needed and ``create``) the results database named by ``--db`` (URL or SQLite path)."""
    return Store(resolve_url(db), create=create)


