"""pipeline.review.gain: the adaptation file is validated field by field; anything off gives no gain."""
from __future__ import annotations

import json
import logging

import pytest

from pipeline.review.gain import ADAPTATION_FILE, MAX_BYTES, parse_gain, read_gain
from test_review_server import ADAPTATION


def raw(data) -> bytes:
    return json.dumps(data).encode()


def with_held(**changes) -> dict:
    return {**ADAPTATION, "held_back": {**ADAPTATION["held_back"], **changes}}


def test_the_round_files_format_is_read():
    gain = parse_gain(raw({**ADAPTATION, "unknown_extra": "<script>"}))
    assert gain == {
        "model_version": "7c4c0b051638+a1b2c3d4", "base_model_version": "7c4c0b051638", "answers": 57,
        "created": "2026-12-02T06:00:00+00:00", "min_answers": 10,
        "held_back": {"method": "5-fold cross-validation over the answers, grouped by source", "folds": 5,
                      "answers": 57, "kappa_before": 0.61, "kappa_after": 0.70,
                      "per_code": ADAPTATION["held_back"]["per_code"]}}  # extra keys are not passed on


def test_optional_parts():
    assert parse_gain(raw({**ADAPTATION, "held_back": None, "min_answers": 20}))["held_back"] is None
    bare = {"format": ADAPTATION["format"], "model_version": "v2", "answers": 3, "held_back": None}
    assert parse_gain(raw(bare))["min_answers"] == 10
    gain = parse_gain(raw(with_held(per_code={"NET": {"before": None, "after": 0.2}}, method=None, folds=None)))
    assert gain["held_back"]["per_code"] == {"NET": {"before": None, "after": 0.2}}  # undefined kappa: null
    assert parse_gain(raw(with_held(kappa_before=-1, kappa_after=1)))["held_back"]["kappa_before"] == -1.0


@pytest.mark.parametrize("content, reason", [
    (b"", "not valid JSON"),
    (b"{\"format\": ", "not valid JSON"),
    (b"\xff\xfe{}", "not valid JSON"),
    (b"[" * 30000 + b"]" * 30000, "nested too deeply"),
    (b"[]", "expected a JSON object"),
    (raw({**ADAPTATION, "format": "intcap-review-adaptation.v2"}), "format must be"),
    (raw({k: v for k, v in ADAPTATION.items() if k != "held_back"}), "no held_back"),
    (raw({**ADAPTATION, "model_version": 7}), "model_version"),
    (raw({**ADAPTATION, "model_version": "x" * 201}), "model_version"),
    (raw({**ADAPTATION, "answers": True}), "answers"),
    (raw({**ADAPTATION, "answers": -1}), "answers"),
    (raw({**ADAPTATION, "answers": 10**12}), "answers"),
    (raw({**ADAPTATION, "answers": 5.5}), "answers"),
    (raw({**ADAPTATION, "min_answers": 0}), "min_answers"),
    (raw({**ADAPTATION, "held_back": [0.61, 0.70]}), "held_back must be"),
    (raw(with_held(kappa_before=float("nan"))), "kappa_before"),
    (raw(with_held(kappa_after=float("inf"))), "kappa_after"),
    (raw(with_held(kappa_after=1.5)), "kappa_after"),
    (raw(with_held(kappa_after="0.70")), "kappa_after"),
    (raw(with_held(kappa_after=None)), "kappa_after"),
    (raw(with_held(answers=0)), "held_back.answers"),
    (raw(with_held(per_code={"XYZ": {"before": 0.1, "after": 0.2}})), "per_code"),
    (raw(with_held(per_code={"NET": 0.7})), "per_code.NET"),
    (raw(with_held(per_code={"NET": {"before": 0.1, "after": float("nan")}})), "per_code.NET.after"),
    (json.dumps(ADAPTATION).replace('"answers": 57', '"answers": 1' + "0" * 400, 1).encode(), "digits"),
    (json.dumps(ADAPTATION).replace('0.61', '1e999').encode(), "kappa_before"),
    (b" " * (MAX_BYTES + 1), "bytes"),
])
def test_malformed_content_is_refused_with_a_reason(content, reason):
    with pytest.raises(ValueError, match=reason):
        parse_gain(content)


def test_read_gain_absent_malformed_and_unreadable(tmp_path, caplog):
    assert read_gain(None) is None
    assert read_gain(tmp_path) is None  # absent: nothing, and no warning
    path = tmp_path / ADAPTATION_FILE
    with caplog.at_level(logging.WARNING, logger="intcap.review"):
        path.write_bytes(b"NaN")
        assert read_gain(tmp_path) is None
        assert read_gain(tmp_path) is None  # the same file: warned once
        path.unlink()
        path.mkdir()  # not a file at all
        assert read_gain(tmp_path) is None
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2 and all(str(path) in m and "\n" not in m for m in messages), messages
    assert "expected a JSON object" in messages[0]
    path.rmdir()
    path.write_text(json.dumps(ADAPTATION), encoding="utf-8")
    assert read_gain(tmp_path)["held_back"]["kappa_after"] == 0.70
