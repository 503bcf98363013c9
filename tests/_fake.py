"""A deterministic, dependency-free encoder for fast tests (hashed bag of words)."""
from __future__ import annotations

import hashlib
import re

import numpy as np


class HashEncoder:
    name = "test-hash.v1"
    dim = 64

    def encode(self, texts):
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, t in enumerate(texts):
            for w in re.findall(r"\w+", t.lower()):
                out[i, int(hashlib.md5(w.encode()).hexdigest(), 16) % self.dim] += 1.0
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
