"""Augmented training views for a trained head: the spec, the work items, the table, the record.

``sampling.train_views: N`` (N >= 1) replaces the single centred training view with N augmented
views per training video (:mod:`vpbench.video.augment`: random clip start, random resized crop,
flip where ``sampling.train_augment.flip`` allows it), each a cache entry of its own keyed by the
sample id, the view index and ``sampling.train_augment`` (with its ``seed``). The augmentation
seed is the task's, not the run's ``--seed``: repeating a run with other seeds re-trains heads
on the same cached views instead of re-encoding every training video. ``train_views: 0`` (the
default) keeps the one centred view.

This module only prepares features; which view an epoch trains on is the adapter's
:class:`~vpbench.adapters.training.ViewSchedule`.
"""

from __future__ import annotations

from dataclasses import asdict, replace
from typing import Any

from vpbench.errors import RegistryError
from vpbench.families import RunContext
from vpbench.families.common import (TABLE_MEMORY_BYTES, FeatureTable, LoadedSplit, Prepared, RunLog, extract,
                                     sampling_spec)
from vpbench.registry import TaskConfig

AUGMENT_KEYS = ("seed", "area", "aspect", "flip")
VIEW_SCHEDULE = ("one cached view per video per epoch: view (epoch + s_i) mod N, s_i seeded per video, so N "
                 "consecutive epochs see every view once")


def view_count(task: TaskConfig) -> int:
    """``sampling.train_views``: 0 (one centred view) or the number of augmented views per video."""
    count = task.sampling.get("train_views", 0)
    if not isinstance(count, int) or isinstance(count, bool) or count < 0:
        raise RegistryError(f"{task.source}: sampling.train_views must be an integer >= 0, got {count!r}")
    return count


def training_spec(task: TaskConfig):
    """The spec of one augmented training view: the task's clip (frames, stride or segments) with
    ``sampling.train_augment`` as its :class:`~vpbench.video.AugmentSpec`."""
    from vpbench.video import AugmentSpec

    options = dict(task.sampling.get("train_augment", {}))
    unknown = sorted(set(options) - set(AUGMENT_KEYS))
    if unknown:
        raise RegistryError(f"{task.source}: unknown key(s) {unknown} in sampling.train_augment; "
                            f"allowed: {list(AUGMENT_KEYS)}")
    for key in ("area", "aspect"):
        if key in options:
            options[key] = tuple(options[key]) if isinstance(options[key], list) else options[key]
    return replace(sampling_spec(task, views=False), short_side_ratio=1.0, augment=AugmentSpec(**options))


def prepare_train_views(log: RunLog, context: RunContext, task: TaskConfig, model: Any, loaded: LoadedSplit,
                        views: int, *, name: str = "train", memory_bytes: int = TABLE_MEMORY_BYTES) -> Prepared:
    """Features of ``views`` augmented views of every sample; the table's row ``i * views + v`` is
    view ``v`` of ``samples[i]``. A sample loses all its views if any of them failed to decode."""
    items = [[view_item(s, loaded.role, v) for v in range(views)] for s in loaded.samples]
    result = extract(log, context, task, model, [item for per_sample in items for item in per_sample],
                     training_spec(task), name=name, role=loaded.role)
    kept = [(sample, per_sample) for sample, per_sample in zip(loaded.samples, items)
            if all(item.item_id in result.features for item in per_sample)]
    ids = [item.item_id for _, per_sample in kept for item in per_sample]
    return Prepared(samples=[s for s, _ in kept],
                    table=FeatureTable(result.features, ids, view=0, memory_bytes=memory_bytes), extraction=result)


def view_item(sample: Any, role: str, view: int):
    """The :class:`~vpbench.features.WorkItem` of augmented view ``view`` of ``sample`` (cached or streamed)."""
    from vpbench.features import WorkItem
    from vpbench.video import AugmentedView

    return WorkItem(item_id=f"{role}/{sample.sample_id}#view{view}", path=str(sample.video_path),
                    clip_span_s=sample.clip_span_s, frame_span=sample.frame_span, fps=sample.meta.get("fps"),
                    augment=AugmentedView(stream=sample.sample_id, index=view))


def view_loader(table: FeatureTable, views: int):
    """``load(items, views)`` over a :func:`prepare_train_views` table (or a one-view table)."""
    return lambda items, chosen: table([i * views + v for i, v in zip(items, chosen)])


def note_cached_views(log: RunLog, views: int, epochs: int) -> None:
    """Fewer cached views than epochs is a deviation from VideoGLUE, which draws a fresh clip, crop
    and flip for every video in every epoch."""
    if views < epochs:
        log.deviation("cached-train-views",
                      f"{views} cached augmented views per training video, one per epoch over {epochs} epochs (each "
                      f"view recurs about {epochs / views:.0f} times); VideoGLUE draws a fresh random clip, crop and "
                      f"flip for every video in every epoch, so the augmentation is less diverse")


def record(task: TaskConfig, views: int) -> dict[str, Any]:
    """What the training views were, for the result's fingerprint."""
    if not views:
        return {"views": 1, "kind": "centre clip, centre crop (no augmentation)"}
    return {"views": views, "kind": "augmented", "augment": asdict(training_spec(task).augment),
            "schedule": VIEW_SCHEDULE}
