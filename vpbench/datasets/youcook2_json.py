"""Reader for YouCook2 (``dataset.format: youcook2_json``): one sample per annotated recipe step.

``youcookii_annotations_trainval.json`` is ``{"database": {<youtube id>: {"duration": s,
"subset": "training"|"validation", "recipe_type": "113", "video_url", "annotations": [{"id": 0,
"segment": [start, end], "sentence": "..."}]}}}``; the split name is the subset. Each segment is
a sample: its span (integer seconds) is the clip, its sentence the caption.

Videos: the official download script writes ``raw_videos/<subset>/<recipe_type>/<id>.<ext>``;
with ``dataset.videos`` pointing at ``raw_videos`` that layout is found, and so is a flat folder
of ``<id>.<ext>``. Segment times are used as written, never rounded or shifted.
"""

from __future__ import annotations

from pathlib import Path

from vpbench.datasets.fields import VideoFinder, integer, number, text, time_span
from vpbench.datasets.paths import annotation_path, video_dir
from vpbench.datasets.sample import DatasetSplit, Sample
from vpbench.datasets.tabular import field, read_json
from vpbench.errors import AnnotationError
from vpbench.registry import TaskConfig


def read(task: TaskConfig, data_dir: Path, split: str, user_files: dict) -> DatasetSplit:
    path = annotation_path(task, data_dir, "database")
    data = read_json(path, dict, what="the YouCook2 JSON (youcookii_annotations_trainval.json)")
    database = field(data, "database", dict, f"{path}")
    finder = VideoFinder(video_dir(task, data_dir), path)
    samples, subsets = [], set()
    for video_id, entry in database.items():
        where = f"{path}: database['{video_id}']"
        subsets.add(field(entry, "subset", str, where))
        if entry["subset"] != split:
            continue
        duration = number(field(entry, "duration", (int, float, str), where), where, "duration")
        recipe = str(entry.get("recipe_type", ""))
        candidates = [f"{split}/{recipe}/{video_id}", video_id] if recipe else [video_id]
        for k, annotation in enumerate(field(entry, "annotations", list, where)):
            at = f"{where}.annotations[{k}]"
            segment_id = integer(field(annotation, "id", (int, str), at), at, "id")
            start, end = time_span(field(annotation, "segment", list, at), at)
            sample_id = f"{video_id}_{segment_id}"
            samples.append(Sample(
                sample_id=sample_id, video_id=video_id, video_path=finder.find(sample_id, candidates, at),
                clip_span_s=(start, end), captions=(text(field(annotation, "sentence", str, at), at, "sentence"),),
                duration_s=duration, meta={"recipe_type": recipe}))
    if split not in subsets:
        raise AnnotationError(f"{path}: no video has subset '{split}' (subsets present: {sorted(subsets)})")
    return DatasetSplit(task=task.name, split=split, samples=samples, missing=finder.missing, annotation_files=[path])
