"""Review page server: answer flow, security checks, durability under SIGKILL, concurrent reviewers."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import json
import logging

import httpx
import pytest
from starlette.testclient import TestClient

from pipeline.errors import IntcapError
from pipeline.review.gain import ADAPTATION_FILE
from pipeline.review.server import create_app
from pipeline.review.session import ReviewSession
from pipeline.review.store import LabelStore
from test_review_support import XSS, live_server, open_page, post, small_out_dir

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture()
def out_dir(tmp_path) -> Path:
    return small_out_dir(tmp_path / "out", companies=2, extra=[("xss-1", XSS)])


@pytest.fixture()
def session(out_dir):
    s = ReviewSession.open(out_dir, strategy="uncertainty")
    yield s
    s.store.close()


def client_for(app, **kw) -> TestClient:
    return TestClient(app, base_url="http://127.0.0.1:8765", **kw)


def test_answer_skip_undo_flow(session):
    with client_for(create_app(session, reviewer="ann")) as client:
        csrf = open_page(client)
        first = client.get("/api/next").json()
        assert first["progress"] == {"reviewed": 0, "queued": len(session.corpus), "total": len(session.corpus),
                                     "agreement": None, "model_version": "test-v1", "gain": None}
        passage = first["passage"]
        assert passage["text"] and {c["code"] for c in passage["codes"]} == {"NET", "ENT", "ABS", "PRI"}
        saved = post(client, "/api/answer", {"passage_id": passage["id"], "codes": passage["suggestion"]}, csrf)
        assert saved.status_code == 200 and saved.json()["progress"]["reviewed"] == 1
        assert saved.json()["progress"]["agreement"] == 1.0
        second = client.get("/api/next").json()["passage"]
        assert second["id"] != passage["id"]
        assert post(client, "/api/skip", {"passage_id": second["id"]}, csrf).status_code == 200
        third = client.get("/api/next").json()["passage"]
        assert third["id"] not in (passage["id"], second["id"])
        undone = post(client, "/api/undo", {}, csrf).json()
        assert undone["undone"] == passage["id"] and undone["progress"]["reviewed"] == 0
        assert client.get("/api/next").json()["passage"]["id"] == passage["id"]  # shown again after undo
        bad = post(client, "/api/answer", {"passage_id": passage["id"], "codes": {"XYZ": "+"}}, csrf)
        assert bad.status_code == 400 and "codes must map" in bad.json()["error"]
        missing = post(client, "/api/answer", {"passage_id": "nope", "codes": {}}, csrf)
        assert missing.status_code == 400 and "not in corpus" in missing.json()["error"]
    history = session.store.history()
    assert [(a.passage_id, a.reviewer, a.undone) for a in history] == [(passage["id"], "ann", True)]


def test_csrf_token_required_and_checked(session):
    with client_for(create_app(session)) as client:
        csrf = open_page(client)
        passage = client.get("/api/next").json()["passage"]
        body = {"passage_id": passage["id"], "codes": {}}
        assert client.post("/api/answer", json=body).status_code == 403
        assert post(client, "/api/answer", body, "0" * 64).status_code == 403
        form = client.post("/api/answer", content="passage_id=x", headers={
            "X-CSRF-Token": csrf, "Content-Type": "application/x-www-form-urlencoded"})
        assert form.status_code == 415
        page = client.get("/")
        assert "samesite=strict" in page.headers["set-cookie"].lower()
        assert "httponly" in page.headers["set-cookie"].lower()
    with client_for(create_app(session)) as stranger:  # no session cookie at all
        assert stranger.post("/api/answer", json=body, headers={"X-CSRF-Token": csrf}).status_code == 400
    assert session.store.history() == []


def test_oversized_body_gets_413(session):
    with client_for(create_app(session)) as client:
        csrf = open_page(client)
        big = {"passage_id": "x", "codes": {}, "pad": "a" * 70_000}
        assert post(client, "/api/answer", big, csrf).status_code == 413

        def chunks():  # no Content-Length: the limit applies while reading
            for _ in range(20):
                yield b"a" * 8192

        r = client.post("/api/answer", content=chunks(), headers={"X-CSRF-Token": csrf,
                                                                   "Content-Type": "application/json"})
        assert r.status_code == 413


@pytest.mark.parametrize("path", ["/assets/../assets/app.js/../../../etc/passwd", "/assets/%2e%2e/%2e%2e/etc/passwd",
                                  "/assets/..%2f..%2fpyproject.toml", "/../../pyproject.toml", "/passages.jsonl",
                                  "/labels.sqlite", "/assets/page.html", "/assets/", "/sources/a.md",
                                  "//etc/passwd", "/assets/app.js%00.txt"])
def test_path_traversal_finds_nothing(session, path):
    with client_for(create_app(session)) as client:
        r = client.get(path)
        assert r.status_code == 404, (path, r.status_code)
        assert "root:" not in r.text and "[project]" not in r.text


def test_only_fixed_assets_are_served(session):
    with client_for(create_app(session)) as client:
        js = client.get("/assets/app.js")
        assert js.status_code == 200 and "textContent" in js.text and "innerHTML" not in js.text
        assert client.get("/assets/app.css").status_code == 200
        page = client.get("/")
        assert "default-src 'none'" in page.headers["content-security-policy"]
        assert page.headers["x-frame-options"] == "DENY"


def test_transcript_text_is_never_html_and_names_are_escaped(out_dir):
    session = ReviewSession.open(out_dir, strategy="uncertainty")
    with client_for(create_app(session, reviewer="<i>eve</i>")) as client:
        page = client.get("/").text
        assert "<i>eve</i>" not in page and "&lt;i&gt;eve&lt;/i&gt;" in page
        assert "<script>alert" not in page  # passages travel as JSON, rendered with textContent
        item = session.describe(session.corpus.get("xss-1"))
        assert item["text"] == XSS
    session.store.close()


def test_non_loopback_bind_needs_a_token(session):
    with pytest.raises(IntcapError, match="expected a token"):
        create_app(session, host="0.0.0.0")
    app = create_app(session, host="0.0.0.0", token="s3cret-token")
    with TestClient(app, base_url="http://192.0.2.10:8765") as client:
        assert client.get("/").status_code == 401
        assert client.get("/api/next").status_code == 401
        assert client.get("/?token=wrong").status_code == 401
        assert client.get("/api/next", headers={"Authorization": "Bearer s3cret-token"}).status_code == 400
        r = client.get("/?token=s3cret-token", follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/"
        csrf = open_page(client)  # the cookie now carries the token
        passage = client.get("/api/next").json()["passage"]
        assert post(client, "/api/answer", {"passage_id": passage["id"], "codes": {}}, csrf).status_code == 200
    with TestClient(app, base_url="http://192.0.2.10:8765") as other:
        assert other.post("/api/undo", json={}).status_code == 401


def test_loopback_server_rejects_foreign_host_headers(session):
    with client_for(create_app(session)) as client:
        assert client.get("/", headers={"Host": "evil.example:8765"}).status_code == 421
        assert client.get("/", headers={"Host": "localhost:8765"}).status_code == 200


def test_two_reviewers_posting_at_once_lose_nothing(session):
    app = create_app(session, reviewer="ann")
    ids = session.corpus.ids
    errors: list[str] = []

    def reviewer(name: str, mine: list[str], base: str):
        with httpx.Client(base_url=base, timeout=30) as client:
            csrf = open_page(client)
            for pid in mine:
                r = post(client, "/api/answer", {"passage_id": pid, "codes": {"ENT": "+"}, "reviewer": name}, csrf)
                if r.status_code != 200:
                    errors.append(f"{name} {pid}: {r.status_code} {r.text}")

    with live_server(app) as base:
        threads = [threading.Thread(target=reviewer, args=("ann", ids[0::2], base)),
                   threading.Thread(target=reviewer, args=("bob", ids[1::2], base))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
    assert errors == []
    store = LabelStore.open(session.corpus.out_dir)
    history = store.history()
    store.close()
    assert sorted(a.passage_id for a in history) == sorted(ids)
    assert {a.reviewer for a in history} == {"ann", "bob"}


def test_answer_acknowledged_survives_sigkill(out_dir):
    proc = subprocess.Popen([sys.executable, "-m", "intcap", "review", "serve", str(out_dir), "--port", "0",
                             "--reviewer", "kim"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    try:
        line = proc.stdout.readline()
        match = re.search(r"(http://127\.0\.0\.1:\d+)/", line)
        assert match, line + (proc.stdout.read() if proc.poll() is not None else "")
        with httpx.Client(base_url=match.group(1), timeout=30) as client:
            csrf = open_page(client)
            passage = client.get("/api/next").json()["passage"]
            ack = post(client, "/api/answer", {"passage_id": passage["id"], "codes": {"ABS": "-"}}, csrf)
            assert ack.status_code == 200 and ack.json()["ok"]
        os.kill(proc.pid, signal.SIGKILL)  # right after the acknowledgement
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        proc.stdout.close()
    store = LabelStore.open(out_dir)
    [answer] = store.history()
    store.close()
    assert (answer.id, answer.passage_id, answer.codes, answer.reviewer) == (
        ack.json()["answer_id"], passage["id"], {"ABS": "-"}, "kim")


def test_hostile_json_bodies_get_400(session):
    with client_for(create_app(session, reviewer="ann")) as client:
        csrf = open_page(client)
        passage = client.get("/api/next").json()["passage"]
        headers = {"x-csrf-token": csrf, "content-type": "application/json"}
        huge = '{"passage_id": "%s", "codes": {}, "n": %s}' % (passage["id"], "9" * 5000)
        r = client.post("/api/answer", content=huge, headers=headers)
        assert r.status_code == 400 and "digits" in r.json()["error"]
        deep = "[" * 30000 + "]" * 30000
        r = client.post("/api/answer", content=deep, headers=headers)
        assert r.status_code == 400 and "nested too deeply" in r.json()["error"]
        long_text = '{"passage_id": "%s", "codes": {}}' % ("x" * 200_000)
        assert client.post("/api/answer", content=long_text, headers=headers).status_code in (400, 413)
    assert session.store.history() == []


def test_undo_reaches_only_this_browser_sessions_answers(session):
    app = create_app(session, reviewer="alice")
    with client_for(app) as alice, client_for(app) as mallory:
        csrf_a = open_page(alice)
        passage = alice.get("/api/next").json()["passage"]
        assert post(alice, "/api/answer", {"passage_id": passage["id"], "codes": {}}, csrf_a).status_code == 200
        csrf_m = open_page(mallory)
        r = post(mallory, "/api/undo", {"reviewer": "alice"}, csrf_m).json()
        assert r["undone"] is None
        assert [a.undone for a in session.store.history()] == [False]
        assert post(alice, "/api/undo", {}, csrf_a).json()["undone"] == passage["id"]


@pytest.mark.parametrize("host", ["127.0.0.1:80@evil.example", "127.0.0.1 evil.example", "evil.example#127.0.0.1",
                                  "127.0.0.1:8765:1"])
def test_host_header_parsed_strictly(session, host):
    with client_for(create_app(session)) as client:
        assert client.get("/", headers={"Host": host}).status_code in (400, 421)
    with client_for(create_app(session)) as client:
        assert client.get("/", headers={"Host": "[::1]:8765"}).status_code == 200


#: OUT_DIR/review_adaptation.json as the fast learning round writes it
ADAPTATION = {
    "format": "intcap-review-adaptation.v1", "base_model_version": "7c4c0b051638",
    "model_version": "7c4c0b051638+a1b2c3d4", "answers": 57, "created": "2026-12-02T06:00:00+00:00",
    "held_back": {"method": "5-fold cross-validation over the answers, grouped by source", "folds": 5, "answers": 57,
                  "kappa_before": 0.61, "kappa_after": 0.70,
                  "per_code": {"NET": {"before": 0.6, "after": 0.7}, "ENT": {"before": 0.55, "after": 0.66},
                               "ABS": {"before": 0.7, "after": 0.68}, "PRI": {"before": 0.59, "after": 0.76}}}}


def progress_over_http(session) -> dict:
    """The progress figures as the page gets them: a real HTTP request to the real app."""
    with live_server(create_app(session, reviewer="ann")) as base, httpx.Client(base_url=base, timeout=30) as client:
        open_page(client)
        r = client.get("/api/next")
        assert r.status_code == 200, r.text
        assert r.json()["passage"] is not None
        return r.json()["progress"]


def test_gain_from_the_adaptation_file_reaches_the_page(session, out_dir):
    (out_dir / ADAPTATION_FILE).write_text(json.dumps(ADAPTATION), encoding="utf-8")
    progress = progress_over_http(session)
    assert progress["model_version"] == "test-v1"  # the version of the suggestions the page shows
    gain = progress["gain"]
    assert gain["model_version"] == "7c4c0b051638+a1b2c3d4" and gain["base_model_version"] == "7c4c0b051638"
    assert gain["answers"] == 57 and gain["min_answers"] == 10
    held = gain["held_back"]
    assert (held["kappa_before"], held["kappa_after"], held["answers"], held["folds"]) == (0.61, 0.70, 57, 5)
    assert held["per_code"]["PRI"] == {"before": 0.59, "after": 0.76}
    assert list(held["per_code"]) == ["NET", "ENT", "ABS", "PRI"]


def test_no_adaptation_file_no_gain(session, caplog):
    with caplog.at_level(logging.WARNING, logger="intcap.review"):
        assert progress_over_http(session)["gain"] is None
    assert caplog.records == []


def test_gain_not_yet_estimated(session, out_dir):
    (out_dir / ADAPTATION_FILE).write_text(json.dumps({**ADAPTATION, "answers": 4, "held_back": None,
                                                       "min_answers": 12}), encoding="utf-8")
    gain = progress_over_http(session)["gain"]
    assert gain["held_back"] is None and gain["min_answers"] == 12 and gain["answers"] == 4
    del_min = {k: v for k, v in ADAPTATION.items() if k != "min_answers"}
    (out_dir / ADAPTATION_FILE).write_text(json.dumps({**del_min, "held_back": None}), encoding="utf-8")
    assert progress_over_http(session)["gain"]["min_answers"] == 10  # the default


@pytest.mark.parametrize("content", [
    b'{"format": "intcap-review-adaptation.v1", "held_back": ',  # cut short
    json.dumps({**ADAPTATION, "held_back": {**ADAPTATION["held_back"], "kappa_after": float("nan")}}).encode(),
    json.dumps(ADAPTATION).replace('"kappa_before": 0.61', '"kappa_before": 1e999').encode(),
    json.dumps(ADAPTATION).replace('"answers": 57', '"answers": ' + "9" * 5000, 1).encode(),
    json.dumps({**ADAPTATION, "answers": "57"}).encode(),
])
def test_malformed_adaptation_file_leaves_the_page_working(session, out_dir, caplog, content):
    path = out_dir / ADAPTATION_FILE
    path.write_bytes(content)
    with caplog.at_level(logging.WARNING, logger="intcap.review"):
        assert progress_over_http(session)["gain"] is None
        assert progress_over_http(session)["gain"] is None  # asked again: still no gain, and no second warning
    warnings = [r.getMessage() for r in caplog.records if r.name == "intcap.review"]
    assert len(warnings) == 1 and str(path) in warnings[0] and "\n" not in warnings[0], warnings
    path.write_text(json.dumps(ADAPTATION), encoding="utf-8")  # fixed while the server runs: shown
    assert progress_over_http(session)["gain"]["held_back"]["kappa_after"] == 0.70
