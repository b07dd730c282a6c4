"""Reader for NExT-QA multiple choice (``dataset.format: nextqa_mc_csv``), as the ATP-hard subset uses it.

``dataset/nextqa/{train,val,test}.csv`` (doc-doc/NExT-QA): header
``video,frame_count,width,height,question,answer,qid,type,a0,a1,a2,a3,a4``; ``answer`` is the
index (0-4) of the correct candidate; ``type`` is CW/CH (causal), TN/TC/TP (temporal) or
DL/DC/DO (descriptive). Videos through ``map_vid_vidorID.json`` (see
:mod:`vpbench.datasets.nextqa_common`).

ATP-hard (Buch et al., CVPR 2022) is a subset of the validation questions that the paper does not
list; a task declaring the user file ``atp_hard_ids`` evaluates only the questions it names, one
``video,qid`` per line (an optional ``video,qid`` header line is skipped), and cannot run without
it: it never falls back to the full validation set, which would be a different benchmark.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from vpbench.datasets.fields import integer, text
from vpbench.datasets.nextqa_common import NextVideos, read_questions
from vpbench.datasets.paths import annotation_path, user_file
from vpbench.datasets.sample import DatasetSplit, Sample
from vpbench.datasets.tabular import read_lines
from vpbench.errors import AnnotationError
from vpbench.registry import TaskConfig

CANDIDATE_COLUMNS = ("a0", "a1", "a2", "a3", "a4")


def read(task: TaskConfig, data_dir: Path, split: str, user_files: dict) -> DatasetSplit:
    path = annotation_path(task, data_dir, split)
    videos = NextVideos(task, data_dir, path)
    samples: dict[str, Sample] = {}
    for where, row, fields in read_questions(path, videos, CANDIDATE_COLUMNS):
        candidates = tuple(text(row[column], where, column) for column in CANDIDATE_COLUMNS)
        index = integer(row["answer"], where, "answer")
        if not 0 <= index < len(candidates):
            raise AnnotationError(f"{where}: answer {index} is not a candidate index (expected 0-4)")
        samples[fields["sample_id"]] = Sample(candidates=candidates, answer_index=index, answer=candidates[index],
                                              **fields)
    files, notes = [path, videos.map_path], []
    selected = list(samples.values())
    if "atp_hard_ids" in task.dataset.get("user_files", {}) and split == task.dataset["eval_split"]:
        selected = _atp_hard(task, user_files, samples, files, notes)
    kept = {s.sample_id for s in selected}
    return DatasetSplit(task=task.name, split=split, samples=selected, annotation_files=files, notes=notes,
                        missing=[m for m in videos.finder.missing if m.sample_id in kept])


def _atp_hard(task: TaskConfig, user_files: dict, samples: dict[str, Sample], files: list[Path],
              notes: list[str]) -> list[Sample]:
    ids_path = user_file(task, user_files, "atp_hard_ids")
    if ids_path is None:
        raise AnnotationError(
            f"task '{task.name}' needs the user file 'atp_hard_ids': the ATP-hard question list (Buch et al. "
            "2022), one 'video,qid' per line. It is not part of the NExT-QA release and the paper does not list "
            "it; pass it with --user-file atp_hard_ids=PATH (evaluating all validation questions would be a "
            "different benchmark)")
    selected: dict[str, Sample] = {}
    for number, (line, content) in enumerate(read_lines(ids_path, what="the ATP-hard list ('video,qid' lines)")):
        fields = [f.strip() for f in content.split(",")]
        if number == 0 and [f.lower() for f in fields] == ["video", "qid"]:
            continue
        if len(fields) != 2 or not all(fields):
            raise AnnotationError(f"{ids_path}: line {line}: {content!r}; expected 'video,qid'")
        key = f"{fields[0]}_{fields[1]}"
        if key not in samples:
            raise AnnotationError(f"{ids_path}: line {line}: question (video {fields[0]}, qid {fields[1]}) is not in "
                                  f"the {task.dataset['eval_split']} annotations")
        if key in selected:
            raise AnnotationError(f"{ids_path}: line {line}: question (video {fields[0]}, qid {fields[1]}) is "
                                  "listed twice")
        selected[key] = samples[key]
    files.append(ids_path)
    types = Counter(s.question_type for s in selected.values())
    notes.append(f"ATP-hard subset from user file 'atp_hard_ids' ({ids_path.name}): {len(selected)} of "
                 f"{len(samples)} questions; by type {dict(sorted(types.items()))}")
    return list(selected.values())
