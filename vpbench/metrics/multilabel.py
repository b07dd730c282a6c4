"""Multi-label mAP in the Charades convention, in percent (Charades probe and zero-shot, science sets).

Follows the official ``Charades_v1_classify.m`` as ported to Python in gsig/charades-algorithms
(``pytorch/utils/map.py``: ``charades_map`` → ``map``):

- per-class AP is NON-interpolated: the mean, over the class's positives in descending score
  order, of the precision at each positive; no tie grouping, no precision envelope (so it is
  not sklearn's ``average_precision_score``, which merges tied scores into one step);
- videos with no label at all get score −inf in the official code, which puts them after
  every labelled video; they are removed here (identical result) and counted;
- a class with no positive among the evaluated videos makes the official mean NaN. vpbench
  leaves such classes out of the mean and reports how many (``num_classes_excluded``): on a
  small subset this changes the number, so it is always in the result.

Ties: the official sort (``np.argsort(-scores)``) leaves the order of tied scores to NumPy.
vpbench sorts stably, so tied videos keep their input order (as the Matlab original, whose
``sort`` is stable, does). On tie-free scores they all agree.

Two options, recorded in the result, give the other conventions users compare with:

- ``empty_classes="nan"``: the official behaviour: a class with no positive has AP NaN, and so
  has the mean (the Matlab ``mean(ap_all)``). The default ``"exclude"`` leaves it out and counts it.
- ``convention="slowfast"``: SlowFast's ``get_map`` (``slowfast/utils/meters.py``) and mmaction2's
  ``mean_average_precision``: per-class AP as scikit-learn's ``average_precision_score`` (tied
  scores form ONE step of the precision-recall curve: sum over distinct scores of
  ``(R_n - R_{n-1}) * P_n``), videos without any label KEPT as negatives of every class (they
  lower precision), classes without a positive dropped (``empty_classes`` may still say nan).

For the science datasets, ``classes`` restricts the mean to the behaviours of interest (the
background class is excluded by not listing it). This module never prints.
"""

from __future__ import annotations

import os
from typing import Sequence

import numpy as np

from vpbench.errors import PredictionFileError
from vpbench.metrics.files import match_ids, read_label_file, read_score_file


def charades_average_precision(scores: np.ndarray, positives: np.ndarray) -> float:
    """Non-interpolated AP of one class: mean precision at each positive (stable descending sort).

    Returns NaN for a class with no positive.
    """
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")
    hits = np.asarray(positives, dtype=bool)[order]
    num_positive = int(hits.sum())
    if num_positive == 0:
        return float("nan")
    precision_at_hit = np.cumsum(hits)[hits] / (np.flatnonzero(hits) + 1.0)
    return float(precision_at_hit.sum() / num_positive)


def sklearn_average_precision(scores: np.ndarray, positives: np.ndarray) -> float:
    """AP of one class as scikit-learn's ``average_precision_score`` defines it (SlowFast, mmaction2).

    Tied scores are one threshold: AP = sum over distinct scores, best first, of
    ``(recall_n - recall_{n-1}) * precision_n``. Returns NaN for a class with no positive.
    """
    scores = np.asarray(scores, dtype=np.float64)
    order = np.argsort(-scores, kind="stable")
    hits = np.asarray(positives, dtype=bool)[order]
    num_positive = int(hits.sum())
    if num_positive == 0:
        return float("nan")
    group_ends = np.r_[np.flatnonzero(np.diff(scores[order])), len(scores) - 1]  # last item of each tie group
    true_positives = np.cumsum(hits)[group_ends]
    precision = true_positives / (group_ends + 1.0)
    recall = true_positives / num_positive
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


CONVENTIONS = {
    "charades": "official Charades_v1_classify: non-interpolated AP, ties in input order, unlabelled videos "
                "ranked last (no effect)",
    "slowfast": "SlowFast get_map / mmaction2 mean_average_precision: scikit-learn AP (tied scores one step), "
                "unlabelled videos kept as negatives",
}
EMPTY_CLASSES = {
    "exclude": "classes without a positive left out of the mean (and counted)",
    "nan": "official: a class without a positive has AP NaN, so the mean is NaN",
}


def multilabel_map(scores: np.ndarray, labels: np.ndarray, classes: Sequence[int] | None = None,
                   exclude_classes: Sequence[int | str] = (), class_names: Sequence[str] | None = None,
                   convention: str = "charades", empty_classes: str = "exclude") -> dict:
    """Charades-style mAP (percent) of ``scores`` [N, C] vs ``labels`` [N, C] in {0, 1}.

    The mean runs over ``classes`` (default: all) minus ``exclude_classes`` (indices, or names
    looked up in ``class_names``: the science sets exclude their background class by name).
    ``convention`` and ``empty_classes`` choose among the conventions of the module docstring.

    The result also carries each evaluated class's AP (``per_class_ap``, percent, keyed by class
    index), the classes left out for having no positive, the videos left out for having no
    label, and the conventions used.
    """
    if convention not in CONVENTIONS or empty_classes not in EMPTY_CLASSES:
        raise ValueError(f"convention={convention!r}, empty_classes={empty_classes!r}: expected one of "
                         f"{sorted(CONVENTIONS)} and one of {sorted(EMPTY_CLASSES)}")
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels)
    if scores.shape != labels.shape or scores.ndim != 2:
        raise ValueError(f"scores and labels must both be [N, C]; got {scores.shape} and {labels.shape}")
    if not np.isfinite(scores).all():
        raise ValueError("scores contain NaN or inf")
    labels = labels > 0
    evaluated = list(range(scores.shape[1])) if classes is None else [int(k) for k in classes]
    excluded_by_choice = {class_index(k, class_names) for k in exclude_classes}
    evaluated = [k for k in evaluated if k not in excluded_by_choice]
    labelled = labels.any(axis=1)
    average_precision = charades_average_precision
    if convention == "charades":
        scores, labels = scores[labelled], labels[labelled]
    else:
        average_precision = sklearn_average_precision
    per_class = {k: average_precision(scores[:, k], labels[:, k]) for k in evaluated}
    kept = {k: ap for k, ap in per_class.items() if not np.isnan(ap)}
    excluded = [k for k, ap in per_class.items() if np.isnan(ap)]
    if not kept and empty_classes == "exclude":
        raise ValueError("no evaluated class has a positive example; mAP is undefined")
    mean = float("nan") if excluded and empty_classes == "nan" else float(np.mean(list(kept.values())))
    return {
        "mAP": 100.0 * mean,
        "num_classes_evaluated": len(kept),
        "num_classes_excluded": len(excluded),
        "classes_excluded": excluded,
        "num_videos": int(labelled.sum()) if convention == "charades" else int(len(labelled)),
        "num_videos_without_label": int((~labelled).sum()),
        "per_class_ap": {str(k): 100.0 * ap for k, ap in kept.items()},
        "convention": convention,
        "convention_detail": CONVENTIONS[convention],
        "empty_classes": empty_classes,
        "empty_classes_detail": EMPTY_CLASSES[empty_classes],
    }


def class_index(key: int | str, class_names: Sequence[str] | None) -> int:
    """A class given by index or by name (looked up in ``class_names``) as its index."""
    if isinstance(key, str) and not key.lstrip("-").isdigit():
        if class_names is None or key not in class_names:
            raise ValueError(f"class {key!r} to exclude is not among the class names {list(class_names or [])[:10]}")
        return list(class_names).index(key)
    return int(key)


def score_files(metric: str, predictions: str | os.PathLike, references: str | os.PathLike,
                classes: Sequence[int] | None = None, exclude_classes: Sequence[int | str] = (),
                convention: str = "charades", empty_classes: str = "exclude") -> dict:
    """Score a score file (e.g. a Charades submission) against a label file or the Charades CSV."""
    prediction_ids, scores, class_names = read_score_file(predictions)
    reference_ids, labels = read_label_file(references, scores.shape[1], class_names)
    order = match_ids(prediction_ids, reference_ids, predictions, references)
    label_matrix = np.zeros((len(reference_ids), scores.shape[1]), dtype=bool)
    for row, item_labels in enumerate(labels):
        label_matrix[row, item_labels] = True
    try:
        return multilabel_map(scores[order], label_matrix, classes, exclude_classes, class_names,
                              convention=convention, empty_classes=empty_classes)
    except ValueError as error:
        raise PredictionFileError(f"{predictions}: {error}") from None
