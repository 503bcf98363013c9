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
from pipeline.embed import CachedEncoder, EmbeddingCache, load_encoder
from pipeline.errors import ModelError

MANIFEST = "manifest.json"


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
        version = hashlib.sha256(json.dumps([hashes, dataclasses.asdict(settings), data_hash, described]).encode()
                                 ).hexdigest()[:12]
        manifest = {
            "format": "intcap-model.v1",
            "version": version,
            "encoder": settings.encoder,
            "settings": dataclasses.asdict(settings),
            "training_data_sha256": data_hash,
            "n_examples": n_examples,
            "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "files": hashes,
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


def read_manifest(directory: Path) -> dict:
    path = Path(directory) / MANIFEST
    if not path.is_file():
        raise ModelError(f"{directory}: no {MANIFEST}; not an intcap model directory. Train one with `intcap train`.")
    try:
        manifest = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ModelError(f"{path}: manifest is not valid JSON ({exc})") from exc
    if manifest.get("format") != "intcap-model.v1":
        raise ModelError(f"{path}: unknown model format {manifest.get('format')!r}; expected 'intcap-model.v1'")
    return manifest


def verify_model(directory: Path) -> dict:
    """Check every file against the manifest's hashes; return the manifest."""
    directory = Path(directory)
    manifest = read_manifest(directory)
    for name, expected in manifest.get("files", {}).items():
        path = directory / name
        parts = Path(name).parts
        if not parts or ".." in parts or Path(name).is_absolute() or not path.is_file():
            raise ModelError(f"{directory}: file {name!r} listed in the manifest is missing")
        if file_sha256(path) != expected:
            raise ModelError(f"{path}: contents do not match the manifest's hash; refusing to load a modified model. "
                             "Retrain with `intcap train`.")
    return manifest


def load_model(directory: Path, *, cache_path: Path | None = None) -> PassageCoder:
    """Load a verified model directory; with ``cache_path``, embeddings of texts seen before
    are read from that SQLite cache instead of being encoded again."""
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
        encoder = load_encoder(settings.encoder)
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
        coder.companions[lang] = PassageCoder(cached(load_encoder(comp_settings.encoder)), comp_heads, manifest["version"],
                                              manifest, comp_settings)
    return coder
