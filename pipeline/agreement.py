"""Agreement statistics with uncertainty, for two codings of the same units
(``pipeline.agreement_files`` reads and matches them from files).

Per code (presence: coded / not coded): Cohen's κ, Krippendorff's α (nominal), F1, each
coder's prevalence and the confusion counts (both, only A, only B, neither); the mean over
codes; valence agreement where both gave the code; and the same presence statistics over
characters when the codings are spans over the same source texts. docs/AGREEMENT.md has
the formulas.

Passages of one company are not independent (one interview, one coder's reading of it), so
intervals resample companies, not passages: each replicate draws as many companies as there
are, with replacement, and takes all their units.

Undefined statistics (expected disagreement 0: neither coder, or both coders on every unit,
used the code) are reported as 0.0, as ``pipeline.classify.kappa`` and ``intcap evaluate`` do.
"""
from __future__ import annotations

import math
from collections.abc import Hashable, Sequence

import numpy as np

from pipeline.classify import kappa
from pipeline.records import CODES

#: confusion cells in the order every counts array keeps them
CELLS = ("both", "only_a", "only_b", "neither")


def cluster_bootstrap_kappa(gold: np.ndarray, pred: np.ndarray, groups: Sequence[str], *, n_boot: int = 1000,
                            seed: int = 0, level: float = 0.95) -> dict:
    """95 % intervals of per-code κ and of the mean κ over codes (presence matrices (n, 4))."""
    gold, pred = np.asarray(gold), np.asarray(pred)
    groups = np.asarray(list(groups))
    firms = np.unique(groups)
    members = [np.flatnonzero(groups == f) for f in firms]
    rng = np.random.default_rng(seed)
    stats = np.zeros((n_boot, len(CODES) + 1))
    for b in range(n_boot):
        idx = np.concatenate([members[k] for k in rng.integers(0, len(firms), len(firms))])
        per_code = [kappa(gold[idx, j], pred[idx, j]) for j in range(len(CODES))]
        stats[b] = [*per_code, np.mean(per_code)]
    lo, hi = np.quantile(stats, [(1 - level) / 2, 1 - (1 - level) / 2], axis=0)
    return {"kappa": {c: [round(float(lo[j]), 4), round(float(hi[j]), 4)] for j, c in enumerate(CODES)},
            "mean_kappa": [round(float(lo[-1]), 4), round(float(hi[-1]), 4)],
            "method": f"cluster bootstrap over {len(firms)} companies, {n_boot} replicates, {level:.0%}"}


# -- statistics of one 2x2 table (presence of one code) ---------------------------------------
def confusion(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """[both, only_a, only_b, neither] for two 0/1 vectors."""
    a, b = np.asarray(a).astype(bool), np.asarray(b).astype(bool)
    return np.array([(a & b).sum(), (a & ~b).sum(), (~a & b).sum(), (~a & ~b).sum()], dtype=np.int64)


def kappa_from_counts(counts) -> float:
    """Cohen's κ = (p_o - p_e) / (1 - p_e) from [both, only_a, only_b, neither]."""
    both, only_a, only_b, neither = (float(x) for x in counts)
    n = both + only_a + only_b + neither
    if n == 0:
        return 0.0
    pa, pb = (both + only_a) / n, (both + only_b) / n
    po, pe = (both + neither) / n, pa * pb + (1 - pa) * (1 - pb)
    return 0.0 if pe >= 1.0 else (po - pe) / (1.0 - pe)


def alpha_from_counts(counts) -> float:
    """Krippendorff's α, nominal, two coders, no missing values, from the 2x2 table.

    The coincidence matrix has o_11 = 2·both, o_00 = 2·neither, o_01 = o_10 = only_a + only_b
    over N = 2n pairable values, so α = 1 - (N - 1)·(only_a + only_b) / (n_0·n_1)."""
    both, only_a, only_b, neither = (float(x) for x in counts)
    n_values = 2 * (both + only_a + only_b + neither)
    n1 = 2 * both + only_a + only_b
    n0 = n_values - n1
    if n0 * n1 == 0:
        return 0.0
    return 1.0 - (n_values - 1) * (only_a + only_b) / (n0 * n1)


def f1_from_counts(counts) -> float:
    """F1 of B against A (symmetric): 2·both / (2·both + only_a + only_b); 0 when nobody coded."""
    both, only_a, only_b, _ = (float(x) for x in counts)
    return 0.0 if both + only_a + only_b == 0 else 2 * both / (2 * both + only_a + only_b)


def prevalences(counts) -> tuple[float, float]:
    both, only_a, only_b, neither = (float(x) for x in counts)
    n = both + only_a + only_b + neither
    return (0.0, 0.0) if n == 0 else ((both + only_a) / n, (both + only_b) / n)


# -- nominal statistics over any categories ---------------------------------------------------
def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def krippendorff_alpha(reliability_data: Sequence[Sequence[Hashable]]) -> float:
    """Krippendorff's α for nominal data in the general form (any number of coders, missing values).

    ``reliability_data`` is coders x units; None or NaN marks a value a coder did not give.
    Units with fewer than two values are not pairable and drop out. With n_uc the number of
    values c in unit u and m_u the values in u: o_ck = Σ_u (n_uc·n_uk - [c = k]·n_uc) / (m_u - 1),
    n_c = Σ_k o_ck, N = Σ_c n_c and α = 1 - (N - 1)·Σ_{c≠k} o_ck / Σ_{c≠k} n_c·n_k.
    """
    rows = [list(r) for r in reliability_data]
    if not rows:
        return 0.0
    categories: dict = {}
    for row in rows:
        for v in row:
            if not _missing(v):
                categories.setdefault(v, len(categories))
    n_units = len(rows[0])
    if any(len(r) != n_units for r in rows):
        raise ValueError("reliability data: every coder needs one value (or None) per unit")
    per_unit = np.zeros((n_units, len(categories)))
    for row in rows:
        for u, v in enumerate(row):
            if not _missing(v):
                per_unit[u, categories[v]] += 1
    m = per_unit.sum(axis=1)
    pairable = per_unit[m >= 2]
    m = m[m >= 2]
    coincidences = (np.einsum("uc,uk->ck", pairable / (m - 1)[:, None], pairable)
                    - np.diag((pairable / (m - 1)[:, None]).sum(axis=0)))
    n_c = coincidences.sum(axis=0)
    n_total = n_c.sum()
    disagreement = n_total - np.trace(coincidences)
    expected = n_total ** 2 - float((n_c ** 2).sum())
    return 0.0 if expected <= 0 else float(1.0 - (n_total - 1) * disagreement / expected)


def nominal_kappa(a: Sequence[Hashable], b: Sequence[Hashable]) -> float | None:
    """Cohen's κ for two coders over any categories (e.g. the three valences); None when
    undefined (no units, or both coders used one and the same category throughout)."""
    if len(a) == 0:
        return None
    cats = sorted(set(a) | set(b), key=str)
    pa = np.array([sum(x == c for x in a) for c in cats]) / len(a)
    pb = np.array([sum(x == c for x in b) for c in cats]) / len(b)
    po = sum(x == y for x, y in zip(a, b)) / len(a)
    pe = float(pa @ pb)
    return None if pe >= 1.0 else (po - pe) / (1.0 - pe)


# -- per code, with cluster-bootstrap intervals -----------------------------------------------
def _r(x: float) -> float:
    return round(float(x), 4)


def group_counts(a: np.ndarray, b: np.ndarray, groups: Sequence[str]) -> tuple[list[str], np.ndarray]:
    """(sorted group names, counts (groups, codes, 4)) for presence matrices (n, codes)."""
    a, b = np.asarray(a).astype(bool), np.asarray(b).astype(bool)
    groups = np.asarray(list(groups))
    names = [str(g) for g in np.unique(groups)]
    counts = np.zeros((len(names), a.shape[1], len(CELLS)), dtype=np.int64)
    for g, name in enumerate(names):
        rows = groups == name
        for j in range(a.shape[1]):
            counts[g, j] = confusion(a[rows, j], b[rows, j])
    return names, counts


def _table_stats(table: np.ndarray) -> np.ndarray:
    """Per code κ, α, F1 (codes, 3) of one counts table (codes, 4)."""
    return np.array([[kappa_from_counts(t), alpha_from_counts(t), f1_from_counts(t)] for t in table])


def agreement_from_counts(counts: np.ndarray, group_names: Sequence[str], *, codes: Sequence[str] = CODES,
                          n_boot: int = 1000, seed: int = 0, level: float = 0.95, unit: str = "companies") -> dict:
    """Per-code κ, α, F1, prevalences and confusion counts, their means over codes and
    cluster-bootstrap intervals, from per-group counts (groups, codes, 4).

    The replicates draw groups exactly as ``cluster_bootstrap_kappa`` does (same generator,
    same seed, groups in sorted order), so its κ intervals are reproduced.
    """
    total = counts.sum(axis=0)
    point = _table_stats(total)
    out: dict = {"n": int(total[0].sum()) if len(total) else 0}
    for k, name in enumerate(("kappa", "alpha", "f1")):
        out[name] = {c: _r(point[j, k]) for j, c in enumerate(codes)}
        out[f"mean_{name}"] = _r(point[:, k].mean())
    out["prevalence"] = {c: dict(zip(("a", "b"), map(_r, prevalences(total[j])))) for j, c in enumerate(codes)}
    out["confusion"] = {c: dict(zip(CELLS, map(int, total[j]))) for j, c in enumerate(codes)}
    rng = np.random.default_rng(seed)
    n_groups = len(group_names)
    stats = np.zeros((n_boot, len(codes), 3))
    for b in range(n_boot):
        weights = np.bincount(rng.integers(0, n_groups, n_groups), minlength=n_groups)
        stats[b] = _table_stats(np.tensordot(weights, counts, axes=1))
    q = [(1 - level) / 2, 1 - (1 - level) / 2]
    lo, hi = np.quantile(stats, q, axis=0)
    mlo, mhi = np.quantile(stats.mean(axis=1), q, axis=0)
    out["ci"] = {"method": f"cluster bootstrap over {n_groups} {unit}, {n_boot} replicates, {level:.0%}"}
    for k, name in enumerate(("kappa", "alpha", "f1")):
        out["ci"][name] = {c: [_r(lo[j, k]), _r(hi[j, k])] for j, c in enumerate(codes)}
        out["ci"][f"mean_{name}"] = [_r(mlo[k]), _r(mhi[k])]
    return out


def presence_agreement(a: np.ndarray, b: np.ndarray, groups: Sequence[str], **bootstrap) -> dict:
    """Agreement of two presence matrices (n, 4) of 0/1 (rows: units; columns: CODES);
    ``groups`` (usually the company of each unit) are what the intervals resample."""
    names, counts = group_counts(a, b, groups)
    return agreement_from_counts(counts, names, **bootstrap)


def valence_agreement(a_valence: np.ndarray, b_valence: np.ndarray) -> dict:
    """Per code, on the units where both coders gave the code (valence "" = not given): how
    many, the share with the same valence, Cohen's κ and Krippendorff's α over + - 0.

    Unlike presence, an undefined κ or α is None here: on a handful of shared codes that all
    carry "+", 0.0 next to "100 % same" would read as a finding."""
    out = {}
    for j, code in enumerate(CODES):
        both = [(x, y) for x, y in zip(a_valence[:, j], b_valence[:, j]) if x and y]
        xs, ys = [x for x, _ in both], [y for _, y in both]
        k = nominal_kappa(xs, ys)
        out[code] = {"n": len(both),
                     "same": _r(sum(x == y for x, y in both) / len(both)) if both else None,
                     "kappa": None if k is None else _r(k),
                     "alpha": _r(krippendorff_alpha([xs, ys])) if len(set(xs + ys)) > 1 else None}
    return out


# -- characters as units ----------------------------------------------------------------------
def character_agreement(a_spans: Sequence[tuple[str, int, int, str]], b_spans: Sequence[tuple[str, int, int, str]],
                        lengths: dict[str, int], company_of: dict[str, str], **bootstrap) -> dict:
    """Presence agreement per code with each character of the sources as a unit.

    ``*_spans`` are (source, start, end, code) with offsets into the source text;
    ``lengths`` gives each source's length in characters. Two readings are reported:

    * ``all``: every character of the sources involved. This is what a passage-free reading
      of "how much of the text did both code alike" needs, and what NVivo's coding comparison
      reports; but uncoded stretches (questions, small talk) count as agreement, so in long
      sparsely coded texts κ and α rise with the share of text nobody coded.
    * ``coded_material``: only the characters that either coder coded with any code, which
      removes that inflation (a stricter figure; "neither" there means the character carries
      other codes only).

    Intervals resample companies (``company_of`` maps a source to its company).
    """
    masks_a, masks_b = _masks(a_spans, lengths), _masks(b_spans, lengths)
    sources = sorted(lengths)
    companies = sorted({company_of[s] for s in sources})
    counts = {"all": np.zeros((len(companies), len(CODES), 4), dtype=np.int64)}
    counts["coded_material"] = counts["all"].copy()
    for s in sources:
        g = companies.index(company_of[s])
        ma, mb = masks_a[s], masks_b[s]
        coded = ma.any(axis=0) | mb.any(axis=0)
        for j in range(len(CODES)):
            counts["all"][g, j] += confusion(ma[j], mb[j])
            counts["coded_material"][g, j] += confusion(ma[j, coded], mb[j, coded])
    out = {k: agreement_from_counts(v, companies, **bootstrap) for k, v in counts.items()}
    out["sources"] = len(sources)
    out["characters"] = int(sum(lengths.values()))
    return out


def _masks(spans, lengths: dict[str, int]) -> dict[str, np.ndarray]:
    masks = {s: np.zeros((len(CODES), n), dtype=bool) for s, n in lengths.items()}
    for source, start, end, code in spans:
        if source in masks and code in CODES:
            masks[source][CODES.index(code), max(start, 0):end] = True
    return masks


def disagreements(a_codes: Sequence[dict[str, str]], b_codes: Sequence[dict[str, str]]) -> list[tuple[int, float]]:
    """(unit index, score) of the units that disagree, most first: a code one coder gave and
    the other did not counts 1, a shared code with another valence 0.5; ties keep unit order."""
    scored = []
    for i, (a, b) in enumerate(zip(a_codes, b_codes)):
        score = sum((c in a) != (c in b) for c in CODES) + 0.5 * sum(c in a and c in b and a[c] != b[c] for c in CODES)
        if score:
            scored.append((i, score))
    return sorted(scored, key=lambda t: -t[1])
