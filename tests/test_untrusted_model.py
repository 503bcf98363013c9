"""A model folder is data, never code: a crafted one with a pickle inside cannot run it."""
from __future__ import annotations

import json
import pickle
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from pipeline.errors import ModelError
from pipeline.modeldir import MANIFEST, file_sha256, load_model

ROOT = Path(__file__).resolve().parents[1]


class Payload:
    """Unpickling this would create a file: proof that code ran."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_pickled_weights_with_a_matching_manifest_are_refused(tmp_path, trained_model):
    crafted = tmp_path / "crafted"
    shutil.copytree(trained_model, crafted)
    marker = tmp_path / "pwned"
    npz = next(crafted.glob("*.npz"))
    with np.load(npz, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    first = sorted(arrays)[0]
    arrays[first] = np.array([Payload(marker)], dtype=object)
    np.savez(npz, **arrays)
    # an attacker controls the whole folder, so the manifest's hashes are made to match
    manifest = json.loads((crafted / MANIFEST).read_text())
    manifest["files"] = {name: file_sha256(crafted / name) for name in manifest["files"]}
    (crafted / MANIFEST).write_text(json.dumps(manifest))
    assert pickle.dumps(arrays[first])  # the payload is really there

    with pytest.raises((ModelError, ValueError)) as exc:
        load_model(crafted)
    assert "pickle" in str(exc.value).lower() or "object" in str(exc.value).lower()
    assert not marker.exists(), "nothing in a model folder is ever executed"


def test_no_unpickling_calls_in_the_code():
    found = subprocess.run(
        ["grep", "-rnE", r"pickle\.loads?\(|joblib\.load\(|torch\.load\(|allow_pickle=True|dill\.load",
         "pipeline", "flows", "intcap"], cwd=ROOT, capture_output=True, text=True).stdout
    assert found == "", found
