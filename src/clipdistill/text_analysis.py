"""Looking at generated text: CLIP token counts (the 77-token limit), lengths, telling words.

CLIP's text tower reads at most 77 tokens (start and end markers included) and silently
cuts the rest, so a long VLM description loses its end. Counting before embedding says
how often that happens.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from typing import Any, Sequence

import numpy as np

__all__ = [
    "clip_token_counts",
    "truncation_report",
    "words",
    "word_counts",
    "separating_words",
    "first_mentions",
    "mention_summary",
    "STOPWORDS",
]

CLIP_CONTEXT = 77

STOPWORDS = frozenset("""
a an the and or but of in on at to for with by from as is are was were be been being it its
this that these those there here which who whom what while into onto over under near next
than then so such very can could may might has have had having do does did not no nor
their they them he she his her him i you we our your my me one two some any each all both
about above below up down out off again further once also just only own same too s t
image picture photo photograph shows showing shown appears appear seems visible
""".split())

_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")


def _tokenizer(tokenizer_or_model: Any) -> Any:
    if isinstance(tokenizer_or_model, str):
        import open_clip

        return open_clip.get_tokenizer(tokenizer_or_model)
    return tokenizer_or_model


def clip_token_counts(texts: Sequence[str], tokenizer_or_model: Any = "ViT-B-32") -> tuple[np.ndarray, int]:
    """Tokens each text needs in CLIP's text tower, markers included, before any cut,
    and that tower's context length.

    Takes an open_clip tokenizer (``open_clip.get_tokenizer(name)``), a model name for
    it, or a transformers tokenizer (CLIP models loaded through transformers).
    """
    tok = _tokenizer(tokenizer_or_model)
    context = int(getattr(tok, "context_length", None) or CLIP_CONTEXT)
    clean = getattr(tok, "clean_fn", None) or (lambda s: s)
    if hasattr(tok, "encode") and hasattr(tok, "sot_token_id"):  # open_clip SimpleTokenizer
        counts = [len(tok.encode(t)) + 2 for t in texts]
    elif hasattr(tok, "tokenizer"):  # open_clip HFTokenizer / SigLipTokenizer
        counts = [len(tok.tokenizer(clean(t))["input_ids"]) for t in texts]
    elif hasattr(tok, "model_max_length") and callable(tok):  # a transformers tokenizer
        context = int(tok.model_max_length) if tok.model_max_length < 100_000 else CLIP_CONTEXT
        counts = [len(ids) for ids in tok(list(texts))["input_ids"]]
    else:
        raise TypeError(f"Cannot count tokens with {type(tok).__name__}: pass an open_clip tokenizer.")
    return np.asarray(counts, dtype=np.int64), context


def truncation_report(texts: Sequence[str], tokenizer_or_model: Any = "ViT-B-32") -> dict[str, Any]:
    """How many texts CLIP's text tower will cut, and by how much."""
    counts, context = clip_token_counts(texts, tokenizer_or_model)
    cut = counts > context
    return {
        "n_texts": int(len(counts)),
        "context_length": context,
        "n_truncated": int(cut.sum()),
        "frac_truncated": float(cut.mean()) if len(counts) else 0.0,
        "max_tokens": int(counts.max()) if len(counts) else 0,
        "median_tokens": float(np.median(counts)) if len(counts) else 0.0,
    }


def words(text: str) -> list[str]:
    """Lower-case words (apostrophes kept inside a word)."""
    return _WORD.findall(text.lower())


def word_counts(texts: Sequence[str]) -> np.ndarray:
    """Length of each text in words."""
    return np.asarray([len(words(t)) for t in texts], dtype=np.int64)


def separating_words(texts: Sequence[str], labels: Sequence[int], classes: Sequence[str], *,
                     top: int = 10, min_docs: int = 2, prior: float = 0.5) -> "pd.DataFrame":  # noqa: F821
    """The words that best tell each class from the rest, by z-scored log-odds.

    Counts are per description (a word repeated in one sentence counts once). The
    log-odds ratio of a word in class vs rest, smoothed by a Dirichlet ``prior`` per word,
    is divided by its standard error (Monroe, Colaresi & Quinn 2008), so a word seen in
    three descriptions cannot outrank one seen in three hundred by luck.
    Stopwords, words in fewer than ``min_docs`` descriptions and words that point away
    from the class (z <= 0) are left out.
    """
    import pandas as pd

    labels = np.asarray(labels)
    docs = [set(words(t)) - STOPWORDS for t in texts]
    total = Counter(w for d in docs for w in d)
    vocab = [w for w, n in total.items() if n >= min_docs]
    rows = []
    for c, name in enumerate(classes):
        inside = Counter(w for d, y in zip(docs, labels) if y == c for w in d)
        n_in = int((labels == c).sum())
        n_out = len(docs) - n_in
        if n_in == 0 or n_out == 0:
            continue
        for w in vocab:
            a, b = inside[w], total[w] - inside[w]
            # document frequency as a two-outcome (has word / not) count per group
            la = math.log((a + prior) / (n_in - a + prior))
            lb = math.log((b + prior) / (n_out - b + prior))
            se = math.sqrt(1 / (a + prior) + 1 / (n_in - a + prior) + 1 / (b + prior) + 1 / (n_out - b + prior))
            rows.append({"class": name, "word": w, "z": (la - lb) / se,
                         "frac_in_class": a / n_in, "frac_in_rest": b / n_out})
    frame = pd.DataFrame(rows, columns=["class", "word", "z", "frac_in_class", "frac_in_rest"])
    if frame.empty:
        return frame
    frame = frame[frame["z"] > 0]  # a word that predicts "not this class" belongs to another
    frame = frame.sort_values(["class", "z"], ascending=[True, False])
    return frame.groupby("class", sort=False).head(top).reset_index(drop=True)


def first_mentions(texts: Sequence[str], classes: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """For each text: the class it names first (index into ``classes``, -1 for none) and
    the word at which it does (its position as a fraction of the text's words, NaN for none).

    A class is named by its words in order, the last one optionally plural ("dogs").
    Whether a description names the animal, and how early, decides how much of it
    survives CLIP's 77-token cut and whether the text tower is reading the VLM's verdict.
    """
    names = [words(str(c)) for c in classes]
    which = np.full(len(texts), -1, dtype=np.int64)
    where = np.full(len(texts), np.nan)
    for i, text in enumerate(texts):
        w = words(text)
        for pos in range(len(w)):
            hit = next((c for c, n in enumerate(names) if n and _names(w, pos, n)), None)
            if hit is not None:
                which[i], where[i] = hit, pos / max(len(w), 1)
                break
    return which, where


def _names(w: list[str], pos: int, name: list[str]) -> bool:
    """Does ``name`` (a list of words) start at ``w[pos]``, its last word maybe plural?"""
    end = pos + len(name)
    if end > len(w) or w[pos:end - 1] != name[:-1]:
        return False
    return w[end - 1] in (name[-1], name[-1] + "s", name[-1] + "es")


def mention_summary(texts: Sequence[str], labels: Sequence[int], classes: Sequence[str]) -> dict[str, float]:
    """How often the descriptions name a class, name the right one first, and where."""
    which, where = first_mentions(texts, classes)
    labels = np.asarray(labels)
    named = which >= 0
    n = max(len(texts), 1)
    return {"names a class": float(named.sum() / n),
            "names the right class first": float((which == labels).sum() / n),
            "median position of the first name": float(np.nanmedian(where)) if named.any() else float("nan")}
