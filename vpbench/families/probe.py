"""The frozen-probe family: VideoGLUE classification (K400, MiT, SSv2, Diving48, Charades) and the science sets.

Reader -> features (training split: ``sampling.train_views`` augmented views per video, or one
centred view; evaluation split: every temporal x spatial view) through the cache -> a MAP (or
linear) head trained on the training split (one augmented view per video per epoch), its setting
chosen on a held-out part of that split when there is a grid -> per-view probabilities averaged
-> a score file and a reference file written in the output folder -> the benchmark's metric on
those two files (the same code ``vpbench score`` runs) -> a RunRecord.

Single-label tasks score top-1/top-5 (and macro accuracy, KABR); multi-label tasks (Charades,
the science sets; ``adapter.multilabel``) score the Charades-convention mAP, over the classes the
metric keeps (``options.exclude_classes`` removes e.g. the background behaviour).

``--option shuffle_train_labels=true`` permutes the training labels (seeded) before training:
the label-permutation control. Its score should sit at chance; the result says it was run.
Training mode (:mod:`vpbench.families.train_mode`): when the cache a run needs is above the feature
budget, or with ``--train-mode streaming``, nothing is cached: views are decoded, augmented and
encoded as the head trains (a fresh view per video per epoch) and as it predicts
(:mod:`vpbench.families.streaming`). Both modes hand the adapter the same thing (:class:`_TrainingData`).

This module must never train on, or choose a setting with, evaluation-split labels.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Callable

import numpy as np

from vpbench.adapters.classification import ProbeSpec, fit_probe, predict_probe, probe_spec
from vpbench.errors import VpbenchError
from vpbench.families import RunContext, streaming, train_mode, train_views
from vpbench.families.common import (LoadedSplit, RunLog, class_list_sha256, load_encoder, model_info, output_path,
                                     prepare_features, read_splits, sampling_spec, score_metrics,
                                     seed_everything, shuffle_requested, write_csv)
from vpbench.registry import TaskConfig
from vpbench.results import RunRecord


def run(task: TaskConfig, context: RunContext) -> RunRecord:
    seed_everything(context.seed)
    log = RunLog(task, context)
    splits = read_splits(task, context, log)
    class_names = _class_names(task, splits)
    spec = probe_spec(task.adapter, len(class_names), seed=context.seed, device=context.device)
    train = _labelled(splits["train"], spec, log)
    evaluation = _labelled(splits["eval"], spec, log)

    model = load_encoder(context, log)
    mode = train_mode.choose(context.train_mode, train_mode.estimate_cache(
        task, {"train": len(train.samples), "eval": len(evaluation.samples)}, model.card), context.feature_budget)
    log.extra["train_mode"] = mode.record()
    log.note(f"training mode {mode.mode}: {mode.reason}")
    if mode.streaming:
        spec = replace(spec, loop=replace(spec.loop, distributed=True))
        data = _streamed(log, context, task, model, train, evaluation, spec)
    else:
        data = _cached(log, context, task, model, train, evaluation, spec)
    labels = [_target(s, spec) for s in data.train_samples]
    if shuffle_requested(context):
        labels = [labels[i] for i in np.random.default_rng([context.seed, 31337]).permutation(len(labels))]
        log.note("CONTROL RUN: training labels were randomly permuted (--option shuffle_train_labels=true); "
                 "the score measures chance, not the encoder")

    with log.stage("adapter"):
        fitted = fit_probe(spec, data.load_train, labels, data.dim, views=data.views, holdout_views=data.holdout_views)
        eval_samples, scores = data.predict(fitted.head)
    log.counts["train_items"] = len(labels)
    log.counts["train_views"] = data.views
    log.evaluated(len(eval_samples))

    variant = spec.variant + ("-shuffled-labels" if shuffle_requested(context) else "")
    predictions, references = _write_files(task, context, variant, class_names, eval_samples, scores,
                                           spec.multilabel)
    metric_scores, details = score_metrics(task, predictions, references, log, family="a probe",
                                           scorable=("classification", "multilabel_map", "macro_f1"),
                                           options=lambda metric: _metric_options(metric, class_names, log))

    adapter = {**spec.record(), "variant": variant, "selection": fitted.selection,
               "final_train_loss": fitted.final_loss, "train_mode": mode.mode}
    log.fingerprint.update(_fingerprint(task, spec, class_names, adapter, context, data.record))
    log.extra["predictions"] = {"scores": str(predictions), "references": str(references)}
    return log.record(metric_scores, adapter=adapter, model=model_info(model, context), metric=details)


@dataclass
class _TrainingData:
    """What the adapter trains on and how it predicts, the same for cached and streamed features."""

    train_samples: list
    load_train: Callable[[list[int], list[int]], Any]
    views: int  # training views each item cycles through, one per epoch (ViewSchedule)
    holdout_views: int  # views a held-out item is scored on when choosing a grid point
    dim: int
    predict: Callable[[Any], tuple[list, np.ndarray]]  # head -> (evaluated samples, scores [N, C])
    record: dict[str, Any]  # the training views, for the fingerprint


def _cached(log: RunLog, context: RunContext, task: TaskConfig, model: Any, train: LoadedSplit,
            evaluation: LoadedSplit, spec: ProbeSpec) -> _TrainingData:
    """Features of every training and evaluation view through the cache (today's path)."""
    views = train_views.view_count(task)
    if views:
        train_views.note_cached_views(log, views, spec.loop.epochs)
        train_features = train_views.prepare_train_views(log, context, task, model, train, views)
    else:
        train_features = prepare_features(log, context, task, model, train, sampling_spec(task, views=False),
                                          name="train", view=0)
    eval_features = prepare_features(log, context, task, model, evaluation, sampling_spec(task), name="eval",
                                     view=None)
    if not len(train_features.table) or not len(eval_features.table):
        which = "training" if not len(train_features.table) else "evaluation"
        raise VpbenchError(f"{task.name}: no features for the {which} split (every video was skipped; see the "
                           f"skipped counts)")
    table = eval_features.table
    return _TrainingData(
        train_samples=train_features.samples, load_train=train_views.view_loader(train_features.table, max(views, 1)),
        views=max(views, 1), holdout_views=max(views, 1), dim=train_features.table.item_shape[-1],
        predict=lambda head: (eval_features.samples, predict_probe(spec, head, table, len(table))),
        record=train_views.record(task, views))


def _streamed(log: RunLog, context: RunContext, task: TaskConfig, model: Any, train: LoadedSplit,
              evaluation: LoadedSplit, spec: ProbeSpec) -> _TrainingData:
    """Views decoded, augmented and encoded as the head trains and predicts (:mod:`vpbench.families.streaming`)."""
    from vpbench.features.encode import ClipEncoder, decode_spec

    augmented = bool(train_views.view_count(task))
    train_spec = decode_spec(model, train_views.training_spec(task) if augmented else sampling_spec(task, views=False))
    eval_spec = decode_spec(model, sampling_spec(task))
    encoder = ClipEncoder(model, task.features.get("layout", "tokens"), "float32", train_spec.frames)
    with log.stage("decode_check"):
        samples, failed = streaming.decodable(train.samples, train_spec, augmented=augmented,
                                              workers=context.workers)
    _skip_failed(log, "train", failed)
    if not samples:
        raise VpbenchError(f"{task.name}: no training video could be decoded (see the skipped counts)")
    loader = streaming.StreamingViews(samples, train_spec, encoder, augmented=augmented,
                                      batch_size=context.batch_size, workers=context.workers)
    log.extra["train_mode"]["encoder_autocast"] = "bfloat16" if encoder.device.type == "cuda" else None
    views = spec.loop.epochs if augmented else 1

    def predict(head) -> tuple[list, np.ndarray]:
        kept, scores, failures, stats = streaming.predict(spec, head, evaluation.samples, eval_spec, encoder,
                                                          batch_size=context.batch_size, workers=context.workers)
        _skip_failed(log, "eval", failures)
        log.counts["streamed"] = {"train_clips": loader.stats.clips, "train_video_bytes": loader.stats.video_bytes,
                                  "eval_items": len(kept), "eval_video_bytes": stats.video_bytes}
        if not kept:
            raise VpbenchError(f"{task.name}: no evaluation video could be decoded (see the skipped counts)")
        return kept, scores

    return _TrainingData(train_samples=samples, load_train=loader, views=views, holdout_views=1,
                         dim=model.card.embed_dim, predict=predict, record=streaming.record(task, views))


def _skip_failed(log: RunLog, role: str, failed: list) -> None:
    """Count videos a streaming run could not decode, by reason, as a cached run counts them."""
    reasons: dict[str, list] = {}
    for sample, failure in failed:
        reasons.setdefault(failure.reason, []).append({"item": sample.sample_id, "detail": failure.detail})
    for reason, items in reasons.items():
        log.skip(role, f"video_{reason}", len(items), items)


def _class_names(task: TaskConfig, splits: dict[str, LoadedSplit]) -> list[str]:
    train, evaluation = splits["train"].class_names, splits["eval"].class_names
    if train and evaluation and train != evaluation:
        raise VpbenchError(f"{task.name}: the reader gave different class lists for split '{splits['train'].name}' "
                           f"({len(train)} classes) and '{splits['eval'].name}' ({len(evaluation)} classes); "
                           f"a probe needs one class index space")
    names = evaluation or train
    if not names:
        raise VpbenchError(f"{task.name}: the reader gave no class names; a probe needs the class list")
    return list(names)


def _labelled(loaded: LoadedSplit, spec: ProbeSpec, log: RunLog) -> LoadedSplit:
    """Single-label splits keep only samples with a label (others are counted as skipped)."""
    if spec.multilabel:
        return loaded
    kept = [s for s in loaded.samples if s.label is not None]
    log.skip(loaded.role, "no_label", len(loaded.samples) - len(kept))
    if not kept:
        raise VpbenchError(f"split '{loaded.name}' has no labelled sample")
    return LoadedSplit(loaded.role, loaded.name, loaded.split, kept, loaded.total, loaded.without_video,
                       loaded.limited)


def _target(sample, spec: ProbeSpec):
    return tuple(sample.labels) if spec.multilabel else int(sample.label)


def _write_files(task: TaskConfig, context: RunContext, variant: str, class_names: list[str], samples,
                 scores: np.ndarray, multilabel: bool):
    """The score file (``id,<class names>``) and the reference file (``id,label`` / ``id,labels``)."""
    predictions = write_csv(output_path(task, context, "scores.csv", variant=variant),
                            [[s.sample_id, *(format(float(v), ".9g") for v in row)] for s, row in zip(samples, scores)],
                            header=["id", *class_names])
    if multilabel:
        rows = [[s.sample_id, ";".join(str(k) for k in s.labels)] for s in samples]
        header = ["id", "labels"]
    else:
        rows = [[s.sample_id, str(s.label)] for s in samples]
        header = ["id", "label"]
    references = write_csv(output_path(task, context, "references.csv", variant=variant), rows, header=header)
    return predictions, references


def _metric_options(metric: dict[str, Any], class_names: list[str], log: RunLog) -> dict:
    """The scorer options of a probe metric; ``exclude_classes`` names become the kept class indices."""
    options = dict(metric.get("options", {}))
    if metric["name"] == "classification":
        return {"classes": options.get("classes", "present")}
    excluded = list(options.get("exclude_classes", []))  # multilabel_map or macro_f1
    for name in excluded:
        if name not in class_names:
            log.note(f"metric option exclude_classes names '{name}', which is not a class of this dataset: "
                     f"nothing to exclude for it")
    conventions = {key: options[key] for key in ("convention", "empty_classes") if key in options}  # multilabel_map
    return {"classes": [k for k, name in enumerate(class_names) if name not in excluded], **conventions}


def _fingerprint(task: TaskConfig, spec: ProbeSpec, class_names: list[str], adapter: dict[str, Any],
                 context: RunContext, train_record: dict[str, Any]) -> dict[str, Any]:
    sampling = task.sampling
    excluded = sorted({c for m in task.metrics for c in m.get("options", {}).get("exclude_classes", [])
                       if c in class_names})
    return {
        "frames": sampling["frames"],
        "resolution": sampling["resolution"],
        "sampling": dict(sampling),
        "views": {"temporal": sampling["temporal_views"], "spatial": sampling["spatial_views"],
                  "train": train_record, "fusion": adapter["view_fusion"]},
        "features": dict(task.features),
        "class_subset": {"num_classes": len(class_names), "class_list_sha256": class_list_sha256(class_names),
                         "metric_excludes": excluded},
        "adapter": {"variant": adapter["variant"], "grid": adapter["grid"],
                    "selected": adapter["selection"]["selected"], "selection_rule": adapter["selection"]["rule"],
                    "multilabel": spec.multilabel, "class_balanced": spec.class_balanced, "epochs": spec.loop.epochs},
        "shuffled_train_labels": shuffle_requested(context),
    }
