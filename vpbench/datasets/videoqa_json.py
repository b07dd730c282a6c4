"""Reader for MSRVTT-QA and MSVD-QA (``dataset.format: videoqa_json``), the Xu et al. (2017) release.

``{train,val,test}_qa.json`` are lists of ``{"answer": "man", "id": 0, "question": "who is
talking?", "video_id": 7010}`` (MSRVTT-QA adds ``category_id``); one sample per question. The
integer ``video_id`` names the video in one of two ways, chosen by the task:

- ``dataset.options.video_pattern`` (MSRVTT-QA: ``"video{id}.mp4"``): the file name;
- a ``mapping`` annotation role (MSVD-QA: ``youtube_mapping.txt``, lines ``<clip name> vid<N>``):
  video ``N`` is ``<clip name>.avi``.

Either way the same name with another common container is accepted. ``question_type`` is the
question's first word (what/who/how/when/where), the grouping these papers report accuracy by.
Answers are kept as written (trimmed), never normalised: that is the metric's job.
"""

from __future__ import annotations

from pathlib import Path

from vpbench.datasets.fields import VideoFinder, integer, text
from vpbench.datasets.paths import annotation_path, video_dir
from vpbench.datasets.sample import DatasetSplit, Sample
from vpbench.datasets.tabular import field, read_json, read_lines
from vpbench.errors import AnnotationError, RegistryError
from vpbench.registry import TaskConfig


def read(task: TaskConfig, data_dir: Path, split: str, user_files: dict) -> DatasetSplit:
    path = annotation_path(task, data_dir, split)
    files = [path]
    video_name = _namer(task, data_dir, files)
    finder = VideoFinder(video_dir(task, data_dir), path)
    samples, seen = [], set()
    for k, entry in enumerate(read_json(path, list, what="a video QA JSON ({train,val,test}_qa.json)")):
        where = f"{path}: [{k}]"
        question_id = integer(field(entry, "id", (int, str), where), where, "id")
        if question_id in seen:
            raise AnnotationError(f"{where}: question id {question_id} appears twice")
        seen.add(question_id)
        video_number = integer(field(entry, "video_id", (int, str), where), where, "video_id")
        question = text(field(entry, "question", str, where), where, "question")
        samples.append(Sample(
            sample_id=str(question_id), video_id=str(video_number),
            video_path=finder.find(str(question_id), [video_name(video_number, where)], where),
            question=question, answer=text(field(entry, "answer", str, where), where, "answer"),
            question_type=question.split()[0].lower(),
            meta={"category_id": entry["category_id"]} if "category_id" in entry else {}))
    return DatasetSplit(task=task.name, split=split, samples=samples, missing=finder.missing, annotation_files=files)


def _namer(task: TaskConfig, data_dir: Path, files: list[Path]):
    """A function video number → file name, from ``options.video_pattern`` or the ``mapping`` file."""
    pattern = task.dataset.get("options", {}).get("video_pattern")
    if pattern is not None:
        return lambda number, where: pattern.format(id=number)
    if "mapping" not in task.dataset["annotations"]:
        raise RegistryError(f"{task.source}: task '{task.name}' needs dataset.options.video_pattern "
                            "(e.g. 'video{id}.mp4') or a 'mapping' annotation (youtube_mapping.txt)")
    mapping_path = annotation_path(task, data_dir, "mapping")
    files.append(mapping_path)
    names: dict[int, str] = {}
    for line, content in read_lines(mapping_path, what="the MSVD mapping (youtube_mapping.txt)"):
        parts = content.split()
        if len(parts) != 2 or not parts[1].startswith("vid") or not parts[1][3:].isdigit():
            raise AnnotationError(f"{mapping_path}: line {line}: {content!r}; expected '<clip name> vid<N>'")
        names[int(parts[1][3:])] = parts[0]

    def name(number: int, where: str) -> str:
        if number not in names:
            raise AnnotationError(f"{where}: video_id {number} has no 'vid{number}' line in {mapping_path.name}")
        return names[number] + ".avi"

    return name
