"""Reader for KABR mini-scenes stored as frame folders (``dataset.format: kabr_frames``).

Layout of the release (Hugging Face ``imageomics/KABR``, made by kabr-tools ``cvat2slowfast``):
``annotation/classes.json`` maps behaviour -> index (``{"Walk": 0, "Graze": 1, ...}``, 8
classes); ``annotation/{train,val}.csv`` are space-separated SlowFast frame lists with the header
``original_vido_id video_id frame_id path labels`` (the typo is the release's), one row per
frame, e.g. ``ZG0001.1 1 1 ZG0001.1/1.jpg 0``; frames sit in ``dataset/image/<folder>/<n>.jpg``.

A sample is one mini-scene: all rows sharing ``original_vido_id``, whose frames live in the
folder of its rows' ``path``; the video is that folder (whole, in natural frame order) and its
label is the majority of its frame labels, ties going to the smaller class index. Frame labels
written as ``""`` (SlowFast's "no label") do not vote; a mini-scene with no labelled frame is an
error. This reader never opens an image.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path, PurePosixPath

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
    locator = VideoLocator(video_dir(task, data_dir, split), folders=True)
    samples, missing = [], []
    for scene, scene_rows in scenes.items():
        folder = PurePosixPath(scene_rows[0]["path"]).parent.as_posix()
        if folder in ("", "."):
            raise scene_rows[0].error(f"column 'path' is '{scene_rows[0]['path']}', expected '<folder>/<frame>.jpg'")
        votes = Counter(label for row in scene_rows for label in frame_labels(row, len(names)))
        if not votes:
            raise AnnotationError(f"{path}: mini-scene '{scene}' (rows {scene_rows[0].number}-"
                                  f"{scene_rows[-1].number}) has no labelled frame")
        top = max(votes.values())
        label = min(label for label, count in votes.items() if count == top)
        found, expected = locator.locate([folder], source=path, where=scene_rows[0].where)
        if found is None:
            missing.append(MissingVideo(scene, expected))
        samples.append(Sample(sample_id=scene, video_id=scene, video_path=found, label=label,
                              meta={"frames": len(scene_rows), "label_votes": dict(votes)}))
    return DatasetSplit(task=task.name, split=split, samples=samples, class_names=names, missing=missing,
                        annotation_files=[classes_path, path],
                        notes=["one sample per mini-scene folder; label = majority of its frame labels "
                               "(ties to the smaller class index)"])


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
