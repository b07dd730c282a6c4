"""Reader for ActivityNet v1.3 temporal localization (``dataset.format: activitynet_json``).

``activity_net.v1-3.min.json`` is ``{"version", "taxonomy": [...], "database": {<youtube id>:
{"subset": "training"|"validation"|"testing", "duration": s, "resolution", "url",
"annotations": [{"segment": [start, end], "label": name}]}}}``; the split name is the subset.
One sample per video (the whole video), with its segments as
:class:`~vpbench.datasets.sample.Segment` (seconds, class index).

Classes: the 200 leaf nodes of the taxonomy (nodes that are no other node's parent), sorted by
name; a file without a taxonomy uses the sorted set of labels in its database. A label that is
not a class is an error, never a new class. Videos: keys have no ``v_`` prefix while downloads are often named
``v_<id>.mp4``; both names and any common container are accepted.

:func:`read_video_scores` reads the video-level classifier scores ActivityNet detection pipelines
fuse with class-agnostic proposals: CUHK's ``cuhk_val_simp_share.json`` (shipped by G-TAD, BMN
and ActionFormer as ``data/cuhk_val_simp_share.json``), ``{"results": {<id>: [one score per
class]}, "class": [class names in score order], ...}``, ids without or with the ``v_`` prefix.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vpbench.datasets.fields import VideoFinder, number, text, time_span
from vpbench.datasets.paths import annotation_path, video_dir
from vpbench.datasets.sample import DatasetSplit, Sample, Segment
from vpbench.datasets.tabular import field, read_json
from vpbench.errors import AnnotationError
from vpbench.registry import TaskConfig


def read(task: TaskConfig, data_dir: Path, split: str, user_files: dict) -> DatasetSplit:
    path = annotation_path(task, data_dir, "database")
    data = read_json(path, dict, what="the ActivityNet v1.3 JSON (activity_net.v1-3.min.json)")
    database = field(data, "database", dict, f"{path}")
    classes = class_names(data, path)
    index = {name: i for i, name in enumerate(classes)}
    subsets = set()
    finder = VideoFinder(video_dir(task, data_dir), path)
    samples = []
    for video_id, entry in database.items():
        where = f"{path}: database['{video_id}']"
        subset = field(entry, "subset", str, where)
        subsets.add(subset)
        if subset != split:
            continue
        segments = []
        annotations = field(entry, "annotations", list, where) if "annotations" in entry else []
        for k, annotation in enumerate(annotations):
            at = f"{where}.annotations[{k}]"
            start, end = time_span(field(annotation, "segment", list, at), at)
            label = text(field(annotation, "label", str, at), at, "label")
            if label not in index:
                raise AnnotationError(f"{at}: label {label!r} is not one of the {len(classes)} classes "
                                      f"(leaf nodes of the taxonomy)")
            segments.append(Segment(start, end, label=index[label]))
        samples.append(Sample(
            sample_id=video_id, video_id=video_id,
            video_path=finder.find(video_id, [f"v_{video_id}", video_id], where),
            duration_s=number(field(entry, "duration", (int, float, str), where), where, "duration"),
            segments=tuple(segments), labels=tuple(sorted({s.label for s in segments})),
            meta={"url": entry.get("url"), "resolution": entry.get("resolution")}))
    if split not in subsets:
        raise AnnotationError(f"{path}: no video has subset '{split}' (subsets present: {sorted(subsets)})")
    return DatasetSplit(task=task.name, split=split, samples=samples, class_names=classes, missing=finder.missing,
                        annotation_files=[path])


def class_names(data: dict, path: Path) -> list[str]:
    """The taxonomy's leaf names sorted, or the database's labels sorted when there is no taxonomy."""
    taxonomy = data.get("taxonomy")
    if taxonomy is None:
        return sorted({annotation.get("label") for entry in data["database"].values() if isinstance(entry, dict)
                       for annotation in entry.get("annotations", []) if isinstance(annotation, dict)
                       and isinstance(annotation.get("label"), str)})
    if not isinstance(taxonomy, list):
        raise AnnotationError(f"{path}: key 'taxonomy' must be a list of nodes")
    parents = set()
    names = {}
    for k, node in enumerate(taxonomy):
        where = f"{path}: taxonomy[{k}]"
        names[field(node, "nodeId", (int, str), where)] = field(node, "nodeName", str, where)
        if node.get("parentId") is not None:
            parents.add(node["parentId"])
    leaves = sorted(name for node_id, name in names.items() if node_id not in parents)
    if not leaves:
        raise AnnotationError(f"{path}: the taxonomy has no leaf node")
    return leaves


def read_video_scores(path: Path, class_names: list[str]) -> dict[str, np.ndarray]:
    """``{video id (no v_): scores [C] in the order of class_names}`` from a CUHK-format classifier file.

    The file's ``class`` list must name exactly the task's classes (in any order): a score that
    cannot be matched to a class would silently mislabel every detection of a video.
    """
    data = read_json(path, dict, what='video-level classifier scores ({"results": {video: [scores]}, '
                                      '"class": [names]}, as cuhk_val_simp_share.json)')
    results = field(data, "results", dict, f"{path}")
    names = field(data, "class", list, f"{path}")
    if sorted(map(str, names)) != sorted(class_names) or len(set(names)) != len(names):
        unknown = sorted(set(map(str, names)) - set(class_names))
        absent = sorted(set(class_names) - set(map(str, names)))
        raise AnnotationError(f"{path}: key 'class' must list the task's {len(class_names)} classes once each "
                              f"(not classes: {unknown[:5]}; missing: {absent[:5]})")
    order = np.array([names.index(name) for name in class_names])
    scores = {}
    for video_id, row in results.items():
        if not isinstance(row, list) or len(row) != len(names) or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in row):
            raise AnnotationError(f"{path}: results['{video_id}'] must be a list of {len(names)} numbers "
                                  f"(one per entry of 'class')")
        key = video_id[2:] if video_id.startswith("v_") and len(video_id) == 13 else video_id  # v_ + YouTube id
        scores[key] = np.asarray(row, dtype=np.float64)[order]
    return scores
