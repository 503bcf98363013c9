"""Terminal review: accept, explicit codes, none, skip, undo, bad input, quit."""
from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

from pipeline.review.session import ReviewSession
from pipeline.review.store import LabelStore
from pipeline.review.terminal import mark_evidence, run_terminal
from test_review_support import XSS, small_out_dir

ROOT = Path(__file__).resolve().parents[1]


def test_terminal_answers_are_stored(tmp_path):
    out = small_out_dir(tmp_path / "out", companies=2)
    session = ReviewSession.open(out, strategy="uncertainty")
    stdin = io.StringIO("\n" "NET+ abs0\n" "bogus\n" "none\n" "s\n" "u\n" "ENT-\n" "q\n")
    stdout = io.StringIO()
    answered = run_terminal(session, "terry", stdin, stdout)
    text = stdout.getvalue()
    assert answered == 4
    assert "cannot read 'bogus'" in text and "skipped" in text and "undid your answer" in text
    assert "reviewed /" in text and "suggestion:" in text and ">>>" in text
    history = session.store.history()
    assert [a.undone for a in history] == [False, False, True, False]
    assert history[0].codes == session.describe(session.corpus.get(history[0].passage_id))["suggestion"]
    assert history[1].codes == {"NET": "+", "ABS": "0"}
    assert history[2].codes == {} and history[3].codes == {"ENT": "-"}
    assert history[3].passage_id == history[2].passage_id  # the undone passage comes straight back
    assert all(a.reviewer == "terry" for a in history)
    session.store.close()


def test_evidence_marks_and_plain_output():
    assert mark_evidence("One. Two. Three.", [{"code": "NET", "start": 5, "end": 9}]) == "One. »Two.« Three."
    assert mark_evidence("abc", []) == "abc"


def test_review_cli_command_end_to_end(tmp_path):
    out = small_out_dir(tmp_path / "out", companies=1, extra=[("xss-1", XSS)])
    db = tmp_path / "team.sqlite"
    run = subprocess.run([sys.executable, "-m", "intcap", "review", "cli", str(out), "--db", str(db),
                          "--reviewer", "rita", "--strategy", "random"], cwd=ROOT, input="\nNET-\nq\n",
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "2 answer(s) saved" in run.stdout
    store = LabelStore.open(db=str(db))
    assert len(store.latest()) == 2 and not (out / "labels.sqlite").exists()
    store.close()


def test_agreement_is_explained_and_withheld_before_five_answers():
    from pipeline.review.terminal import agreement_words

    assert "no estimate" in agreement_words({"reviewed": 2, "agreement": 1.0})
    words = agreement_words({"reviewed": 8, "agreement": 0.75})
    assert "6 of 8 answers equal the model's suggestion" in words and "75%" in words
