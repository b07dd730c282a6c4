"""AVA-style frame-mAP@0.5 IoU for spatio-temporal action detection (AVA, AVA-Kinetics, ChimpACT), in percent.

Two conventions exist and give different numbers on the same files, so both are implemented
and the result records which one ran (``convention``):

``"activitynet"`` (default): the official ActivityNet evaluator, ``Evaluation/get_ava_performance.py``
    with its TF Object Detection API Pascal evaluator (activitynet/ActivityNet@82304fa):
    only classes of the label map (the 60-class ``.pbtxt``) are read; per frame only the 50
    best-scoring detections (all classes together) are kept; detections on frames that the
    ground truth does not list are ignored; detections are matched per frame in descending
    score order.
``"slowfast"``: SlowFast's ``ava_eval_helper.py`` (also mmaction2's): no per-frame cap;
    detections on frames without ground truth count as false positives; detections are
    matched in file order.

Shared by both, as in the TF Pascal evaluator: a detection whose box is empty (x1 >= x2 or
y1 >= y2) is dropped; each detection takes the ground-truth box of its class in its frame
with the highest IoU (no +1 in areas); if that box is already matched the detection is a false
positive even when another free box overlaps it by >= 0.5; IoU >= 0.5 is a true positive.
Per-class AP is the VOC all-point AP (area under the precision envelope); a class without
ground truth is left out of the mean (NaN in the official ``nanmean``); a class with ground
truth and no detection scores 0. Excluded timestamps, when given, are removed from both sides
(the official script takes no such file, but its ground truth has no rows there and it ignores
detections on frames without ground truth, so on the official files this changes nothing).

Ties: the official evaluator orders tied scores by NumPy's unstable ``argsort``. vpbench makes
it deterministic: inside a frame, tied detections are matched in file order; in each class's
precision-recall curve, tied detections come in order of their frame's first appearance in the
detection file, then file order. On tie-free scores both give the official numbers. The
per-frame cap reproduces the official heap exactly, ties at the 50th place included.

Everything is vectorised over boxes so a val-sized file (57k frames, millions of rows) takes
seconds. This module never prints.
"""

from __future__ import annotations

import heapq
import os
from typing import Literal

import numpy as np

from vpbench.errors import PredictionFileError
from vpbench.metrics.ava_io import BoxTable, line_of_row, read_boxes, read_excluded, read_label_map

Convention = Literal["activitynet", "slowfast"]
CONVENTIONS: tuple[str, ...] = ("activitynet", "slowfast")
DETECTIONS_PER_FRAME = 50  # the official script's cap (read_csv(..., capacity=50))


def frame_map(groundtruth: BoxTable, detections: BoxTable, label_map: dict[int, str],
              convention: Convention = "activitynet", excluded: set[str] | frozenset[str] = frozenset(),
              iou_threshold: float = 0.5) -> dict:
    """Frame-mAP (percent) of ``detections`` against ``groundtruth`` over the classes of ``label_map``."""
    if convention not in CONVENTIONS:
        raise ValueError(f"convention must be one of {CONVENTIONS}, not {convention!r}")
    _check_class_ids(detections, label_map)
    _check_class_ids(groundtruth, label_map)
    class_ids = np.array(sorted(label_map), dtype=np.int64)
    counts: dict[str, int] = {}

    gt_frames = {key: index for index, key in enumerate(groundtruth.frames) if key not in excluded}
    gt_keep = np.isin(groundtruth.action, class_ids) & np.array(
        [key in gt_frames for key in groundtruth.frames], dtype=bool)[groundtruth.frame]
    gt_frame = groundtruth.frame[gt_keep]
    gt_boxes = groundtruth.boxes[gt_keep]
    gt_action = groundtruth.action[gt_keep]

    # Detections: map each frame to the ground truth's frame index (-1: frame without ground truth).
    det_to_gt_frame = np.array([gt_frames.get(key, -1) for key in detections.frames], dtype=np.int64)
    det_excluded = np.array([key in excluded for key in detections.frames], dtype=bool)
    keep = ~det_excluded[detections.frame]
    counts["num_detections_on_excluded_frames"] = int((~keep).sum())
    in_map = np.isin(detections.action, class_ids)
    counts["num_detections_outside_label_map"] = int((keep & ~in_map).sum())
    keep &= in_map
    without_gt = det_to_gt_frame[detections.frame] < 0
    counts["num_detections_on_frames_without_gt"] = int((keep & without_gt).sum())
    if convention == "activitynet":
        keep &= ~without_gt
    index = np.flatnonzero(keep)
    if convention == "activitynet":
        index = _cap_per_frame(detections, index, DETECTIONS_PER_FRAME)
        counts["num_detections_over_frame_cap"] = int(keep.sum() - len(index))
    boxes = detections.boxes[index]
    valid = (boxes[:, 0] < boxes[:, 2]) & (boxes[:, 1] < boxes[:, 3])
    counts["num_detections_with_empty_box"] = int((~valid).sum())
    index = index[valid]

    det_frame = det_to_gt_frame[detections.frame[index]]
    det_action = detections.action[index]
    det_score = detections.score[index]
    # Matching order inside a frame: by descending score (official) or file order (SlowFast); the
    # file row breaks ties. Rows of detections are unique, so this is a strict order.
    det_row = detections.row[index]
    matching_rank = np.lexsort((det_row, -det_score)) if convention == "activitynet" else np.argsort(det_row)
    rank_of = np.empty(len(index), dtype=np.int64)
    rank_of[matching_rank] = np.arange(len(index))
    is_tp = _match(det_frame, det_action, detections.boxes[index], rank_of,
                   gt_frame, gt_action, gt_boxes, iou_threshold)

    # AP curve order: descending score, ties by the frame's first appearance then file row.
    curve_order = np.lexsort((det_row, detections.frame[index], -det_score, det_action))
    per_class: dict[int, float] = {}
    num_gt = np.bincount(np.searchsorted(class_ids, gt_action), minlength=len(class_ids))
    sorted_action = det_action[curve_order]
    bounds = np.searchsorted(sorted_action, class_ids, side="left"), np.searchsorted(sorted_action, class_ids, side="right")
    for k, class_id in enumerate(class_ids):
        if num_gt[k] == 0:
            continue
        hits = is_tp[curve_order[bounds[0][k]:bounds[1][k]]]
        per_class[int(class_id)] = voc_average_precision(hits, int(num_gt[k]))
    if not per_class:
        raise PredictionFileError(f"{groundtruth.path}: no ground-truth box of a label-map class")
    return {
        "frame_mAP_iou_0.5": 100.0 * float(np.mean(list(per_class.values()))),
        "convention": convention,
        "per_class_ap": {label_map[k]: 100.0 * ap for k, ap in per_class.items()},
        "num_classes_evaluated": len(per_class),
        "classes_without_gt": [label_map[int(k)] for k, n in zip(class_ids, num_gt) if n == 0],
        "num_gt_boxes": int(len(gt_action)),
        "num_gt_frames": len(gt_frames),
        "num_detections_scored": int(len(index)),
        "num_true_positives": int(is_tp.sum()),
        **counts,
    }


def voc_average_precision(hits_in_score_order: np.ndarray, num_gt: int) -> float:
    """VOC all-point AP: recall steps weighted by the precision envelope (max precision to the right).

    Same as ``metrics.compute_average_precision`` of the TF evaluator and ActivityNet's
    ``interpolated_prec_rec``: recall only rises at a true positive, by 1/num_gt, so the area
    is the sum of the envelope at the true positives divided by num_gt.
    """
    hits = np.asarray(hits_in_score_order, dtype=bool)
    if num_gt <= 0:
        return float("nan")
    if len(hits) == 0:
        return 0.0
    precision = np.cumsum(hits) / np.arange(1, len(hits) + 1)
    envelope = np.maximum.accumulate(precision[::-1])[::-1]
    return float(envelope[hits].sum() / num_gt)


def _match(det_frame, det_action, det_boxes, det_rank, gt_frame, gt_action, gt_boxes, threshold) -> np.ndarray:
    """True-positive flag per detection under the evaluator's greedy rule, without a Python loop.

    Each detection's target is its best-IoU ground truth box of the same frame and class (first
    in file order on equal IoU). Because a detection whose target is taken is a false positive
    (it never falls back to another box), the earliest-ranked detection of each target with
    IoU >= threshold is the true positive, and every other one is false.
    """
    num_det = len(det_frame)
    is_tp = np.zeros(num_det, dtype=bool)
    if num_det == 0 or len(gt_frame) == 0:
        return is_tp
    num_codes = int(max(det_action.max(initial=0), gt_action.max(initial=0))) + 1
    gt_code = gt_frame * num_codes + gt_action
    gt_order = np.argsort(gt_code, kind="stable")
    sorted_code = gt_code[gt_order]
    det_code = det_frame * num_codes + det_action
    start = np.searchsorted(sorted_code, det_code, side="left")
    count = np.searchsorted(sorted_code, det_code, side="right") - start
    has_gt = count > 0
    pair_det = np.repeat(np.arange(num_det), count)
    offsets = np.arange(len(pair_det)) - np.repeat(np.cumsum(count) - count, count)
    pair_gt = gt_order[np.repeat(start, count) + offsets]
    iou = _iou(det_boxes[pair_det], gt_boxes[pair_gt])
    first_pair = (np.cumsum(count) - count)[has_gt]
    best_iou = np.maximum.reduceat(iou, first_pair)
    is_best = iou == np.repeat(best_iou, count[has_gt])
    position = np.where(is_best, np.arange(len(iou)), len(iou))
    best_pair = np.minimum.reduceat(position, first_pair)
    candidates = np.flatnonzero(has_gt)[best_iou >= threshold]
    target = pair_gt[best_pair[best_iou >= threshold]]
    order = np.lexsort((det_rank[candidates], target))
    first_of_target = np.ones(len(order), dtype=bool)
    first_of_target[1:] = target[order][1:] != target[order][:-1]
    is_tp[candidates[order][first_of_target]] = True
    return is_tp


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise IoU of boxes ``x1, y1, x2, y2`` (areas without the +1 of pixel conventions)."""
    width = np.clip(np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0]), 0, None)
    height = np.clip(np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1]), 0, None)
    intersection = width * height
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    with np.errstate(invalid="ignore", divide="ignore"):
        return intersection / (area_a + area_b - intersection)


def _cap_per_frame(detections: BoxTable, index: np.ndarray, cap: int) -> np.ndarray:
    """The rows the official reader keeps: per frame, a min-heap of ``cap`` entries fed in file order.

    A new row enters a full heap only if its score beats the heap's smallest score, and then
    evicts the smallest (score, action, y1, x1, y2, x2) tuple. Without a tie at the cut this is
    simply the ``cap`` best scores, computed vectorised; frames with a tie at the cut replay
    the heap.
    """
    frame = detections.frame[index]
    order = np.lexsort((-detections.score[index], frame))
    sorted_frame = frame[order]
    starts = np.flatnonzero(np.r_[True, sorted_frame[1:] != sorted_frame[:-1]])
    sizes = np.diff(np.r_[starts, len(order)])
    position = np.arange(len(order)) - np.repeat(starts, sizes)
    keep_sorted = position < cap
    scores_sorted = detections.score[index][order]
    over = np.flatnonzero(sizes > cap)
    tie_at_cut = scores_sorted[starts[over] + cap - 1] == scores_sorted[starts[over] + cap]
    for start, size in zip(starts[over[tie_at_cut]], sizes[over[tie_at_cut]]):
        rows = index[np.sort(order[start:start + size])]
        kept = set(_replay_heap(detections, rows, cap))
        keep_sorted[start:start + size] = [row in kept for row in index[order[start:start + size]]]
    return np.sort(index[order[keep_sorted]])


def _replay_heap(detections: BoxTable, rows: np.ndarray, cap: int) -> list[int]:
    heap: list[tuple] = []
    for row in rows:
        x1, y1, x2, y2 = detections.boxes[row]
        entry = (detections.score[row], detections.action[row], y1, x1, y2, x2, row)
        if len(heap) < cap:
            heapq.heappush(heap, entry)
        elif entry[0] > heap[0][0]:
            heapq.heapreplace(heap, entry)
    return [entry[-1] for entry in heap]


def _check_class_ids(table: BoxTable, label_map: dict[int, str]) -> None:
    """Ids outside 1..max(label map) are unknown (an error); ids inside but unlisted are dropped, as officially."""
    largest = max(label_map)
    unknown = (table.action < 1) | (table.action > largest)
    if unknown.any():
        k = int(np.argmax(unknown))
        raise PredictionFileError(
            f"{table.path}: line {line_of_row(table.path, int(table.row[k]))}: action_id {int(table.action[k])} "
            f"is not a class id of the label map (1..{largest})")


def score_files(metric: str, predictions: str | os.PathLike, references: str | os.PathLike,
                label_map: str | os.PathLike | None = None, excluded: str | os.PathLike | None = None,
                convention: Convention = "activitynet") -> dict:
    """Score an official-format detection CSV against a ground-truth CSV with a ``.pbtxt`` label map."""
    if label_map is None:
        raise PredictionFileError(
            "AVA frame-mAP needs the label map: pass --label-map ava_action_list_v2.2_for_activitynet_2019.pbtxt")
    labels = read_label_map(label_map)
    groundtruth = read_boxes(references, "groundtruth")
    detections = read_boxes(predictions, "detections")
    excluded_keys = read_excluded(excluded) if excluded is not None else frozenset()
    return frame_map(groundtruth, detections, labels, convention, excluded_keys)
