"""SetFit-style contrastive fine-tuning of the sentence encoder on the hand-coded passages.

Pairs of (masked) training passages are labelled by their codes: for a code drawn at
random, a pair of passages that both carry it is a positive (target cosine 1), a pair
where exactly one carries it a negative (target 0); the encoder is trained with the
cosine-similarity (MSE) loss, as SetFit does, by a plain torch loop (no hub access,
no trainer dependencies). The result is saved with safetensors in a local directory
that ``pipeline.embed.load_encoder`` accepts as an encoder name.

This is the slow option (``intcap train --finetune``); ``bench/ablation.py
--finetune-folds N`` measures it on N leave-one-company-out folds.
"""
from __future__ import annotations

import os
import random
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from pipeline.examples import Example
from pipeline.masking import mask_company
from pipeline.records import CODES


def contrastive_pairs(examples: Sequence[Example], n_pairs: int, seed: int = 0) -> list[tuple[str, str, float]]:
    """Balanced positive/negative pairs per code, over masked passage texts."""
    rng = random.Random(seed)
    texts = [mask_company(e.text, e.company) for e in examples]
    pairs = []
    for k in range(n_pairs):
        code = CODES[k % len(CODES)]
        pos = [i for i, e in enumerate(examples) if code in e.codes]
        neg = [i for i, e in enumerate(examples) if code not in e.codes]
        if len(pos) < 2 or not neg:
            continue
        a = rng.choice(pos)
        if k % 2 == 0:
            b = rng.choice([i for i in pos if i != a])
            pairs.append((texts[a], texts[b], 1.0))
        else:
            pairs.append((texts[a], texts[rng.choice(neg)], 0.0))
    rng.shuffle(pairs)
    return pairs


def finetune(examples: Sequence[Example], base_path: str | Path, out_dir: str | Path, *, n_pairs: int = 480,
             batch_size: int = 16, lr: float = 2e-5, seed: int = 0, max_seq_length: int = 128) -> Path:
    """Fine-tune the sentence-transformers model at ``base_path``; save it to ``out_dir``."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from sentence_transformers import SentenceTransformer

    torch.manual_seed(seed)
    np.random.seed(seed)
    model = SentenceTransformer(str(base_path), device="cpu")
    model.max_seq_length = max_seq_length
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=lr)
    pairs = contrastive_pairs(examples, n_pairs, seed)
    for i in range(0, len(pairs), batch_size):
        batch = pairs[i:i + batch_size]
        fa = model.tokenize([a for a, _, _ in batch])
        fb = model.tokenize([b for _, b, _ in batch])
        ea = model(fa)["sentence_embedding"]
        eb = model(fb)["sentence_embedding"]
        cos = torch.nn.functional.cosine_similarity(ea, eb)
        loss = torch.nn.functional.mse_loss(cos, torch.tensor([y for _, _, y in batch], dtype=cos.dtype))
        opt.zero_grad()
        loss.backward()
        opt.step()
    return _save(model, out_dir)


def _save(model, out_dir: str | Path) -> Path:
    """The tuned encoder as safetensors + configs (what model directories hash and load)."""
    model.eval()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save(str(out_dir), safe_serialization=True)
    return out_dir


def finetune_multilabel(examples: Sequence[Example], base_path: str | Path, out_dir: str | Path, *, epochs: int = 1,
                        batch_size: int = 16, lr: float = 3e-5, seed: int = 0, max_seq_length: int = 128) -> Path:
    """End-to-end fine-tuning with a multi-label head: the encoder's mean-pooled embedding feeds a
    linear layer with one logit per code, trained with class-weighted binary cross-entropy on
    code presence. Only the encoder is kept (safetensors); the heads are then fitted on its
    embeddings as usual, so this replaces the embedding, not the calibrated heads."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from sentence_transformers import SentenceTransformer

    torch.manual_seed(seed)
    rng = random.Random(seed)
    model = SentenceTransformer(str(base_path), device="cpu")
    model.max_seq_length = max_seq_length
    model.train()
    dim = model.get_embedding_dimension()
    head = torch.nn.Linear(dim, len(CODES))
    texts = [mask_company(e.text, e.company) for e in examples]
    y = torch.tensor([[float(c in e.codes) for c in CODES] for e in examples])
    pos = y.sum(0).clamp(min=1.0)
    loss_fn = torch.nn.BCEWithLogitsLoss(pos_weight=(len(y) - pos) / pos)
    opt = torch.optim.AdamW(list(model.parameters()) + list(head.parameters()), lr=lr)
    order = list(range(len(texts)))
    for _ in range(epochs):
        rng.shuffle(order)
        for i in range(0, len(order), batch_size):
            idx = order[i:i + batch_size]
            features = model.tokenize([texts[k] for k in idx])
            emb = model(features)["sentence_embedding"]
            loss = loss_fn(head(emb), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return _save(model, out_dir)
