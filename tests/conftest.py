"""Shared fixtures: offline settings, the bundled corpus, a model trained once per session."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(autouse=True, scope="session")
def embedding_cache_dir(tmp_path_factory) -> Path:
    """Keep the suite's embedding cache out of the checkout."""
    path = tmp_path_factory.mktemp("embedding-cache")
    os.environ["INTCAP_CACHE_DIR"] = str(path)
    return path

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT.parent / "shared" / "samples"


@pytest.fixture(scope="session")
def samples_dir() -> Path:
    if not SAMPLES.is_dir():
        pytest.skip("../shared/samples is not present on this machine")
    return SAMPLES


@pytest.fixture(scope="session")
def trained_model(tmp_path_factory) -> Path:
    """A real model with the shipped default settings, trained on the thesis's examples only
    (the written corpus would make every session of the suite minutes longer)."""
    from pipeline.coder import CoderSettings
    from pipeline.train import train_model

    model_dir = tmp_path_factory.mktemp("model") / "default"
    train_model(model_dir, settings=CoderSettings(training_corpus=False))
    return model_dir


@pytest.fixture(scope="session")
def prefect_home(tmp_path_factory) -> Path:
    """An isolated, offline Prefect home for every flow run in the suite."""
    home = tmp_path_factory.mktemp("prefect-home")
    os.environ["PREFECT_HOME"] = str(home)
    from flows.prefect_env import configure_offline

    configure_offline(home)
    return home
