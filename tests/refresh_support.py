"""Helpers for the store/refresh/dask/schedule tests: small corpora, a fast deterministic
stand-in encoder, and models trained once per test session."""
from __future__ import annotations

import os
import shutil
import socket
import tempfile
from pathlib import Path


from pipeline import paths

HASH_ENCODER = "hashing.v1"
_models: dict[str, Path] = {}
_tmp = None

SENTENCES = [
    "We built our export network through distributors in Germany and Sweden.",
    "The founder pushed hard into new markets and took big risks early on.",
    "We learned from customers abroad and adapted the product to each market.",
    "Our partners in Norway introduced us to the large retail chains there.",
    "Before starting the company I had worked ten years in international sales.",
    "We hired people who knew the regulations in the United States.",
    "Trade fairs were where we met most of our first foreign customers.",
    "Nobody in the management team had any experience with exporting.",
]


def _tmpdir() -> Path:
    global _tmp
    if _tmp is None:
        _tmp = tempfile.TemporaryDirectory(prefix="intcap-test-models-")
    return Path(_tmp.name)


def hash_model(C: float = 2.0) -> Path:
    """A model trained (in about a second) on the thesis examples with the hash encoder."""
    key = f"hash-{C}"
    if key not in _models:
        from pipeline.coder import CoderSettings
        from pipeline.train import train_model

        target = _tmpdir() / key
        train_model(target, settings=CoderSettings(encoder=HASH_ENCODER, C=C, threshold_folds=3, training_corpus=False))
        _models[key] = target
    return _models[key]


def real_model() -> Path:
    """models/default if it is a valid model, else the default model trained once (slow) for this session."""
    if "real" not in _models:
        from pipeline.errors import ModelError
        from pipeline.modeldir import verify_model

        try:
            verify_model(paths.DEFAULT_MODEL)
            _models["real"] = paths.DEFAULT_MODEL
        except ModelError:
            from pipeline.train import train_model

            target = _tmpdir() / "real"
            train_model(target)
            _models["real"] = target
    return _models["real"]


def write_transcript(folder: Path, name: str, seed: int, paragraphs: int = 2) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    body = "\n\n".join(f"{SENTENCES[(seed + k) % len(SENTENCES)]} (firm {seed}, point {k})" for k in range(paragraphs))
    path = folder / name
    path.write_text(body + "\n", encoding="utf-8")
    return path


def write_corpus(folder: Path, n: int, start: int = 0, paragraphs: int = 2) -> list[Path]:
    return [write_transcript(folder, f"firm{i:03d}.txt", i, paragraphs) for i in range(start, start + n)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def copy_tree(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def offline_env(home: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1",
        "PREFECT_UI_ENABLED": "false", "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "90",
        "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
        "PREFECT_LOGGING_LEVEL": "WARNING",
    })
    return env
