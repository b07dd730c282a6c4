"""ActivityNet v1.3 temporal action localization mAP at tIoU 0.5:0.05:0.95, in percent.

Follows the official ``Evaluation/eval_detection.py`` (activitynet/ActivityNet@82304fa,
``ANETdetection`` and ``compute_average_precision_detection``):

- classes are the labels that occur in the ground truth of the evaluated subset
  (``validation``); the mAP at each threshold is the plain mean over those classes, and the
  headline ``avg_mAP_iou_0.5_0.95`` is the mean over the ten thresholds
  ``np.linspace(0.5, 0.95, 10)``;
- per class, predictions are taken in descending score; at each threshold a prediction tries
  the ground-truth segments of its video from the highest tIoU down, takes the first one not
  yet matched (unlike AVA, it falls back to the next segment), and is a false positive once
  the tIoU drops below the threshold; a prediction on a video without ground truth of its
  class is a false positive;
- AP is the VOC all-point interpolated AP (``utils.interpolated_prec_rec``); a class with no
  prediction scores 0.

Deviations, all documented in the result: the official script asks a web server for
"blocked videos" (the server is gone; vpbench blocks none, as ``check_status=False`` does);
a prediction whose label is not among the ground-truth classes crashes the official script
with a KeyError: vpbench drops it and counts it if the label is a known class of the ground
truth file (another subset) and raises otherwise; a segment with zero union (both of length 0
at one point) has tIoU 0 rather than NaN.

Ties (equal scores, or a prediction with equal tIoU to two segments) are taken later entry
first: that is what the official ``argsort()[::-1]`` does whenever NumPy's sort is stable,
which it is on short arrays; vpbench makes it the rule for every length. This module never prints.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from vpbench.errors import PredictionFileError
from vpbench.metrics.ava import voc_average_precision
from vpbench.metrics.files import read_json

TIOU_THRESHOLDS = np.linspace(0.5, 0.95, 10)


@dataclass
class Segments:
    """Temporal segments with their video and class (and a score, for predictions), in file order."""

    video: np.ndarray  # int64 index into a video list shared by ground truth and predictions
    label: np.ndarray  # int64 class index
    start: np.ndarray  # float64 seconds
    end: np.ndarray
    score: np.ndarray | None = None


def segment_iou(start: float, end: float, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """tIoU of one segment with many: intersection / union of the intervals (0 where the union is 0)."""
    intersection = np.clip(np.minimum(end, ends) - np.maximum(start, starts), 0, None)
    union = (ends - starts) + (end - start) - intersection
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, intersection / np.where(union > 0, union, 1.0), 0.0)


def detection_ap(groundtruth: Segments, predictions: Segments,
                 thresholds: np.ndarray = TIOU_THRESHOLDS) -> np.ndarray:
    """AP [num_thresholds] of one class (all segments given belong to it)."""
    ap = np.zeros(len(thresholds))
    if len(predictions.video) == 0 or len(groundtruth.video) == 0:
        return ap
    order = _descending(predictions.score)
    gt_by_video: dict[int, np.ndarray] = {}
    for gt_index, video in enumerate(groundtruth.video):
        gt_by_video.setdefault(int(video), []).append(gt_index)
    gt_by_video = {video: np.asarray(indices) for video, indices in gt_by_video.items()}
    taken = np.zeros((len(thresholds), len(groundtruth.video)), dtype=bool)
    tp = np.zeros((len(thresholds), len(order)), dtype=bool)
    for position, p in enumerate(order):
        candidates = gt_by_video.get(int(predictions.video[p]))
        if candidates is None:
            continue
        tiou = segment_iou(predictions.start[p], predictions.end[p],
                           groundtruth.start[candidates], groundtruth.end[candidates])
        by_tiou = _descending(tiou)
        for t, threshold in enumerate(thresholds):
            for j in by_tiou:
                if tiou[j] < threshold:
                    break
                if not taken[t, candidates[j]]:
                    taken[t, candidates[j]] = True
                    tp[t, position] = True
                    break
    for t in range(len(thresholds)):
        ap[t] = voc_average_precision(tp[t], len(groundtruth.video))
    return ap


def _descending(values: np.ndarray) -> np.ndarray:
    """Indices by descending value, ties LATER entry first: the official ``argsort()[::-1]`` whenever
    NumPy's sort is stable (it is on short arrays), made deterministic for all lengths."""
    return np.argsort(values, kind="stable")[::-1]


def tal_map(groundtruth: Segments, predictions: Segments, class_names: list[str],
            thresholds: np.ndarray = TIOU_THRESHOLDS) -> dict:
    """mAP (percent) per threshold and averaged, over the classes present in ``groundtruth``."""
    classes = np.unique(groundtruth.label)
    ap = np.zeros((len(thresholds), len(classes)))
    for k, label in enumerate(classes):
        gt_mask, pred_mask = groundtruth.label == label, predictions.label == label
        ap[:, k] = detection_ap(_subset(groundtruth, gt_mask), _subset(predictions, pred_mask), thresholds)
    map_per_threshold = ap.mean(axis=1)
    result = {"avg_mAP_iou_0.5_0.95": 100.0 * float(map_per_threshold.mean())}
    for threshold, value in zip(thresholds, map_per_threshold):
        result[f"mAP@{threshold:g}"] = 100.0 * float(value)  # mAP@0.5, mAP@0.55, ..., mAP@0.95
    result.update({
        "per_class_avg_ap": {class_names[int(label)]: 100.0 * float(ap[:, k].mean()) for k, label in enumerate(classes)},
        "num_classes": int(len(classes)),
        "num_gt_segments": int(len(groundtruth.video)),
        "num_predictions": int(len(predictions.video)),
        "convention": "activitynet eval_detection.py (VOC all-point AP; no blocked videos)",
    })
    return result


def _subset(segments: Segments, mask: np.ndarray) -> Segments:
    return Segments(segments.video[mask], segments.label[mask], segments.start[mask], segments.end[mask],
                    None if segments.score is None else segments.score[mask])


def read_activitynet_files(predictions: str | os.PathLike, references: str | os.PathLike,
                           subset: str = "validation") -> tuple[Segments, Segments, list[str], dict]:
    """Parse the official detection JSON and ``activity_net.v1-3.min.json`` (``subset`` only)."""
    truth = read_json(references)
    if not isinstance(truth, dict) or not isinstance(truth.get("database"), dict):
        raise PredictionFileError(f"{references}: expected a JSON object with a 'database' object (activity_net.v1-3.min.json)")
    videos: dict[str, int] = {}
    class_index: dict[str, int] = {}
    all_labels: set[str] = set()
    gt_rows = []
    for video_id, entry in truth["database"].items():
        annotations = entry.get("annotations", []) if isinstance(entry, dict) else None
        if annotations is None or not isinstance(annotations, list):
            raise PredictionFileError(f"{references}: database[{video_id!r}] has no 'annotations' list")
        for n, annotation in enumerate(annotations):
            where = f"{references}: database[{video_id!r}].annotations[{n}]"
            label = annotation.get("label") if isinstance(annotation, dict) else None
            if not isinstance(label, str):
                raise PredictionFileError(f"{where}: expected a 'label' string")
            all_labels.add(label)
            if entry.get("subset") != subset:
                continue
            start, end = _segment(annotation.get("segment"), where)
            gt_rows.append((videos.setdefault(video_id, len(videos)), class_index.setdefault(label, len(class_index)), start, end))
    if not gt_rows:
        raise PredictionFileError(f"{references}: no annotated video in subset {subset!r}")
    result = read_json(predictions)
    if not isinstance(result, dict) or not isinstance(result.get("results"), dict):
        raise PredictionFileError(f"{predictions}: expected a JSON object with a 'results' object "
                                  '({"version": ..., "results": {video: [...]}, "external_data": ...})')
    pred_rows = []
    dropped = 0
    for video_id, items in result["results"].items():
        if not isinstance(items, list):
            raise PredictionFileError(f"{predictions}: results[{video_id!r}] is not a list")
        for n, item in enumerate(items):
            where = f"{predictions}: results[{video_id!r}][{n}]"
            if not isinstance(item, dict) or not {"label", "score", "segment"} <= item.keys():
                raise PredictionFileError(f"{where}: expected an object with 'label', 'score' and 'segment'")
            label = item["label"]
            if label not in class_index:
                if label in all_labels:
                    dropped += 1
                    continue
                raise PredictionFileError(f"{where}: label {label!r} is not a class of {references}")
            score = item["score"]
            if isinstance(score, bool) or not isinstance(score, (int, float)) or not np.isfinite(score):
                raise PredictionFileError(f"{where}: score {score!r} is not a finite number")
            start, end = _segment(item["segment"], where)
            pred_rows.append((videos.setdefault(video_id, len(videos)), class_index[label], start, end, float(score)))
    gt = np.array(gt_rows, dtype=np.float64).reshape(-1, 4)
    pred = np.array(pred_rows, dtype=np.float64).reshape(-1, 5)
    num_gt_videos = len({row[0] for row in gt_rows})
    groundtruth = Segments(gt[:, 0].astype(np.int64), gt[:, 1].astype(np.int64), gt[:, 2], gt[:, 3])
    prediction_segments = Segments(pred[:, 0].astype(np.int64), pred[:, 1].astype(np.int64), pred[:, 2], pred[:, 3], pred[:, 4])
    names = [None] * len(class_index)
    for label, index in class_index.items():
        names[index] = label
    counts = {
        "num_predictions_with_label_outside_subset": dropped,
        "num_predictions_on_videos_without_gt": int((prediction_segments.video >= num_gt_videos).sum()),
        "subset": subset,
    }
    return groundtruth, prediction_segments, names, counts


def _segment(segment, where: str) -> tuple[float, float]:
    if (not isinstance(segment, (list, tuple)) or len(segment) != 2
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v) for v in segment)):
        raise PredictionFileError(f"{where}: segment {segment!r} is not [start, end] in seconds")
    start, end = float(segment[0]), float(segment[1])
    if end < start:
        raise PredictionFileError(f"{where}: segment {segment!r} ends before it starts")
    return start, end


def score_files(metric: str, predictions: str | os.PathLike, references: str | os.PathLike,
                subset: str = "validation") -> dict:
    """Score an official ActivityNet detection JSON against the official ground-truth JSON."""
    groundtruth, prediction_segments, names, counts = read_activitynet_files(predictions, references, subset)
    result = tal_map(groundtruth, prediction_segments, names)
    result.update(counts)
    return result
