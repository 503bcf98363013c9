"""Agreement statistics (pipeline/agreement.py, pipeline/agreement_files.py) against sklearn and a textbook α, and `intcap agree`."""
from __future__ import annotations

import json
import zipfile
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from lxml import etree
from sklearn.metrics import cohen_kappa_score, f1_score

from intcap.cli import main
from pipeline.agreement import (alpha_from_counts, character_agreement, cluster_bootstrap_kappa, confusion,
                                f1_from_counts, kappa_from_counts, krippendorff_alpha, nominal_kappa,
                                presence_agreement, prevalences)
from pipeline.agreement_files import compare, read_coding_sets
from pipeline.classify import kappa as classify_kappa
from pipeline.records import CODES

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "agreement"
REFI = Path(__file__).resolve().parent / "fixtures" / "refi"
HAND_A, HAND_B, RESULTS = FIXTURES / "hand_a.jsonl", FIXTURES / "hand_b.jsonl", FIXTURES / "results"


def reference_alpha(data: list[list]) -> float:
    """Krippendorff's α (nominal) straight from the coincidence-matrix definition, in exact
    fractions: o_ck sums, over units with m_u >= 2 values, 1/(m_u - 1) for every ordered pair
    of values (c, k) from different coders; D_o = Σ_{c≠k} o_ck / n,
    D_e = Σ_{c≠k} n_c n_k / (n (n - 1)), α = 1 - D_o / D_e."""
    values = sorted({v for row in data for v in row if v is not None}, key=str)
    o = {(c, k): Fraction(0) for c in values for k in values}
    for u in range(len(data[0])):
        vals = [row[u] for row in data if row[u] is not None]
        m = len(vals)
        if m < 2:
            continue
        for i in range(m):
            for j in range(m):
                if i != j:
                    o[vals[i], vals[j]] += Fraction(1, m - 1)
    n_c = {c: sum(o[c, k] for k in values) for c in values}
    n = sum(n_c.values())
    d_o = sum(o[c, k] for c in values for k in values if c != k) / n
    d_e = sum(n_c[c] * n_c[k] for c in values for k in values if c != k) / (n * (n - 1))
    return float(1 - d_o / d_e)


def random_pairs(seed: int, trials: int = 200):
    """Random binary codings of one code by two coders, skipping tables where κ is undefined."""
    rng = np.random.default_rng(seed)
    for _ in range(trials):
        n = int(rng.integers(4, 120))
        a = (rng.random(n) < rng.uniform(0.05, 0.7)).astype(int)
        b = np.where(rng.random(n) < rng.uniform(0.5, 1.0), a, 1 - a)
        if len(set(a) | set(b)) == 2 and not (len(set(a)) == 1 and len(set(b)) == 1):
            yield a, b


FIXED = [([1, 1, 0, 0], [1, 0, 0, 0]), ([1, 0, 1, 0, 1, 1, 0, 0, 0, 0], [1, 0, 0, 0, 1, 1, 1, 0, 0, 0]),
         ([0, 0, 0, 1], [1, 1, 1, 0]), ([1, 1, 1, 0, 0, 0], [1, 1, 1, 0, 0, 0])]


# ------------------------------------------------------------------------------ statistics
@pytest.mark.parametrize("a, b", FIXED)
def test_kappa_and_alpha_on_fixed_tables(a, b):
    counts = confusion(a, b)
    assert abs(kappa_from_counts(counts) - cohen_kappa_score(a, b)) < 1e-12
    assert abs(alpha_from_counts(counts) - reference_alpha([a, b])) < 1e-12
    assert abs(krippendorff_alpha([a, b]) - reference_alpha([a, b])) < 1e-12


def test_known_values():
    # NET of the evaluate test: po .75, pe .5 -> κ .5; N = 8 values, n_1 = 3, n_0 = 5: α = 1 - 7·1/(5·3)
    assert kappa_from_counts(confusion([1, 1, 0, 0], [1, 0, 0, 0])) == pytest.approx(0.5)
    assert alpha_from_counts(confusion([1, 1, 0, 0], [1, 0, 0, 0])) == pytest.approx(1 - 7 / 15)
    assert list(confusion([1, 1, 0, 0, 1], [1, 0, 1, 0, 1])) == [2, 1, 1, 1]
    # undefined (nobody coded it): 0, as pipeline.classify.kappa and `intcap evaluate` report it
    assert kappa_from_counts([0, 0, 0, 5]) == 0.0 == alpha_from_counts([0, 0, 0, 5]) == classify_kappa([0] * 5, [0] * 5)


def test_kappa_alpha_f1_prevalence_on_random_data():
    for a, b in random_pairs(0):
        counts = confusion(a, b)
        assert abs(kappa_from_counts(counts) - cohen_kappa_score(a, b)) < 1e-12
        assert abs(kappa_from_counts(counts) - classify_kappa(a, b)) < 1e-12
        assert abs(alpha_from_counts(counts) - reference_alpha([a.tolist(), b.tolist()])) < 1e-12
        assert abs(krippendorff_alpha([a, b]) - alpha_from_counts(counts)) < 1e-12
        assert abs(f1_from_counts(counts) - f1_score(a, b, zero_division=0)) < 1e-12
        assert prevalences(counts) == pytest.approx((a.mean(), b.mean()), abs=1e-12)


def test_krippendorff_textbook_example_with_missing_values():
    # Krippendorff (2011), "Computing Krippendorff's alpha-reliability": 4 observers, 12 units, nominal α = 0.743
    m = None
    data = [[1, 2, 3, 3, 2, 1, 4, 1, 2, m, m, m],
            [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, m, 3],
            [m, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, m],
            [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, m]]
    assert round(reference_alpha(data), 3) == 0.743
    assert abs(krippendorff_alpha(data) - reference_alpha(data)) < 1e-12
    nan_missing = [[float("nan") if v is None else float(v) for v in row] for row in data]
    assert abs(krippendorff_alpha(nan_missing) - reference_alpha(data)) < 1e-12


def test_general_alpha_matches_reference_on_random_data_with_missing_values():
    rng = np.random.default_rng(7)
    for _ in range(150):
        coders, units, cats = int(rng.integers(2, 6)), int(rng.integers(3, 40)), int(rng.integers(2, 5))
        truth = rng.integers(0, cats, units)
        data = [[None if rng.random() < 0.25 else int(t if rng.random() < 0.7 else rng.integers(0, cats))
                 for t in truth] for _ in range(coders)]
        pairable = [u for u in range(units) if sum(row[u] is not None for row in data) >= 2]
        if len({row[u] for row in data for u in pairable if row[u] is not None}) < 2:
            continue
        assert abs(krippendorff_alpha(data) - reference_alpha(data)) < 1e-12


def test_valence_kappa_matches_sklearn():
    rng = np.random.default_rng(3)
    for _ in range(100):
        n = int(rng.integers(3, 50))
        a = rng.choice(list("+-0"), n).tolist()
        b = [x if rng.random() < 0.6 else str(rng.choice(list("+-0"))) for x in a]
        if len(set(a)) == len(set(b)) == 1:
            continue
        assert abs(nominal_kappa(a, b) - cohen_kappa_score(a, b)) < 1e-12
    assert nominal_kappa(["+", "+"], ["+", "+"]) is None  # undefined, not "0 = chance"


def test_intervals_reproduce_cluster_bootstrap_kappa_and_bracket_the_estimates():
    rng = np.random.default_rng(1)
    gold = (rng.random((200, 4)) < 0.3).astype(int)
    pred = np.where(rng.random((200, 4)) < 0.85, gold, 1 - gold)
    groups = [f"firm{i // 10}" for i in range(200)]
    r = presence_agreement(gold, pred, groups, n_boot=300)
    old = cluster_bootstrap_kappa(gold, pred, groups, n_boot=300)
    assert r["ci"]["kappa"] == old["kappa"] and r["ci"]["mean_kappa"] == old["mean_kappa"]
    assert r["ci"]["method"] == old["method"]
    for code in CODES:
        for stat in ("kappa", "alpha", "f1"):
            lo, hi = r["ci"][stat][code]
            assert lo <= r[stat][code] <= hi
        assert sum(r["confusion"][code].values()) == 200
    j = CODES.index("ABS")
    assert r["kappa"]["ABS"] == round(cohen_kappa_score(gold[:, j], pred[:, j]), 4)
    assert r["prevalence"]["ABS"] == {"a": round(gold[:, j].mean(), 4), "b": round(pred[:, j].mean(), 4)}
    assert presence_agreement(gold, gold, groups, n_boot=50)["ci"]["mean_kappa"] == [1.0, 1.0]


def test_character_agreement_counts_every_character():
    # one 20-character source; A codes NET on [0, 10) and PRI on [15, 20), B codes NET on [5, 15)
    a = [("s", 0, 10, "NET"), ("s", 15, 20, "PRI")]
    b = [("s", 5, 15, "NET")]
    r = character_agreement(a, b, {"s": 20}, {"s": "Firm"}, n_boot=20)
    net_a = np.array([1] * 10 + [0] * 10)
    net_b = np.array([0] * 5 + [1] * 10 + [0] * 5)
    assert r["all"]["confusion"]["NET"] == {"both": 5, "only_a": 5, "only_b": 5, "neither": 5}
    assert r["all"]["kappa"]["NET"] == round(cohen_kappa_score(net_a, net_b), 4) == 0.0
    coded = slice(0, 20)  # every character is coded by someone (NET or PRI) here
    assert r["coded_material"]["kappa"]["NET"] == round(cohen_kappa_score(net_a[coded], net_b[coded]), 4)
    # add an uncoded tail: the all-characters κ rises, the coded-material κ does not move
    longer = character_agreement(a, b, {"s": 200}, {"s": "Firm"}, n_boot=20)
    assert longer["all"]["kappa"]["NET"] > r["all"]["kappa"]["NET"]
    assert longer["coded_material"]["kappa"] == r["coded_material"]["kappa"]
    assert longer["characters"] == 200 and longer["sources"] == 1


# ------------------------------------------------------------------------------ files and the command
def fixture_rows(path: Path) -> dict[str, dict]:
    return {r["id"]: r for r in map(json.loads, path.read_text(encoding="utf-8").splitlines())}


def test_two_hand_codings_match_by_id_then_span():
    a, b = read_coding_sets([HAND_A, HAND_B])
    r = compare(a, b, n_boot=200)
    m = r["matching"]
    assert (m["units"], m["by_id"], m["by_span"]) == (12, 11, 1)
    assert m["unmatched_a"] == ["beta-3"] and m["unmatched_b"] == ["b-extra-1"]
    rows_a, rows_b = fixture_rows(HAND_A), fixture_rows(HAND_B)
    rows_b["gamma-3"] = rows_b.pop("b-note-17")  # the renamed answer, same span
    ids = [i for i in rows_a if i in rows_b]
    for code in CODES:
        x = [int(code in rows_a[i]["codes"]) for i in ids]
        y = [int(code in rows_b[i]["codes"]) for i in ids]
        assert r["units"]["kappa"][code] == round(cohen_kappa_score(x, y), 4)
        assert r["units"]["alpha"][code] == round(reference_alpha([x, y]), 4)
    assert r["valence"]["NET"] == {"n": 3, "same": round(2 / 3, 4), "kappa": 0.0, "alpha": r["valence"]["NET"]["alpha"]}
    assert r["disagreements"][0]["id"] == "gamma-2"  # ABS valence differs and ENT only in B: 1.5
    # neither file stores the texts: lengths come from the last coded character
    assert sorted(r["characters"]["length_inferred"]) == ["alpha.txt", "beta.txt", "gamma.txt"]


def test_hand_coding_against_a_results_folder(tmp_path, capsys):
    out = tmp_path / "agree.json"
    assert main(["agree", str(HAND_A), str(RESULTS), "--json", str(out), "--top", "2"]) == 0
    printed = capsys.readouterr().out
    assert "13 matched by passage id" in printed and "most disagreement" in printed
    r = json.loads(out.read_text(encoding="utf-8"))
    assert len(r["disagreements"]) == 2
    stored = sum(len(p.read_text(encoding="utf-8")) for p in (RESULTS / "sources").iterdir())
    assert r["characters"]["characters"] == stored and r["characters"]["length_inferred"] == []
    model = fixture_rows(RESULTS / "passages.jsonl")
    rows_a = fixture_rows(HAND_A)
    x = [int("ABS" in rows_a[i]["codes"]) for i in rows_a]
    y = [int("ABS" in model[i]["assigned"]) for i in rows_a]
    assert r["units"]["kappa"]["ABS"] == round(cohen_kappa_score(x, y), 4)
    for key in ("kappa", "alpha", "f1", "prevalence", "confusion", "ci", "mean_kappa", "mean_alpha"):
        assert key in r["units"] and key in r["characters"]["all"] and key in r["characters"]["coded_material"]


def zip_dir(folder: Path, dest: Path) -> Path:
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as zf:
        for p in sorted(folder.rglob("*")):
            if p.is_file():
                zf.write(p, p.relative_to(folder).as_posix())
    return dest


def test_two_coders_of_one_qdpx(tmp_path, capsys):
    qdpx = zip_dir(REFI / "atlas", tmp_path / "atlas.qdpx")
    a, b = read_coding_sets([qdpx], ["Anna", "Bo"])
    r = compare(a, b, n_boot=100)
    # Anna: 4 spans in the Fjordfisk interview (+1 in a source Bo never coded); Bo: 2, one on the same span
    assert (r["matching"]["by_span"], r["matching"]["only_in_a"], r["matching"]["only_in_b"]) == (1, 2, 1)
    assert len(r["matching"]["unmatched_a"]) == 1
    assert r["units"]["confusion"]["NET"] == {"both": 1, "only_a": 0, "only_b": 1, "neither": 2}
    assert r["characters"]["not_shared"] == ["Aero Molle.docx"]
    assert main(["agree", str(qdpx), "--coders", "Anna", "Bo"]) == 0
    assert "A: Anna in" in capsys.readouterr().out


def test_a_coder_against_the_model_in_one_qdpx(tmp_path):
    """Export intcap's results, let "Carla" code two answers in the project, compare her with the model."""
    from pipeline.refi import export_qdpx

    qdpx = export_qdpx(RESULTS, tmp_path / "model.qdpx").path
    with zipfile.ZipFile(qdpx) as zf:
        files = {n: zf.read(n) for n in zf.namelist()}
    root = etree.fromstring(files["project.qde"])
    ns = {"q": "urn:QDA-XML:project:1.0"}
    q = "{urn:QDA-XML:project:1.0}"
    etree.SubElement(root.find("q:Users", ns), q + "User", guid="c0ffee00-0000-4000-8000-000000000001", name="Carla")
    sel = root.find(".//q:PlainTextSelection[@name='alpha-1']", ns)  # the model coded NET + here
    mine = etree.Element(q + "PlainTextSelection", guid="c0ffee00-0000-4000-8000-000000000002", name="carla",
                         startPosition=sel.get("startPosition"), endPosition=sel.get("endPosition"),
                         creatingUser="c0ffee00-0000-4000-8000-000000000001")
    sel.addnext(mine)  # the schema wants selections together, before the source's variables
    coding = etree.SubElement(mine, q + "Coding", guid="c0ffee00-0000-4000-8000-000000000003",
                              creatingUser="c0ffee00-0000-4000-8000-000000000001")
    etree.SubElement(coding, q + "CodeRef", targetGUID=sel.find("q:Coding/q:CodeRef", ns).get("targetGUID"))
    files["project.qde"] = etree.tostring(root, xml_declaration=True, encoding="utf-8")
    edited = tmp_path / "edited.qdpx"
    with zipfile.ZipFile(edited, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    carla, model = read_coding_sets([edited], ["Carla", "model"])
    assert model.label.startswith("intcap model fixture-1.0")
    r = compare(carla, model, n_boot=50)
    assert r["matching"]["by_span"] == 1  # her one span is the model's alpha-1
    assert r["units"]["confusion"]["NET"]["both"] == 1
    # the model's other spans in alpha.txt count as not coded by Carla (a project records only coded spans)
    assert r["matching"]["only_in_b"] > 0


def bad_inputs(tmp_path: Path) -> dict[str, tuple[list[str], str]]:
    bad_json = tmp_path / "bad.jsonl"
    bad_json.write_text('{"id": 1\n', encoding="utf-8")
    bad_code = tmp_path / "bad_code.jsonl"
    bad_code.write_text('{"id": "x", "company": "F", "text": "t", "codes": {"NETWORK": "+"}}\n', encoding="utf-8")
    other = tmp_path / "other.jsonl"
    other.write_text('{"id": "zz", "company": "F", "text": "t", "codes": {}}\n', encoding="utf-8")
    bad_span = tmp_path / "bad_span.jsonl"
    bad_span.write_text('{"id": "x", "company": "F", "text": "t", "codes": {}, "start": 3}\n', encoding="utf-8")
    missing = tmp_path / "missing.jsonl"
    return {
        "missing": ([str(missing), str(HAND_A)], f"{missing}: not found"),
        "bad_json": ([str(bad_json), str(HAND_A)], f"{bad_json}:1: not valid JSON"),
        "bad_code": ([str(bad_code), str(HAND_A)], f"{bad_code}:1: not a hand-coded example"),
        "bad_span": ([str(bad_span), str(HAND_A)], f"{bad_span}: unit x: start/end"),
        "no_overlap": ([str(HAND_A), str(other)], f"{other}: no unit matches"),
        "one_file": ([str(HAND_A)], f"{HAND_A}: one file is compared with itself only as two of its coders"),
        "no_coder": ([str(HAND_A), "--coders", "X", "Y"], f"{HAND_A}: one file is compared"),
        "empty_dir": ([str(tmp_path), str(HAND_A)], f"{tmp_path}: no passages.jsonl"),
    }


@pytest.mark.parametrize("case", ["missing", "bad_json", "bad_code", "bad_span", "no_overlap", "one_file",
                                  "empty_dir"])
def test_bad_input_is_one_line_naming_the_file(case, tmp_path, capsys):
    argv, expected = bad_inputs(tmp_path)[case]
    assert main(["agree", *argv]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("intcap: error: ")
    assert expected in err[0]


def test_unknown_coder_names_the_coders_there(tmp_path, capsys):
    qdpx = zip_dir(REFI / "atlas", tmp_path / "atlas.qdpx")
    assert main(["agree", str(qdpx), "--coders", "Anna", "Carl"]) == 1
    err = capsys.readouterr().err.strip()
    assert err == f"intcap: error: {qdpx}: no coder 'Carl'; the file holds 'Anna', 'Bo' (or say 'model' for " \
                  "intcap's own codings)"
