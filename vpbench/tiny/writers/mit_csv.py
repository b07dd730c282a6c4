"""Tiny Moments in Time in the release's layout (``dataset.format: mit_csv``).

``trainingSet.csv`` / ``validationSet.csv`` without a header, rows
``<class>/<file>.mp4,<class>,<positive>,<negative>``; ``moments_categories.txt`` with
``name,index`` lines; videos under ``training/<class>/`` and ``validation/<class>/``. The class
is the subject's colour (four classes), so a probe on pixels can learn it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vpbench.datasets.paths import annotation_path, video_dir
from vpbench.registry import TaskConfig
from vpbench.tiny.video import COLOURS, write_clips
from vpbench.tiny.writers._files import train_eval_clips, write_text, youtube_ids


def write(task: TaskConfig, data_dir: Path, rng: np.random.Generator) -> None:
    names = sorted(COLOURS)
    write_text(annotation_path(task, data_dir, "classes"), [f"{name},{index}" for index, name in enumerate(names)])
    train, evaluation = train_eval_clips(rng, "mit", num_frames=24)
    ids = iter(youtube_ids(rng, len(train) + len(evaluation)))
    jobs = []
    for split, clips in (("train", train), ("val", evaluation)):
        rows = []
        for clip in clips:
            relative = f"{clip.subject.colour}/yt-{next(ids)}_{int(rng.integers(1, 400))}.mp4"
            positive = int(rng.integers(2, 4))
            rows.append(f"{relative},{clip.subject.colour},{positive},{3 - positive}")
            jobs.append((video_dir(task, data_dir, split) / relative, clip, "h264"))
        write_text(annotation_path(task, data_dir, split), rows)
    write_clips(jobs)
