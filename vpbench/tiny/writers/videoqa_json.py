"""Tiny MSRVTT-QA / MSVD-QA in the official JSON layout (``dataset.format: videoqa_json``).

``train_qa.json`` and ``test_qa.json`` are lists of ``{"answer", "id", "question", "video_id"}``
with three questions per clip about its subject's colour, shape and direction (one-word answers).
How ``video_id`` names a file follows the task, as in the releases:

- with ``dataset.options.video_pattern`` (MSRVTT-QA): ``video<N>.mp4``, train videos numbered
  from 0 and test videos from 7010, and ``category_id`` in each entry (0 for what-, 4 for
  where-questions);
- with a ``mapping`` annotation (MSVD-QA): ``youtube_mapping.txt`` lines ``<clip name> vid<N>``,
  the clip ``<youtube id>_<start>_<end>`` saved as ``.mp4`` (the release has ``.avi``; readers
  accept either).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vpbench.datasets.paths import annotation_path, video_dir
from vpbench.registry import TaskConfig
from vpbench.tiny.video import write_clip
from vpbench.tiny.writers._files import train_eval_clips, write_json, write_text, youtube_ids
from vpbench.tiny.writers._language import questions

MSRVTT_TEST_START = 7010
CATEGORY = {"what": 0, "where": 4}


def write(task: TaskConfig, data_dir: Path, rng: np.random.Generator) -> None:
    pattern = task.dataset.get("options", {}).get("video_pattern")
    train, evaluation = train_eval_clips(rng, "videoqa", num_frames=32)
    youtube = iter(youtube_ids(rng, len(train) + len(evaluation)))
    mapping, question_id = [], 0
    for split, clips, first_number in ((task.dataset["train_split"], train, 0),
                                       (task.dataset["eval_split"], evaluation, MSRVTT_TEST_START if pattern else 0)):
        entries = []
        for k, clip in enumerate(clips):
            number = first_number + k if pattern else len(mapping) + 1
            if pattern:
                name = pattern.format(id=number)
            else:
                start = int(rng.integers(0, 300))
                clip_name = f"{next(youtube)}_{start}_{start + int(clip.duration_s)}"
                mapping.append(f"{clip_name} vid{number}")
                name = f"{clip_name}.mp4"
            write_clip(video_dir(task, data_dir) / name, clip)
            for question, answer in questions(clip.subject):
                entry = {"answer": answer, "id": question_id, "question": question, "video_id": number}
                if pattern:
                    entry["category_id"] = CATEGORY[question.split()[0]]
                entries.append(entry)
                question_id += 1
        write_json(annotation_path(task, data_dir, split), entries)
    if not pattern:
        write_text(annotation_path(task, data_dir, "mapping"), mapping)
