"""Incremental coding of a corpus folder into the results database (``intcap refresh``).

1. **plan**: discover the files, fingerprint each (its bytes, its manifest entry and, where
   that names no interviewer, the ``--interviewer`` option) and compare with the store: new
   files are *added*, different ones *changed*, files coded by another model version
   *recoded*; the rest are skipped as unchanged, and files the store knows but the folder
   no longer has are *removed*.
2. **code**: the files to do are read and sent, a batch at a time, to a coding
   function (:func:`code_transcripts`) through an *executor*: inline here, Prefect
   tasks on a Dask cluster in ``flows/refresh_corpus.py``. Each worker process loads
   the model once (:func:`worker_coder`).
3. **commit**: each batch's files are written with their file records in one
   transaction as the batch comes back, so memory holds a few batches at most and
   a killed refresh resumes where it stopped (the unfinished run is taken up again).
4. **finish**: profiles are aggregated from the store in one streaming pass
   (:class:`ProfileAggregator`, identical to :func:`pipeline.profile.build_profiles`),
   stored with the run, and the outputs are written to ``--out`` if given.
"""
from __future__ import annotations

import hashlib
import heapq
import json
import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from itertools import accumulate
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.batch import DEFAULT_BATCH_SIZE, guided_groups, speaker_roles
from pipeline.errors import IngestError, IntcapError, ListedButMissing, ModelError
from pipeline.ingest import MANIFEST_NAME, ManifestEntry, discover, load_manifest, read_source
from pipeline.ingest.registry import read_bytes
from pipeline.modeldir import load_model, read_manifest
from pipeline.profile import STRENGTH_NORMS, ProfileSettings, primary_focus
from pipeline.records import CODES, CodeProfile, Coding, Profile, Transcript
from pipeline.store import ADDED, CHANGED, RECODED, Store

THREADS_ENV = "INTCAP_TORCH_THREADS"


@dataclass(frozen=True)
class FileJob:
    """One file to (re-)code: where it is, its name in the store, why it is coded."""

    path: str
    name: str
    fingerprint: str
    action: str
    entry: ManifestEntry | None = None
    #: bytes of the file (what guided batches balance)
    size: int = 0


@dataclass
class Plan:
    run_id: int
    resumed: bool
    root: Path
    files: int
    #: the interviewer option, for files whose manifest row names none
    interviewer: str | None = None
    jobs: list[FileJob] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


# -- planning -----------------------------------------------------------------------------------


def fingerprint(data: bytes, entry: ManifestEntry | None, interviewer: str | None = None) -> str:
    """What decides whether a file must be re-coded: its bytes, its manifest row and the
    interviewer option where that row names no interviewer (only then does the option count,
    and without it the fingerprint is what it was before the option existed)."""
    h = hashlib.sha256(data)
    h.update(b"\0manifest\0" + json.dumps(entry and vars(entry), sort_keys=True).encode())
    if interviewer and not (entry and entry.interviewer):
        h.update(b"\0interviewer\0" + interviewer.encode())
    return h.hexdigest()


def source_name(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)


def plan_refresh(corpus: Path, store: Store, model_version: str, interviewer: str | None = None) -> Plan:
    """Start (or resume) a run and decide what to do with every file.

    ``interviewer`` names the interviewer speaker ("A; B") where a manifest row names none.
    """
    corpus = Path(corpus)
    if not corpus.is_dir():
        raise IntcapError(f"{corpus}: not a folder; `intcap refresh` keeps a whole corpus folder up to date "
                          "(use `intcap code` for a single file)")
    root = corpus.resolve()
    files, errors = discover(root)  # raises for a broken manifest: every company name would be unreliable
    manifest = load_manifest(root / MANIFEST_NAME) if (root / MANIFEST_NAME).is_file() else {}
    run_id, resumed = store.begin_run(str(root), model_version)
    done = store.done_paths(run_id)
    known = store.known_sources()
    plan = Plan(run_id, resumed, root, len(files), interviewer)
    seen: set[str] = set()
    for error in errors:
        name = source_name(Path(error.path), root)
        if isinstance(error, ListedButMissing):
            # deleted from the folder but still in manifest.csv: removed like any deleted file
            plan.warnings.append(f"{name}: {error.problem}; treated as removed (delete its row from "
                                 f"{MANIFEST_NAME} to silence this)")
            continue
        seen.add(name)
        if name not in done:
            store.record_failure(run_id, name, error.problem)
    for path in files:
        name = source_name(path, root)
        seen.add(name)
        if name in done:
            continue
        entry = manifest.get(name)
        try:
            data = read_bytes(path)
            fp = fingerprint(data, entry, interviewer)
        except IngestError as error:
            store.record_failure(run_id, name, error.problem)
            continue
        old = known.get(name)
        if old is None or old.status != "active":
            action = ADDED
        elif old.fingerprint != fp:
            action = CHANGED
        elif old.model_version != model_version:
            action = RECODED
        else:
            continue
        plan.jobs.append(FileJob(str(path), name, fp, action, entry, len(data)))
    plan.removed = sorted(n for n, s in known.items() if s.status == "active" and n not in seen and n not in done)
    return plan


# -- coding (runs on workers) -------------------------------------------------------------------

_coders: dict[tuple[str, str], object] = {}
_coders_lock = threading.Lock()
#: how often this process loaded each (model dir, version): tests check it stays at 1
model_loads: Counter = Counter()


def apply_thread_limit() -> None:
    """Honour INTCAP_TORCH_THREADS (set per Dask worker so workers do not fight over cores)."""
    threads = os.environ.get(THREADS_ENV)
    if threads:
        import torch

        torch.set_num_threads(max(1, int(threads)))


def worker_coder(model_dir: str, version: str):
    """The model for this process, loaded once per (model dir, version) and then reused."""
    key = (str(Path(model_dir).resolve()), version)
    with _coders_lock:
        coder = _coders.get(key)
        if coder is None:
            apply_thread_limit()
            coder = load_model(Path(model_dir))
            if coder.version != version:
                raise ModelError(f"{model_dir}: the model changed during the refresh (version {coder.version}, "
                                 f"expected {version}); run `intcap refresh` again")
            _coders.clear()  # one model per process: an old version is not needed again
            _coders[key] = coder
            model_loads[key] += 1
        return coder


def segment_transcript(transcript: Transcript):
    from pipeline.segment import segment

    return segment(transcript)


def _code_items(coder, items: list[tuple[str, list[Transcript]]]) -> list[tuple[str, list[list[Coding]], None]]:
    passages = [p for _, ts in items for t in ts for p in segment_transcript(t)]
    slots: dict[tuple[str, str], list[Coding]] = {}
    out = []
    for name, ts in items:
        per = [[] for _ in ts]
        for t, lst in zip(ts, per):
            slots[(t.source, t.company)] = lst
        out.append((name, per, None))
    for coding in coder.code(passages):
        slots[(coding.passage.source, coding.passage.company)].append(coding)
    return out


def code_transcripts(model_dir: str, version: str, items: list[tuple[str, list[Transcript]]]) -> dict:
    """Segment and code a batch of files' transcripts with this process's model.

    ``items`` are (file name, transcripts); returns {"results": [(name, codings per
    transcript, problem)], "pid": ..., "loads": ..., "seconds": ...} (the time this call took,
    model load included). A batch that fails is retried file by file, so one bad file fails
    alone, with its problem recorded.
    """
    started = time.perf_counter()
    coder = worker_coder(model_dir, version)
    try:
        results = _code_items(coder, items)
    except Exception:  # noqa: BLE001 - isolate the file that fails
        results = []
        for item in items:
            try:
                results.extend(_code_items(coder, [item]))
            except Exception as exc:  # noqa: BLE001
                results.append((item[0], [], f"coding failed: {type(exc).__name__}: {exc}"))
    key = (str(Path(model_dir).resolve()), version)
    return {"results": results, "pid": os.getpid(), "loads": model_loads[key],
            "seconds": time.perf_counter() - started}


class InlineExecutor:
    """Codes each batch in this process, one after another.

    An executor's ``map(model_dir, version, batches)`` yields :func:`code_transcripts`
    results, in any order; ``flows/refresh_corpus.py`` has the Prefect/Dask one.
    """

    def map(self, model_dir: str, version: str, batches: Iterable) -> Iterator[dict]:
        for batch in batches:
            yield code_transcripts(model_dir, version, batch)


# -- profiles -----------------------------------------------------------------------------------


class ProfileAggregator:
    """Company profiles from a stream of coded passages in corpus order, in O(companies) memory.

    Gives exactly what :func:`pipeline.profile.build_profiles` gives for the same codings.
    """

    def __init__(self, settings: ProfileSettings | None = None):
        self.settings = settings or ProfileSettings()
        self._n: dict[str, int] = {}
        self._codes: dict[str, dict[str, list]] = {}
        self._order = 0

    def add(self, company: str, passage_id: str, scores: dict[str, tuple[bool, float, str, float, float]]) -> None:
        """``scores``: per code (assigned, p, valence, P(+), P(-))."""
        if company not in self._n:
            self._n[company] = 0
            # count, +, -, 0, strength, evidence heap
            self._codes[company] = {c: [0, 0, 0, 0, 0.0, []] for c in CODES}
        self._n[company] += 1
        self._order += 1
        for code, (on, p, valence, vpos, vneg) in scores.items():
            if not on:
                continue
            acc = self._codes[company][code]
            acc[0] += 1
            acc[{"+": 1, "-": 2}.get(valence, 3)] += 1
            acc[4] += p * (vpos - vneg)
            heap = acc[5]
            item = (p, -self._order, passage_id)
            if len(heap) < self.settings.top_evidence:
                heapq.heappush(heap, item)
            elif item > heap[0]:
                heapq.heapreplace(heap, item)

    def add_coding(self, coding: Coding) -> None:
        self.add(coding.passage.company, coding.passage.id, {
            c: (c in coding.assigned, s.p, s.valence, s.valence_p.get("+", 0.0), s.valence_p.get("-", 0.0))
            for c, s in coding.codes.items()})

    def profiles(self) -> list[Profile]:
        out = []
        norm = STRENGTH_NORMS[self.settings.strength_norm]
        for company, n_passages in self._n.items():
            n = max(n_passages, 1)
            codes = {}
            for code in CODES:
                count, pos, neg, neu, strength, heap = self._codes[company][code]
                evidence = [pid for _, _, pid in sorted(heap, key=lambda e: (-e[0], -e[1]))]
                codes[code] = CodeProfile(coverage=round(count / n, 4), strength=round(strength / norm(n), 4), count=count,
                                          positive=pos, negative=neg, neutral=neu, evidence=evidence)
            out.append(Profile(company, n_passages, codes, primary_focus(codes, self.settings)))
        return out


def profiles_from_store(store: Store, settings: ProfileSettings | None = None) -> list[Profile]:
    agg = ProfileAggregator(settings)
    lower = [c.lower() for c in CODES]
    for row in store.iter_score_rows():
        m = row._mapping
        agg.add(m["company"], m["passage_id"], {
            code: (bool(m[f"{c}_on"]), m[f"{c}_p"], m[f"{c}_valence"], m[f"{c}_vpos"], m[f"{c}_vneg"])
            for code, c in zip(CODES, lower)})
    return agg.profiles()


def profile_row(profile: Profile) -> dict:
    return {"company": profile.company, "n_passages": profile.n_passages, "primary_focus": profile.primary_focus,
            "data": json.dumps(profile.to_dict(), ensure_ascii=False)}


# -- the whole refresh --------------------------------------------------------------------------


def read_batches(plan: Plan, store: Store, pending: dict, batch_size: int | None,
                 max_passages: int = 2000, workers: int | None = None) -> Iterator[list[tuple[str, list[Transcript]]]]:
    """Read the files to code, a batch at a time; a file that cannot be read is recorded as failed.

    A batch is ``batch_size`` files; with ``batch_size`` None and ``workers`` parallel coders, batches
    are guided by file size (:func:`pipeline.batch.guided_groups`), else ``DEFAULT_BATCH_SIZE`` files.
    """
    cuts = set(accumulate(guided_groups([job.size for job in plan.jobs], workers))) \
        if batch_size is None and workers else None
    batch_size = batch_size or DEFAULT_BATCH_SIZE
    batch: list[tuple[str, list[Transcript]]] = []
    size = 0
    for i, job in enumerate(plan.jobs, 1):
        try:
            ts = read_source(Path(job.path), job.entry, root=plan.root, interviewer=plan.interviewer)
        except IngestError as error:
            store.record_failure(plan.run_id, job.name, error.problem)
            ts = None
        if ts is not None:
            pending[job.name] = (job, ts)
            batch.append((job.name, ts))
            size += sum(len(t.turns) for t in ts)
        full = i in cuts if cuts is not None else len(batch) >= batch_size
        if batch and (full or size >= max_passages):
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


def refresh(corpus: Path, store: Store, model_dir: Path, *, batch_size: int | None = None,
            executor=None, out_dir: Path | None = None, on_commit: Callable[[str], None] | None = None,
            interviewer: str | None = None) -> dict:
    """Bring the store up to date with ``corpus``; returns the run summary (see :func:`summary`).

    ``interviewer`` names the interviewer speaker ("A; B") where a manifest row names none;
    changing it re-codes those files. ``batch_size`` None: batches guided by file size when the
    executor codes on several workers (its ``workers``), else ``DEFAULT_BATCH_SIZE`` files.
    """
    manifest = read_manifest(Path(model_dir))
    version = manifest["version"]
    executor = executor or InlineExecutor()
    plan = plan_refresh(Path(corpus), store, version, interviewer)
    roles: list[dict] = []
    pending: dict[str, tuple[FileJob, list[Transcript]]] = {}
    batches = read_batches(plan, store, pending, batch_size, workers=getattr(executor, "workers", None))
    loads: dict[int, int] = {}
    n_batches = 0
    for coded in executor.map(str(Path(model_dir).resolve()), version, batches):
        n_batches += 1
        loads[coded["pid"]] = max(loads.get(coded["pid"], 0), coded["loads"])
        done = [(name, *pending.pop(name), per_transcript, problem) for name, per_transcript, problem in coded["results"]]
        # the batch's coded files in one transaction (Store.commit_files), then its failures
        store.commit_files(plan.run_id, version, [(name, job.fingerprint, job.action, list(zip(ts, per)))
                                                  for name, job, ts, per, problem in done if not problem])
        for name, job, ts, per, problem in done:
            if problem:
                store.record_failure(plan.run_id, name, problem)
            else:
                roles += speaker_roles(ts)
            if on_commit:
                on_commit(name)
    for name in plan.removed:
        store.mark_removed(plan.run_id, name)
    profiles = profiles_from_store(store, ProfileSettings.from_manifest(manifest))
    run = store.finish_run(plan.run_id, plan.files, (profile_row(p) for p in profiles))
    result = summary(store, run, resumed=plan.resumed)
    result["warnings"] = plan.warnings
    #: each transcript coded in this run: its speakers' roles ("interviewer"/"respondent")
    result["speaker_roles"] = roles
    #: worker process id -> times it loaded the model (1 each: loaded once per worker, not per task)
    result["model_loads"] = {str(pid): n for pid, n in sorted(loads.items())}
    #: coding batches (tasks, on Dask) this run sent
    result["batches"] = n_batches
    if out_dir is not None:
        write_outputs(store, Path(out_dir), run, profiles, result)
        result["out_dir"] = str(out_dir)
    return result


def summary(store: Store, run: dict, *, resumed: bool = False) -> dict:
    """The run as a plain dict: counts, and each failed file with its problem."""
    files = store.files_of_run(run["id"])
    return {
        "run_id": run["id"], "resumed": resumed, "db": store.name, "corpus": run["corpus"],
        "model_version": run["model_version"], "started": run["started"], "finished": run["finished"],
        **{k: run[k] for k in ("files", "added", "changed", "recoded", "removed", "unchanged", "failed",
                               "passages_coded", "companies")},
        "passages": store.count_passages(),
        "coded_files": [f["path"] for f in files if f["action"] in (ADDED, CHANGED, RECODED)],
        "removed_files": [f["path"] for f in files if f["action"] == "removed"],
        "failures": [{"file": f["path"], "problem": f["problem"]} for f in files if f["action"] == "failed"],
    }


# -- outputs ------------------------------------------------------------------------------------


def write_outputs(store: Store, out_dir: Path, run: dict, profiles: list[Profile], result: dict) -> None:
    """The usual results folder, streamed from the store: passages, sources, profiles, report, run.json."""
    from pipeline.report_history import history_section
    from pipeline.outputs import PassageWriter, atomic_open, safe_relative, write_json, write_profiles
    from pipeline.report import render_report, write_report

    out_dir = Path(out_dir)
    writer = PassageWriter(out_dir)
    try:
        for coding in store.iter_codings():
            writer.write([coding])
    except BaseException:
        writer.close(failed=True)
        raise
    writer.close()
    for source, text in store.iter_transcript_texts():
        target = out_dir / "sources" / safe_relative(source)
        try:
            if target.is_file() and target.read_text(encoding="utf-8") == text:
                continue  # unchanged: skip the write (and its fsync)
        except (OSError, UnicodeDecodeError):
            pass
        with atomic_open(target, encoding="utf-8", newline="") as fh:
            fh.write(text)
    write_profiles(out_dir, profiles)
    evidence = store.codings_by_ids({pid for p in profiles for cp in p.codes.values() for pid in cp.evidence})
    write_report(out_dir / "report.html", render_report(
        profiles, evidence, model_version=run["model_version"], title="intcap report",
        extra_sections=[history_section(store)], n_passages=store.count_passages()))
    write_json(out_dir / "run.json", result)
