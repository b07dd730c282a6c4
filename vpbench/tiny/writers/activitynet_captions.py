"""Tiny ActivityNet Captions in the official JSON layout (``dataset.format: activitynet_captions``).

``train.json`` and ``val_1.json`` map ``v_<id>`` to ``duration``, ``timestamps`` and
``sentences``; each video ``v_<id>.mp4`` is two 4-second parts with different subjects, each
part described by one sentence (capitalised, ending in a period, every sentence after the first
starting with a space, as in the release). A paragraph therefore names both parts' facts in
order, and matching it to the right video needs both.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vpbench.datasets.paths import annotation_path, video_dir
from vpbench.registry import TaskConfig
from vpbench.tiny import EVAL_CLIPS, TRAIN_CLIPS
from vpbench.tiny.video import random_clips
from vpbench.tiny.writers._files import write_json, write_parts, youtube_ids


def write(task: TaskConfig, data_dir: Path, rng: np.random.Generator) -> None:
    ids = iter(youtube_ids(rng, TRAIN_CLIPS + EVAL_CLIPS))
    for split, count in ((task.dataset["train_split"], TRAIN_CLIPS), (task.dataset["eval_split"], EVAL_CLIPS)):
        parts = random_clips(rng, 2 * count, prefix=f"anetcap{split}", num_frames=32)
        entries = {}
        for first, second in zip(parts[0::2], parts[1::2]):  # neighbours in the fact grid differ
            key = f"v_{next(ids)}"
            write_parts(video_dir(task, data_dir) / f"{key}.mp4", [first, second])
            entries[key] = {
                "duration": (first.num_frames + second.num_frames) / first.fps,
                "timestamps": [[0.0, first.duration_s], [first.duration_s, first.duration_s + second.duration_s]],
                "sentences": [f"{first.caption().capitalize()}.", f" {second.caption().capitalize()}."]}
        write_json(annotation_path(task, data_dir, split), entries)
