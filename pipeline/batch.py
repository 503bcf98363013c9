"""The coding job as plain functions: files in, results folder out (Prefect-free).

``flows/code_corpus.py`` orchestrates exactly these functions; ``code_folder`` is the
same job without Prefect, used by tests, benchmarks and ``intcap code --no-prefect``.
"""
from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from tqdm import tqdm

from pipeline.errors import IngestError, IntcapError
from pipeline.ingest import MANIFEST_NAME, ManifestEntry, discover, load_manifest, read_source, supported_extensions
from pipeline.outputs import PassageWriter, prepare_results_folder, write_json, write_profiles, write_source
from pipeline.profile import ProfileSettings, build_profiles
from pipeline.records import Coding, Passage, Profile, Transcript
from pipeline.report import render_report, write_report
from pipeline.segment import segment

if TYPE_CHECKING:  # the model's modules import scikit-learn (seconds): checks before a run stay quick
    from pipeline.coder import PassageCoder
    from pipeline.embed import Encoder

DEFAULT_BATCH_SIZE = 16
#: guided batches (below) for parallel workers: the smallest and the largest batch, in bytes of
#: transcript files. 12 kB is about 0.5 s of coding on one core, against some 30 ms a batch costs
#: besides coding (a Dask task, a coder call); 1 MB bounds the memory a batch in flight takes (in
#: the flow process and on its worker).
GUIDED_MIN_BYTES = 12_000
GUIDED_MAX_BYTES = 1_000_000


@dataclass
class RunSummary:
    """What a coding run did; ``failures`` name each bad file and its problem."""

    out_dir: str
    model_version: str
    files: int = 0
    transcripts: int = 0
    passages: int = 0
    companies: int = 0
    failures: list[dict] = field(default_factory=list)
    #: per transcript read: its source, company and each speaker's role ("interviewer"/"respondent")
    speaker_roles: list[dict] = field(default_factory=list)
    started: str = field(default_factory=lambda: dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"))

    @property
    def ok(self) -> bool:
        return not self.failures

    def fail(self, error: IngestError) -> None:
        self.failures.append({"file": error.path, "problem": error.problem})

    def note_roles(self, transcripts: Iterable[Transcript]) -> None:
        self.speaker_roles += speaker_roles(transcripts)


def speaker_roles(transcripts: Iterable[Transcript]) -> list[dict]:
    """Per transcript: its source, company and each speaker's detected role (for run.json)."""
    return [{"source": t.source, "company": t.company, "roles": dict(t.speaker_roles)} for t in transcripts]


def batched(items: list, size: int) -> Iterator[list]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


def guided_groups(sizes: Sequence[int], workers: int, *, factor: int = 2, min_size: int = GUIDED_MIN_BYTES,
                  max_size: int = GUIDED_MAX_BYTES) -> list[int]:
    """Cut items (files, in their order) into consecutive batches for ``workers`` parallel coders;
    returns the number of items in each batch.

    Guided scheduling by size: each batch takes about ``1/(factor x workers)`` of what is left
    (``sizes``, e.g. bytes), within ``[min_size, max_size]``, so the first batches are large (few
    batches, little per-batch cost) and the last ones small (the workers finish together). An item
    larger than its batch's share is a batch of its own.
    """
    if workers < 1 or factor < 1:
        raise ValueError(f"workers and factor must be at least 1 (got {workers}, {factor})")
    remaining = sum(sizes)
    groups: list[int] = []
    i = 0
    while i < len(sizes):
        target = min(max_size, max(min_size, remaining / (factor * workers)))
        n, got = 1, sizes[i]
        while i + n < len(sizes) and got + sizes[i + n] <= target:
            got += sizes[i + n]
            n += 1
        groups.append(n)
        i += n
        remaining -= got
    return groups


def corpus_manifest(root: Path) -> dict[str, ManifestEntry]:
    """The folder's manifest.csv rows (company, interviewee, ...) keyed by relative file name."""
    path = root / MANIFEST_NAME
    return load_manifest(path) if path.is_file() else {}


def read_batch(paths: Iterable[Path], root: Path, manifest: dict[str, ManifestEntry],
               summary: RunSummary, interviewer: str | None = None) -> list[Transcript]:
    """Read files, recording each failure and carrying on with the rest.

    ``interviewer`` names the interviewer speaker ("A; B" for several) where a file's
    manifest row names none.
    """
    transcripts = []
    for path in paths:
        try:
            entry = manifest.get(path.relative_to(root).as_posix())
            transcripts.extend(read_source(path, entry, root=root, interviewer=interviewer))
        except IngestError as error:
            summary.fail(error)
    summary.note_roles(transcripts)
    return transcripts


def segment_batch(transcripts: Iterable[Transcript]) -> list[Passage]:
    return [p for t in transcripts for p in segment(t)]


def code_batch(coder: PassageCoder, passages: list[Passage]) -> list[Coding]:
    return coder.code(passages)


def finish_run(out_dir: Path, coder: PassageCoder, codings: list[Coding], summary: RunSummary) -> list[Profile]:
    """Profiles, report and the run record, once every passage is written."""
    profiles = build_profiles(codings, ProfileSettings.from_manifest(coder.info))
    summary.companies = len(profiles)
    write_profiles(out_dir, profiles)
    write_report(out_dir / "report.html", render_report(profiles, codings, model_version=coder.version))
    write_json(out_dir / "run.json", {
        "model_version": coder.version, "encoder": coder.info.get("encoder", coder.encoder.name),
        **{k: v for k, v in vars(summary).items()},
    })
    return profiles


def corpus_root(corpus: Path) -> Path:
    return corpus if corpus.is_dir() else corpus.parent


def transcript_files(corpus: Path) -> tuple[list[Path], list[IngestError]]:
    """The files to code and the problems found; a corpus with nothing to code is an error."""
    files, errors = discover(corpus)
    if files:
        return files, errors
    if not corpus.is_dir():
        raise errors[0]  # the one file given cannot be read (its type, say)
    unreadable = [Path(e.path).name for e in errors if Path(e.path) != corpus]
    found = f" (only files it cannot read: {', '.join(unreadable[:5])}{' ...' * (len(unreadable) > 5)})"
    raise IntcapError(f"{corpus}: the folder has no transcripts{found if unreadable else ''}; supported: "
                      f"{', '.join(supported_extensions())}. Put the transcripts there, or name the folder (or file) "
                      "that holds them")


def check_run(corpus: Path, out_dir: Path) -> None:
    """Stop on what would stop the run anyway, before anything slow starts: nothing to code,
    ``out_dir`` naming a file."""
    transcript_files(corpus)
    prepare_results_folder(out_dir)


def warm_up(encoder: Encoder | None = None) -> None:
    """Load now what the first batch would load (e.g. while a Prefect server starts): spaCy's
    sentencizer, and ``encoder``'s weights if given (asking an encoder its dimension loads them)."""
    from pipeline.segment import sentencizer

    sentencizer("en")
    if encoder is not None:
        _ = encoder.dim


@dataclass
class Steps:
    """The stage functions a run calls; a Prefect flow swaps in task-wrapped versions."""

    read: Callable = read_batch
    segment: Callable = segment_batch
    code: Callable = code_batch
    finish: Callable = finish_run


def code_folder(corpus: Path, out_dir: Path, coder: PassageCoder, *, batch_size: int = DEFAULT_BATCH_SIZE,
                steps: Steps | None = None, show_progress: bool = False,
                interviewer: str | None = None) -> RunSummary:
    """Code every transcript under ``corpus`` (a folder or one file) into ``out_dir``.

    ``interviewer``: see :func:`read_batch`.
    """
    steps = steps or Steps()
    corpus, out_dir = Path(corpus), Path(out_dir)
    summary = RunSummary(str(out_dir), coder.version)
    files, errors = transcript_files(corpus)
    manifest = corpus_manifest(corpus_root(corpus))
    for error in errors:
        summary.fail(error)
    summary.files = len(files)
    writer = PassageWriter(out_dir)
    codings: list[Coding] = []
    bar = tqdm(total=len(files), unit="file", desc="coding", disable=not show_progress, file=sys.stderr)
    try:
        for paths in batched(files, batch_size):
            transcripts = steps.read(paths, corpus_root(corpus), manifest, summary, interviewer)
            for t in transcripts:
                write_source(out_dir, t)
            batch = steps.code(coder, steps.segment(transcripts))
            writer.write(batch)
            codings.extend(batch)
            summary.transcripts += len(transcripts)
            bar.update(len(paths))
    except BaseException:
        writer.close(failed=True)
        raise
    finally:
        bar.close()
    writer.close()
    summary.passages = writer.count
    steps.finish(out_dir, coder, codings, summary)
    return summary
