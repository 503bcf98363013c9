"""Who coded what: the REFI users of machine and reviewed codings, and how import tells them apart.

Machine codings belong to a user named after the model version ("intcap model c6e9bd043ed7");
reviewed codings (from the review label store) to their reviewer. On import, a coding counts
as a machine coding only while nothing about it names a human (``importer._Reader.coder``).
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.errors import ImportExportError
from pipeline.outputs import evidence_texts
from pipeline.records import Coding

if TYPE_CHECKING:  # the label store (SQLAlchemy) is loaded only when an export reads it
    from pipeline.review.store import Answer

MACHINE_PREFIX = "intcap model "


def machine_user_name(model_version: str) -> str:
    """The REFI user that owns the codings of one model version."""
    return MACHINE_PREFIX + (model_version or "unknown")


def is_machine_user(name: str | None) -> bool:
    """True for the users intcap exports write for its models (also the older
    "intcap model V (encoder E)" form); everyone else, and unknown users, are human."""
    return bool(name) and name.strip().casefold().startswith(MACHINE_PREFIX)


def evidence_sentence(coding: Coding, code: str) -> str:
    """The sentence of the passage that carries the evidence for ``code`` ("" when not known)."""
    return evidence_texts(coding).get(code, "")


def coder_label(coding: Coding) -> str:
    """'main coder, language en' / 'multilingual coder, language da'; 'coder unknown' for old runs."""
    who = f"{coding.coder} coder" if coding.coder else "coder unknown"
    return who + (f", language {coding.language}" if coding.language else "")


def reviewed_answers(out_dir: Path, db: str | None = None, corpus: str | None = None) -> list[Answer]:
    """Each reviewer's latest live answer per passage, from OUT_DIR's label store (or ``db``).

    No store, no answers: a results folder that was never reviewed has no labels.sqlite, and
    opening one would create it.
    """
    from pipeline.review.corpus import corpus_name
    from pipeline.review.store import DEFAULT_DB, LabelStore

    if db is None and not (Path(out_dir) / DEFAULT_DB).is_file():
        return []
    if db is not None and "://" not in db and not Path(db).is_file():
        raise ImportExportError(f"--db {db}: no such label database; expected the SQLite file `intcap review` "
                                "wrote (OUT_DIR/labels.sqlite) or an SQLAlchemy URL - check the path")
    store = LabelStore.open(Path(out_dir), db)
    try:
        history = store.history(corpus or corpus_name(Path(out_dir)))
    finally:
        store.close()
    latest: dict[tuple[str, str], Answer] = {}
    for a in history:  # oldest first: a later live answer by the same reviewer replaces an earlier one
        if not a.undone:
            latest[(a.passage_id, a.reviewer)] = a
    return list(latest.values())
