"""Re-coding unchanged passages encodes nothing: the on-disk embedding cache."""
from __future__ import annotations

import json
import sqlite3

from intcap.cli import main
from pipeline import paths
from pipeline.embed import EmbeddingCache
from pipeline.hashing import HashingEncoder


class CountingEncoder(HashingEncoder):
    def __init__(self):
        super().__init__()
        self.encoded: list[str] = []

    def encode(self, texts):
        self.encoded.extend(texts)
        return super().encode(texts)


def test_cache_encodes_only_unseen_texts(tmp_path):
    cache, encoder = EmbeddingCache(tmp_path / "e.sqlite"), CountingEncoder()
    first = cache.encode(encoder, ["a market in Norway", "a partner", "a market in Norway"])
    assert sorted(encoder.encoded) == ["a market in Norway", "a partner"], "each distinct text once"
    again = cache.encode(encoder, ["a partner", "a new text", "a market in Norway"])
    assert encoder.encoded[2:] == ["a new text"]
    assert (again[0] == first[1]).all() and (again[2] == first[0]).all()


def test_recoding_an_unchanged_corpus_hits_the_cache(tmp_path, trained_model):
    corpus = tmp_path / "c"
    corpus.mkdir()
    (corpus / "nupo.md").write_text((paths.INTERVIEWS / "nupo.md").read_text(encoding="utf-8"), encoding="utf-8")
    args = ["code", str(corpus), "--model-dir", str(trained_model), "--no-prefect", "--out"]
    assert main([*args, str(tmp_path / "o1")]) == 0
    with sqlite3.connect(paths.embedding_cache()) as con:
        rows = con.execute("SELECT count(*) FROM emb").fetchone()[0]
    assert rows > 0
    assert main([*args, str(tmp_path / "o2")]) == 0
    with sqlite3.connect(paths.embedding_cache()) as con:
        assert con.execute("SELECT count(*) FROM emb").fetchone()[0] == rows, "nothing new was encoded"
    one, two = ([json.loads(x) for x in (tmp_path / o / "passages.jsonl").read_text().splitlines()] for o in ("o1", "o2"))
    assert [r["codes"] for r in one] == [r["codes"] for r in two]
