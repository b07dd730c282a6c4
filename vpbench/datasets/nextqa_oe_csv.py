"""Reader for NExT-QA open-ended (``dataset.format: nextqa_oe_csv``), the NExT-OE release.

``dataset/nextqa/{train,val,test}.csv`` (doc-doc/NExT-OE): header
``video,frame_count,width,height,question,answer,qid,type`` with a free-text answer; one sample
per question, ``question_type`` the NExT type code (the WUPS scorer treats DB/DC by exact match).
Videos through ``map_vid_vidorID.json`` (see :mod:`vpbench.datasets.nextqa_common`). Answers are kept as
written, never normalised (the WUPS scorer lemmatises them).
"""

from __future__ import annotations

from pathlib import Path

from vpbench.datasets.fields import text
from vpbench.datasets.nextqa_common import NextVideos, read_questions
from vpbench.datasets.paths import annotation_path
from vpbench.datasets.sample import DatasetSplit, Sample
from vpbench.registry import TaskConfig


def read(task: TaskConfig, data_dir: Path, split: str, user_files: dict) -> DatasetSplit:
    path = annotation_path(task, data_dir, split)
    videos = NextVideos(task, data_dir, path)
    samples = [Sample(answer=text(row["answer"], where, "answer"), **fields)
               for where, row, fields in read_questions(path, videos)]
    return DatasetSplit(task=task.name, split=split, samples=samples, missing=videos.finder.missing,
                        annotation_files=[path, videos.map_path])
