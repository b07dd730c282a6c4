"""Tiny YouCook2 in the official JSON layout (``dataset.format: youcook2_json``).

``youcookii_annotations_trainval.json`` with a ``database`` of "recipe" videos, each two
4-second steps with different subjects; a step's ``segment`` (integer seconds) and ``sentence``
(the step subject's caption) are one annotation. Videos sit where the official download script
puts them, ``<videos>/<subset>/<recipe_type>/<id>.mp4``. The training and validation sets have
TRAIN_CLIPS and EVAL_CLIPS steps.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vpbench.datasets.paths import annotation_path, video_dir
from vpbench.registry import TaskConfig
from vpbench.tiny import EVAL_CLIPS, TRAIN_CLIPS
from vpbench.tiny.video import random_clips
from vpbench.tiny.writers._files import write_json, write_parts, youtube_ids

RECIPE_TYPES = ("101", "113", "201", "226")


def write(task: TaskConfig, data_dir: Path, rng: np.random.Generator) -> None:
    ids = iter(youtube_ids(rng, (TRAIN_CLIPS + EVAL_CLIPS) // 2))
    database = {}
    for subset, count in ((task.dataset["train_split"], TRAIN_CLIPS), (task.dataset["eval_split"], EVAL_CLIPS)):
        steps = random_clips(rng, count, prefix=f"yc2{subset}", num_frames=32)
        for first, second in zip(steps[0::2], steps[1::2]):  # neighbours in the fact grid differ
            video_id = next(ids)
            recipe = RECIPE_TYPES[int(rng.integers(len(RECIPE_TYPES)))]
            write_parts(video_dir(task, data_dir) / subset / recipe / f"{video_id}.mp4", [first, second])
            middle, end = int(first.duration_s), int(first.duration_s + second.duration_s)
            database[video_id] = {
                "duration": float(end), "subset": subset, "recipe_type": recipe,
                "video_url": f"https://www.youtube.com/watch?v={video_id}",
                "annotations": [{"segment": [0, middle], "id": 0, "sentence": first.caption()},
                                {"segment": [middle, end], "id": 1, "sentence": second.caption()}]}
    write_json(annotation_path(task, data_dir, "database"), {"database": database})
