"""Screenshots for the README: docs/img/report.png and docs/img/review.png, from the bundled corpus.

Codes corpus/thesis/interviews with the model (models/default unless --model-dir), then takes
the report's first screens (heat map and overview) and the review page, served on a loopback
port, in headless Chromium (Debian's package: `make browser`).

    .venv/bin/python scripts/screenshots.py [--out-dir docs/img] [--coded DIR]

--coded reuses a results folder already coded from the corpus (skips the minute of coding).
"""
from __future__ import annotations

import argparse
import shutil
import socket
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline import paths  # noqa: E402
from pipeline.outputs import atomic_open  # noqa: E402

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]
WIDTH = 1280
#: the report shot ends after the overview table (the whole report is many screens long)
REPORT_UNTIL = "#overview-section"


def code_corpus(out_dir: Path, model_dir: Path) -> Path:
    from pipeline.batch import code_folder
    from pipeline.modeldir import load_model

    code_folder(paths.INTERVIEWS, out_dir, load_model(model_dir))
    return out_dir


@contextmanager
def served(app):
    """The ASGI app on a free loopback port, in a thread; yields the base URL."""
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the review server did not start within 20 s")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def save(path: Path, png: bytes) -> None:
    with atomic_open(path, "wb") as fh:  # usual permissions, never a half-written image
        fh.write(png)
    print(f"{path} ({len(png) // 1024} KB)")


def report_shot(browser, coded: Path) -> bytes:
    page = browser.new_page(viewport={"width": WIDTH, "height": 900})
    page.goto((coded / "report.html").as_uri())
    bottom = page.evaluate(f"document.querySelector({REPORT_UNTIL!r}).getBoundingClientRect().bottom")
    png = page.screenshot(clip={"x": 0, "y": 0, "width": WIDTH, "height": bottom + 16}, full_page=True)
    page.close()
    return png


def review_shot(browser, coded: Path) -> bytes:
    from pipeline.review.server import create_app
    from pipeline.review.session import ReviewSession

    with tempfile.TemporaryDirectory() as tmp:
        session = ReviewSession.open(coded, db=str(Path(tmp) / "labels.sqlite"))
        try:
            with served(create_app(session, reviewer="reviewer")) as base:
                page = browser.new_page(viewport={"width": WIDTH, "height": 860})
                page.goto(base + "/")
                page.wait_for_function("() => document.getElementById('passage').dataset.id")
                page.wait_for_function("() => document.querySelectorAll('#code-help details').length === 4")
                page.keyboard.press("1")  # select NET, so the panel opens its definition and examples
                if page.locator('#code-rows tr[data-code="NET"].on').count() == 0:
                    page.keyboard.press("1")
                png = page.screenshot()
                page.close()
        finally:
            session.store.close()
    return png


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", type=Path, default=ROOT / "docs" / "img")
    parser.add_argument("--model-dir", type=Path, default=paths.DEFAULT_MODEL)
    parser.add_argument("--coded", type=Path, help="a results folder already coded from corpus/thesis/interviews")
    args = parser.parse_args(argv)
    if not Path(CHROMIUM).exists():
        print("headless Chromium not found: run `make browser` (as root) first", file=sys.stderr)
        return 1
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        coded = args.coded or code_corpus(Path(tmp) / "thesis-interviews", args.model_dir)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
            try:
                save(args.out_dir / "report.png", report_shot(browser, coded))
                save(args.out_dir / "review.png", review_shot(browser, coded))
            finally:
                browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
