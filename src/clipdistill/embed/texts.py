"""``embed_texts``: every prompt or description through the text encoder once, ever."""

from __future__ import annotations

import os
from typing import Any, Sequence

import numpy as np
import torch

from ..progress import progress_bar
from .onednn import inference_model
from .store import store_for, text_digest

__all__ = ["embed_texts", "encode_texts"]


@torch.inference_mode()
def encode_texts(clip: Any, texts: list[str]) -> np.ndarray:
    """One batch of texts -> (N, D) unit rows, on the engine's inference copy (no cache)."""
    tokens = clip.tokenize(texts)
    with clip.autocast():
        feats = clip.encode_text(tokens, module=inference_model(clip))
    return torch.nn.functional.normalize(feats.float(), dim=-1).cpu().numpy()


def embed_texts(clip: Any, texts: Sequence[str], *, cache_dir: str | os.PathLike | None = None,
                batch_size: int = 256, progress: bool = True, desc: str = "embedding texts") -> np.ndarray:
    """(N, D) float32, L2-normalised; row i is ``texts[i]``. Cached per exact text."""
    texts = [str(t) for t in texts]
    out = np.zeros((len(texts), clip.embed_dim), dtype=np.float32)
    if not texts:
        return out
    store = store_for(cache_dir, clip, "texts")
    keys = [text_digest(t) for t in texts]
    found = store.fetch(keys, out) if store is not None else np.zeros(len(texts), bool)
    todo: dict[str, list[int]] = {}  # key -> rows wanting it, first one's text embedded
    for i in np.flatnonzero(~found).tolist():
        todo.setdefault(keys[i], []).append(i)
    if todo:
        items = list(todo.items())
        bar = progress_bar(len(items), desc, enabled=progress and len(items) > batch_size, unit="text")
        try:
            for start in range(0, len(items), batch_size):
                chunk = items[start:start + batch_size]
                emb = encode_texts(clip, [texts[rows[0]] for _, rows in chunk])
                if store is not None:
                    store.put([k for k, _ in chunk], emb)
                for row, (_, rows) in zip(emb, chunk):
                    out[rows] = row
                bar.update(len(chunk))
        finally:
            bar.close()
        if store is not None:
            store.merge()
    return out
