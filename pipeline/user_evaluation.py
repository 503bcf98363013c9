"""Grouped cross-validation on the researcher's own hand coding: how well would intcap code my data?

Folds hold out whole groups (companies, or sources): leave-one-group-out with up to 20
groups, else 10 grouped folds. Each fold trains the shipped coder exactly as the thesis's
leave-one-company-out does (``pipeline.evaluate.run_evaluation``): on the other groups'
examples plus what the default recipe adds - the thesis's passages not in the user's file,
the register rewrites and the written training corpus - minus anything belonging to a
held-out company. With the thesis file as the user's data the training sets, their order
and so the figures are those of ``intcap evaluate``.

A learning curve refits each fold on 25 % and 50 % of its training groups (the bundled data
stays whole: the question is what more of *your* labels would buy).
"""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from sklearn.model_selection import GroupKFold

from pipeline import paths, safejson
from pipeline.agreement import presence_agreement, valence_agreement
from pipeline.candidates import Candidate, Predictions
from pipeline.coder import CoderSettings
from pipeline.errors import IntcapError
from pipeline.evaluate import coding_metrics, memo_factory, shipped_candidate
from pipeline.examples import Example, label_matrices, load_examples, merge_examples
from pipeline.records import CODES, VALENCES

#: up to this many groups every group is its own fold
MAX_LEAVE_ONE_OUT = 20
GROUPED_FOLDS = 10
CURVE_FRACTIONS = (0.25, 0.5, 1.0)
GROUPINGS = ("company", "source")


@dataclass
class UserData:
    """The researcher's examples and the group of each (what a fold holds out)."""

    examples: list[Example]
    groups: list[str]
    grouping: str = "company"
    origin: str = ""
    #: caveats for reading the figures, printed with them
    notes: list[str] = field(default_factory=list)


def load_user_data(example_files: Sequence[Path] = (), qdpx: Path | None = None, mapping: Path | None = None, *,
                   group: str = "company", coder: str | None = None, sources_dir: Path | None = None) -> UserData:
    """Examples from hand-coded JSONL files (later files win on id, as in training) and/or a
    REFI-QDA project read by the import path; ``group`` "source" needs a "source" per row."""
    if group not in GROUPINGS:
        raise IntcapError(f"--group: expected one of {', '.join(GROUPINGS)}, found {group!r}")
    sets, source_of, origins = [], {}, []
    for path in map(Path, example_files):
        try:
            text = path.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            raise IntcapError(f"{path}: cannot be read as UTF-8 JSON lines ({getattr(exc, 'strerror', None) or exc}); "
                              "expected hand-coded examples, one JSON object per line") from None
        examples = load_examples(path)
        rows = [safejson.loads(line) for line in text.splitlines() if line.strip()]
        for n, (ex, row) in enumerate(zip(examples, rows), 1):
            if row.get("source"):
                source_of[ex.id] = str(row["source"])
            elif group == "source":
                raise IntcapError(f"{path}: example {ex.id} (row {n}) has no \"source\"; --group source needs the "
                                  "source file of every example (or use --group company)")
        sets.append(examples)
        origins.append(str(path))
    if qdpx is not None:
        examples, sources = _qdpx_examples(Path(qdpx), mapping, coder, sources_dir)
        sets.append(examples)
        source_of.update(sources)
        origins.append(str(qdpx))
    examples = merge_examples(*sets)
    if not examples:
        raise IntcapError(f"{', '.join(origins) or 'evaluate'}: no hand-coded examples to evaluate on; "
                          "expected --examples FILE... and/or --qdpx FILE")
    groups = [e.company if group == "company" else source_of[e.id] for e in examples]
    if len(set(groups)) < 2:
        other = "source" if group == "company" else "company"
        raise IntcapError(f"{', '.join(origins)}: all {len(examples)} examples are in one {group}; grouped "
                          f"cross-validation needs at least two (try --group {other})")
    notes = []
    if qdpx is not None:
        notes.append(f"{qdpx}: a REFI-QDA project records only the spans someone coded, so these examples hold no "
                     "uncoded passages; the figures say how well intcap tells the codes apart on coded text, not "
                     "whether it leaves uncoded text alone")
    return UserData(examples, groups, group, ", ".join(origins), notes)


def _qdpx_examples(path: Path, mapping: Path | None, coder: str | None,
                   sources_dir: Path | None) -> tuple[list[Example], dict[str, str]]:
    from pipeline.refi import import_qdpx

    rows = import_qdpx(path, mapping, sources_dir=sources_dir).examples
    coders = sorted({r["coder"] for r in rows})
    if coder is not None:
        rows = [r for r in rows if r["coder"] == coder]
        if not rows:
            raise IntcapError(f"{path}: no mapped coding by coder {coder!r}; coders: {', '.join(coders) or 'none'}")
    elif len(coders) > 1:
        # the same span coded by two people would be two examples with different gold
        raise IntcapError(f"{path}: holds the codings of {len(coders)} coders ({', '.join(coders)}); choose one "
                          "with --coder NAME (compare them with `intcap agree`)")
    if not rows:
        raise IntcapError(f"{path}: no coding maps onto {'/'.join(CODES)}; give --map")
    examples = [Example(r["id"], r["company"], r["text"], dict(r["codes"]), "refi-qda") for r in rows]
    return examples, {r["id"]: r["source"] for r in rows}


def grouped_folds(groups: Sequence[str]) -> tuple[list[list[str]], str]:
    """The held-out groups of each fold (sorted, as ``pipeline.evaluate.loco_pool`` orders
    companies), and the scheme's name."""
    names = sorted(set(groups))
    if len(names) <= MAX_LEAVE_ONE_OUT:
        return [[g] for g in names], "leave-one-group-out"
    splitter = GroupKFold(n_splits=GROUPED_FOLDS)
    folds = [sorted({groups[i] for i in test}) for _, test in splitter.split(np.zeros(len(groups)), groups=groups)]
    return folds, f"{GROUPED_FOLDS} grouped folds"


def training_extras(settings: CoderSettings, own: list[Example], *, with_reference: bool = True,
                    with_corpus: bool = True) -> list[Example]:
    """What the default recipe trains on besides the user's examples, in the order the thesis
    evaluation pools them: register augmentation, the thesis passages the user's files do not
    hold (by id), then the written corpus."""
    from pipeline import corpus
    from pipeline.train import augment_examples

    if not with_reference:
        return []
    own_ids = {e.id for e in own}
    reference = [e for e in load_examples(paths.CODED_PASSAGES) if e.id not in own_ids]
    written = corpus.examples(corpus.training_rows()) if with_corpus else []
    return augment_examples(settings, own + reference) + reference + written


#: id prefixes of register-augmented examples (``pipeline.train``): "fp:x" renders example x
AUGMENTED_PREFIXES = ("fp:", "rw:")


def _base_id(example_id: str) -> str:
    for prefix in AUGMENTED_PREFIXES:
        if example_id.startswith(prefix):
            return example_id[len(prefix):]
    return example_id


def fold_training(own: list[Example], groups: list[str], extras: list[Example], held_out: set[str],
                  keep: set[str] | None = None) -> list[Example]:
    """The training set of one fold: own examples of groups not held out (only ``keep``'s, when
    given), then the extras, minus any about a held-out company or rendering a held-out example."""
    test = [e for e, g in zip(own, groups) if g in held_out]
    companies, test_ids = {e.company for e in test}, {e.id for e in test}
    mine = [e for e, g in zip(own, groups) if g not in held_out and (keep is None or g in keep)]
    return mine + [e for e in extras if e.company not in companies and _base_id(e.id) not in test_ids]


def cross_validate(candidate: Candidate, data: UserData, extras: list[Example], *, fraction: float = 1.0,
                   seed: int = 0) -> tuple[Predictions, float]:
    """Held-out predictions for every user example, and the mean number of the user's own
    examples each fold trained on; ``fraction`` < 1 keeps that share of each fold's training groups."""
    own, groups = data.examples, data.groups
    n = len(own)
    presence, assigned = np.zeros((n, len(CODES))), np.zeros((n, len(CODES)), dtype=int)
    valence = np.zeros((n, len(CODES), len(VALENCES)))
    rng = np.random.default_rng(seed)
    folds, _ = grouped_folds(groups)
    sizes = []
    for held in map(set, folds):
        keep = None
        if fraction < 1.0:
            train_groups = sorted(set(groups) - held)
            k = max(1, int(round(fraction * len(train_groups))))
            keep = set(rng.choice(train_groups, size=k, replace=False).tolist())
        train = fold_training(own, groups, extras, held, keep)
        sizes.append(sum(g not in held and (keep is None or g in keep) for g in groups))
        idx = [i for i, g in enumerate(groups) if g in held]
        pred = candidate.fit(train).predict([own[i] for i in idx])
        presence[idx], assigned[idx], valence[idx] = pred.presence, pred.assigned, pred.valence
    return Predictions(presence, assigned, valence), float(np.mean(sizes))


def learning_curve(points: list[tuple[float, float, float]]) -> dict:
    """(fraction, own labels per fold, mean κ) points -> the curve and a straight-line reading
    on a log scale of the label count: κ gained per doubling, and the κ twice the labels would give."""
    x = np.log2([max(n, 1.0) for _, n, _ in points])
    y = np.array([k for _, _, k in points])
    slope = float(np.polyfit(x, y, 1)[0]) if len(set(x.tolist())) > 1 else 0.0
    expected = float(np.clip(y[-1] + slope, -1.0, 1.0))
    return {"points": [{"fraction": f, "labels": round(n, 1), "mean_kappa": round(k, 4)} for f, n, k in points],
            "kappa_per_doubling": round(slope, 4), "expected_mean_kappa_at_twice": round(expected, 4),
            "line": f"with twice the labels you would expect a mean κ of about {expected:.2f} "
                    f"({slope:+.3f} per doubling; a straight line through {len(points)} points on a log scale, "
                    "so a rough guide, not a promise)"}


def user_metrics(data: UserData, pred: Predictions, *, n_boot: int = 1000, seed: int = 0) -> dict:
    """κ, α, F1, prevalence and confusion per code (a = the user's coding, b = held-out model),
    intervals resampling the evaluation's groups, valence agreement and accuracy."""
    gold, gold_valence = label_matrices(data.examples)
    out = presence_agreement(gold, pred.assigned, data.groups, n_boot=n_boot, seed=seed)
    out["ci"]["method"] = out["ci"]["method"].replace("companies", f"{data.grouping} groups")
    model_valence = np.array([[VALENCES[int(np.argmax(pred.valence[i, j]))] if pred.assigned[i, j] else ""
                               for j in range(len(CODES))] for i in range(len(data.examples))], dtype=object)
    out["valence"] = valence_agreement(gold_valence, model_valence)
    standard = coding_metrics(data.examples, pred)
    out["macro_f1"], out["valence_accuracy"] = standard["macro_f1"], standard["valence_accuracy"]
    out["coders"] = {"a": "your hand coding", "b": "intcap, trained without the held-out group"}
    return out


def run_user_evaluation(data: UserData, settings: CoderSettings | None = None, *, with_reference: bool = True,
                        with_corpus: bool = True, with_curve: bool = True, extras: list[Example] | None = None,
                        candidate_factory: Callable[[CoderSettings], Candidate] | None = None,
                        n_boot: int = 1000, seed: int = 0) -> dict:
    """The report of ``intcap evaluate --examples``; ``extras`` and ``candidate_factory``
    replace the bundled training additions and the shipped coder (tests)."""
    settings = settings or CoderSettings()
    settings = replace(settings, training_corpus=with_corpus)
    t0 = time.perf_counter()
    if extras is None:
        extras = training_extras(settings, data.examples, with_reference=with_reference, with_corpus=with_corpus)
    candidate = (candidate_factory or (lambda s: shipped_candidate(s, memo_factory())))(settings)
    pred, labels = cross_validate(candidate, data, extras)
    user = user_metrics(data, pred, n_boot=n_boot, seed=seed)
    if with_curve:
        points = []
        for fraction in CURVE_FRACTIONS[:-1]:
            part, n = cross_validate(candidate, data, extras, fraction=fraction, seed=seed)
            points.append((fraction, n, coding_metrics(data.examples, part)["mean_kappa"]))
        points.append((1.0, labels, coding_metrics(data.examples, pred)["mean_kappa"]))
        user["learning_curve"] = learning_curve(points)
    folds, scheme = grouped_folds(data.groups)
    return {"origin": data.origin, "n_examples": len(data.examples),
            "groups": {"by": data.grouping, "n": len(set(data.groups)), "folds": len(folds), "scheme": scheme},
            "n_extra_training": len(extras), "encoder": settings.encoder, "settings": vars(settings).copy(),
            "notes": list(data.notes), "user": user, "seconds": round(time.perf_counter() - t0, 1)}
