"""Tiny ChimpACT action track in the processed layout (``dataset.format: chimpact``).

What the release's ``scripts/process_data.sh`` produces: ``annotations/action/{train,test}_action.csv``
with rows ``<subset>/images/<clip>,<frame>,x1,y1,x2,y2,<behaviour id>,<chimp id>`` (boxes with
three decimals, behaviour ids = behaviour index + 1), ``action_list.txt`` in the ``.pbtxt`` item
format, excluded-frame lists, and the clips as ``<subset>/videos/<clip>.mp4``. Clip names follow
the release's ``<recording>_clip_<start>_<end>`` pattern. The two shapes are the "chimpanzees";
a chimp's behaviour is its direction mapped onto four of ChimpACT's behaviours
(:data:`BEHAVIOURS`), and keyframes are frames 8, 16 and 24.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vpbench.datasets.paths import annotation_path, video_dir
from vpbench.registry import TaskConfig
from vpbench.tiny import EVAL_CLIPS, TRAIN_CLIPS
from vpbench.tiny.video import write_clip
from vpbench.tiny.writers._files import write_text
from vpbench.tiny.writers.ava_csv import box_rows, two_person_clips, write_label_map

BEHAVIOURS = {"left": (1, "moving"), "right": (2, "climbing"), "up": (3, "resting"), "down": (4, "sleeping")}
"""Direction → (ChimpACT behaviour id, name): the first four of the release's behaviour list."""
KEYFRAMES = (8, 16, 24)


def write(task: TaskConfig, data_dir: Path, rng: np.random.Generator) -> None:
    write_label_map(annotation_path(task, data_dir, "label_map"), BEHAVIOURS.values())
    for split, count in ((task.dataset["train_split"], TRAIN_CLIPS), (task.dataset["eval_split"], EVAL_CLIPS)):
        clips = two_person_clips(rng, count, prefix=f"chimp{split}")
        rows, excluded = [], []
        for k, clip in enumerate(clips):
            start = 1000 * k
            name = f"Tiny_ObsChimp_2024_01_{1 + k % 28:02d}_{'abcd'[k % 4]}_clip_{start}_{start + clip.num_frames}"
            write_clip(video_dir(task, data_dir) / split / "videos" / f"{name}.mp4", clip)
            video_id = f"{split}/images/{name}"
            for frame in KEYFRAMES:
                rows += box_rows(video_id, str(frame), clip, frame, BEHAVIOURS, person_ids=True, quick_action=None)
            excluded.append(f"{video_id},{clip.num_frames - 1}")
        write_text(annotation_path(task, data_dir, split), rows)
        write_text(annotation_path(task, data_dir, f"{split}_excluded"), excluded)
