"""Macro F1 over the behaviours of interest: CalMS21 task 1's official metric, in percent.

CalMS21 (Sun et al., NeurIPS 2021 Datasets and Benchmarks) ranks task-1 entries by the F1 score
averaged over the behaviours attack, investigation and mount, EXCLUDING ``other``, with mAP
reported beside it (shared/reference/metrics.md §7). Conventions:

- each item (a frame, or a clip scored for its centre frame) gets ONE predicted class, the
  argmax of its scores over ALL classes, ``other`` included: predicting ``other`` is how a model
  says "none of the behaviours". On a tie the lowest class index wins (``np.argmax``, as the
  challenge baselines predict);
- per class ``k``: ``F1 = 2 TP / (2 TP + FP + FN)``, i.e. scikit-learn's ``f1_score(average=None)``;
- the mean runs over the evaluated classes (``classes``, minus ``exclude_classes``: the task
  excludes ``other`` by name). A class that occurs neither in the labels nor in the predictions
  has no F1; it is left out of the mean and counted (``classes_without_items``), as the
  multi-label mAP does with classes without a positive.

This module never reads files except in :func:`score_files`, and never prints.
"""

from __future__ import annotations

import os
from typing import Sequence

import numpy as np

from vpbench.errors import PredictionFileError
from vpbench.metrics.files import match_ids, read_label_file, read_score_file
from vpbench.metrics.multilabel import class_index


def macro_f1(scores: np.ndarray, labels: np.ndarray, classes: Sequence[int] | None = None,
             exclude_classes: Sequence[int | str] = (), class_names: Sequence[str] | None = None) -> dict:
    """Macro F1 (percent) of the argmax of ``scores`` [N, C] against single ``labels`` [N]."""
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    if scores.ndim != 2 or labels.shape != (len(scores),) or len(labels) == 0:
        raise ValueError(f"scores must be [N, C] and labels [N] with N > 0; got {scores.shape} and {labels.shape}")
    if labels.min() < 0 or labels.max() >= scores.shape[1]:
        raise ValueError(f"labels must lie in [0, {scores.shape[1]}); got {labels.min()}..{labels.max()}")
    if not np.isfinite(scores).all():
        raise ValueError("scores contain NaN or inf")
    excluded = {class_index(k, class_names) for k in exclude_classes}
    evaluated = [k for k in (range(scores.shape[1]) if classes is None else map(int, classes)) if k not in excluded]
    predicted = np.argmax(scores, axis=1)
    per_class, absent = {}, []
    for k in evaluated:
        true_positive = int(np.sum((predicted == k) & (labels == k)))
        false_positive = int(np.sum((predicted == k) & (labels != k)))
        false_negative = int(np.sum((predicted != k) & (labels == k)))
        denominator = 2 * true_positive + false_positive + false_negative
        if denominator == 0:
            absent.append(k)
            continue
        per_class[k] = 2 * true_positive / denominator
    if not per_class:
        raise ValueError("no evaluated class occurs in the labels or the predictions; macro F1 is undefined")
    return {
        "macro_F1": 100.0 * float(np.mean(list(per_class.values()))),
        "per_class_f1": {str(k): 100.0 * f1 for k, f1 in per_class.items()},
        "num_classes_evaluated": len(per_class),
        "classes_without_items": absent,
        "classes_excluded": sorted(excluded),
        "num_items": int(len(labels)),
        "convention": "argmax over all classes, per-class F1 = 2TP/(2TP+FP+FN), mean over the evaluated classes",
    }


def score_files(metric: str, predictions: str | os.PathLike, references: str | os.PathLike,
                classes: Sequence[int] | None = None, exclude_classes: Sequence[int | str] = ()) -> dict:
    """Score a per-item score file against an ``id,label`` file (one label per item)."""
    prediction_ids, scores, class_names = read_score_file(predictions)
    reference_ids, labels = read_label_file(references, scores.shape[1], class_names)
    for item, item_labels in zip(reference_ids, labels):
        if len(item_labels) != 1:
            raise PredictionFileError(f"{references}: id {item!r} has {len(item_labels)} labels; {metric} needs "
                                      "exactly one per item (a frame's behaviour)")
    order = match_ids(prediction_ids, reference_ids, predictions, references)
    try:
        return macro_f1(scores[order], np.array([item[0] for item in labels], dtype=np.int64), classes,
                        exclude_classes, class_names)
    except ValueError as error:
        raise PredictionFileError(f"{predictions}: {error}") from None
