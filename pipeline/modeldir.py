"""Versioned model directories: weights as npz/JSON, a manifest with file hashes.

A directory whose files do not match its manifest is refused, so a model copied
around cannot be swapped for something else unnoticed. Nothing is unpickled.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

from pipeline.classify import CodeHeads
from pipeline.coder import CoderSettings, PassageCoder
from pipeline.embed import ENCODERS, CachedEncoder, EmbeddingCache, encoder_fingerprint, load_encoder
from pipeline.errors import ModelError

MANIFEST = "manifest.json"
MODEL_FORMAT = "intcap-model.v1"
#: a review round's adapter: a correction of a base model's probabilities (pipeline/review/adapter.py)
ADAPTER_FORMAT = "intcap-adapter.v1"
ADAPTER_FILES = ("adapter.npz", "adapter.json")
#: an adapter's base may itself be adapted (round after round); deeper than this is a loop
MAX_ADAPTER_CHAIN = 16


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


ENCODER_DIR = "encoder"
#: sub-directory of a language's companion coder (heads only; its encoder is named in the manifest)
COMPANION_DIRS = {"da": "multilingual"}


def save_model(coder: PassageCoder, settings: CoderSettings, directory: Path, *, data_hash: str, n_examples: int,
               extra: dict | None = None, encoder_dir: Path | None = None,
               companions: dict[str, PassageCoder] | None = None) -> str:
    """Write the model atomically (temp dir, then rename); return its version string.

    ``encoder_dir``: a fine-tuned encoder (safetensors + configs) copied into the model
    directory as ``encoder/``; its files are hashed in the manifest like the heads.
    ``companions``: language -> coder (e.g. the multilingual coder for "da"), whose heads go
    to a sub-directory (``multilingual/``), hashed in the manifest and covered by the version.
    """
    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-model-", dir=directory.parent))
    try:
        files = coder.heads.save(tmp)
        if encoder_dir is not None:
            shutil.copytree(encoder_dir, tmp / ENCODER_DIR)
            files += sorted(f for f in (tmp / ENCODER_DIR).rglob("*") if f.is_file())
        described = {}
        for lang, comp in (companions or {}).items():
            sub = COMPANION_DIRS.get(lang, f"companion-{lang}")
            files += comp.heads.save(tmp / sub)
            described[lang] = {"dir": sub, "encoder": comp.settings.encoder,
                               "settings": dataclasses.asdict(comp.settings)}
        hashes = {f.relative_to(tmp).as_posix(): file_sha256(f) for f in files}
        encoders = {name: encoder_fingerprint(name) for name in
                    [settings.encoder, *(d["encoder"] for d in described.values())] if encoder_fingerprint(name)}
        version = model_version(hashes, dataclasses.asdict(settings), data_hash, described, encoders)
        manifest = {
            "format": MODEL_FORMAT,
            "version": version,
            "encoder": settings.encoder,
            "settings": dataclasses.asdict(settings),
            "training_data_sha256": data_hash,
            "n_examples": n_examples,
            "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "files": hashes,
            "encoders": encoders,
            **({"companions": described} if described else {}),
            **(extra or {}),
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        if directory.exists():
            shutil.rmtree(directory)
        os.replace(tmp, directory)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return version


def model_version(hashes: dict, settings: dict, data_hash: str, companions: dict, encoders: dict) -> str:
    """The version names everything a model computes with: its files' hashes, settings, training
    data, companions and encoder packages. Editing any of them in the manifest changes it."""
    return hashlib.sha256(json.dumps([hashes, settings, data_hash, companions, encoders], sort_keys=True).encode()
                          ).hexdigest()[:12]


def read_manifest(directory: Path) -> dict:
    path = Path(directory) / MANIFEST
    if not path.is_file():
        raise ModelError(f"{directory}: no {MANIFEST}; not an intcap model directory. Train one with `intcap train`.")
    try:
        manifest = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ModelError(f"{path}: manifest is not valid JSON ({exc})") from exc
    if manifest.get("format") not in (MODEL_FORMAT, ADAPTER_FORMAT):
        raise ModelError(f"{path}: unknown model format {manifest.get('format')!r}; expected {MODEL_FORMAT!r} "
                         f"(intcap train) or {ADAPTER_FORMAT!r} (intcap review round)")
    return manifest


def verify_model(directory: Path) -> dict:
    """Check every file against the manifest's hashes; return the manifest."""
    directory = Path(directory)
    manifest = read_manifest(directory)
    if manifest["format"] != MODEL_FORMAT:
        raise ModelError(f"{directory}: a review adapter, not a trained model; load it with load_model")
    listed = manifest.get("files")
    if not isinstance(listed, dict) or not {"heads.npz", "heads.json"} <= set(listed):
        raise ModelError(f"{directory}: the manifest does not hash the model's weights (heads.npz, heads.json); "
                         "refusing to load it. Retrain with `intcap train`.")
    present = {f.relative_to(directory).as_posix() for f in directory.rglob("*")
               if (f.is_file() or f.is_symlink()) and f.name != MANIFEST}
    unlisted = sorted(present - set(listed))
    if unlisted:
        raise ModelError(f"{directory}: {unlisted[0]!r} is not listed in the manifest; a model directory holds only "
                         "the files it hashes. Remove it or retrain with `intcap train`.")
    try:
        expected_version = model_version(listed, manifest["settings"], manifest["training_data_sha256"],
                                         manifest.get("companions") or {}, manifest.get("encoders") or {})
    except (KeyError, TypeError) as exc:
        raise ModelError(f"{directory}: manifest lacks {exc}; retrain with `intcap train`.") from None
    if manifest.get("version") != expected_version:
        raise ModelError(f"{directory}: the manifest was edited (its version {manifest.get('version')!r} does not "
                         "match its contents); refusing to load it. Retrain with `intcap train`.")
    for name, expected in listed.items():
        path = directory / name
        parts = Path(name).parts
        if not parts or ".." in parts or Path(name).is_absolute() or not path.is_file():
            raise ModelError(f"{directory}: file {name!r} listed in the manifest is missing")
        if path.is_symlink() or not path.resolve().is_relative_to(directory.resolve()):
            raise ModelError(f"{directory}: {name!r} is a link; a model directory holds plain files only")
        if file_sha256(path) != expected:
            raise ModelError(f"{path}: contents do not match the manifest's hash; refusing to load a modified model. "
                             "Retrain with `intcap train`.")
    return manifest


def checked_encoder(directory: Path, manifest: dict, name: str) -> str:
    """``name`` if it is a registered encoder whose installed package matches what the model was
    trained with; a local folder outside the model directory is refused."""
    if name not in ENCODERS:
        raise ModelError(f"{directory}: encoder {name!r} is not a registered encoder ({', '.join(sorted(ENCODERS))}); "
                         "a model may only use a registered encoder or a fine-tuned one inside its own folder")
    now = encoder_fingerprint(name)
    if now:
        then = (manifest.get("encoders") or {}).get(name)
        if then != now:
            was = f"{then.get('package')} {then.get('version')}" if isinstance(then, dict) else "an unrecorded package"
            raise ModelError(f"{directory}: encoder {name!r} was trained with {was}, but this machine has "
                             f"{now['package']} {now['version']} with other weights ({now['sha256'][:12]}); "
                             "retrain with `intcap train`")
    return name


def load_model(directory: Path, *, cache_path: Path | None = None) -> PassageCoder:
    """Load a verified model directory; with ``cache_path``, embeddings of texts seen before
    are read from that SQLite cache instead of being encoded again."""
    if read_manifest(directory)["format"] == ADAPTER_FORMAT:
        return _load_adapted(Path(directory), cache_path, depth=0)
    manifest = verify_model(directory)
    cache = EmbeddingCache(cache_path) if cache_path else None

    def cached(encoder):
        return CachedEncoder(encoder, cache) if cache else encoder

    settings = CoderSettings.from_manifest(manifest["settings"])
    try:
        heads = CodeHeads.load(Path(directory))
    except (ValueError, KeyError, OSError) as exc:
        raise ModelError(f"{directory}: model weights are unreadable ({exc}); retrain with `intcap train`.") from exc
    if settings.finetune:
        enc_dir = Path(directory) / ENCODER_DIR
        if not any(n.startswith(ENCODER_DIR + "/") for n in manifest.get("files", {})):
            raise ModelError(f"{directory}: fine-tuned model without a hashed {ENCODER_DIR}/ folder; retrain it.")
        unlisted = [f for f in enc_dir.rglob("*") if f.is_file()
                    and f.relative_to(directory).as_posix() not in manifest["files"]]
        if unlisted:
            raise ModelError(f"{directory}: {unlisted[0]} is not in the manifest; refusing to load a modified model.")
        from pipeline.embed import SentenceTransformerEncoder

        encoder = SentenceTransformerEncoder(f"finetuned:{settings.encoder}@{manifest['version']}", enc_dir)
    else:
        encoder = load_encoder(checked_encoder(directory, manifest, settings.encoder))
    coder = PassageCoder(cached(encoder), heads, manifest["version"], manifest, settings)
    for lang, desc in (manifest.get("companions") or {}).items():
        sub = str(desc.get("dir", ""))
        if not all(f"{sub}/{n}" in manifest.get("files", {}) for n in ("heads.npz", "heads.json")) or "/" in sub:
            raise ModelError(f"{directory}: companion coder {sub!r} is not hashed in the manifest; retrain it.")
        try:
            comp_heads = CodeHeads.load(Path(directory) / sub)
        except (ValueError, KeyError, OSError) as exc:
            raise ModelError(f"{directory}/{sub}: companion weights are unreadable ({exc}); retrain.") from exc
        comp_settings = CoderSettings.from_manifest(desc["settings"])
        comp_encoder = load_encoder(checked_encoder(directory, manifest, comp_settings.encoder))
        coder.companions[lang] = PassageCoder(cached(comp_encoder), comp_heads, manifest["version"],
                                              manifest, comp_settings)
    return coder


# -- review adapters: a base model plus the corrections a review round fitted ---------------------
def adapter_version(base_version: str, hashes: dict) -> str:
    """``BASE+aXXXXXXXX``: the base model's version and a hash of the adapter's files."""
    return f"{base_version}+a{hashlib.sha256(json.dumps(hashes, sort_keys=True).encode()).hexdigest()[:8]}"


def save_adapter(adapter, directory: Path, *, base_dir: Path, base_version: str, answers: int) -> dict:
    """Write a fitted AnswerAdapter and its hashed manifest into ``directory``; the manifest names
    the base model's directory (absolute) and version, which loading checks."""
    directory = Path(directory)
    files = adapter.save(directory)
    hashes = {f.name: file_sha256(f) for f in files}
    manifest = {"format": ADAPTER_FORMAT, "version": adapter_version(base_version, hashes),
                "base_model_version": base_version, "base_model_dir": str(Path(base_dir).resolve()),
                "answers": int(answers), "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                "files": hashes}
    (directory / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def verify_adapter(directory: Path) -> dict:
    """Check an adapter directory's files against its manifest; return the manifest."""
    directory = Path(directory)
    manifest = read_manifest(directory)
    listed = manifest.get("files")
    if not isinstance(listed, dict) or set(listed) != set(ADAPTER_FILES):
        raise ModelError(f"{directory}: the adapter manifest does not hash {' and '.join(ADAPTER_FILES)}; "
                         "run the review round again")
    present = {f.relative_to(directory).as_posix() for f in directory.rglob("*") if f.name != MANIFEST}
    if present - set(listed):
        raise ModelError(f"{directory}: {sorted(present - set(listed))[0]!r} is not listed in the manifest; "
                         "an adapter directory holds only the files it hashes")
    for name, expected in listed.items():
        path = directory / name
        if path.is_symlink() or not path.is_file():
            raise ModelError(f"{directory}: adapter file {name!r} is missing or a link")
        if file_sha256(path) != expected:
            raise ModelError(f"{path}: contents do not match the manifest's hash; refusing to load a modified adapter")
    if manifest.get("version") != adapter_version(str(manifest.get("base_model_version")), listed):
        raise ModelError(f"{directory}: the manifest was edited (its version does not match its contents)")
    return manifest


def _load_adapted(directory: Path, cache_path: Path | None, depth: int) -> PassageCoder:
    from pipeline.review.adapter import AnswerAdapter

    manifest = verify_adapter(directory)
    base_dir = Path(str(manifest.get("base_model_dir", "")))
    if not (base_dir / MANIFEST).is_file():
        raise ModelError(f"{directory}: its base model {base_dir} (version {manifest['base_model_version']}) is "
                         "missing; put that model back at that path, or code with the base model itself")
    if depth >= MAX_ADAPTER_CHAIN:
        raise ModelError(f"{directory}: more than {MAX_ADAPTER_CHAIN} adapters chained (a loop?)")
    if read_manifest(base_dir)["format"] == ADAPTER_FORMAT:
        coder = _load_adapted(base_dir, cache_path, depth + 1)
    else:
        coder = load_model(base_dir, cache_path=cache_path)
    if coder.version != manifest["base_model_version"]:
        raise ModelError(f"{directory}: adapted from model {manifest['base_model_version']}, but {base_dir} now holds "
                         f"{coder.version}; code with {base_dir} itself, or run the review round again")
    try:
        adapter = AnswerAdapter.load(directory)
    except (ValueError, KeyError, OSError) as exc:
        raise ModelError(f"{directory}: adapter weights are unreadable ({exc}); run the review round again") from exc
    coder.adapters.append(adapter)
    coder.version = manifest["version"]
    coder.info = {**coder.info, "version": manifest["version"],
                  "adapted": {"from": manifest["base_model_version"], "answers": manifest["answers"],
                              "dir": str(directory)}}
    return coder


def root_model_dir(directory: Path) -> Path:
    """The trained model's directory under a chain of adapters (``directory`` itself for a model)."""
    directory = Path(directory)
    for _ in range(MAX_ADAPTER_CHAIN):
        manifest = read_manifest(directory)
        if manifest["format"] == MODEL_FORMAT:
            return directory
        directory = Path(str(manifest.get("base_model_dir", "")))
    raise ModelError(f"{directory}: more than {MAX_ADAPTER_CHAIN} adapters chained (a loop?)")


def coder_thresholds(directory: Path) -> dict[str, "object"]:
    """Each coder's decision thresholds (4,), keyed as ``Coding.coder`` names them ("main",
    "multilingual"; results written before the e5-small default call the main coder "english"),
    read from the verified heads; under adapters, the trained model's (an adapter keeps
    probabilities on its base's scale)."""
    root = root_model_dir(directory)
    manifest = verify_model(root)
    main = CodeHeads.load(root).thresholds_
    out = {"main": main, "english": main}
    for desc in (manifest.get("companions") or {}).values():
        out["multilingual"] = CodeHeads.load(root / str(desc["dir"])).thresholds_
    return out
