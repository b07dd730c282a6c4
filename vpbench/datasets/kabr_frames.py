"""Reader for KABR mini-scenes stored as frame folders (``dataset.format: kabr_frames``).

Layout of the release (Hugging Face ``imageomics/KABR``, made by kabr-tools ``cvat2slowfast``):
``annotation/classes.json`` maps behaviour -> index (``{"Walk": 0, "Graze": 1, ...}``, 8
classes); ``annotation/{train,val}.csv`` are space-separated SlowFast frame lists with the header
``original_vido_id video_id frame_id path labels`` (the typo is the release's), one row per
frame, e.g. ``ZG0001.1 1 1 ZG0001.1/1.jpg 0``; frames sit in ``dataset/image/<folder>/<n>.jpg``.

A sample is one labelled frame of a mini-scene (the frames at multiples of
``dataset.options.sample_every[split]``): its label, and a clip centred on it at the task's
stride (:mod:`vpbench.datasets.clips`), as KABR's own ``miniscene2behavior`` labels every frame
of a mini-scene from a SlowFast ``get_sequence`` clip around it (16 frames at stride 5 in the
paper). The video is the mini-scene's folder; ``frame_id`` numbers its images from 1 (kabr-tools
``cvat2slowfast`` writes labelled frames only, as ``<frame_id>.jpg``), so frame ``frame_id - 1``
of the folder in natural order. A frame written as ``""`` (SlowFast's "no label") is not a
sample; a frame with several labels keeps the first as its single label. This reader never opens
an image.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from vpbench.datasets.clips import centred_span, clip_geometry, sample_every, sampling_note
from vpbench.datasets.locate import VideoLocator
from vpbench.datasets.paths import annotation_path, video_dir
from vpbench.datasets.sample import DatasetSplit, MissingVideo, Sample
from vpbench.datasets.tabular import Row, read_frame_list, read_json
from vpbench.errors import AnnotationError
from vpbench.registry import TaskConfig

COLUMNS = ("original_vido_id", "video_id", "frame_id", "path", "labels")


def read(task: TaskConfig, data_dir: Path, split: str, user_files: dict[str, Path]) -> DatasetSplit:
    classes_path = annotation_path(task, data_dir, "classes")
    names = read_classes(classes_path)
    path = annotation_path(task, data_dir, split)
    rows = read_frame_list(path, required=COLUMNS, what="a KABR frame list (original_vido_id video_id frame_id "
                                                        "path labels)")
    scenes: dict[str, list[Row]] = {}
    for row in rows:
        scenes.setdefault(row["original_vido_id"], []).append(row)
    frames, stride = clip_geometry(task)
    every = sample_every(task, split)
    locator = VideoLocator(video_dir(task, data_dir, split), folders=True)
    samples, missing = [], []
    for scene, scene_rows in scenes.items():
        folder = PurePosixPath(scene_rows[0]["path"]).parent.as_posix()
        if folder in ("", "."):
            raise scene_rows[0].error(f"column 'path' is '{scene_rows[0]['path']}', expected '<folder>/<frame>.jpg'")
        found, expected = locator.locate([folder], source=path, where=scene_rows[0].where)
        for row in scene_rows:
            frame = row.numeric("frame_id", int, minimum=1) - 1
            labels = frame_labels(row, len(names))
            if not labels or frame % every:
                continue
            sample_id = f"{scene}_{frame:06d}"
            if found is None:
                missing.append(MissingVideo(sample_id, expected))
            samples.append(Sample(sample_id=sample_id, video_id=scene, video_path=found,
                                  frame_span=centred_span(frame, frames, stride), label=labels[0],
                                  labels=tuple(labels), meta={"label_frame": frame}))
    if not samples:
        raise AnnotationError(f"{path}: no labelled frame")
    return DatasetSplit(task=task.name, split=split, samples=samples, class_names=names, missing=missing,
                        annotation_files=[classes_path, path], notes=[sampling_note(task, split)])


def read_classes(path: Path) -> list[str]:
    data = read_json(path, dict, what='KABR classes.json ({"Walk": 0, ...})')
    by_index: dict[int, str] = {}
    for name, value in data.items():
        if isinstance(value, bool) or not isinstance(value, int):
            raise AnnotationError(f"{path}: key '{name}' maps to {value!r}, expected an integer class index")
        if value in by_index:
            raise AnnotationError(f"{path}: index {value} is given to both '{by_index[value]}' and '{name}'")
        by_index[value] = name
    if sorted(by_index) != list(range(len(by_index))):
        raise AnnotationError(f"{path}: class indices must be 0..{len(by_index) - 1} without gaps, "
                              f"got {sorted(by_index)}")
    return [by_index[i] for i in range(len(by_index))]


def frame_labels(row: Row, num_classes: int) -> list[int]:
    """The row's label indices: ``0``, ``0,3`` or an empty ``""``."""
    text = row["labels"].strip().strip('"')
    labels = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        if not part.isdigit() or int(part) >= num_classes:
            raise row.error(f"column 'labels' is '{row['labels']}', expected class indices 0..{num_classes - 1}")
        labels.append(int(part))
    return labels
