"""The temporal action localization family: ActivityNet v1.3 detection on frozen per-snippet features.

Reader (one sample per video: duration, labelled segments) -> every video cut into
``sampling.snippets`` equal spans, each span a short clip (``sampling.frames`` frames spread over
it) encoded to one global feature (``features.layout: global``) through the cache -> a ``[S, D]``
sequence per video -> the temporal head (:mod:`vpbench.adapters.temporal`) trained on the
training split -> detections decoded with soft-NMS -> the official ActivityNet detection JSON
(``{"version", "results": {video: [{"label", "score", "segment"}]}, "external_data"}``) plus the
ground truth of the evaluated videos in the ``activity_net.v1-3.min.json`` layout -> mAP at tIoU
0.5:0.05:0.95 with the official evaluator's convention.

Spans come from the annotation's ``duration``; a downloaded file is often a little shorter, so a
snippet that starts past the file's end cannot be decoded: it takes the features of the nearest
earlier snippet of the same video (counted as ``snippets_filled``); a video with no decodable
snippet is skipped. ``--option shuffle_train_labels=true`` permutes whole training videos'
annotations (the label-permutation control). This module never uses evaluation labels to train.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from vpbench.adapters.temporal import fit_temporal, predict_temporal, temporal_spec
from vpbench.atomic import atomic_write_json
from vpbench.errors import VpbenchError
from vpbench.families import RunContext
from vpbench.families.common import (LoadedSplit, RunLog, class_list_sha256, extract, load_encoder, model_info,
                                     output_path, read_splits, sampling_spec, score_metrics, seed_everything,
                                     shuffle_requested)
from vpbench.registry import TaskConfig
from vpbench.results import RunRecord


def run(task: TaskConfig, context: RunContext) -> RunRecord:
    seed_everything(context.seed)
    log = RunLog(task, context)
    splits = read_splits(task, context, log)
    class_names = splits["eval"].class_names or splits["train"].class_names
    if not class_names or (splits["train"].class_names and splits["train"].class_names != class_names):
        raise VpbenchError(f"{task.name}: the reader must give one non-empty class list for both splits")
    snippets = task.sampling.get("snippets")
    if not isinstance(snippets, int) or snippets < 1:
        raise VpbenchError(f"{task.source}: the tal family needs 'sampling.snippets' (a positive integer)")
    spec = temporal_spec(task.adapter, len(class_names), snippets, seed=context.seed, device=context.device)
    layout = task.features.get("layout", "global")
    if layout != "global":
        raise VpbenchError(f"{task.source}: the tal family needs features.layout 'global' (one vector per "
                           f"snippet), not {layout!r}")

    model = load_encoder(context, log)
    clip_spec = sampling_spec(task, views=False)
    train_videos, train_features = _snippet_features(log, context, task, model, splits["train"], clip_spec, snippets)
    eval_videos, eval_features = _snippet_features(log, context, task, model, splits["eval"], clip_spec, snippets)
    if not train_videos or not eval_videos:
        raise VpbenchError(f"{task.name}: no video of the {'training' if not train_videos else 'evaluation'} split "
                           f"has features (see the skipped counts)")

    segments = [_normalised_segments(v) for v in train_videos]
    if shuffle_requested(context):
        order = np.random.default_rng([context.seed, 31337]).permutation(len(segments))
        segments = [segments[i] for i in order]  # times are fractions of a video, so they move as they are
        log.note("CONTROL RUN: training videos' annotations were randomly permuted "
                 "(--option shuffle_train_labels=true); the score measures chance, not the encoder")

    with log.stage("adapter"):
        fitted = fit_temporal(spec, _loader(train_features), segments, train_features.shape[-1])
        detections = predict_temporal(spec, fitted.head, _loader(eval_features),
                                      [float(v.duration_s) for v in eval_videos])
    log.counts["train_items"] = len(train_videos)
    log.counts["train_segments"] = int(sum(len(s) for s in segments))
    log.evaluated(len(eval_videos))

    variant = spec.variant + ("-shuffled-labels" if shuffle_requested(context) else "")
    predictions = atomic_write_json(output_path(task, context, "detections.json", variant=variant),
                                    _detection_json(eval_videos, detections, class_names))
    references = atomic_write_json(output_path(task, context, "groundtruth.json", variant=variant),
                                   _groundtruth_json(eval_videos, class_names, splits["eval"].name))
    metric_scores, details = score_metrics(task, predictions, references, log, family="the tal family",
                                           scorable=("activitynet_tal",),
                                           options=lambda metric: {"subset": splits["eval"].name})

    adapter = {**spec.record(), "variant": variant, "selection": fitted.selection,
               "final_train_loss": fitted.final_loss}
    log.fingerprint.update({
        "frames": clip_spec.frames, "resolution": clip_spec.resolution, "snippets": snippets,
        "sampling": dict(task.sampling), "views": {"temporal": 1, "spatial": 1}, "features": dict(task.features),
        "class_subset": {"num_classes": len(class_names), "class_list_sha256": class_list_sha256(class_names)},
        "adapter": {"variant": adapter["variant"], "grid": adapter["grid"], "selected": fitted.selection["selected"],
                    "selection_rule": fitted.selection["rule"], "epochs": spec.loop.epochs, "nms": adapter["nms"]},
        "shuffled_train_labels": shuffle_requested(context),
    })
    log.extra["predictions"] = {"detections": str(predictions), "groundtruth": str(references)}
    return log.record(metric_scores, adapter=adapter, model=model_info(model, context), metric=details)


def _snippet_features(log: RunLog, context: RunContext, task: TaskConfig, model: Any, loaded: LoadedSplit,
                      clip_spec: Any, snippets: int) -> tuple[list, np.ndarray]:
    """Videos that have features, and their ``[N, S, D]`` snippet features (storage dtype, in memory)."""
    from vpbench.features import WorkItem

    videos = []
    for sample in loaded.samples:
        if sample.duration_s is None or not sample.duration_s > 0:
            log.skip(loaded.role, "no_duration")
            continue
        videos.append(sample)
    items = [WorkItem(item_id=_snippet_id(loaded.role, v.sample_id, k), path=str(v.video_path),
                      clip_span_s=(v.duration_s * k / snippets, v.duration_s * (k + 1) / snippets),
                      fps=v.meta.get("fps"))
             for v in videos for k in range(snippets)]
    result = extract(log, context, task, model, items, clip_spec, name=loaded.role, role=f"{loaded.role}_snippets")
    from tqdm.auto import tqdm

    kept, arrays, filled = [], [], 0
    for video in tqdm(videos, desc=f"{loaded.role} snippet sequences", unit="video", leave=False,
                      disable=len(videos) < 100):
        ids = [_snippet_id(loaded.role, video.sample_id, k) for k in range(snippets)]
        present = [i in result.features for i in ids]
        if not any(present):
            log.skip(loaded.role, "no_decodable_snippet")
            continue
        # A snippet without features takes the previous snippet's; leading ones the first decodable one's.
        last = next(np.asarray(result.features[i])[0] for i, ok in zip(ids, present) if ok)
        rows = []
        for snippet_id, ok in zip(ids, present):
            if ok:
                last = np.asarray(result.features[snippet_id])[0]
            else:
                filled += 1
            rows.append(last)
        kept.append(video)
        arrays.append(np.stack(rows))
    log.counts["snippets_filled"] = log.counts.get("snippets_filled", 0) + filled
    if filled:
        log.note(f"{loaded.role}: {filled} snippet(s) could not be decoded (past the end of a shorter file?) and "
                 f"reuse the previous snippet's features")
    if not arrays:
        return [], np.zeros((0, snippets, 0), dtype=np.float32)
    return kept, np.stack(arrays)


def _snippet_id(role: str, sample_id: str, k: int) -> str:
    return f"{role}/{sample_id}#snippet{k:04d}"


def _loader(features: np.ndarray):
    import torch

    def load(indices):
        return torch.from_numpy(np.asarray(features[list(indices)], dtype=np.float32))

    return load


def _normalised_segments(video) -> list[tuple[float, float, int]]:
    duration = float(video.duration_s)
    out = []
    for segment in video.segments:
        if segment.label is None:
            continue
        start = min(max(segment.start_s / duration, 0.0), 1.0)
        end = min(max(segment.end_s / duration, 0.0), 1.0)
        if end > start:
            out.append((start, end, int(segment.label)))
    return out


def _detection_json(videos, detections, class_names) -> dict:
    """The official ActivityNet detection results, keyed by the annotation's video id."""
    results = {video.video_id: [{"label": class_names[label], "score": round(score, 6),
                                 "segment": [round(start, 3), round(end, 3)]}
                                for start, end, label, score in found]
               for video, found in zip(videos, detections)}
    payload = {"version": "VERSION 1.3", "results": results,
               "external_data": {"used": False,
                                 "details": "frozen VideoPrism snippet features + vpbench temporal head"}}
    return payload


def _groundtruth_json(videos, class_names, subset: str) -> dict:
    """The evaluated videos' ground truth in the ``activity_net.v1-3.min.json`` layout."""
    database = {video.video_id: {"subset": subset, "duration": float(video.duration_s),
                                 "annotations": [{"segment": [float(s.start_s), float(s.end_s)],
                                                  "label": class_names[s.label]}
                                                 for s in video.segments if s.label is not None]}
                for video in videos}
    return {"version": "VERSION 1.3", "database": database}
