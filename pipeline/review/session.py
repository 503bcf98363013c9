"""One review session over a coded corpus: what to show next, answers, undo, progress.

Shared by the web page and the terminal mode, so both behave the same. Skips and
"show this one again after undo" are per reviewer session (in memory); answers go
straight to the label store.
"""
from __future__ import annotations

import secrets
import threading
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.records import CODES, Coding
from pipeline.review.answers import ReviewError, Suggestion, validate_codes
from pipeline.review.corpus import ReviewCorpus
from pipeline.review.gain import read_gain
from pipeline.review.queue import QueryStrategy, ReviewQueue, make_strategy
from pipeline.review.store import Answer, LabelStore

#: how long a passage shown to one reviewer is kept from the others (seconds)
CLAIM_SECONDS = 600.0


@dataclass
class Visit:
    """What one reviewer has skipped and should see again (per browser session or terminal)."""

    skipped: list[str] = field(default_factory=list)
    pinned: str | None = None
    #: ids of the answers given in this visit: undo reaches only these
    answered: list[int] = field(default_factory=list)
    #: (passage id, codes) of the answer last undone: shown again as the starting answer
    restored: tuple[str, dict[str, str]] | None = None

    def restored_for(self, passage_id: str) -> dict[str, str] | None:
        """The undone answer to start from when ``passage_id`` is shown again, else None."""
        if self.restored and self.restored[0] == passage_id:
            return dict(self.restored[1])
        return None


class ReviewSession:
    """Pick the next passage, record answers and undo them, for any number of reviewers."""

    def __init__(self, corpus: ReviewCorpus, store: LabelStore, strategy: QueryStrategy | None = None):
        self.corpus = corpus
        self.store = store
        self.queue = ReviewQueue(corpus, strategy)
        #: the version of the model whose suggestions the page shows (the most common one in the corpus)
        versions = Counter(c.model_version for c in corpus.codings if c.model_version)
        self.model_version: str | None = versions.most_common(1)[0][0] if versions else None
        #: this process's prefix for holders, so visitors of two processes never share a name
        self._process = secrets.token_hex(6)
        self._lock = threading.Lock()

    @classmethod
    def open(cls, out_dir: Path, db: str | None = None, strategy: str = "distinct",
             corpus_name: str | None = None) -> "ReviewSession":
        return cls(ReviewCorpus.load(out_dir, corpus_name), LabelStore.open(out_dir, db), make_strategy(strategy))

    def _holder(self, visitor: str) -> str:
        return f"{self._process}:{visitor}"[:200]

    def _claimed_by_others(self, visitor: str) -> set[str]:
        """Passages shown to another reviewer in the last CLAIM_SECONDS, in any process (the holds
        live in the label store)."""
        return self.store.held_by_others(self.corpus.name, self._holder(visitor))

    def next_coding(self, visit: Visit, visitor: str = "") -> Coding | None:
        """The passage to show next (the pinned one after an undo), or None when the queue is empty."""
        reviewed = self.store.reviewed_ids(self.corpus.name)
        done = set(reviewed)
        holder = self._holder(visitor)
        with self._lock:
            if visit.pinned and visit.pinned not in done and visit.pinned in self.corpus.index:
                self.store.claim(self.corpus.name, visit.pinned, holder, CLAIM_SECONDS)
                return self.corpus.get(visit.pinned)
            visit.pinned = None
            refused: set[str] = set()
            while True:
                exclude = set(visit.skipped) | self._claimed_by_others(visitor) | refused
                ids = self.queue.next_ids(reviewed, exclude, 1, recent=visit.skipped)
                if not ids and visit.skipped:  # everything left was skipped: start over on the skipped ones
                    visit.skipped.clear()
                    ids = self.queue.next_ids(reviewed, self._claimed_by_others(visitor) | refused, 1)
                if not ids:
                    return None
                chosen = ids[0]
                if self.store.claim(self.corpus.name, chosen, holder, CLAIM_SECONDS):
                    break
                refused.add(chosen)  # another process took it between our read and our claim
        return self.corpus.get(chosen)

    def coding(self, passage_id: str) -> Coding:
        coding = self.corpus.get(str(passage_id))
        if coding is None:
            raise ReviewError(f"passage {str(passage_id)[:100]!r} is not in corpus {self.corpus.name!r}; "
                              "reload the page to get the current queue")
        return coding

    def answer(self, passage_id: str, codes: dict[str, str], reviewer: str, visit: Visit | None = None) -> Answer:
        """Store the answer (committed before this returns)."""
        coding = self.coding(passage_id)
        stored = self.store.record(self.corpus.name, coding, validate_codes(codes), reviewer)
        if visit is not None:
            visit.answered.append(stored.id)
            if visit.pinned == coding.passage.id:
                visit.pinned = None
            visit.restored = None
        return stored

    def skip(self, passage_id: str, visit: Visit, visitor: str = "") -> None:
        coding = self.coding(passage_id)
        self.store.release(self.corpus.name, coding.passage.id, self._holder(visitor))
        if coding.passage.id not in visit.skipped:
            visit.skipped.append(coding.passage.id)
        if visit.pinned == coding.passage.id:
            visit.pinned = None
        if visit.restored and visit.restored[0] == coding.passage.id:
            visit.restored = None

    def undo(self, reviewer: str, visit: Visit | None = None) -> Answer | None:
        """Undo ``reviewer``'s last answer (with a visit: the last one given in that visit, so one
        browser session cannot undo another's); that passage is shown next."""
        undone = self.store.undo_last(self.corpus.name, reviewer, visit.answered if visit is not None else None)
        if undone is not None and visit is not None:
            visit.pinned = undone.passage_id
            visit.restored = (undone.passage_id, dict(undone.codes))
            if undone.passage_id in visit.skipped:
                visit.skipped.remove(undone.passage_id)
        return undone

    def progress(self) -> dict:
        """reviewed / queued passages, the share of answers that equal the suggestion shown, the model
        version shown, and ``gain``: the last learning round's held-back estimate
        (``pipeline.review.gain``; None without a usable OUT_DIR/review_adaptation.json)."""
        live = [a for a in self.store.latest(self.corpus.name) if a.passage_id in self.corpus.index]
        agree = sum(a.agrees for a in live)
        return {"reviewed": len(live), "queued": len(self.corpus) - len(live), "total": len(self.corpus),
                "agreement": round(agree / len(live), 4) if live else None,
                "model_version": self.model_version, "gain": read_gain(self.corpus.out_dir)}

    def retrain_answers(self) -> int:
        """How many answers the next learning round trains on: the latest live answer per passage of
        this corpus (what ``export_labels`` writes), passages since dropped from the corpus included."""
        return len(self.store.latest(self.corpus.name))

    def describe(self, coding: Coding) -> dict:
        """Everything the page or terminal shows for one passage (plain data; rendering escapes it)."""
        i = self.corpus.index[coding.passage.id]
        prev, nxt = self.corpus.neighbours(i)
        suggestion = Suggestion.from_coding(coding)
        p = coding.passage
        return {
            "id": p.id, "company": p.company, "source": p.source, "speaker": p.speaker, "text": p.text,
            "start": p.start, "end": p.end, "model_version": coding.model_version,
            "previous": _context(prev), "next": _context(nxt),
            "codes": [{"code": c, "p": suggestion.codes.get(c, {}).get("p"),
                       "valence": suggestion.codes.get(c, {}).get("valence"),
                       "valence_p": suggestion.codes.get(c, {}).get("valence_p"),
                       "threshold": round(float(self.corpus.thresholds[j]), 4),
                       "assigned": c in suggestion.assigned} for j, c in enumerate(CODES)],
            "suggestion": dict(suggestion.assigned),
            "evidence": self.corpus.evidence_spans(i),
        }


def _context(coding: Coding | None) -> dict | None:
    if coding is None:
        return None
    return {"id": coding.passage.id, "speaker": coding.passage.speaker, "text": coding.passage.text}
