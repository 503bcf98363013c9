"""A weight-free encoder: hashed bag of words -> unit vector.

Deterministic and instant; for tests, for benchmarks that measure the pipeline's own
overhead, and for machines where no sentence-encoder package can be installed.
"""
from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

import numpy as np


class HashingEncoder:
    """Each word adds +1 or -1 at a hashed position; rows are L2-normalised."""

    def __init__(self, name: str = "hashing.v1", dim: int = 384):
        self.name = name
        self.dim = dim

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                h = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=4).digest(), "little")
                out[i, h % self.dim] += 1.0 if h & 1 << 20 else -1.0
            out[i] /= max(float(np.linalg.norm(out[i])), 1e-6)
        return out
