"""Tiny Fly vs. Fly in vpbench's documented bout-list format (``dataset.format: flyvsfly``).

``behaviours.txt`` and ``bouts_{train,test}.csv`` (``video,start_frame,end_frame,labels``) as
:mod:`vpbench.datasets.flyvsfly` defines them, over ``videos/movieNN.mp4`` recordings that are
each four consecutive parts of ``PART_FRAMES`` frames with different content; each part is one
bout. Each part shows two objects; the behaviour of an object is given by its colour (red
lunge, green wing threat, blue tussle); a part with only yellow objects is ``background``. The
last frames of every recording are left out of the bouts (frames without a valid trajectory,
which the real benchmark drops).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vpbench.datasets.paths import annotation_path, video_dir
from vpbench.registry import TaskConfig
from vpbench.tiny.writers._files import PART_FRAMES, chunks, train_eval_clips, write_csv, write_parts, write_text

BEHAVIOURS = {"yellow": "background", "red": "lunge", "green": "wing threat", "blue": "tussle"}
CLIPS_PER_VIDEO = 4
UNTRACKED_TAIL = 4
"""Frames at the end of each recording that no bout covers."""


def write(task: TaskConfig, data_dir: Path, rng: np.random.Generator) -> None:
    write_text(annotation_path(task, data_dir, "classes"), BEHAVIOURS.values())
    train, evaluation = train_eval_clips(rng, "fly", num_objects=2, num_frames=PART_FRAMES)
    movie = 0
    for split, clips in (("train", train), ("test", evaluation)):
        rows = []
        for parts in chunks(clips, CLIPS_PER_VIDEO):
            movie += 1
            name = f"movie{movie:02d}.mp4"
            write_parts(video_dir(task, data_dir, split) / name, parts)
            for k, part in enumerate(parts):
                end = (k + 1) * PART_FRAMES - (UNTRACKED_TAIL if k == len(parts) - 1 else 0)
                rows.append([name, str(k * PART_FRAMES), str(end), ";".join(behaviours(part))])
        write_csv(annotation_path(task, data_dir, split), ["video", "start_frame", "end_frame", "labels"], rows)


def behaviours(clip) -> list[str]:
    names = sorted({BEHAVIOURS[obj.colour] for obj in clip.objects} - {"background"})
    return names or ["background"]
