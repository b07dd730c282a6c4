"""The spatio-temporal action localization family: AVA v2.2, AVA-Kinetics, ChimpACT.

Reader (one sample per annotated keyframe, ground-truth person boxes, optional detector
proposals) -> token maps of the clip around each keyframe through the cache (one view; the
frame is resized whole to a square, ``resize='squash'``, so a normalised box means the same
region in the model input as in the annotation) -> the RoI head (:mod:`vpbench.adapters.roi`)
trained on ground-truth boxes of the training split -> per-box class probabilities on the
evaluation boxes -> the official AVA detection CSV
(``video_id,timestamp,x1,y1,x2,y2,action_id,score``, one row per box and class) plus a
ground-truth CSV of the evaluated keyframes -> frame-mAP@0.5 with the metric's convention.

Evaluation boxes (``adapter.eval_boxes``): ``proposals`` scores the person detections the user
supplies (``--user-file val_proposals=...``, those with a score >= ``proposal_score_threshold``);
without that file the ground-truth boxes are scored and the result says so, because such a
number is an upper bound that is not comparable to the paper's. ``ground_truth`` (ChimpACT, as
in the paper) always scores the ground-truth boxes. ``--option shuffle_train_labels=true``
permutes the training keyframes' box labels (the label-permutation control).
This module must never train on, or choose a setting with, evaluation-split labels.
"""

from __future__ import annotations

import numpy as np

from vpbench.adapters.roi import RoISpec, fit_roi, predict_roi, roi_spec
from vpbench.datasets.ava_common import timestamp_text
from vpbench.datasets.paths import annotation_path
from vpbench.errors import VpbenchError
from vpbench.families import RunContext
from vpbench.families.common import (RunLog, class_list_sha256, load_encoder, model_info, output_path, prepare_features,
                                     read_splits, sampling_spec, score_metrics, seed_everything, shuffle_requested,
                                     write_csv)
from vpbench.features.encode import token_grid
from vpbench.registry import TaskConfig
from vpbench.results import RunRecord

RESIZE = "squash"


def run(task: TaskConfig, context: RunContext) -> RunRecord:
    seed_everything(context.seed)
    log = RunLog(task, context)
    splits = read_splits(task, context, log)
    train, evaluation = splits["train"], splits["eval"]
    class_names = evaluation.class_names
    if not class_names or train.class_names != class_names:
        raise VpbenchError(f"{task.name}: the training and evaluation splits need one (non-empty) label map")
    class_ids = _class_ids(task, evaluation.samples + train.samples, len(class_names))
    spec = roi_spec(task.adapter, len(class_names), seed=context.seed, device=context.device)
    eval_box_source = _eval_box_source(task, context, spec, evaluation.name, log)

    model = load_encoder(context, log)
    clip_spec = sampling_spec(task, views=False, resize=RESIZE)
    train_features = prepare_features(log, context, task, model, train, clip_spec, name="train", view=0)
    eval_features = prepare_features(log, context, task, model, evaluation, clip_spec, name="eval", view=0)
    grid = token_grid(model, clip_spec)  # the encoder's own grid: its frames, sizes and tubelets
    load_train = _token_maps(train_features.table, grid)
    load_eval = _token_maps(eval_features.table, grid)

    index_of = {action: k for k, action in enumerate(class_ids)}
    train_boxes = [_boxes(s.boxes) for s in train_features.samples]
    train_labels = [_multi_hot(s.boxes, index_of, len(class_names)) for s in train_features.samples]
    if shuffle_requested(context):
        train_labels = _shuffle_box_labels(train_labels, context.seed)
        log.note("CONTROL RUN: training box labels were randomly permuted (--option shuffle_train_labels=true); "
                 "the score measures chance, not the encoder")
    eval_boxes = [_eval_boxes(s, eval_box_source, spec) for s in eval_features.samples]
    # Such keyframes are still scored: their ground-truth boxes count as missed.
    log.counts["eval_keyframes_without_boxes"] = sum(1 for b in eval_boxes if len(b) == 0)

    with log.stage("adapter"):
        fitted = fit_roi(spec, load_train, train_boxes, train_labels, train_features.table.item_shape[-1])
        probabilities = predict_roi(spec, fitted.head, load_eval, eval_boxes)
    log.counts["train_items"] = len(train_boxes)
    log.counts["train_boxes"] = int(sum(len(b) for b in train_boxes))
    log.counts["eval_boxes"] = int(sum(len(b) for b in eval_boxes))
    log.evaluated(len(eval_features.samples))

    variant = spec.variant + ("-shuffled-labels" if shuffle_requested(context) else "")
    predictions = write_csv(output_path(task, context, "detections.csv", variant=variant),
                            _detection_rows(eval_features.samples, eval_boxes, probabilities, class_ids))
    references = write_csv(output_path(task, context, "groundtruth.csv", variant=variant),
                           _groundtruth_rows(eval_features.samples, index_of))
    label_map = annotation_path(task, context.data_root / task.dataset["root"], "label_map")
    metric_scores, details = score_metrics(
        task, predictions, references, log, family="the stal family", scorable=("ava_frame_map",),
        options=lambda metric: {"label_map": label_map,
                                "convention": metric.get("options", {}).get("convention", "activitynet")})

    adapter = {**spec.record(), "variant": variant, "eval_boxes_used": eval_box_source,
               "selection": fitted.selection, "final_train_loss": fitted.final_loss}
    log.fingerprint.update({
        "frames": clip_spec.frames, "resolution": clip_spec.resolution, "sampling": dict(task.sampling),
        "views": {"temporal": 1, "spatial": 1, "resize": RESIZE}, "features": dict(task.features),
        "token_grid": list(grid),
        "class_subset": {"num_classes": len(class_names), "class_ids": list(class_ids),
                         "class_list_sha256": class_list_sha256(class_names)},
        "ava_convention": {"metric_convention": [m.get("options", {}).get("convention", "activitynet")
                                                 for m in task.metrics][0],
                           "eval_boxes": eval_box_source, "proposal_score_threshold": spec.proposal_score_threshold,
                           "iou": 0.5, "scored_keyframes": "the evaluated keyframes (ground truth written beside "
                                                           "the detections)"},
        "adapter": {"variant": adapter["variant"], "grid": adapter["grid"], "selected": fitted.selection["selected"],
                    "selection_rule": fitted.selection["rule"], "epochs": spec.loop.epochs},
        "shuffled_train_labels": shuffle_requested(context),
    })
    log.extra["predictions"] = {"detections": str(predictions), "groundtruth": str(references)}
    return log.record(metric_scores, adapter=adapter, model=model_info(model, context), metric=details)


def _class_ids(task: TaskConfig, samples, num_classes: int) -> tuple[int, ...]:
    """Action id of each class index, as the AVA readers record it (``meta['class_ids']``)."""
    for sample in samples:
        ids = sample.meta.get("class_ids")
        if ids is not None:
            if len(ids) != num_classes:
                raise VpbenchError(f"{task.name}: sample {sample.sample_id!r} lists {len(ids)} class ids for "
                                   f"{num_classes} classes")
            return tuple(int(i) for i in ids)
    raise VpbenchError(f"{task.name}: the reader recorded no meta['class_ids'] (class index -> action id)")


def _eval_box_source(task: TaskConfig, context: RunContext, spec: RoISpec, split: str, log: RunLog) -> str:
    if spec.eval_boxes == "ground_truth":
        log.note("evaluation scores the ground-truth boxes (adapter.eval_boxes: ground_truth), as the protocol says")
        return "ground_truth"
    key = f"{split}_proposals"
    if key in context.user_files:
        log.note(f"evaluation scores the person proposals of user file '{key}' with score >= "
                 f"{spec.proposal_score_threshold:g}")
        return "proposals"
    log.note(f"NOT COMPARABLE TO THE PAPER: no '{key}' user file, so evaluation scores the ground-truth boxes "
             f"instead of detector proposals (an upper bound); pass --user-file {key}=PATH")
    return "ground_truth_fallback"


def _token_maps(table, grid: tuple[int, int, int]):
    frames, rows, cols = grid
    length = frames * rows * cols
    if table.ids and table.item_shape[0] != length:
        raise VpbenchError(f"features hold {table.item_shape[0]} tokens per clip, but the model's token grid "
                           f"{grid} has {length}: the stal family needs features.layout 'tokens'")

    def load(indices):
        tokens = table(indices)
        return tokens.reshape(len(tokens), frames, rows, cols, tokens.shape[-1])

    return load


def _boxes(person_boxes) -> np.ndarray:
    return np.asarray([b.box_xyxy for b in person_boxes], dtype=np.float32).reshape(-1, 4)


def _multi_hot(person_boxes, index_of: dict[int, int], num_classes: int) -> np.ndarray:
    targets = np.zeros((len(person_boxes), num_classes), dtype=np.float32)
    for row, box in enumerate(person_boxes):
        for action in box.action_ids:
            targets[row, index_of[int(action)]] = 1.0
    return targets


def _shuffle_box_labels(labels: list[np.ndarray], seed: int) -> list[np.ndarray]:
    """Permute the label rows over all training boxes, keeping each keyframe's box count."""
    stacked = np.concatenate(labels)
    stacked = stacked[np.random.default_rng([seed, 31337]).permutation(len(stacked))]
    out, start = [], 0
    for item in labels:
        out.append(stacked[start:start + len(item)])
        start += len(item)
    return out


def _eval_boxes(sample, source: str, spec: RoISpec) -> np.ndarray:
    if source == "proposals":
        return _boxes([b for b in sample.proposals if (b.score or 0.0) >= spec.proposal_score_threshold])
    return _boxes(sample.boxes)


def _detection_rows(samples, boxes, probabilities, class_ids) -> list[list]:
    """The official AVA detection rows: one per (box, class), ``video_id,timestamp,x1,y1,x2,y2,action_id,score``."""
    rows = []
    for sample, item_boxes, probs in zip(samples, boxes, probabilities):
        stamp = timestamp_text(float(sample.meta["timestamp"]))
        for box, box_probs in zip(item_boxes, probs):
            coords = [format(float(v), ".6g") for v in box]
            rows.extend([sample.video_id, stamp, *coords, class_ids[k], format(float(p), ".6g")]
                        for k, p in enumerate(box_probs))
    return rows


def _groundtruth_rows(samples, index_of) -> list[list]:
    """Ground truth of the evaluated keyframes, one row per (box, action), in the official CSV format."""
    rows = []
    for sample in samples:
        stamp = timestamp_text(float(sample.meta["timestamp"]))
        for box in sample.boxes:
            coords = [repr(float(v)) for v in box.box_xyxy]
            rows.extend([sample.video_id, stamp, *coords, int(action)] for action in box.action_ids
                        if int(action) in index_of)
    return rows
