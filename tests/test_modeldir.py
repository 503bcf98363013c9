"""Model directories: save/load round trip gives identical codings; tampering is refused."""
from __future__ import annotations

import json

import numpy as np
import pytest

from pipeline import embed, paths
from pipeline.coder import CoderSettings, PassageCoder
from pipeline.errors import ModelError
from pipeline.examples import base_rates, load_examples
from pipeline.modeldir import load_model, save_model
from pipeline.records import Passage
from pipeline.hashing import HashingEncoder as HashEncoder


@pytest.fixture()
def model_dir(tmp_path, monkeypatch):
    monkeypatch.setattr(embed, "_loaded", {})
    ex = [e for e in load_examples(paths.CODED_PASSAGES) if e.company in ("Acoplastic", "Brodersen", "Colourbox", "Nupo")]
    settings = CoderSettings(encoder="hashing.v1", tfidf_weight=1.0)
    coder = PassageCoder(HashEncoder(), settings=settings).fit(ex)
    d = tmp_path / "m"
    save_model(coder, settings, d, data_hash="x", n_examples=len(ex), extra={"base_rates": base_rates(ex)})
    return d, coder, ex


def passages(ex):
    return [Passage(e.id, e.company, "s", 0, len(e.text), e.text) for e in ex[:6]]


def test_round_trip_identical(model_dir):
    d, coder, ex = model_dir
    loaded = load_model(d)
    assert loaded.info["encoder"] == "hashing.v1" and "base_rates" in loaded.info and loaded.version
    a, b = coder.code(passages(ex)), loaded.code(passages(ex))
    assert [c.assigned for c in a] == [c.assigned for c in b]
    assert [c.evidence for c in a] == [c.evidence for c in b]
    for x, y in zip(a, b):
        assert {k: v.p for k, v in x.codes.items()} == {k: v.p for k, v in y.codes.items()}


def test_tampered_weights_refused(model_dir):
    d = model_dir[0]
    with np.load(d / "heads.npz") as z:
        arrays = dict(z)
    arrays["thresholds_"] = arrays["thresholds_"] * 0
    np.savez(d / "heads.npz", **arrays)
    with pytest.raises(ModelError, match="does not match|do not match"):
        load_model(d)


def test_tampered_json_refused(model_dir):
    d = model_dir[0]
    (d / "heads.json").write_text((d / "heads.json").read_text().replace('"C"', '"C" ', 1))
    with pytest.raises(ModelError):
        load_model(d)


def test_missing_manifest_refused(model_dir):
    d = model_dir[0]
    (d / "manifest.json").unlink()
    with pytest.raises(ModelError, match="manifest"):
        load_model(d)


def test_manifest_from_before_a_setting_existed_loads_with_its_old_behaviour():
    stored = json.loads(json.dumps(vars(CoderSettings())))
    for name in CoderSettings.ADDED_LATER:
        del stored[name]
    settings = CoderSettings.from_manifest(stored)
    assert settings.valence_tfidf is False and settings.written_weight == 1.0  # not today's defaults


def test_manifest_settings_round_trip_and_foreign_ones_are_refused():
    assert CoderSettings.from_manifest(json.loads(json.dumps(vars(CoderSettings())))) == CoderSettings()
    with pytest.raises(ModelError, match="retrain"):
        CoderSettings.from_manifest({"encoder": "minilm.v1", "C": 2.0, "balanced": True, "threshold_folds": 5})


def test_finetuned_encoder_files_are_hashed_and_checked(tmp_path, monkeypatch):
    ex = [e for e in load_examples(paths.CODED_PASSAGES) if e.company in ("Acoplastic", "Nupo")]
    settings = CoderSettings(encoder="hashing.v1", finetune=True)
    coder = PassageCoder(HashEncoder(), settings=settings).fit(ex)
    enc = tmp_path / "enc"
    (enc / "sub").mkdir(parents=True)
    (enc / "model.safetensors").write_bytes(b"weights")
    (enc / "sub" / "config.json").write_text("{}")
    d = tmp_path / "m"
    save_model(coder, settings, d, data_hash="x", n_examples=len(ex), encoder_dir=enc)
    manifest = json.loads((d / "manifest.json").read_text())
    assert {"encoder/model.safetensors", "encoder/sub/config.json"} <= set(manifest["files"])
    assert load_model(d).encoder.path == str(d / "encoder")  # weights load lazily
    (d / "encoder" / "extra.bin").write_bytes(b"x")
    with pytest.raises(ModelError, match="not listed in the manifest"):
        load_model(d)
    (d / "encoder" / "extra.bin").unlink()
    (d / "encoder" / "model.safetensors").write_bytes(b"other")
    with pytest.raises(ModelError, match="do not match"):
        load_model(d)


@pytest.fixture()
def routed_dir(tmp_path, monkeypatch):
    """A model dir with a "da" companion (trained on the same firms' English + Danish passages)."""
    from pipeline.train import companion_coders
    monkeypatch.setattr(embed, "_loaded", {})
    ex = [e for e in load_examples(paths.CODED_PASSAGES) if e.company in ("Acoplastic", "Nupo")]
    settings = CoderSettings(encoder="hashing.v1", multilingual="hashing.v1", multilingual_tfidf_weight=0.0)
    coder = PassageCoder(HashEncoder(), settings=settings).fit(ex)
    companions = companion_coders(settings, ex)
    assert companions["da"].heads is not None
    d = tmp_path / "m"
    version = save_model(coder, settings, d, data_hash="x", n_examples=len(ex), companions=companions)
    return d, version


def test_danish_passage_routed_to_companion(routed_dir):
    from pipeline.examples import load_examples as load

    d, version = routed_dir
    loaded = load_model(d)
    assert set(loaded.companions) == {"da"} and loaded.companions["da"].settings.tfidf_weight == 0.0
    manifest = json.loads((d / "manifest.json").read_text())
    assert {"multilingual/heads.npz", "multilingual/heads.json"} <= set(manifest["files"])
    da = load(paths.THESIS / "coded_passages.da.jsonl")[0]
    en = load_examples(paths.CODED_PASSAGES)[0]
    ps = [Passage("en", en.company, "s", 0, len(en.text), en.text),                  # detected English
          Passage("da", da.company, "s", 0, len(da.text), da.text),                  # detected Danish
          Passage("da2", en.company, "s", 0, len(en.text), en.text, language="da")]  # declared Danish
    assert loaded.route([p.text for p in ps], [p.language for p in ps]) == ["", "da", "da"]
    got = loaded.code(ps)
    assert [c.passage.id for c in got] == ["en", "da", "da2"]
    assert all(c.model_version == version for c in got)
    direct_main = loaded._code(ps[:1])[0]
    direct_da = loaded.companions["da"]._code(ps[1:])
    assert {k: v.p for k, v in got[0].codes.items()} == {k: v.p for k, v in direct_main.codes.items()}
    assert [{k: v.p for k, v in c.codes.items()} for c in got[1:]] == \
        [{k: v.p for k, v in c.codes.items()} for c in direct_da]


def test_tampered_companion_refused(routed_dir):
    d = routed_dir[0]
    with np.load(d / "multilingual" / "heads.npz") as z:
        arrays = dict(z)
    arrays["coef_"] = arrays["coef_"] * 2
    np.savez(d / "multilingual" / "heads.npz", **arrays)
    with pytest.raises(ModelError, match="do not match"):
        load_model(d)


def test_companion_missing_from_manifest_refused(routed_dir):
    d = routed_dir[0]
    manifest = json.loads((d / "manifest.json").read_text())
    manifest["files"] = {k: v for k, v in manifest["files"].items() if not k.startswith("multilingual/")}
    (d / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelError, match="not hashed|not listed"):
        load_model(d)


def _rewrite(d, edit):
    manifest = json.loads((d / "manifest.json").read_text())
    edit(manifest)
    (d / "manifest.json").write_text(json.dumps(manifest))


def test_unhashed_weights_with_their_entry_deleted_are_refused(model_dir):
    """The probe's bypass: drop heads.npz from the manifest, then flip the sign of its weights."""
    d = model_dir[0]
    with np.load(d / "heads.npz", allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    coef = next(k for k in arrays if "coef" in k)
    arrays[coef] = -arrays[coef]
    np.savez(d / "heads.npz", **arrays)
    _rewrite(d, lambda m: m["files"].pop("heads.npz"))
    with pytest.raises(ModelError, match="does not hash the model's weights"):
        load_model(d)


def test_a_manifest_edit_changes_nothing_silently(model_dir):
    d = model_dir[0]
    _rewrite(d, lambda m: m["settings"].update(C=0.01))
    with pytest.raises(ModelError, match="manifest was edited"):
        load_model(d)


def test_encoder_outside_the_model_folder_is_refused(model_dir, tmp_path):
    """The probe's other bypass: point settings.encoder at a local folder (and fix the version up)."""
    from pipeline.modeldir import model_version

    d = model_dir[0]
    folder = tmp_path / "my-minilm"
    folder.mkdir()

    def edit(m):
        m["settings"]["encoder"] = str(folder)
        m["encoder"] = str(folder)
        m["version"] = model_version(m["files"], m["settings"], m["training_data_sha256"], m.get("companions") or {},
                                     m.get("encoders") or {})

    _rewrite(d, edit)
    with pytest.raises(ModelError, match="not a registered encoder"):
        load_model(d)


def test_registered_encoder_package_is_pinned(model_dir, monkeypatch):
    d = model_dir[0]
    monkeypatch.setitem(embed._fingerprints, "hashing.v1", {"package": "x", "version": "1", "sha256": "0" * 64})
    monkeypatch.setitem(embed.ENCODER_PACKAGES, "hashing.v1", ("x", "x", ()))
    with pytest.raises(ModelError, match="was trained with an unrecorded package"):
        load_model(d)


def test_stray_file_in_model_folder_is_refused(model_dir):
    d = model_dir[0]
    (d / "extra.npz").write_bytes(b"x")
    with pytest.raises(ModelError, match="not listed in the manifest"):
        load_model(d)


def test_codings_record_language_and_coder(routed_dir):
    d = routed_dir[0]
    coder = load_model(d)
    ps = [Passage("en1", "F", "s", 0, 60, "We met our distributor at a fair in Hamburg and it went well."),
          Passage("da1", "F", "s", 0, 60, "Vi mødte vores distributør på en messe i Hamborg, og det gik godt.")]
    by_id = {c.passage.id: c for c in coder.code(ps)}
    assert (by_id["en1"].language, by_id["en1"].coder) == ("en", "main")
    assert (by_id["da1"].language, by_id["da1"].coder) == ("da", "multilingual")
    row = by_id["da1"].to_dict()
    assert row["language"] == "da" and row["coder"] == "multilingual" and row["model_version"] == coder.version
