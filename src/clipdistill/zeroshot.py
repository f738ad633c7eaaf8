"""Classifying with embeddings: text-prompt zero-shot, kNN, and the numbers that judge them.

Everything here works on L2-normalised numpy embeddings from :mod:`clipdistill.embed`, so a
chapter embeds once and evaluates many ways. The prompt classifier is numerically the
same as open_clip's ``build_zero_shot_classifier``; the kNN predicts exactly what
scikit-learn's ``KNeighborsClassifier`` predicts on the same normalised vectors.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from .templates import fill
from .vectors import l2_normalize

__all__ = [
    "DIGIT_WORDS",
    "classnames_for",
    "build_zero_shot_classifier",
    "zero_shot_logits",
    "softmax",
    "evaluate_zero_shot",
    "prompt_strategies",
    "zero_shot_classifier",
    "knn_vote",
    "knn_predict",
    "classification_report",
    "report_frame",
    "accuracy",
    "expected_calibration_error",
    "reliability",
    "temperature_sweep",
    "random_embedding_floor",
    "similarity_stats",
    "retrieve",
    "project_2d",
]

DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")

Template = str | Callable[[str], str]


def classnames_for(classes: Sequence[str], style: str = "names") -> list[str]:
    """Class names as prompts see them: ``"digits"``/``"names"`` as-is, ``"words"`` spells digits."""
    if style in ("names", "digits"):
        return [str(c) for c in classes]
    if style == "words":
        return [DIGIT_WORDS[int(c)] if str(c).isdigit() and int(c) < 10 else str(c) for c in classes]
    raise ValueError(f"Bad class-name style {style!r}: valid are names, digits, words.")


# ---------------------------------------------------------------------------------------
# The text-prompt classifier
# ---------------------------------------------------------------------------------------
# -- the arithmetic (chapter 02 prints these two: keep their lines within 80 chars) --
def zero_shot_classifier(encode_text: Callable[[list[str]], np.ndarray],
                         classnames: Sequence[str],
                         templates: Sequence[Template]) -> np.ndarray:
    """(D, C) weights: one unit column per class, from its prompts alone.

    Each class name goes into every template, the text tower embeds each
    prompt, and a class's unit embeddings are averaged and put back on the
    unit sphere (a prompt ensemble; with one template, just its embedding).
    """
    prompts = [fill(t, name) for name in classnames for t in templates]
    emb = l2_normalize(encode_text(prompts))  # (C * T, D), unit rows
    emb = emb.reshape(len(classnames), len(templates), -1)  # (C, T, D)
    return l2_normalize(emb.mean(axis=1)).T  # (D, C), unit columns


def build_zero_shot_classifier(clip: Any, classnames: Sequence[str], templates: Sequence[Template], *,
                               cache_dir: str | os.PathLike | None = None, batch_size: int = 256,
                               progress: bool = False) -> np.ndarray:
    """:func:`zero_shot_classifier` with ``clip``'s text tower, every prompt cached.

    ``templates`` are format strings with ``{}`` or callables, as in open_clip, whose
    ``build_zero_shot_classifier`` this matches to float rounding. Prompts are embedded
    (and cached) one text at a time, so classes sharing prompts share work.
    """
    from .embed import embed_texts

    if not classnames or not templates:
        raise ValueError("build_zero_shot_classifier needs at least one class name and one template.")
    weights = zero_shot_classifier(
        lambda texts: embed_texts(clip, texts, cache_dir=cache_dir, batch_size=batch_size,
                                  progress=progress),
        list(classnames), list(templates))
    return np.ascontiguousarray(weights, dtype=np.float32)


def zero_shot_logits(image_emb: np.ndarray, classifier: np.ndarray, logit_scale: float) -> np.ndarray:
    """(N, C): ``logit_scale * cos(image, class)`` (both sides already normalised)."""
    return (float(logit_scale) * (np.asarray(image_emb, np.float32) @ np.asarray(classifier, np.float32))).astype(np.float32)


def softmax(logits: np.ndarray, axis: int = -1) -> np.ndarray:
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=axis, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=axis, keepdims=True)


def evaluate_zero_shot(clip: Any, image_emb: np.ndarray, y_true: np.ndarray, classes: Sequence[str],
                       templates: Sequence[Template], *, classnames: Sequence[str] | None = None,
                       cache_dir: str | os.PathLike | None = None) -> dict[str, Any]:
    """Build the classifier for ``classes`` and score ``image_emb``: predictions, probabilities, report."""
    weights = build_zero_shot_classifier(clip, list(classnames or classes), templates, cache_dir=cache_dir)
    logits = zero_shot_logits(image_emb, weights, clip.logit_scale)
    pred = logits.argmax(axis=1)
    report = classification_report(y_true, pred, classes)
    return {"pred": pred, "probs": softmax(logits), "logits": logits, "weights": weights,
            "report": report, "accuracy": report["accuracy"], "macro_f1": report["macro_f1"]}


def prompt_strategies(clip: Any, image_emb: np.ndarray, y_true: np.ndarray, classes: Sequence[str],
                      strategies: Mapping[str, Mapping[str, Any]], *,
                      cache_dir: str | os.PathLike | None = None):
    """One row per strategy ``{"templates": [...], "classnames": "digits"|"words"|"names"}``.

    A last row, ``ensemble (all)``, averages every strategy's prompts (the CLIP paper's
    prompt ensembling). Returns a DataFrame sorted by accuracy;
    ``attrs["reports"]`` holds each row's classification report.
    """
    import pandas as pd

    rows, all_prompts, reports = [], [], {}
    for name, spec in strategies.items():
        names = classnames_for(classes, spec.get("classnames", "names"))
        templates = list(spec["templates"])
        res = evaluate_zero_shot(clip, image_emb, y_true, classes, templates, classnames=names,
                                 cache_dir=cache_dir)
        example = fill(templates[0], names[min(7, len(names) - 1)])
        rows.append({"strategy": name, "prompts per class": len(templates), "example": example,
                     "accuracy": res["accuracy"], "macro F1": res["macro_f1"]})
        reports[name] = res["report"]
        all_prompts += [(t, spec.get("classnames", "names")) for t in templates]
    if len(strategies) > 1:
        # Every strategy's templates, each filling its slot in its own class-name style.
        from .embed import embed_texts

        styled = [lambda c, t=t, style=style: fill(t, classnames_for([c], style)[0])
                  for t, style in all_prompts]
        weights = zero_shot_classifier(
            lambda texts: embed_texts(clip, texts, cache_dir=cache_dir, progress=False),
            list(classes), styled)
        pred = zero_shot_logits(image_emb, weights, clip.logit_scale).argmax(axis=1)
        rep = classification_report(y_true, pred, classes)
        rows.append({"strategy": "ensemble (all)", "prompts per class": len(all_prompts),
                     "example": "mean of all the above", "accuracy": rep["accuracy"],
                     "macro F1": rep["macro_f1"]})
        reports["ensemble (all)"] = rep
    table = pd.DataFrame(rows).set_index("strategy").sort_values("accuracy", ascending=False)
    table.attrs["reports"] = reports  # each row's classification_report (counts for intervals)
    return table


# ---------------------------------------------------------------------------------------
# kNN
# ---------------------------------------------------------------------------------------
def knn_vote(sims: np.ndarray, train_y: np.ndarray, k: int) -> np.ndarray:
    """Each test row's label: a majority vote of its k most similar training
    rows. ``sims`` is (test, train) cosine similarity, ``train_y`` holds label
    indices 0..C-1. A tied vote goes to the smaller label, as in scikit-learn.
    """
    nearest = np.argpartition(-sims, k - 1, axis=1)[:, :k]  # (N, k), any order
    votes = np.zeros((len(sims), train_y.max() + 1), dtype=np.int64)
    rows = np.arange(len(sims))
    for labels in train_y[nearest].T:  # one neighbour of every test row
        votes[rows, labels] += 1
    return votes.argmax(axis=1)  # the first of the largest counts


def knn_predict(train_emb: np.ndarray, train_y: np.ndarray, test_emb: np.ndarray, k: int = 5,
                *, chunk: int = 2048) -> np.ndarray:
    """:func:`knn_vote` on L2-normalised embeddings, a chunk of test rows at a time.

    On unit rows cosine similarity ranks neighbours exactly as Euclidean distance does,
    and ties are broken like scikit-learn, so predictions match ``KNeighborsClassifier(k)``.
    Labels may be any values; the vote runs on their indices.
    """
    train_emb = np.asarray(train_emb, dtype=np.float32)
    test_emb = np.asarray(test_emb, dtype=np.float32)
    train_y = np.asarray(train_y)
    if len(train_emb) != len(train_y):
        raise ValueError(f"knn_predict: {len(train_emb)} training rows but {len(train_y)} labels.")
    if not 1 <= k <= len(train_emb):
        raise ValueError(f"knn_predict: k={k} must be between 1 and the {len(train_emb)} training rows.")
    classes, y_idx = np.unique(train_y, return_inverse=True)
    pred = np.concatenate([knn_vote(test_emb[i:i + chunk] @ train_emb.T, y_idx, k)
                           for i in range(0, len(test_emb), chunk)] or [np.zeros(0, np.int64)])
    return classes[pred]


# ---------------------------------------------------------------------------------------
# Metrics
# ---------------------------------------------------------------------------------------
def accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    return float((y_true == y_pred).mean()) if len(y_true) else float("nan")


def classification_report(y_true: np.ndarray, y_pred: np.ndarray, classes: Sequence[str]) -> dict[str, Any]:
    """scikit-learn's report as a dict (labels are indices into ``classes``), plus
    ``accuracy`` and ``macro_f1`` at the top level for results files, and ``n`` and the
    ``confusion`` matrix (rows: true class), from which chapter 06 computes intervals."""
    from sklearn.metrics import classification_report as sk_report
    from sklearn.metrics import confusion_matrix

    labels = list(range(len(classes)))
    report = sk_report(np.asarray(y_true), np.asarray(y_pred), labels=labels,
                       target_names=[str(c) for c in classes], output_dict=True, zero_division=0)
    report.pop("micro avg", None)  # sklearn's name for accuracy when a class is absent
    report["accuracy"] = accuracy(y_true, y_pred)
    report["macro_f1"] = float(report["macro avg"]["f1-score"])
    report["n"] = int(len(y_true))
    report["confusion"] = confusion_matrix(np.asarray(y_true), np.asarray(y_pred), labels=labels).tolist()
    return report


def report_frame(report: Mapping[str, Any], digits: int = 2):
    """The report as a table (what sklearn prints, as a DataFrame)."""
    import pandas as pd

    rows = {k: v for k, v in report.items() if isinstance(v, Mapping)}
    frame = pd.DataFrame(rows).T[["precision", "recall", "f1-score", "support"]]
    frame["support"] = frame["support"].astype(int)
    return frame.round(digits)


def reliability(probs: np.ndarray, y_true: np.ndarray, n_bins: int = 15) -> dict[str, np.ndarray]:
    """Per confidence bin: mean confidence, accuracy and count (equal-width bins on [0, 1])."""
    probs = np.asarray(probs)
    conf = probs.max(axis=1)
    correct = (probs.argmax(axis=1) == np.asarray(y_true)).astype(np.float64)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    which = np.clip(np.digitize(conf, edges[1:-1], right=True), 0, n_bins - 1)
    count = np.bincount(which, minlength=n_bins)
    safe = np.maximum(count, 1)
    return {
        "edges": edges,
        "confidence": np.bincount(which, weights=conf, minlength=n_bins) / safe,
        "accuracy": np.bincount(which, weights=correct, minlength=n_bins) / safe,
        "count": count,
    }


def expected_calibration_error(probs: np.ndarray, y_true: np.ndarray, n_bins: int = 15) -> float:
    """ECE: the count-weighted gap between confidence and accuracy over confidence bins."""
    rel = reliability(probs, y_true, n_bins)
    n = rel["count"].sum()
    return float(np.sum(rel["count"] * np.abs(rel["accuracy"] - rel["confidence"])) / max(n, 1))


def temperature_sweep(image_emb: np.ndarray, classifier: np.ndarray, y_true: np.ndarray,
                      temperatures: Sequence[float], n_bins: int = 15):
    """Accuracy, mean confidence, ECE, NLL and entropy of softmax(cos / T) for each T.

    The argmax (so accuracy) never moves; confidence and calibration do. CLIP's learned
    temperature is 1 / logit_scale (0.01 for the OpenAI weights).
    """
    import pandas as pd

    sims = np.asarray(image_emb, np.float32) @ np.asarray(classifier, np.float32)
    y_true = np.asarray(y_true)
    rows = []
    for t in temperatures:
        probs = softmax(sims / float(t))
        p_true = probs[np.arange(len(y_true)), y_true]
        rows.append({
            "temperature": float(t),
            "accuracy": accuracy(y_true, probs.argmax(axis=1)),
            "mean confidence": float(probs.max(axis=1).mean()),
            "ECE": expected_calibration_error(probs, y_true, n_bins),
            "NLL": float(-np.log(np.clip(p_true, 1e-12, None)).mean()),
            "entropy": float(-(probs * np.log(np.clip(probs, 1e-12, None))).sum(axis=1).mean()),
        })
    return pd.DataFrame(rows)


def random_embedding_floor(train_y: np.ndarray, test_y: np.ndarray, *, dim: int, k: int = 5,
                           seed: int = 0, repeats: int = 5, classes: Sequence[str] | None = None) -> dict[str, float]:
    """kNN on random unit vectors instead of CLIP embeddings: the score that means "no signal".

    Averaged over ``repeats`` seeds; with balanced classes it sits near 1 / n_classes.
    """
    train_y, test_y = np.asarray(train_y), np.asarray(test_y)
    classes = list(classes) if classes is not None else [str(c) for c in np.unique(np.concatenate([train_y, test_y]))]
    accs, f1s = [], []
    for r in range(repeats):
        rng = np.random.default_rng(seed + r)
        train = l2_normalize(rng.standard_normal((len(train_y), dim)))
        test = l2_normalize(rng.standard_normal((len(test_y), dim)))
        rep = classification_report(test_y, knn_predict(train, train_y, test, k), classes)
        accs.append(rep["accuracy"])
        f1s.append(rep["macro_f1"])
    return {"accuracy": float(np.mean(accs)), "accuracy_std": float(np.std(accs)),
            "macro_f1": float(np.mean(f1s)), "macro_f1_std": float(np.std(f1s)), "repeats": repeats}


# ---------------------------------------------------------------------------------------
# Embedding space and retrieval
# ---------------------------------------------------------------------------------------
def similarity_stats(emb: np.ndarray, labels: np.ndarray, classes: Sequence[str]):
    """Mean cosine similarity between and within classes.

    Returns ``(matrix, summary)``: a C x C DataFrame (the diagonal leaves out each image's
    similarity to itself) and ``{"intra", "inter", "gap"}`` averaged over image pairs.
    """
    import pandas as pd

    emb = np.asarray(emb, np.float32)
    labels = np.asarray(labels)
    sims = emb @ emb.T
    n_cls = len(classes)
    matrix = np.full((n_cls, n_cls), np.nan)
    for a in range(n_cls):
        ia = np.flatnonzero(labels == a)
        for b in range(n_cls):
            ib = np.flatnonzero(labels == b)
            block = sims[np.ix_(ia, ib)]
            if a == b:
                pairs = len(ia) * (len(ia) - 1)
                matrix[a, b] = (block.sum() - np.trace(block)) / pairs if pairs else np.nan
            elif block.size:
                matrix[a, b] = block.mean()
    same = labels[:, None] == labels[None, :]
    off_diag = ~np.eye(len(emb), dtype=bool)
    intra = float(sims[same & off_diag].mean()) if (same & off_diag).any() else float("nan")
    inter = float(sims[~same].mean()) if (~same).any() else float("nan")
    names = [str(c) for c in classes]
    return pd.DataFrame(matrix, index=names, columns=names), {"intra": intra, "inter": inter, "gap": intra - inter}


def retrieve(query_emb: np.ndarray, image_emb: np.ndarray, k: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` images per query by cosine similarity: ``(indices (Q, k), scores (Q, k))``."""
    sims = np.atleast_2d(np.asarray(query_emb, np.float32)) @ np.asarray(image_emb, np.float32).T
    k = min(k, sims.shape[1])
    order = np.argsort(-sims, axis=1, kind="stable")[:, :k]
    return order, np.take_along_axis(sims, order, axis=1)


def project_2d(emb: np.ndarray, method: str = "pca", seed: int = 0) -> np.ndarray:
    """(N, 2) coordinates: PCA (linear, fast) or t-SNE (neighbourhoods, slower)."""
    emb = np.asarray(emb, np.float32)
    if method == "pca":
        from sklearn.decomposition import PCA

        return PCA(n_components=2, random_state=seed).fit_transform(emb)
    if method == "tsne":
        from sklearn.manifold import TSNE

        perplexity = float(max(2.0, min(30.0, (len(emb) - 1) / 3)))
        return TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(emb)
    raise ValueError(f"Bad projection {method!r}: valid are pca, tsne.")
