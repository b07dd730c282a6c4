"""Reader for Something-Something v2 and its class-subset tasks (``dataset.format: ssv2_json``).

Official files: ``something-something-v2-labels.json`` maps each template without brackets to
a *string* index (``{"Approaching something with your camera": "0", ...}``, 174 classes);
``-train.json`` / ``-validation.json`` are lists of ``{"id", "label", "template", "placeholders"}``
whose ``template`` keeps the brackets (``"Holding [something] next to [something]"``), so the
class is ``labels[template.replace("[", "").replace("]", "")]`` as in mmaction2. Videos are
``<id>.webm`` (a converted ``<id>.mp4`` is accepted).

SSv2-Temporal and SSv2-Events are class subsets whose lists the papers do not publish. A task
that declares ``dataset.user_files.class_list`` takes the list from the user: one template
(with or without brackets) or label index per line, ``#`` comments allowed. Only videos of
those classes are kept and the classes are re-indexed in the file's order, so the zero-shot
prompts and the metric see exactly that list; the split's notes state the class and video
counts, and the list file is part of the split's hash. This reader never invents a subset.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from vpbench.datasets.locate import VideoLocator
from vpbench.datasets.paths import annotation_path, user_file, video_dir
from vpbench.datasets.sample import DatasetSplit, MissingVideo, Sample
from vpbench.datasets.tabular import field, index_table, lookup, read_json, read_lines
from vpbench.errors import AnnotationError
from vpbench.registry import TaskConfig

CLASS_LIST = "class_list"


def read(task: TaskConfig, data_dir: Path, split: str, user_files: dict[str, Path]) -> DatasetSplit:
    labels_path = annotation_path(task, data_dir, "labels")
    names = read_labels(labels_path)
    classes = index_table(names)
    path = annotation_path(task, data_dir, split)
    entries = read_json(path, list, what="an SSv2 split JSON (a list of {id, label, template, placeholders})")
    locator = VideoLocator(video_dir(task, data_dir, split))
    samples, missing = [], []
    for position, entry in enumerate(entries):
        where = f"{path}: entry [{position}]"
        video_id = str(field(entry, "id", (str, int), where))
        template = field(entry, "template", str, f"{where} (id {video_id})")
        label = lookup(strip_brackets(template), classes, where=f"{where} (id {video_id})", what="template",
                       listed_in=labels_path)
        found, expected = locator.locate([f"{video_id}.webm", f"{video_id}.mp4"], source=path, where=where)
        if found is None:
            missing.append(MissingVideo(video_id, expected))
        samples.append(Sample(sample_id=video_id, video_id=video_id, video_path=found, label=label,
                              meta={"label_text": entry.get("label")}))
    split_data = DatasetSplit(task=task.name, split=split, samples=samples, class_names=names, missing=missing,
                              annotation_files=[labels_path, path])
    if CLASS_LIST in task.dataset.get("user_files", {}):
        return _subset(task, split_data, user_files, classes, labels_path)
    return split_data


def strip_brackets(template: str) -> str:
    return template.replace("[", "").replace("]", "").strip()


def read_labels(path: Path) -> list[str]:
    """Class names by index from the labels JSON (values are index strings, 0..N-1 without gaps)."""
    data = read_json(path, dict, what="the SSv2 labels JSON ({template: \"index\"})")
    by_index: dict[int, str] = {}
    for name, value in data.items():
        text = str(value).strip()
        if isinstance(value, bool) or not isinstance(value, (str, int)) or not text.isdigit():
            raise AnnotationError(f"{path}: key '{name}' maps to {value!r}, expected a class index such as \"12\"")
        index = int(text)
        if index in by_index:
            raise AnnotationError(f"{path}: index {index} is given to both '{by_index[index]}' and '{name}'")
        by_index[index] = name
    if sorted(by_index) != list(range(len(by_index))):
        gaps = sorted(set(range(len(by_index))) - set(by_index))[:5]
        raise AnnotationError(f"{path}: class indices must be 0..{len(by_index) - 1} without gaps; missing {gaps}")
    return [by_index[i] for i in range(len(by_index))]


def read_class_list(path: Path, classes: dict[str, int], labels_path: Path) -> list[int]:
    """Class indices named by a user's list file, in the file's order."""
    chosen: list[int] = []
    for line, text in read_lines(path, what="a class list: one SSv2 template or label index per line", comments=True):
        entry, where = text.strip(), f"{path}: line {line}"
        if entry.isdigit():
            if int(entry) >= len(classes):
                raise AnnotationError(f"{where}: label index {entry} is out of range (the labels JSON has "
                                      f"{len(classes)} classes)")
            index = int(entry)
        else:
            index = lookup(strip_brackets(entry), classes, where=where, what="template", listed_in=labels_path)
        if index in chosen:
            raise AnnotationError(f"{where}: class '{entry}' is listed twice")
        chosen.append(index)
    if not chosen:
        raise AnnotationError(f"{path}: the class list is empty")
    return chosen


def _subset(task: TaskConfig, full: DatasetSplit, user_files: dict[str, Path], classes: dict[str, int],
            labels_path: Path) -> DatasetSplit:
    path = user_file(task, user_files, CLASS_LIST)
    if path is None:
        raise AnnotationError(f"task '{task.name}' needs --user-file {CLASS_LIST}=PATH: "
                              f"{task.user_file_spec(CLASS_LIST).describe()}")
    chosen = read_class_list(path, classes, labels_path)
    new_index = {old: new for new, old in enumerate(chosen)}
    samples = [replace(s, label=new_index[s.label]) for s in full.samples if s.label in new_index]
    kept = {s.sample_id for s in samples}
    note = (f"class subset from {path}: {len(chosen)} of {len(full.class_names)} SSv2 classes, "
            f"{len(samples)} of {len(full.samples)} {full.split} videos (classes re-indexed in the list's order)")
    return DatasetSplit(task=full.task, split=full.split, samples=samples,
                        class_names=[full.class_names[i] for i in chosen],
                        missing=[m for m in full.missing if m.sample_id in kept],
                        annotation_files=[*full.annotation_files, path], notes=[*full.notes, note])
