"""Tiny Kinetics-400/600 in the official CSV layout (``dataset.format: kinetics_csv``).

Writes the task's train and val CSVs with the release's columns (K400 with ``is_cc`` and
double-quoted labels that contain spaces; K600 without ``is_cc``, labels bare), YouTube-like ids
of which every fourth starts with ``-``, and the trimmed clips as
``{id}_{start:06d}_{end:06d}.mp4``: train clips inside ``label_with_underscores/`` folders
(mmaction2's layout), val clips flat (the CVDF layout). The class is the subject's colour and
shape ("red circle", 12 classes), which a probe on pixels can learn.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vpbench.datasets.paths import video_dir
from vpbench.registry import TaskConfig
from vpbench.tiny.video import write_clips
from vpbench.tiny.writers._files import train_eval_clips, write_text, youtube_ids

DEFAULT_FILES = {"train": "annotations/train.csv", "val": "annotations/validate.csv"}


def write(task: TaskConfig, data_dir: Path, rng: np.random.Generator) -> None:
    k600 = "600" in task.dataset["name"]
    train, evaluation = train_eval_clips(rng, "kinetics", num_frames=32)
    ids = iter(youtube_ids(rng, len(train) + len(evaluation)))
    jobs = []
    for split, clips in (("train", train), ("val", evaluation)):
        rows = []
        for clip in clips:
            label = f"{clip.subject.colour} {clip.subject.shape}"
            youtube_id, start = next(ids), int(rng.integers(0, 600))
            name = f"{youtube_id}_{start:06d}_{start + 10:06d}.mp4"
            folder = video_dir(task, data_dir, split)
            jobs.append((folder / label.replace(" ", "_") / name if split == "train" else folder / name, clip, "h264"))
            quoted = f'"{label}"' if " " in label and not k600 else label
            fields = [quoted, youtube_id, str(start), str(start + 10), split]
            rows.append((label, ",".join(fields if k600 else [*fields, str(int(rng.integers(2)))])))
        header = "label,youtube_id,time_start,time_end,split" + ("" if k600 else ",is_cc")
        relative = task.dataset["annotations"].get(split, DEFAULT_FILES[split])
        write_text(data_dir / relative, [header, *(line for _, line in sorted(rows))])
    write_clips(jobs)
