"""The results database's tables, and how a Coding becomes a row and back (see pipeline.store)."""
from __future__ import annotations

import json

import sqlalchemy as sa

from pipeline.records import CODES, Coding

metadata = sa.MetaData()

#: text that queries ORDER BY: compared byte by byte on PostgreSQL as SQLite does, so sources,
#: passages and companies come out in the same order whatever the server's locale
SortedText = sa.Text().with_variant(sa.Text(collation="C"), "postgresql")

meta_table = sa.Table(
    "intcap_meta", metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

runs = sa.Table(
    "runs", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("started", sa.String(32), nullable=False),
    sa.Column("finished", sa.String(32)),
    sa.Column("heartbeat", sa.String(32)),
    #: running -> ok; a running run superseded by another becomes "interrupted"
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("corpus", sa.Text, nullable=False),
    sa.Column("model_version", sa.String(64), nullable=False),
    sa.Column("host", sa.String(255)),
    sa.Column("pid", sa.Integer),
    sa.Column("files", sa.Integer),
    sa.Column("added", sa.Integer),
    sa.Column("changed", sa.Integer),
    sa.Column("recoded", sa.Integer),
    sa.Column("removed", sa.Integer),
    sa.Column("unchanged", sa.Integer),
    sa.Column("failed", sa.Integer),
    sa.Column("passages_coded", sa.Integer),
    sa.Column("companies", sa.Integer),
)

run_files = sa.Table(
    "run_files", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    sa.Column("path", SortedText, nullable=False),
    sa.Column("action", sa.String(16), nullable=False),
    sa.Column("problem", sa.Text),
    sa.Column("passages", sa.Integer, nullable=False, default=0),
    sa.UniqueConstraint("run_id", "path", name="uq_run_files_run_path"),
)

sources = sa.Table(
    "sources", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("path", SortedText, nullable=False, unique=True),
    sa.Column("fingerprint", sa.String(64), nullable=False),
    sa.Column("model_version", sa.String(64), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("coded_run", sa.Integer, sa.ForeignKey("runs.id")),
    sa.Column("removed_run", sa.Integer, sa.ForeignKey("runs.id")),
)

transcripts = sa.Table(
    "transcripts", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("source_id", sa.Integer, sa.ForeignKey("sources.id", ondelete="CASCADE"), nullable=False),
    sa.Column("idx", sa.Integer, nullable=False),
    sa.Column("source", SortedText, nullable=False),
    sa.Column("company", SortedText, nullable=False),
    sa.Column("content_hash", sa.String(64), nullable=False),
    sa.Column("format", sa.String(32), nullable=False),
    sa.Column("interviewee", sa.Text),
    sa.Column("date", sa.Text),  # as the manifest gives it: any length
    sa.Column("language", sa.String(16)),
    sa.Column("text", sa.Text, nullable=False),
    sa.UniqueConstraint("source_id", "idx", name="uq_transcripts_source_idx"),
)


def _code_columns() -> list[sa.Column]:
    cols = []
    for code in CODES:
        c = code.lower()
        cols += [sa.Column(f"{c}_on", sa.Integer, nullable=False), sa.Column(f"{c}_p", sa.Float, nullable=False),
                 sa.Column(f"{c}_valence", sa.String(1), nullable=False),
                 sa.Column(f"{c}_vpos", sa.Float, nullable=False), sa.Column(f"{c}_vneg", sa.Float, nullable=False)]
    return cols


passages = sa.Table(
    "passages", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("transcript_id", sa.Integer, sa.ForeignKey("transcripts.id", ondelete="CASCADE"), nullable=False),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("passage_id", SortedText, nullable=False),
    sa.Column("company", SortedText, nullable=False),
    sa.Column("source", SortedText, nullable=False),
    sa.Column("start", sa.Integer, nullable=False),
    sa.Column("end", sa.Integer, nullable=False),
    sa.Column("speaker", sa.Text),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("model_version", sa.String(64), nullable=False),
    sa.Column("assigned", sa.Text, nullable=False),
    sa.Column("codes", sa.Text, nullable=False),
    sa.Column("evidence", sa.Text, nullable=False),
    *_code_columns(),
    sa.UniqueConstraint("transcript_id", "seq", name="uq_passages_transcript_seq"),
)
sa.Index("ix_passages_company", passages.c.company)

profiles = sa.Table(
    "profiles", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    sa.Column("company", SortedText, nullable=False),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("n_passages", sa.Integer, nullable=False),
    sa.Column("primary_focus", sa.String(32), nullable=False),
    sa.Column("data", sa.Text, nullable=False),
    sa.UniqueConstraint("run_id", "company", name="uq_profiles_run_company"),
)
sa.Index("ix_profiles_company", profiles.c.company)


def passage_row(transcript_id: int, seq: int, coding: Coding) -> dict:
    p = coding.passage
    row = {
        "transcript_id": transcript_id, "seq": seq, "passage_id": p.id, "company": p.company, "source": p.source,
        "start": p.start, "end": p.end, "speaker": p.speaker, "text": p.text, "model_version": coding.model_version,
        "assigned": json.dumps(list(coding.assigned)),
        "codes": json.dumps({c: {"p": s.p, "valence": s.valence, "valence_p": s.valence_p}
                             for c, s in coding.codes.items()}),
        "evidence": json.dumps({c: list(span) for c, span in coding.evidence.items()}),
    }
    for code in CODES:
        c, score = code.lower(), coding.codes[code]
        row.update({f"{c}_on": int(code in coding.assigned), f"{c}_p": score.p, f"{c}_valence": score.valence,
                    f"{c}_vpos": score.valence_p.get("+", 0.0), f"{c}_vneg": score.valence_p.get("-", 0.0)})
    return row


def coding_from_row(row) -> Coding:
    return Coding.from_dict({
        "id": row["passage_id"], "company": row["company"], "source": row["source"], "speaker": row["speaker"],
        "start": row["start"], "end": row["end"], "text": row["text"], "codes": json.loads(row["codes"]),
        "assigned": json.loads(row["assigned"]), "evidence": json.loads(row["evidence"]),
        "model_version": row["model_version"],
    })
