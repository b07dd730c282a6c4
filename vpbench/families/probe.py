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

``--option memory_budget=8G`` (default 2G) bounds the memory of each feature table and of evaluation:
a table that fits is held in memory, a training table that does not is read from a sharded store
(``--option feature_store``), and eval views go through the head in batches sized to it, never as
one tensor of all views. Scores do not depend on it.

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

from vpbench.adapters.classification import (DEFAULT_MEMORY_BUDGET, ProbeSpec, fit_probe, predict_probe,
                                             probe_spec)
from vpbench.errors import VpbenchError
from vpbench.families import RunContext, streaming, train_mode, train_views
from vpbench.families.common import (LoadedSplit, Prepared, RunLog, class_list_sha256, load_encoder, model_info,
                                     output_path, prepare_features, read_splits, record_decoder, sampling_spec,
                                     score_metrics, seed_everything, shuffle_requested, write_csv)
from vpbench.features.layouts import COMPACT_DEVIATION, check_head_layout, compact_deviation_text
from vpbench.features.store import StoreTable
from vpbench.registry import TaskConfig
from vpbench.results import RunRecord
from vpbench.video import decoder_versions


def run(task: TaskConfig, context: RunContext) -> RunRecord:
    seed_everything(context.seed)
    log = RunLog(task, context)
    splits = read_splits(task, context, log)
    class_names = _class_names(task, splits)
    spec = probe_spec(task.adapter, len(class_names), seed=context.seed, device=context.device)
    _check_layout(task, spec, log)
    train = _labelled(splits["train"], spec, log)
    evaluation = _labelled(splits["eval"], spec, log)

    budget = memory_budget(context)
    model = load_encoder(context, log)
    mode = train_mode.choose(context.train_mode, train_mode.estimate_cache(
        task, {"train": len(train.samples), "eval": len(evaluation.samples)}, model.card), context.feature_budget)
    log.extra["train_mode"] = mode.record()
    log.note(f"training mode {mode.mode}: {mode.reason}")
    if mode.streaming:
        spec = replace(spec, loop=replace(spec.loop, distributed=True))
        data = _streamed(log, context, task, model, train, evaluation, spec)
    else:
        data = _cached(log, context, task, model, train, evaluation, spec, budget)
    labels = [_target(s, spec) for s in data.train_samples]
    if shuffle_requested(context):
        labels = [labels[i] for i in np.random.default_rng([context.seed, 31337]).permutation(len(labels))]
        log.note("CONTROL RUN: training labels were randomly permuted (--option shuffle_train_labels=true); "
                 "the score measures chance, not the encoder")

    with log.stage("adapter"):
        fitted = fit_probe(spec, data.load_train, labels, data.dim, views=data.views, holdout_views=data.holdout_views,
                           memory_bytes=budget, order=None if data.store is None else store_order(data.store, data.views))
        eval_samples, scores = data.predict(fitted.head)
    if data.store is not None:
        log.extra["train_feature_store"] = data.store.read_record()
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
               "final_train_loss": fitted.final_loss, "train_mode": mode.mode,
               "train_order": TRAIN_ORDER if data.store is None else data.store.order_record()}
    log.fingerprint.update(_fingerprint(task, spec, class_names, adapter, context, data.record))
    if data.store is not None:  # the order changes the trained head (runs held in memory keep their fingerprint)
        log.fingerprint["adapter"]["train_order"] = adapter["train_order"]
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
    store: StoreTable | None = None  # cached training rows read from a sharded store, in its epoch order


def _cached(log: RunLog, context: RunContext, task: TaskConfig, model: Any, train: LoadedSplit,
            evaluation: LoadedSplit, spec: ProbeSpec, budget: int) -> _TrainingData:
    """Features of every training and evaluation view through the cache; training rows from a
    sharded store when they do not fit ``budget`` bytes of memory."""
    views = train_views.view_count(task)
    if views:
        train_views.note_cached_views(log, views, spec.loop.epochs)
        train_features = train_views.prepare_train_views(log, context, task, model, train, views,
                                                         memory_bytes=budget)
    else:
        train_features = prepare_features(log, context, task, model, train, sampling_spec(task, views=False),
                                          name="train", view=0, memory_bytes=budget)
    eval_features = prepare_features(log, context, task, model, evaluation, sampling_spec(task), name="eval",
                                     view=None, memory_bytes=budget)
    if not len(train_features.table) or not len(eval_features.table):
        which = "training" if not len(train_features.table) else "evaluation"
        raise VpbenchError(f"{task.name}: no features for the {which} split (every video was skipped; see the "
                           f"skipped counts)")
    table = eval_features.table
    train_table = _train_table(log, context, task, train_features, max(views, 1), spec.loop.seed, budget,
                               spec.loop.batch_size)
    return _TrainingData(
        train_samples=train_features.samples, load_train=train_views.view_loader(train_table, max(views, 1)),
        views=max(views, 1), holdout_views=max(views, 1), dim=train_table.item_shape[-1],
        predict=lambda head: (eval_features.samples, predict_probe(spec, head, table, len(table),
                                                                   memory_bytes=budget)),
        record=train_views.record(task, views),
        store=train_table if isinstance(train_table, StoreTable) else None)


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
                                              workers=context.workers, decoder=context.decoder)
    _skip_failed(log, "train", failed)
    if not samples:
        raise VpbenchError(f"{task.name}: no training video could be decoded (see the skipped counts)")
    loader = streaming.StreamingViews(samples, train_spec, encoder, augmented=augmented,
                                      batch_size=context.batch_size, workers=context.workers,
                                      decoder=context.decoder)
    record_decoder(log, context.decoder, decoder_versions(context.decoder))
    log.extra["train_mode"]["encoder_autocast"] = "bfloat16" if encoder.device.type == "cuda" else None
    views = spec.loop.epochs if augmented else 1

    def predict(head) -> tuple[list, np.ndarray]:
        kept, scores, failures, stats = streaming.predict(spec, head, evaluation.samples, eval_spec, encoder,
                                                          batch_size=context.batch_size, workers=context.workers,
                                                          decoder=context.decoder)
        _skip_failed(log, "eval", failures)
        trained = loader.stats.total()  # all ranks
        log.counts["streamed"] = {"train_clips": trained.clips, "train_video_bytes": trained.video_bytes,
                                  "eval_items": len(kept), "eval_video_bytes": stats.video_bytes}
        if not kept:
            raise VpbenchError(f"{task.name}: no evaluation video could be decoded (see the skipped counts)")
        return kept, scores

    return _TrainingData(train_samples=samples, load_train=loader, views=views, holdout_views=1,
                         dim=model.card.embed_dim, predict=predict, record=streaming.record(task, views))


MEMORY_OPTION = "memory_budget"
STORE_OPTION = "feature_store"
STORE_CHOICES = ("auto", "sharded", "cache")
TRAIN_ORDER = "a seeded random permutation of the training items every epoch"


def memory_budget(context: RunContext) -> int:
    """``--option memory_budget=SIZE`` (``500M``, ``8G``) in bytes: the memory a feature table may
    hold, and evaluation may use."""
    from vpbench.commands.cache import parse_size

    text = context.options.get(MEMORY_OPTION)
    if text is None:
        return DEFAULT_MEMORY_BUDGET
    try:
        return parse_size(str(text))
    except VpbenchError:
        raise VpbenchError(f"--option {MEMORY_OPTION}={text!r}: expected a size such as 500M or 8G") from None


def _check_layout(task: TaskConfig, spec: ProbeSpec, log: RunLog) -> None:
    """A compact layout the head cannot take is an error; one that changes what the head sees is a
    deviation (the ``frame-pooled`` variant declares it; a layout set another way records it here)."""
    layout = task.features.get("layout", "tokens")
    if check_head_layout(spec.head_type, layout, f"{task.source}"):
        return
    if COMPACT_DEVIATION not in {d["id"] for d in task.protocol_record()["deviations"]}:
        log.deviation(COMPACT_DEVIATION, compact_deviation_text(spec.head_type, layout))


def _train_table(log: RunLog, context: RunContext, task: TaskConfig, prepared: Prepared, views: int, seed: int,
                 memory_bytes: int, batch_size: int):
    """The training table: in memory when it fits, else a sharded store (``--option feature_store``:
    ``auto``, ``sharded`` to force the store, ``cache`` to read the cache entry by entry)."""
    choice = context.options.get(STORE_OPTION, "auto")
    if choice not in STORE_CHOICES:
        raise VpbenchError(f"--option {STORE_OPTION}={choice!r}: expected one of {', '.join(STORE_CHOICES)}")
    table = prepared.table
    if choice == "cache" or (choice == "auto" and table.in_memory):
        return table
    with log.stage("feature store"):
        store, rebuilt = train_store(context.cache_dir, table, views, seed, task.features.get("dtype", "float32"),
                                     memory_bytes)
    if rebuilt and rebuilt != "not built yet":
        log.note(f"the training feature store {store.reader.store.root} was rebuilt: {rebuilt}")
    window = store.window_blocks * store.reader.block_rows
    if window < batch_size:
        log.note(f"the training feature store shuffles within windows smaller than a batch ({window} < {batch_size} "
                 f"rows): batches mix less than under a full shuffle; a larger --option {MEMORY_OPTION} widens them")
    return store


def train_store(cache_dir: Any, table: Any, views: int, seed: int, dtype: str,
                memory_bytes: int) -> tuple[StoreTable, str | None]:
    """A :class:`~vpbench.families.common.FeatureTable` of training views (item ``i``'s view ``v`` at
    position ``i * views + v``) as a sharded store under ``<cache>/stores``, and why the store was
    (re)built (None: an intact one was found).

    The store's rows are in the order epochs read them: section ``s`` holds, for every item (in a
    seeded random order of its own), the view :class:`ViewSchedule` gives it at epoch ``s``; so an
    epoch is one section, read sequentially in blocks shuffled within windows (:func:`store_order`).
    """
    from vpbench.adapters.training import ViewSchedule
    from vpbench.features import FeatureCache
    from vpbench.features.cache import STORES_FOLDER
    from vpbench.features.store import ensure_store, store_digest

    count = len(table) // views
    schedule = ViewSchedule(count, views, seed)
    shuffled = [np.random.default_rng([seed, 5003, section]).permutation(count) for section in range(views)]
    positions = np.concatenate([order * views + schedule.at(section)[order] for section, order in enumerate(shuffled)])
    ids = [table.ids[p] for p in positions]
    features = table.features
    digest = store_digest([dtype, *([i, features.entry_key(i)] for i in ids)])
    root = FeatureCache(cache_dir).root / STORES_FOLDER / digest[:32]
    store, rebuilt = ensure_store(root, ids, lambda item_id: np.asarray(features[item_id])[table.view], dtype)
    row_of = np.empty(len(positions), dtype=np.int64)
    row_of[positions] = np.arange(len(positions))
    return StoreTable(store, row_of, memory_bytes=memory_bytes), rebuilt


def store_order(store: StoreTable, views: int):
    """fit_probe's epoch order over a store: item ``i`` trains on table position ``i * views + v``
    for the view ``v`` the epoch gives it (the layout of :func:`train_views.view_loader`)."""
    def order(items: list[int], chosen: np.ndarray, generator) -> list[int]:
        return store.epoch_order(items, [i * views + int(chosen[i]) for i in items], generator)

    return order


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
