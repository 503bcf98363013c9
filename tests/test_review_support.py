"""Helpers for the review tests: small results folders, a live server, a page session.

(No tests here; the module is named test_review_* only so it lives with the review tests.)
"""
from __future__ import annotations

import hashlib
import json
import re
import socket
import threading
import time
from contextlib import contextmanager
from pathlib import Path


from pipeline import paths
from pipeline.examples import load_examples
from pipeline.records import CODES, VALENCES

XSS = "<script>alert(1)</script><b>x</b> & \"quotes\" 'single' <img src=x onerror=alert(2)>"
HASH_ENCODER = "hashing.v1"


def _unit(seed: str) -> float:
    return int.from_bytes(hashlib.blake2b(seed.encode(), digest_size=4).digest(), "little") / 2**32


def coding_row(pid: str, company: str, source: str, start: int, text: str, codes: dict[str, str],
               speaker: str | None = "Interviewee", model_version: str = "test-v1") -> dict:
    """A passages.jsonl row whose probabilities lean towards ``codes`` (deterministic jitter)."""
    scores, assigned, evidence = {}, [], {}
    for code in CODES:
        p = round((0.55 if code in codes else 0.05) + 0.4 * _unit(pid + code), 4)
        valence = codes.get(code, "0")
        vp = {v: (0.8 if v == valence else 0.1) for v in VALENCES}
        scores[code] = {"p": p, "valence": valence, "valence_p": vp}
        if p >= 0.5:
            assigned.append(code)
    first = text.split(". ")[0]
    for code in assigned[:1]:
        evidence[code] = [start, start + len(first)]
    return {"id": pid, "company": company, "source": source, "speaker": speaker, "start": start,
            "end": start + len(text), "text": text, "codes": scores, "assigned": assigned, "evidence": evidence,
            "model_version": model_version}


def write_out_dir(out_dir: Path, rows: list[dict]) -> Path:
    """A results folder with passages.jsonl and sources/ (one source text per source, offsets exact)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    with (out_dir / "passages.jsonl").open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    return out_dir


def thesis_rows(companies: int = 3, extra: list[tuple[str, str]] = ()) -> list[dict]:
    """Passages of the first ``companies`` thesis firms, plus (id, text) extras in a source of their own."""
    examples = load_examples(paths.CODED_PASSAGES)
    firms = sorted({e.company for e in examples})[:companies]
    rows, offsets = [], {}
    for e in examples:
        if e.company in firms:
            source = f"{e.company.lower().replace(' ', '_')}.md"
            start = offsets.get(source, 0)
            rows.append(coding_row(e.id, e.company, source, start, e.text, e.codes))
            offsets[source] = start + len(e.text) + 2
    start = 0
    for pid, text in extra:
        rows.append(coding_row(pid, "Testfirm", "testfirm.md", start, text, {"NET": "+"}))
        start += len(text) + 2
    return rows


def small_out_dir(tmp: Path, companies: int = 3, extra: list[tuple[str, str]] = ()) -> Path:
    return write_out_dir(tmp, thesis_rows(companies, extra))


@contextmanager
def live_server(app, host: str = "127.0.0.1"):
    """Serve an ASGI app with uvicorn in a thread; yields the base URL."""
    import uvicorn

    sock = socket.socket()
    sock.bind((host, 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://{host}:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def open_page(client) -> str:
    """GET / with a client (cookies kept); returns the page's CSRF token."""
    response = client.get("/")
    assert response.status_code == 200, response.text
    match = re.search(r'name="intcap-csrf" content="([0-9a-f]+)"', response.text)
    assert match, "no CSRF token in the page"
    return match.group(1)


def post(client, path: str, body: dict, csrf: str):
    return client.post(path, json=body, headers={"X-CSRF-Token": csrf})
