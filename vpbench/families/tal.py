"""The temporal action localization family: ActivityNet v1.3 detection as VideoGLUE runs it.

Reader (one sample per video: duration, labelled segments) -> every video cut into consecutive,
non-overlapping snippets of ``sampling.frames`` frames at ``sampling.fps`` (VideoGLUE: 16 frames
at 15 fps, one feature per 16/15 s), each encoded to one global feature through the cache -> the
snippet sequence rescaled to ``sampling.temporal_scale`` positions -> G-TAD
(:mod:`vpbench.adapters.temporal`) trained on the training split -> class-agnostic proposals ->
fused with video-level class scores -> the official ActivityNet detection JSON plus the ground
truth of the evaluated videos -> mAP at tIoU 0.5:0.05:0.95 with the official evaluator's convention.

Video-level class scores (``adapter.video_scores``): ``user_file`` (the default, the paper's
pipeline) reads the user file ``video_scores`` (CUHK's ``cuhk_val_simp_share.json`` or one like
it); a run without it stops and says how to get it or how to run the named variant
``own-classifier`` instead, whose classifier (``adapter.video_classifier``, a probe on the
mean of a video's snippet features) vpbench trains on the training split. An evaluated video
the file has no scores for gets no detection (counted as ``no_video_scores``).

Times: the snippets of a video cover ``ceil(duration / snippet) * snippet`` seconds (the last one
runs past the end and repeats the last frame); G-TAD works in fractions of that span, which map
back to seconds clipped to the duration. A snippet starting past the end of a file shorter than
its annotated duration takes the previous snippet's features (``snippets_filled``); a video with
no decodable snippet is skipped. ``--option shuffle_train_labels=true`` permutes whole training
videos' annotations (the label-permutation control). This module never trains on evaluation labels.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

import numpy as np
import torch

from vpbench.adapters.classification import fit_probe, predict_probe, probe_spec
from vpbench.adapters.temporal import (TemporalSpec, fit_temporal, fuse_classes, predict_proposals, rescale_snippets,
                                       temporal_spec)
from vpbench.atomic import atomic_write_json
from vpbench.datasets.activitynet_json import read_video_scores
from vpbench.errors import VpbenchError
from vpbench.families import RunContext
from vpbench.families.common import (LoadedSplit, RunLog, class_list_sha256, extract, load_encoder, model_info,
                                     output_path, read_splits, sampling_spec, score_metrics, seed_everything,
                                     shuffle_requested)
from vpbench.registry import TaskConfig
from vpbench.results import RunRecord

SCORES_FILE = "video_scores"
"""The user-file key of the video-level classifier scores."""


def run(task: TaskConfig, context: RunContext) -> RunRecord:
    seed_everything(context.seed)
    log = RunLog(task, context)
    geometry = _geometry(task)
    splits = read_splits(task, context, log)
    class_names = splits["eval"].class_names or splits["train"].class_names
    if not class_names or (splits["train"].class_names and splits["train"].class_names != class_names):
        raise VpbenchError(f"{task.name}: the reader must give one non-empty class list for both splits")
    spec = temporal_spec(task.adapter, len(class_names), geometry["temporal_scale"], seed=context.seed,
                         device=context.device)
    if spec.video_scores == "user_file" and SCORES_FILE not in context.user_files:
        raise VpbenchError(
            f"{task.name}: the paper's pipeline fuses G-TAD's proposals with video-level classifier scores; pass "
            f"--user-file {SCORES_FILE}=PATH (CUHK's cuhk_val_simp_share.json, shipped in the G-TAD, BMN and "
            f"ActionFormer repositories as data/cuhk_val_simp_share.json), or run the named variant "
            f"`--variant own-classifier` (vpbench trains the video classifier; not comparable to the paper)")
    if task.features.get("layout", "global") != "global":
        raise VpbenchError(f"{task.source}: the tal family needs features.layout 'global' (one vector per snippet)")

    model = load_encoder(context, log)
    clip_spec = sampling_spec(task, views=False)
    train_videos, train_features = _snippet_features(log, context, task, model, splits["train"], clip_spec, geometry)
    eval_videos, eval_features = _snippet_features(log, context, task, model, splits["eval"], clip_spec, geometry)
    if not train_videos or not eval_videos:
        raise VpbenchError(f"{task.name}: no video of the {'training' if not train_videos else 'evaluation'} split "
                           f"has features (see the skipped counts)")

    segments = [_fractions(video, geometry) for video in train_videos]
    if shuffle_requested(context):
        order = np.random.default_rng([context.seed, 31337]).permutation(len(segments))
        segments = [segments[i] for i in order]  # times are fractions of a video, so they move as they are
        log.note("CONTROL RUN: training videos' annotations were randomly permuted "
                 "(--option shuffle_train_labels=true); the score measures chance, not the encoder")

    with log.stage("adapter"):
        fitted = fit_temporal(spec, _loader(train_features), [[(s, e) for s, e, _ in v] for v in segments],
                              train_features.shape[-1])
        proposals = predict_proposals(spec, fitted.head, _loader(eval_features), len(eval_videos))
        class_scores, classifier = _video_class_scores(spec, context, log, class_names, train_features, segments,
                                                       eval_features, eval_videos)
    detections = []
    for video, found, scores in zip(eval_videos, proposals, class_scores):
        if scores is None:
            detections.append([])
            continue
        span = _covered_s(video, geometry)
        detections.append([(min(max(s, 0.0), 1.0) * span, min(min(e, 1.0) * span, float(video.duration_s)), label,
                            score) for s, e, label, score in fuse_classes(found, scores, spec.top_classes)])
    log.counts["train_items"] = len(train_videos)
    log.counts["train_segments"] = int(sum(len(s) for s in segments))
    log.evaluated(len(eval_videos))

    variant = spec.variant + ("-shuffled-labels" if shuffle_requested(context) else "")
    predictions = atomic_write_json(output_path(task, context, "detections.json", variant=variant),
                                    _detection_json(eval_videos, detections, class_names, spec))
    references = atomic_write_json(output_path(task, context, "groundtruth.json", variant=variant),
                                   _groundtruth_json(eval_videos, class_names, splits["eval"].name))
    metric_scores, details = score_metrics(task, predictions, references, log, family="the tal family",
                                           scorable=("activitynet_tal",),
                                           options=lambda metric: {"subset": splits["eval"].name})

    adapter = {**spec.record(), "variant": variant, "selection": fitted.selection,
               "final_train_loss": fitted.final_loss, "video_classifier": classifier}
    log.fingerprint.update({
        "frames": clip_spec.frames, "resolution": clip_spec.resolution, "snippet_s": geometry["snippet_s"],
        "temporal_scale": geometry["temporal_scale"], "sampling": dict(task.sampling),
        "views": {"temporal": 1, "spatial": 1}, "features": dict(task.features),
        "class_subset": {"num_classes": len(class_names), "class_list_sha256": class_list_sha256(class_names)},
        "adapter": {"variant": adapter["variant"], "grid": adapter["grid"], "selected": fitted.selection["selected"],
                    "selection_rule": fitted.selection["rule"], "epochs": spec.loop.epochs,
                    "post_processing": adapter["post_processing"], "fusion": adapter["fusion"],
                    "video_classifier": classifier},
        "shuffled_train_labels": shuffle_requested(context),
    })
    log.extra["predictions"] = {"detections": str(predictions), "groundtruth": str(references)}
    return log.record(metric_scores, adapter=adapter, model=model_info(model, context), metric=details)


def _geometry(task: TaskConfig) -> dict[str, Any]:
    """Snippet length (``frames / fps`` s, consecutive) and G-TAD's temporal scale, from ``sampling``."""
    sampling = task.sampling
    if sampling.get("policy") != "fps" or not isinstance(sampling.get("fps"), (int, float)) or sampling["fps"] <= 0:
        raise VpbenchError(f"{task.source}: the tal family needs sampling.policy 'fps' and a positive sampling.fps "
                           f"(VideoGLUE: 16 frames at 15 fps per snippet)")
    scale = sampling.get("temporal_scale")
    if not isinstance(scale, int) or isinstance(scale, bool) or scale < 2:
        raise VpbenchError(f"{task.source}: the tal family needs 'sampling.temporal_scale' (an integer >= 2; "
                           f"G-TAD: 100)")
    return {"snippet_s": int(sampling["frames"]) / float(sampling["fps"]), "temporal_scale": scale}


def _snippet_count(duration_s: float, geometry: dict[str, Any]) -> int:
    return max(1, math.ceil(duration_s / geometry["snippet_s"] - 1e-9))


def _covered_s(video, geometry: dict[str, Any]) -> float:
    return _snippet_count(float(video.duration_s), geometry) * geometry["snippet_s"]


def _snippet_features(log: RunLog, context: RunContext, task: TaskConfig, model: Any, loaded: LoadedSplit,
                      clip_spec: Any, geometry: dict[str, Any]) -> tuple[list, np.ndarray]:
    """Videos that have features, and their snippet features rescaled to ``[N, T, D]`` (storage dtype)."""
    from vpbench.features import WorkItem

    videos = []
    for sample in loaded.samples:
        if sample.duration_s is None or not sample.duration_s > 0:
            log.skip(loaded.role, "no_duration")
            continue
        videos.append(sample)
    length = geometry["snippet_s"]
    counts = [_snippet_count(float(v.duration_s), geometry) for v in videos]
    items = [WorkItem(item_id=_snippet_id(loaded.role, v.sample_id, k), path=str(v.video_path),
                      clip_span_s=(k * length, (k + 1) * length), fps=v.meta.get("fps"))
             for v, count in zip(videos, counts) for k in range(count)]
    result = extract(log, context, task, model, items, clip_spec, name=loaded.role, role=f"{loaded.role}_snippets")
    from tqdm.auto import tqdm

    kept, arrays, filled = [], [], 0
    for video, count in tqdm(list(zip(videos, counts)), desc=f"{loaded.role} snippet sequences", unit="video",
                             leave=False, disable=len(videos) < 100):
        ids = [_snippet_id(loaded.role, video.sample_id, k) for k in range(count)]
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
        sequence = torch.from_numpy(np.stack(rows).astype(np.float32))
        kept.append(video)
        arrays.append(rescale_snippets(sequence, geometry["temporal_scale"]).numpy().astype(rows[0].dtype))
    log.counts["snippets_filled"] = log.counts.get("snippets_filled", 0) + filled
    if filled:
        log.note(f"{loaded.role}: {filled} snippet(s) could not be decoded (past the end of a shorter file?) and "
                 f"reuse the previous snippet's features")
    if not arrays:
        return [], np.zeros((0, geometry["temporal_scale"], 0), dtype=np.float32)
    return kept, np.stack(arrays)


def _snippet_id(role: str, sample_id: str, k: int) -> str:
    return f"{role}/{sample_id}#snippet{k:04d}"


def _loader(features: np.ndarray):
    def load(indices):
        return torch.from_numpy(np.asarray(features[list(indices)], dtype=np.float32))

    return load


def _fractions(video, geometry: dict[str, Any]) -> list[tuple[float, float, int]]:
    """The video's labelled segments as (start, end, class) fractions of the span its snippets cover."""
    span = _covered_s(video, geometry)
    out = []
    for segment in video.segments:
        if segment.label is None:
            continue
        start = min(max(segment.start_s / span, 0.0), 1.0)
        end = min(max(segment.end_s / span, 0.0), 1.0)
        if end > start:
            out.append((start, end, int(segment.label)))
    return out


def _video_class_scores(spec: TemporalSpec, context: RunContext, log: RunLog, class_names: list[str],
                        train_features: np.ndarray, segments: list, eval_features: np.ndarray, eval_videos: list
                        ) -> tuple[list[np.ndarray | None], dict[str, Any]]:
    """Per evaluated video its class scores (None: the user file has none), and how they were obtained."""
    if spec.video_scores == "user_file":
        path = context.user_files[SCORES_FILE]
        table = read_video_scores(path, class_names)
        scores = [table.get(video.video_id) for video in eval_videos]
        absent = sum(s is None for s in scores)
        log.skip("eval", "no_video_scores", absent)
        if absent:
            log.note(f"{absent} evaluated video(s) have no scores in user file '{SCORES_FILE}': no detections for "
                     f"them (their ground truth still counts)")
        return scores, {"source": f"user file '{SCORES_FILE}'", "file": path.name,
                        "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
    probe = probe_spec(spec.video_classifier, len(class_names), seed=context.seed, device=context.device,
                       where="adapter.video_classifier")
    labels = [tuple(sorted({label for _, _, label in video})) for video in segments]
    load_train = _loader(train_features)
    fitted = fit_probe(probe, lambda items, _views: load_train(items), labels, train_features.shape[-1])
    load_eval = _loader(eval_features)
    probabilities = predict_probe(probe, fitted.head, lambda idx: load_eval(idx).unsqueeze(1), len(eval_videos))
    return list(probabilities), {"source": "vpbench-trained video classifier (variant own-classifier)",
                                 **probe.record(), "selection": fitted.selection}


def _detection_json(videos, detections, class_names, spec: TemporalSpec) -> dict:
    """The official ActivityNet detection results, keyed by the annotation's video id."""
    results = {video.video_id: [{"label": class_names[label], "score": round(score, 6),
                                 "segment": [round(start, 3), round(end, 3)]}
                                for start, end, label, score in found]
               for video, found in zip(videos, detections)}
    classifier = ("the user's video-level classifier scores" if spec.video_scores == "user_file"
                  else "a video classifier trained on the same frozen features")
    return {"version": "VERSION 1.3", "results": results,
            "external_data": {"used": spec.video_scores == "user_file",
                              "details": f"frozen encoder snippet features + G-TAD proposals fused with {classifier}"}}


def _groundtruth_json(videos, class_names, subset: str) -> dict:
    """The evaluated videos' ground truth in the ``activity_net.v1-3.min.json`` layout."""
    database = {video.video_id: {"subset": subset, "duration": float(video.duration_s),
                                 "annotations": [{"segment": [float(s.start_s), float(s.end_s)],
                                                  "label": class_names[s.label]}
                                                 for s in video.segments if s.label is not None]}
                for video in videos}
    return {"version": "VERSION 1.3", "database": database}
