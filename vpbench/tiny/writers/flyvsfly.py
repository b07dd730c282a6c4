"""Tiny Fly vs. Fly in vpbench's documented clip-list format (``dataset.format: flyvsfly``).

``behaviours.txt`` and ``clips_{train,test}.csv`` (``video,start_frame,end_frame,labels``) as
:mod:`vpbench.datasets.flyvsfly` defines them, over ``videos/movieNN.mp4`` recordings that are
each four consecutive clips of ``dataset.options.clip_frames`` frames with different content.
Each clip shows two objects; the behaviour of an object is given by its colour (red lunge, green
wing threat, blue tussle); a clip with only yellow objects is ``background``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vpbench.datasets.clips import clip_frames_option
from vpbench.datasets.paths import annotation_path, video_dir
from vpbench.registry import TaskConfig
from vpbench.tiny.writers._files import chunks, train_eval_clips, write_csv, write_parts, write_text

BEHAVIOURS = {"yellow": "background", "red": "lunge", "green": "wing threat", "blue": "tussle"}
CLIPS_PER_VIDEO = 4


def write(task: TaskConfig, data_dir: Path, rng: np.random.Generator) -> None:
    clip_frames = clip_frames_option(task.dataset.get("options", {}), str(task.source))
    write_text(annotation_path(task, data_dir, "classes"), BEHAVIOURS.values())
    train, evaluation = train_eval_clips(rng, "fly", num_objects=2, num_frames=clip_frames)
    movie = 0
    for split, clips in (("train", train), ("test", evaluation)):
        rows = []
        for parts in chunks(clips, CLIPS_PER_VIDEO):
            movie += 1
            name = f"movie{movie:02d}.mp4"
            write_parts(video_dir(task, data_dir, split) / name, parts)
            for k, part in enumerate(parts):
                rows.append([name, str(k * clip_frames), str((k + 1) * clip_frames), ";".join(behaviours(part))])
        write_csv(annotation_path(task, data_dir, split), ["video", "start_frame", "end_frame", "labels"], rows)


def behaviours(clip) -> list[str]:
    names = sorted({BEHAVIOURS[obj.colour] for obj in clip.objects} - {"background"})
    return names or ["background"]
