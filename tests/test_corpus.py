"""The written corpora: row contract, adjudication, pass agreement, and the shipped files."""
from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score

from pipeline import corpus
from pipeline.errors import IntcapError
from pipeline.evaluate import companies_of
from pipeline.examples import load_examples
from pipeline import paths


def row(i, company="Firm A", codes=None, passes=None, **kw):
    codes = codes if codes is not None else {"NET": "+"}
    base = {"id": f"x-{i}", "company": company, "text": kw.pop("text", f"passage number {i} about {company}"), "codes": codes,
            "language": "en", "register": "qa-turn", "country": "Chile", "industry": "wine",
            "label_source": "majority", "passes": passes or [{"coder": "writer", "codes": codes}]}
    base.update(kw)
    return base


def test_parse_row_names_the_problem(tmp_path):
    f = tmp_path / "b1.jsonl"
    bad = row(2, codes={"NET": "?"})
    f.write_text(json.dumps(row(1)) + "\n" + json.dumps(bad) + "\n")
    with pytest.raises(IntcapError, match=r"b1.jsonl:2: .*codes"):
        corpus.load_rows(f)
    f.write_text(json.dumps({k: v for k, v in row(1).items() if k != "passes"}) + "\n")
    with pytest.raises(IntcapError, match="missing field"):
        corpus.load_rows(f)
    f.write_text(json.dumps(row(1, language="fr")) + "\n")
    with pytest.raises(IntcapError, match="language"):
        corpus.load_rows(f)
    f.write_text('{"id": "a", "n": ' + "9" * 5000 + "}\n")
    with pytest.raises(IntcapError, match="digits"):
        corpus.load_rows(f)


def test_rows_become_examples_with_language(tmp_path):
    f = tmp_path / "b1.jsonl"
    f.write_text(json.dumps(row(1, language="da", codes={"ABS": "-"})) + "\n")
    (r,) = corpus.load_rows(f)
    ex = r.example()
    assert (ex.codes, ex.language, r.batch) == ({"ABS": "-"}, "da", "b1")


def test_adjudicate_majority_and_unsettled():
    codes, unsettled = corpus.adjudicate([{"NET": "+", "ENT": "-"}, {"NET": "+"}, {"ENT": "+", "PRI": "0"}])
    assert codes == {"NET": "+", "ENT": "+"} and unsettled == ["ENT"]  # ENT: one "-", one "+": a tie
    codes, unsettled = corpus.adjudicate([{"ABS": "-"}, {"ABS": "-"}, {"ABS": "+"}])
    assert codes == {"ABS": "-"} and unsettled == []
    assert corpus.adjudicate([{"PRI": "+"}, {}, {}]) == ({}, [])


def test_pass_agreement_is_cohens_kappa():
    rng = np.random.default_rng(3)
    rows = []
    for i in range(60):
        a = {c: "+" for c in corpus.CODES if rng.random() < 0.4}
        b = {c: "+" for c in corpus.CODES if (c in a) != (rng.random() < 0.2)}
        rows.append(corpus.parse_row(row(i, passes=[{"coder": "writer", "codes": {}},
                                                    {"coder": "blind-A", "codes": a}, {"coder": "blind-B", "codes": b}])))
    got = corpus.pass_agreement(rows)
    for j, code in enumerate(corpus.CODES):
        a = [int(code in r.blind_passes[0][1]) for r in rows]
        b = [int(code in r.blind_passes[1][1]) for r in rows]
        assert got["kappa"][code] == pytest.approx(cohen_kappa_score(a, b), abs=1e-4)


def test_validate_finds_duplicates_and_shared_firms():
    train = [corpus.parse_row(row(1)), corpus.parse_row(row(2, text="passage number 1 about Firm A"))]
    dev = [corpus.parse_row(row(1, company="Firm A")), corpus.parse_row(row(3, company="Nupo", pair="x-9"))]
    problems = "\n".join(corpus.validate(train, dev, reserved_firms=["Nupo"]))
    assert "duplicate id 'x-1'" in problems
    assert "duplicate text" in problems
    assert "'Firm A' is in both train and dev" in problems
    assert "'Nupo' is a thesis firm" in problems
    assert "pair 'x-9'" in problems


# -- the shipped corpora --------------------------------------------------------------------

TRAIN, DEV = corpus.training_rows(), corpus.dev_rows()
needs_corpus = pytest.mark.skipif(not TRAIN or not DEV, reason="corpus/train or corpus/dev is empty")


@needs_corpus
def test_shipped_corpora_load_and_validate():
    thesis_firms = companies_of(load_examples(paths.CODED_PASSAGES))
    assert corpus.validate(TRAIN, DEV, reserved_firms=thesis_firms) == []
    for r in [*TRAIN, *DEV]:
        assert len(r.blind_passes) >= 2, r.id  # every row was coded twice, blind
        assert any(name.startswith("writer") for name, _ in r.passes), r.id


@needs_corpus
def test_shipped_corpora_spread():
    """The spread the training-corpus issue asks for (the figures are in docs/EVALUATION.md)."""
    s = corpus.statistics(TRAIN)
    assert s["passages"] >= 3000 and s["firms"] >= 500 and s["countries"] >= 40 and s["industries"] >= 30
    assert s["spoken_share"] >= 0.40
    assert s["no_code_share"] >= 0.25 and s["lookalikes"] >= s["no_code"] * 0.5
    assert s["danish_share"] >= 0.15 and {"sv", "no", "de"} <= set(s["languages"])
    for code, counts in s["codes"].items():
        assert counts["positives"] >= 600 and counts["-"] >= 120 and counts["0"] >= 60, code
    assert s["near_pairs"] > 0
    for batch, agreement in s["pass_agreement_by_batch"].items():
        assert agreement["mean_kappa"] >= 0.6, batch  # a batch below 0.6 must be re-coded
    d = corpus.statistics(DEV)
    assert d["passages"] >= 600
    assert d["languages"].get("da", 0) > 0 and d["languages"].get("en", 0) > 0


def _tiny_corpus(tmp_path, monkeypatch, n=12):
    train = tmp_path / "train"
    train.mkdir()
    texts = ["Our agent in Lyon introduced us to three retailers.", "We never analysed the German market at all.",
             "I had worked ten years in Singapore before I founded the firm.", "The plant runs two shifts.",
             "We decided on our own to open an office in Austin.", "Vi havde ingen erfaring med eksport."]
    codes = [{"NET": "+"}, {"ABS": "-"}, {"PRI": "+"}, {}, {"ENT": "+"}, {"PRI": "-"}]
    rows = [row(i, company=f"Tiny {i % 4}", codes=codes[i % 6], text=f"{texts[i % 6]} (case {i})",
                language="da" if i % 6 == 5 else "en",
                passes=[{"coder": "writer", "codes": codes[i % 6]}, {"coder": "blind-A", "codes": codes[i % 6]},
                        {"coder": "blind-B", "codes": codes[i % 6]}]) for i in range(n)]
    (train / "b1.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    monkeypatch.setattr(corpus, "TRAIN_DIR", train)
    return rows


def test_training_on_a_small_corpus_subset_runs_end_to_end(tmp_path, monkeypatch):
    from pipeline.coder import CoderSettings
    from pipeline.modeldir import load_model
    from pipeline.records import Passage
    from pipeline.train import train_model, training_examples

    rows = _tiny_corpus(tmp_path, monkeypatch)
    examples = training_examples()
    assert {r["id"] for r in rows} <= {e.id for e in examples} and len(examples) == 198 + len(rows)
    settings = CoderSettings(encoder="hashing.v1", multilingual="hashing.v1", threshold_folds=2)
    version = train_model(tmp_path / "m", settings=settings)
    coder = load_model(tmp_path / "m")
    assert coder.version == version and coder.info["n_examples"] >= len(examples)
    [coding] = coder.code([Passage("p", "F", "s", 0, 40, "Our agent in Lyon introduced us to buyers.")])
    assert set(coding.codes) == {"NET", "ENT", "ABS", "PRI"}


def test_train_recipes_start_from_the_named_settings(tmp_path, monkeypatch):
    """`intcap train --recipe minilm-routed` trains the previous default's recipe (MiniLM, the e5
    companion), not the e5 default with one field swapped; other options still apply on top."""
    from intcap.cli import main
    from pipeline import train as train_mod
    from pipeline.coder import MINILM_ROUTED, RECIPES, CoderSettings

    seen = []
    monkeypatch.setattr(train_mod, "train_model", lambda model_dir, extra=(), settings=None: seen.append(settings) or "v")
    assert main(["train", "--model-dir", str(tmp_path / "a")]) == 0
    assert main(["train", "--recipe", "minilm-routed", "--model-dir", str(tmp_path / "b")]) == 0
    assert main(["train", "--recipe", "minilm-routed", "--thesis-only", "--model-dir", str(tmp_path / "c")]) == 0
    assert seen[0] == CoderSettings()
    assert seen[1] == MINILM_ROUTED and (seen[1].encoder, seen[1].multilingual, seen[1].C) == ("minilm.v1", "e5-small.v1", 4.0)
    assert seen[2].training_corpus is False and seen[2].encoder == "minilm.v1"
    for name in RECIPES:  # every named recipe is one the command accepts
        assert main(["train", "--recipe", name, "--model-dir", str(tmp_path / name)]) == 0
    assert seen[-len(RECIPES):] == list(RECIPES.values())


@pytest.mark.slow
def test_multilabel_fine_tuned_weights_are_hashed_and_checked(tmp_path, monkeypatch):
    """End-to-end fine-tuning writes safetensors into the model folder, every file hashed; a
    changed weight file is refused on load."""
    from pipeline import train as train_mod
    from pipeline.coder import CoderSettings
    from pipeline.errors import ModelError
    from pipeline.examples import Example
    from pipeline.modeldir import load_model

    few = [Example(f"e{i}", f"F{i % 3}", t, c) for i, (t, c) in enumerate([
        ("Our agent in Lyon introduced us to retailers.", {"NET": "+"}),
        ("We never analysed the market.", {"ABS": "-"}),
        ("I worked abroad for ten years.", {"PRI": "+"}),
        ("The plant runs two shifts.", {}),
        ("We chose to open an office in Austin ourselves.", {"ENT": "+"}),
        ("A customer pulled us into Spain.", {"NET": "+"})] * 2)]
    monkeypatch.setattr(train_mod, "training_examples", lambda extra=(), with_corpus=True: list(few))
    settings = CoderSettings(encoder="minilm.v1", finetune=True, finetune_method="multilabel", multilingual="", threshold_folds=2,
                             register_augment="")
    train_mod.train_model(tmp_path / "m", settings=settings)
    files = json.loads((tmp_path / "m" / "manifest.json").read_text())["files"]
    assert "encoder/model.safetensors" in files
    load_model(tmp_path / "m")
    weights = tmp_path / "m" / "encoder" / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1
    weights.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="do not match the manifest"):
        load_model(tmp_path / "m")


def test_thesis_codebook_recoding_covers_every_thesis_passage():
    """corpus/thesis/codebook_recoding.jsonl (bench/thesis_recoding.py): two blind passes per
    thesis passage; where they agree that is the coding, where not an adjudicated one with its reason."""
    thesis = load_examples(paths.CODED_PASSAGES)
    rows = [json.loads(line) for line in (paths.CODED_PASSAGES.parent / "codebook_recoding.jsonl").read_text().splitlines()]
    assert [r["id"] for r in rows] == [e.id for e in thesis]
    for r in rows:
        a, b = (p["codes"] for p in r["passes"])
        for codes in (a, b, r["codes"]):
            assert set(codes) <= {"NET", "ENT", "ABS", "PRI"} and set(codes.values()) <= {"+", "-", "0"}
        if a == b:
            assert r["codes"] == a and not r["adjudicated"]
        else:
            assert r["adjudicated"] and r["reason"].strip()
