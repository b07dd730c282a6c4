"""Tiny KABR in the release's frame-folder layout (``dataset.format: kabr_frames``).

``annotation/classes.json`` (the eight KABR behaviours, one line as kabr-tools writes it),
``annotation/{train,val}.csv`` as space-separated SlowFast frame lists with the release's header
``original_vido_id video_id frame_id path labels``, and one JPEG folder per mini-scene,
``dataset/image/<folder>/<n>.jpg`` numbered from 1. A mini-scene's behaviour is its subject's
colour (red Walk, green Graze, blue Browse, yellow Head Up), and so is every frame's label (as
``cvat2slowfast`` writes them: labelled frames only, numbered from 1).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from vpbench.datasets.paths import annotation_path, video_dir
from vpbench.registry import TaskConfig
from vpbench.tiny.video import render
from vpbench.tiny.writers._files import train_eval_clips, write_json, write_text

CLASSES = {"Walk": 0, "Graze": 1, "Browse": 2, "Head Up": 3, "Auto-Groom": 4, "Trot": 5, "Run": 6, "Occluded": 7}
BEHAVIOUR = {"red": "Walk", "green": "Graze", "blue": "Browse", "yellow": "Head Up"}
FRAMES = 40
"""Frames per mini-scene: enough for 8 frames at the task's stride of 5."""


def write(task: TaskConfig, data_dir: Path, rng: np.random.Generator) -> None:
    write_json(annotation_path(task, data_dir, "classes"), CLASSES)
    train, evaluation = train_eval_clips(rng, "kabr", num_frames=FRAMES)
    scene = 0
    for split, clips in (("train", train), ("val", evaluation)):
        rows = ["original_vido_id video_id frame_id path labels"]
        for clip in clips:
            scene += 1
            folder = f"{'ZG'[int(rng.integers(2))]}{scene:04d}"
            label = CLASSES[BEHAVIOUR[clip.subject.colour]]
            target = video_dir(task, data_dir, split) / folder
            target.mkdir(parents=True, exist_ok=True)
            for frame_id, frame in enumerate(render(clip), start=1):
                Image.fromarray(frame).save(target / f"{frame_id}.jpg", quality=95)
                rows.append(f"{folder} {scene} {frame_id} {folder}/{frame_id}.jpg {label}")
        write_text(annotation_path(task, data_dir, split), rows)
