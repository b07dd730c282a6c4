"""Tiny Kinetics-400/600 in the official CSV layout (``dataset.format: kinetics_csv``).

Writes the task's train and val CSVs with the release's columns (K400 with ``is_cc`` and
double-quoted labels that contain spaces; K600 without ``is_cc``, labels bare), YouTube-like ids
of which every fourth starts with ``-``, and the trimmed clips as
``{id}_{start:06d}_{end:06d}.mp4``: train clips inside ``label_with_underscores/`` folders
(mmaction2's layout), val clips flat (the CVDF layout). The class is the subject's colour and
shape ("red circle", 12 classes), which a probe on pixels can learn. A task that declares a
``test`` annotation file (Kinetics-600's new-class protocol) also gets the labelled test split
(other clips, flat under ``videos/test``), and one that declares the user file ``class_splits`` gets
three tiny class splits of 8 of the 12 classes, in the shipped splits' YAML layout.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vpbench.datasets.paths import video_dir
from vpbench.registry import TaskConfig
from vpbench.tiny import EVAL_CLIPS
from vpbench.tiny.video import COLOURS, SHAPES, random_clips, write_clips
from vpbench.tiny.writers._files import train_eval_clips, write_text, write_user_file, youtube_ids

DEFAULT_FILES = {"train": "annotations/train.csv", "val": "annotations/validate.csv", "test": "annotations/test.csv"}
SPLIT_CLASSES = 8


def write(task: TaskConfig, data_dir: Path, rng: np.random.Generator) -> None:
    k600 = "600" in task.dataset["name"]
    train, evaluation = train_eval_clips(rng, "kinetics", num_frames=32)
    sets = [("train", train), ("val", evaluation)]
    if "test" in task.dataset["annotations"]:
        sets.append(("test", random_clips(rng, EVAL_CLIPS, prefix="kineticstest", num_frames=32)))
    ids = iter(youtube_ids(rng, sum(len(clips) for _, clips in sets)))
    jobs = []
    for split, clips in sets:
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
    if "class_splits" in task.dataset.get("user_files", {}):
        classes = [f"{colour} {shape}" for colour in COLOURS for shape in SHAPES]
        lines = ["# tiny class splits: three draws of 8 of the 12 colour-shape classes", "splits:"]
        for k in range(3):
            chosen = [classes[i] for i in sorted(rng.choice(len(classes), size=SPLIT_CLASSES, replace=False))]
            lines += [f"  - name: split{k + 1}", "    classes:", *(f"      - {name}" for name in chosen)]
        write_user_file(data_dir, "class_splits", lines)
    write_clips(jobs)
