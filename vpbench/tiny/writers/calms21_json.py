"""Tiny CalMS21 task 1 in the official JSON layout (``dataset.format: calms21_json``).

``calms21_task1_{train,test}.json`` shaped like the release: ``{"annotator-id_0":
{"task1/<split>/mouseNNN_task1_annotator1": {"keypoints": [T][2][2][7], "scores": [T][2][7],
"annotations": [T], "metadata": {"vocab": ...}}}}``, and one video per sequence at the path
:mod:`vpbench.datasets.calms21_json` assumes (``videos/<sequence id>.mp4``). A sequence is four
consecutive parts of ``PART_FRAMES`` frames; every frame of a part is labelled by
its subject's colour (red attack, green investigation, blue mount, yellow other). Keypoints
follow the subject (mouse 0) and its mirror image (mouse 1), so they are plausible but unused.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vpbench.datasets.paths import annotation_path, video_dir
from vpbench.registry import TaskConfig
from vpbench.tiny.video import TinyClip
from vpbench.tiny.writers._files import PART_FRAMES, chunks, train_eval_clips, write_json, write_parts

VOCAB = {"attack": 0, "investigation": 1, "mount": 2, "other": 3}
BEHAVIOUR = {"red": "attack", "green": "investigation", "blue": "mount", "yellow": "other"}
CLIPS_PER_SEQUENCE = 4


def write(task: TaskConfig, data_dir: Path, rng: np.random.Generator) -> None:
    train, evaluation = train_eval_clips(rng, "calms", num_frames=PART_FRAMES)
    for split, clips in (("train", train), ("test", evaluation)):
        sequences = {}
        for number, parts in enumerate(chunks(clips, CLIPS_PER_SEQUENCE), start=1):
            sequence_id = f"task1/{split}/mouse{number:03d}_task1_annotator1"
            write_parts(video_dir(task, data_dir, split) / f"{sequence_id}.mp4", parts)
            sequences[sequence_id] = _sequence(parts)
        write_json(annotation_path(task, data_dir, split), {"annotator-id_0": sequences})


def _sequence(parts: list[TinyClip]) -> dict:
    keypoints, scores, annotations = [], [], []
    for part in parts:
        for t in range(part.num_frames):
            x, y = part.subject.centre_at(t, part.size)
            mice = [(x, y), (part.size - x, part.size - y)]
            keypoints.append([[[round(cx + dx, 2) for dx in range(-3, 4)], [round(cy, 2)] * 7] for cx, cy in mice])
            scores.append([[0.9] * 7, [0.9] * 7])
            annotations.append(VOCAB[BEHAVIOUR[part.subject.colour]])
    return {"keypoints": keypoints, "scores": scores, "annotations": annotations,
            "metadata": {"annotator-id": 0, "vocab": VOCAB}}
