"""Single-label classification: top-k accuracy and macro (mean per-class) accuracy, in percent.

Used by the VideoGLUE probes (K400, MiT, SSv2, Diving48), zero-shot classification, the
multiple-choice tasks (NExT-QA ATP-hard, Charades-STA: the candidate with the highest score is
the answer) and KABR (macro accuracy).

Ties: the official scorers leave tie order to ``argsort``/``topk`` (unspecified). vpbench ranks
PESSIMISTICALLY: the true class's rank is the number of OTHER classes scoring greater than or
equal to it, so a model can never gain from a tie (a constant-score model gets 0 % top-1).
On tie-free scores this equals mmaction2's ``top_k_accuracy`` and SlowFast's ``topks_correct``.

This module never reads files except in :func:`score_files`, and never prints.
"""

from __future__ import annotations

import os
from typing import Iterable, Literal

import numpy as np

from vpbench.errors import PredictionFileError
from vpbench.metrics.files import match_ids, read_label_file, read_score_file


def true_class_rank(scores: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """0-based pessimistic rank of each item's true class: other classes scoring >= it."""
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    _check_scores(scores, labels)
    true_scores = scores[np.arange(len(labels)), labels]
    return (scores >= true_scores[:, None]).sum(axis=1) - 1


def topk_accuracy(scores: np.ndarray, labels: np.ndarray, ks: Iterable[int] = (1, 5)) -> dict[str, float]:
    """Percent of items whose true class is among the k best scores (pessimistic ties).

    ``scores``: [N, C]; ``labels``: [N] class indices. Returns ``{"top1": ..., "top5": ...}``;
    a k larger than C is skipped (top-5 of a 4-way multiple choice means nothing).
    """
    ranks = true_class_rank(scores, labels)
    num_classes = np.asarray(scores).shape[1]
    return {f"top{k}": 100.0 * float(np.mean(ranks < k)) for k in ks if k <= num_classes}


def macro_accuracy(scores: np.ndarray, labels: np.ndarray,
                   classes: Literal["present", "union"] = "present") -> dict[str, float]:
    """Mean over classes of the per-class top-1 accuracy (recall), in percent.

    ``classes="present"`` (default, KABR and sklearn's ``balanced_accuracy_score``): the mean runs
    over the classes that occur in ``labels``; a class absent from the ground truth has no
    accuracy and is not averaged. ``classes="union"`` (mmaction2 ``mean_class_accuracy``): over the
    classes in labels ∪ predictions (each item's argmax), where a class only ever predicted counts as 0.
    The predicted class of an item is its best-scoring class; on a tie it is not the true
    class (pessimistic, as in :func:`true_class_rank`).
    """
    labels = np.asarray(labels, dtype=np.int64)
    correct = true_class_rank(scores, labels) == 0
    present = np.unique(labels)
    per_class_correct = np.bincount(labels, weights=correct, minlength=np.asarray(scores).shape[1])
    per_class_count = np.bincount(labels, minlength=np.asarray(scores).shape[1])
    if classes == "present":
        averaged = present
    elif classes == "union":
        averaged = np.union1d(present, np.unique(np.argmax(scores, axis=1)))
    else:
        raise ValueError(f"classes must be 'present' or 'union', not {classes!r}")
    with np.errstate(invalid="ignore", divide="ignore"):
        per_class = np.where(per_class_count > 0, per_class_correct / np.maximum(per_class_count, 1), 0.0)
    return {"macro_accuracy": 100.0 * float(np.mean(per_class[averaged])),
            "macro_num_classes": int(len(averaged)),
            "macro_classes": classes}


def classification_metrics(scores: np.ndarray, labels: np.ndarray,
                           classes: Literal["present", "union"] = "present") -> dict[str, float]:
    """Top-1, top-5 and macro accuracy together, plus the item count (all accuracies in percent)."""
    result = topk_accuracy(scores, labels)
    result.update(macro_accuracy(scores, labels, classes))
    result["num_items"] = int(len(labels))
    return result


def multiple_choice_accuracy(scores: np.ndarray, answers: np.ndarray) -> dict[str, float]:
    """Percent of questions whose correct candidate scores strictly above every other one."""
    return {"mc_accuracy": topk_accuracy(scores, answers, ks=(1,))["top1"], "num_items": int(len(answers))}


def score_files(metric: str, predictions: str | os.PathLike, references: str | os.PathLike,
                classes: Literal["present", "union"] = "present") -> dict[str, float]:
    """Score a score file against a label file (formats in :mod:`vpbench.metrics.files`)."""
    prediction_ids, scores, class_names = read_score_file(predictions)
    reference_ids, labels = read_label_file(references, scores.shape[1], class_names)
    for item, item_labels in zip(reference_ids, labels):
        if len(item_labels) != 1:
            raise PredictionFileError(
                f"{references}: id {item!r} has {len(item_labels)} labels; {metric} needs exactly one")
    order = match_ids(prediction_ids, reference_ids, predictions, references)
    scores = scores[order]
    label_array = np.array([item_labels[0] for item_labels in labels], dtype=np.int64)
    if metric == "multiple_choice":
        return multiple_choice_accuracy(scores, label_array)
    return classification_metrics(scores, label_array, classes)


def _check_scores(scores: np.ndarray, labels: np.ndarray) -> None:
    if scores.ndim != 2 or labels.ndim != 1 or len(scores) != len(labels):
        raise ValueError(f"scores must be [N, C] and labels [N]; got {scores.shape} and {labels.shape}")
    if len(labels) == 0:
        raise ValueError("no items to score")
    if labels.min() < 0 or labels.max() >= scores.shape[1]:
        raise ValueError(f"labels must lie in [0, {scores.shape[1]}); got {labels.min()}..{labels.max()}")
    if not np.isfinite(scores).all():
        raise ValueError("scores contain NaN or inf")
