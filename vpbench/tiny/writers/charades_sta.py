"""Tiny Charades-STA in the official text layout (``dataset.format: charades_sta``).

``charades_sta_test.txt`` with one query per line, ``<vid> <start> <end>##<sentence>`` (times
with one decimal, sentences lower-case ending in a period, as in the release), and the clips as
``Charades_v1_480/<vid>.mp4``. The sentence is the clip's caption, true over the whole clip, and
the segment a random sub-span of it. Only the test split is written (the task is zero-shot).
Video ids start with N-Z so they never collide with the Charades CSV writer's (A-M), which
shares this folder.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vpbench.datasets.paths import annotation_path, video_dir
from vpbench.registry import TaskConfig
from vpbench.tiny import EVAL_CLIPS
from vpbench.tiny.video import random_clips, write_clips
from vpbench.tiny.writers._files import short_ids, write_text


def write(task: TaskConfig, data_dir: Path, rng: np.random.Generator) -> None:
    evaluation = random_clips(rng, EVAL_CLIPS, prefix="sta", num_frames=32)
    ids = short_ids(rng, len(evaluation), first="NOPQRSTUVWXYZ")
    lines, jobs = [], []
    for video_id, clip in zip(ids, evaluation):
        start = round(float(rng.uniform(0.0, 1.0)), 1)
        end = round(float(rng.uniform(clip.duration_s - 1.0, clip.duration_s)), 1)
        lines.append(f"{video_id} {start:.1f} {end:.1f}##{clip.caption()}.")
        jobs.append((video_dir(task, data_dir, "test") / f"{video_id}.mp4", clip, "h264"))
    write_text(annotation_path(task, data_dir, "test"), lines)
    write_clips(jobs)
