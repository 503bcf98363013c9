"""The label store: reviewers' answers and the model suggestions they were shown.

SQLite in WAL mode with ``synchronous=FULL`` by default (``OUT_DIR/labels.sqlite``);
any SQLAlchemy URL (``postgresql+psycopg://user@host/intcap``, or ``$INTCAP_DB_URL``)
for a team (docs/TEAM.md). Every answer is committed in its own transaction before
``record`` returns (PostgreSQL with ``synchronous_commit=on``), so a reviewer is
only told "saved" once the answer is on disk. Undo marks an answer undone; nothing
is ever deleted. Human labels (``answers``) and model output (``suggestions``) live
in separate tables; the export reads only the former. Holds (``claims``) are
compared with the database server's clock, so reviewers on several machines agree
on when one has expired.
"""
from __future__ import annotations

import os
import time
from contextlib import contextmanager

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import (Boolean, Column, Float, ForeignKey, Index, Integer, MetaData, String, Table, Text, UniqueConstraint,
                        cast, create_engine, event, func, literal, or_, select, update)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, IntegrityError, SQLAlchemyError

from pipeline.errors import StoreError
from pipeline.outputs import atomic_open
from pipeline.records import Coding
from pipeline.review.answers import Suggestion, validate_codes, validate_reviewer
from pipeline.sqlite_wal import enable_wal
from pipeline.store import DB_URL_ENV, create_tables, mask_url, server_engine, server_problem, without_password

DEFAULT_DB = "labels.sqlite"
#: advisory lock id (PostgreSQL) for creating the label tables
SCHEMA_LOCK = 0x1C4B_0010

metadata = MetaData()

suggestions = Table(
    "suggestions", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("corpus", Text, nullable=False),
    Column("passage_id", Text, nullable=False),
    Column("model_version", String(64), nullable=False),
    Column("codes", Text, nullable=False),      # JSON {code: {p, valence, valence_p}}
    Column("assigned", Text, nullable=False),   # JSON {code: valence} over threshold
    Column("created", String(40), nullable=False),
    UniqueConstraint("corpus", "passage_id", "model_version", name="uq_suggestion"),
)

answers = Table(
    "answers", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("corpus", Text, nullable=False),
    Column("passage_id", Text, nullable=False),
    Column("company", Text, nullable=False),
    Column("source", Text, nullable=False),
    Column("start_offset", Integer, nullable=False),
    Column("end_offset", Integer, nullable=False),
    Column("text", Text, nullable=False),
    Column("reviewer", String(100), nullable=False),
    Column("created", String(40), nullable=False),
    Column("codes", Text, nullable=False),      # JSON {code: valence}; {} = no code applies
    Column("model_version", String(64), nullable=False),
    Column("suggestion_id", Integer, ForeignKey("suggestions.id"), nullable=True),
    Column("agrees", Boolean, nullable=False),  # the answer equals the suggestion shown
    Column("undone_at", String(40), nullable=True),
    Column("undone_by", String(100), nullable=True),
    Index("ix_answers_corpus_passage", "corpus", "passage_id"),
    Index("ix_answers_reviewer", "corpus", "reviewer"),
)

#: which reviewer session holds a passage (shown, not yet answered), so that reviewers in other
#: processes or on other machines are not shown it at the same time
claims = Table(
    "claims", metadata,
    Column("corpus", Text, primary_key=True),
    Column("passage_id", Text, primary_key=True),
    Column("holder", String(200), nullable=False),
    Column("expires", Float, nullable=False),  # epoch seconds
)


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="microseconds")


@dataclass(frozen=True)
class Answer:
    """One stored answer (``undone`` answers are kept as history)."""

    id: int
    corpus: str
    passage_id: str
    company: str
    source: str
    start: int
    end: int
    text: str
    reviewer: str
    created: str
    codes: dict[str, str]
    model_version: str
    agrees: bool
    undone: bool

    def to_example(self) -> dict:
        """The hand-coded JSONL row (same format as corpus/thesis/coded_passages.jsonl), with who
        answered when, where the passage lies, and which model's suggestion was shown."""
        return {"id": self.passage_id, "company": self.company, "text": self.text, "codes": dict(self.codes),
                "label_source": f"review:{self.reviewer}", "reviewer": self.reviewer, "answered": self.created,
                "source": self.source, "start": self.start, "end": self.end,
                "model_version": self.model_version, "agrees_with_model": self.agrees}


def suggestion_provenance(out_dir: Path | None) -> dict[str, dict]:
    """Per passage id of OUT_DIR/passages.jsonl: the coder ("main", or "multilingual" for a routed
    companion), language, model version and evidence sentences of the model's coding ({} without a
    results folder)."""
    path = Path(out_dir) / "passages.jsonl" if out_dir is not None else None
    if path is None or not path.is_file():
        return {}
    from pipeline import safejson

    out = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = safejson.loads(line)
            out[str(row["id"])] = {k: row.get(k) for k in ("model_version", "coder", "language", "evidence_text")}
    return out


def database_url(out_dir: Path | None = None, db: str | None = None) -> str:
    """``--db`` as given (a URL, or a path to an SQLite file), else the team database in
    ``$INTCAP_DB_URL`` (without its password, which is read again on connecting), else
    ``OUT_DIR/labels.sqlite``."""
    if db and "://" in db:
        return db
    if db:
        return f"sqlite:///{Path(db).resolve()}"
    if os.environ.get(DB_URL_ENV):
        return without_password(os.environ[DB_URL_ENV])
    if out_dir is None:
        raise StoreError(f"no label database given: pass OUT_DIR or --db URL (e.g. out/labels.sqlite), or set "
                         f"${DB_URL_ENV}")
    return f"sqlite:///{(Path(out_dir) / DEFAULT_DB).resolve()}"


def clock(conn: Connection):
    """Now in epoch seconds, as SQL: the server's clock where there is one (holds taken on several
    machines are then compared with one clock), else this machine's."""
    if conn.dialect.name == "postgresql":
        return cast(func.extract("epoch", func.clock_timestamp()), Float)
    return literal(time.time(), Float)


def _sqlite_engine(url: str) -> Engine:
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_con, _record):
        dbapi_con.isolation_level = None  # transactions are begun explicitly below
        cur = dbapi_con.cursor()
        cur.execute("PRAGMA busy_timeout=30000")
        enable_wal(cur)
        cur.execute("PRAGMA synchronous=FULL")  # the commit is on disk before the answer is acknowledged
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection):
        # writers take the write lock up front, so concurrent writers queue instead of failing
        conn.exec_driver_sql("BEGIN" if conn.get_execution_options().get("intcap_read") else "BEGIN IMMEDIATE")

    return engine


class LabelStore:
    """Reviewers' answers in any SQLAlchemy database; safe to share between threads."""

    def __init__(self, url: str):
        self.url = url
        server = not url.startswith("sqlite")
        try:
            if server:
                self.engine = server_engine(url)
            else:
                path = url.split("///", 1)[-1]
                if path and path != ":memory:":
                    Path(path).parent.mkdir(parents=True, exist_ok=True)
                self.engine = _sqlite_engine(url)
            create_tables(self.engine, metadata, SCHEMA_LOCK)
            if not server:
                with self.engine.connect() as conn:
                    verdict = conn.exec_driver_sql("PRAGMA quick_check").scalar()
                if verdict != "ok":
                    raise StoreError(f"the label database {self._safe_url()} is damaged (SQLite quick_check: "
                                     f"{str(verdict)[:200]}); restore it from a backup")
        except DBAPIError as exc:
            if server:
                raise StoreError(f"cannot open the label database {self._safe_url()}: "
                                 f"{server_problem(exc, self.engine.url)}") from exc
            raise self._open_error(exc) from exc
        except (SQLAlchemyError, ImportError, OSError) as exc:
            raise self._open_error(exc) from exc

    def _open_error(self, exc: Exception) -> StoreError:
        why = _short(exc)
        hint = ("the file is damaged; restore it from a backup (answers are also in any `intcap labels export`)"
                if any(w in why for w in ("malformed", "not a database", "corrupt")) else
                "expected an SQLite path or an SQLAlchemy URL such as postgresql+psycopg://user@host/db "
                "(with its driver installed)")
        return StoreError(f"cannot open the label database {self._safe_url()}: {why}; {hint}")

    @classmethod
    def open(cls, out_dir: Path | None = None, db: str | None = None) -> "LabelStore":
        return cls(database_url(out_dir, db))

    def _safe_url(self) -> str:
        return mask_url(self.url)

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def _read(self):
        """A read connection; a damaged or unreachable database is a StoreError, not a traceback."""
        try:
            with self.engine.connect().execution_options(intcap_read=True) as conn:
                yield conn
        except SQLAlchemyError as exc:
            if not self.url.startswith("sqlite"):
                raise StoreError(f"cannot read the label database {self._safe_url()}: "
                                 f"{server_problem(exc, self.engine.url)}") from exc
            raise StoreError(f"cannot read the label database {self._safe_url()}: {_short(exc)}. If the file is "
                             "damaged, restore it from a backup (answers are also in any `intcap labels export`)"
                             ) from exc

    # -- writing -----------------------------------------------------------------------------
    def _suggestion_id(self, conn: Connection, corpus: str, passage_id: str, suggestion: Suggestion) -> int:
        key = (suggestions.c.corpus == corpus, suggestions.c.passage_id == passage_id,
               suggestions.c.model_version == suggestion.model_version)
        found = conn.execute(select(suggestions.c.id).where(*key)).scalar()
        if found is not None:
            return int(found)
        try:
            with conn.begin_nested():
                return int(conn.execute(suggestions.insert().values(
                    corpus=corpus, passage_id=passage_id, model_version=suggestion.model_version,
                    codes=json.dumps(suggestion.codes), assigned=json.dumps(suggestion.assigned), created=now(),
                )).inserted_primary_key[0])
        except IntegrityError:  # another reviewer stored the same suggestion a moment ago
            return int(conn.execute(select(suggestions.c.id).where(*key)).scalar_one())

    def record(self, corpus: str, coding: Coding, codes: dict[str, str], reviewer: str) -> Answer:
        """Store one answer and the suggestion shown with it; returns only after the commit."""
        codes, reviewer = validate_codes(codes), validate_reviewer(reviewer)
        suggestion = Suggestion.from_coding(coding)
        p = coding.passage
        row = dict(corpus=corpus, passage_id=p.id, company=p.company, source=p.source, start_offset=p.start,
                   end_offset=p.end, text=p.text, reviewer=reviewer, created=now(), codes=json.dumps(codes),
                   model_version=coding.model_version, agrees=codes == suggestion.assigned)
        try:
            with self.engine.begin() as conn:
                row["suggestion_id"] = self._suggestion_id(conn, corpus, p.id, suggestion)
                answer_id = conn.execute(answers.insert().values(**row)).inserted_primary_key[0]
        except SQLAlchemyError as exc:
            raise StoreError(f"could not save the answer for {p.id} in {self._safe_url()}: {_short(exc)}") from exc
        return _answer({**row, "id": answer_id, "undone_at": None})

    def claim(self, corpus: str, passage_id: str, holder: str, seconds: float) -> bool:
        """Hold ``passage_id`` for ``holder`` for ``seconds``; False if someone else holds it.

        One conditional UPDATE (ours, or expired), else an INSERT that the primary key refuses
        when another process holds it: two reviewers can never both win the same passage.
        """
        key = (claims.c.corpus == corpus, claims.c.passage_id == passage_id)
        try:
            with self.engine.begin() as conn:
                stamp = clock(conn)
                taken = conn.execute(update(claims).where(*key, or_(claims.c.holder == holder, claims.c.expires < stamp))
                                     .values(holder=holder, expires=stamp + seconds)).rowcount
                if not taken:
                    conn.execute(claims.insert().values(corpus=corpus, passage_id=passage_id, holder=holder,
                                                        expires=stamp + seconds))
        except IntegrityError:  # held by someone else (or inserted by another process first)
            return False
        except SQLAlchemyError as exc:
            raise StoreError(f"could not hold a passage in {self._safe_url()}: {_short(exc)}") from exc
        return True

    def release(self, corpus: str, passage_id: str, holder: str) -> None:
        try:
            with self.engine.begin() as conn:
                conn.execute(claims.delete().where(claims.c.corpus == corpus, claims.c.passage_id == passage_id,
                                                   claims.c.holder == holder))
        except SQLAlchemyError as exc:
            raise StoreError(f"could not release a passage in {self._safe_url()}: {_short(exc)}") from exc

    def held_by_others(self, corpus: str, holder: str) -> set[str]:
        with self._read() as conn:
            return {r.passage_id for r in conn.execute(select(claims.c.passage_id).where(
                claims.c.corpus == corpus, claims.c.holder != holder, claims.c.expires >= clock(conn)))}

    def undo_last(self, corpus: str, reviewer: str, among: list[int] | None = None) -> Answer | None:
        """Mark ``reviewer``'s latest live answer in ``corpus`` undone (history is kept); None if there is
        none. ``among``: only answers with these ids count (the ones given in one browser session)."""
        reviewer = validate_reviewer(reviewer)
        where = [answers.c.corpus == corpus, answers.c.reviewer == reviewer, answers.c.undone_at.is_(None)]
        if among is not None:
            if not among:
                return None
            where.append(answers.c.id.in_(list(among)))
        try:
            for _ in range(20):
                with self.engine.begin() as conn:
                    row = conn.execute(select(answers).where(*where).order_by(answers.c.id.desc()).limit(1)
                                       ).mappings().first()
                    if row is None:
                        return None
                    stamp = now()
                    # only if still live: another process of the same reviewer may have undone it meanwhile
                    if conn.execute(update(answers).where(answers.c.id == row["id"], answers.c.undone_at.is_(None))
                                    .values(undone_at=stamp, undone_by=reviewer)).rowcount:
                        return _answer({**row, "undone_at": stamp})
        except SQLAlchemyError as exc:
            raise StoreError(f"could not undo in {self._safe_url()}: {_short(exc)}") from exc
        return None

    # -- reading -----------------------------------------------------------------------------
    def history(self, corpus: str | None = None) -> list[Answer]:
        """Every answer, undone ones included, oldest first."""
        query = select(answers).order_by(answers.c.id)
        if corpus is not None:
            query = query.where(answers.c.corpus == corpus)
        with self._read() as conn:
            return [_answer(r) for r in conn.execute(query).mappings()]

    def latest(self, corpus: str | None = None) -> list[Answer]:
        """The latest live answer per (corpus, passage), in the order they were given."""
        live: dict[tuple[str, str], Answer] = {}
        for a in self.history(corpus):
            if not a.undone:
                live.pop((a.corpus, a.passage_id), None)
                live[(a.corpus, a.passage_id)] = a
        return list(live.values())

    def reviewed_ids(self, corpus: str) -> list[str]:
        """Passages of ``corpus`` with a live answer, least recently answered first."""
        return [a.passage_id for a in self.latest(corpus)]

    def suggestion_count(self, corpus: str | None = None) -> int:
        query = select(suggestions.c.id)
        if corpus is not None:
            query = query.where(suggestions.c.corpus == corpus)
        with self._read() as conn:
            return len(conn.execute(query).all())

    def export_jsonl(self, path: Path, corpus: str | None = None, suggestions: dict[str, dict] | None = None) -> int:
        """Write the latest live answer per passage as hand-coded JSONL; returns the number written.

        ``suggestions`` (passage id -> the results folder's row, see ``suggestion_provenance``) adds
        which coder made the suggestion shown, in which language, and its evidence sentences."""
        rows = self.latest(corpus)
        with atomic_open(Path(path), encoding="utf-8") as fh:
            for a in rows:
                row = a.to_example()
                if suggestions and a.passage_id in suggestions:
                    row["suggestion"] = suggestions[a.passage_id]
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        return len(rows)


def _short(exc: Exception) -> str:
    """The driver's own message, without SQLAlchemy's statement dump and link."""
    orig = getattr(exc, "orig", None)
    return str(orig if orig is not None else exc).splitlines()[0][:200]


def _answer(row) -> Answer:
    return Answer(
        id=int(row["id"]), corpus=row["corpus"], passage_id=row["passage_id"], company=row["company"],
        source=row["source"], start=int(row["start_offset"]), end=int(row["end_offset"]), text=row["text"],
        reviewer=row["reviewer"], created=row["created"], codes=json.loads(row["codes"]),
        model_version=row["model_version"], agrees=bool(row["agrees"]), undone=row["undone_at"] is not None,
    )
