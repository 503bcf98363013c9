"""The cheap Danish/English detector used to route passages without a declared language."""
from __future__ import annotations

from pipeline import paths
from pipeline.examples import load_examples
from pipeline.language import detect_language, passage_language


def test_detect_examples():
    assert detect_language("Vi har et godt netværk i Tyskland, og det er vigtigt for os.") == "da"
    assert detect_language("We have a good network in Germany, and it is important to us.") == "en"
    assert detect_language("Q: Have you worked abroad? A: I have, yes, in Sweden for years.") == "en"
    assert detect_language("Ja.") is None
    assert detect_language("Jørgen Læssøe says that their customers come from such diverse industries.") == "en"


def test_detect_on_corpora():
    en = load_examples(paths.CODED_PASSAGES)
    da = load_examples(paths.THESIS / "coded_passages.da.jsonl")
    assert all(detect_language(e.text) == "da" for e in da)
    assert sum(detect_language(e.text) == "da" for e in en) == 0


def test_declared_language_wins():
    assert passage_language("da-DK", "This is English text, but the manifest says Danish.") == "da"
    assert passage_language("Danish", "x") == "da"
    assert passage_language("en", "Vi har et godt netværk i Tyskland, og det er vigtigt for os.") == "en"
    assert passage_language(None, "Vi har et godt netværk i Tyskland, og det er vigtigt for os.") == "da"
    assert passage_language(None, "ok") == "en"
