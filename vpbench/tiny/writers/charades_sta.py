"""Tiny Charades-STA in the official text layout (``dataset.format: charades_sta``).

``charades_sta_test.txt`` with one query per line, ``<vid> <start> <end>##<sentence>`` (times
with one decimal, sentences lower-case ending in a period, as in the release), and the videos as
``Charades_v1_480/<vid>.mp4``. Each video is a sequence of 4-second moments whose subjects differ
(no two moments of a video share a colour-shape pair, and neighbours differ in colour), each
moment described by one sentence and queried with its own span: the multiple choice among a
video's own sentences can only be won by looking at the right moment. Videos have
:data:`MOMENTS_PER_VIDEO` moments, so the suite has 5-, 4-, 3- and 2-way items and one video with a
single sentence, whose query the reader leaves out. Only the test split is written (the task is
zero-shot). Video ids start with N-Z so they never collide with the Charades CSV writer's (A-M),
which shares this folder.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vpbench.datasets.paths import annotation_path, video_dir
from vpbench.registry import TaskConfig
from vpbench.tiny.video import COLOURS, random_clips
from vpbench.tiny.writers._files import short_ids, write_parts, write_text

MOMENTS_PER_VIDEO = (5, 5, 4, 4, 3, 2, 1)
"""24 queries over 7 videos."""


def write(task: TaskConfig, data_dir: Path, rng: np.random.Generator) -> None:
    pool = random_clips(rng, 4 * sum(MOMENTS_PER_VIDEO), prefix="sta", num_frames=32)
    ids = short_ids(rng, len(MOMENTS_PER_VIDEO), first="NOPQRSTUVWXYZ")
    lines = []
    for video_id, count in zip(ids, MOMENTS_PER_VIDEO):
        moments = _distinct_moments(pool, count)
        write_parts(video_dir(task, data_dir, "test") / f"{video_id}.mp4", moments)
        for k, clip in enumerate(moments):
            start = k * clip.duration_s + round(float(rng.uniform(0.0, 0.4)), 1)
            end = (k + 1) * clip.duration_s - round(float(rng.uniform(0.0, 0.4)), 1)
            lines.append(f"{video_id} {start:.1f} {end:.1f}##{clip.caption()}.")
    write_text(annotation_path(task, data_dir, "test"), lines)


def _distinct_moments(pool: list, count: int) -> list:
    """Take ``count`` clips off the pool: distinct colour-shape pairs, neighbours of other colours."""
    moments: list = []
    for clip in list(pool):
        facts = {(m.subject.colour, m.subject.shape) for m in moments}
        neighbour = moments[-1].subject.colour if moments else None
        if (clip.subject.colour, clip.subject.shape) in facts or clip.subject.colour == neighbour:
            continue
        pool.remove(clip)
        moments.append(clip)
        if len(moments) == count:
            return moments
    raise ValueError(f"the clip pool holds no {count} distinct moments; draw more clips ({len(COLOURS)} colours)")
