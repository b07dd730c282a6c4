"""Tiny ActivityNet v1.3 in the official JSON layout (``dataset.format: activitynet_json``).

``activity_net.v1-3.min.json`` with ``version``, a ``taxonomy`` (Root → "Moving objects" → one
leaf per colour) and a ``database`` of training and validation videos, each ``v_<id>.mp4``
(the name most downloads use). A video is 10 s of empty background in which the subject appears
and moves only during one segment; the segment's label is the subject's colour
("Red object moving"), so a temporal head must find when something happens and what colour it is.

The user file ``video_scores`` plays CUHK's ``cuhk_val_simp_share.json`` (``{"results": {id:
[one score per class]}, "class": [names], ...}``) for the validation videos: a decent but
imperfect classifier, whose top class is the true one for three videos in four and its second
class for the fourth.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vpbench.datasets.paths import annotation_path, video_dir
from vpbench.registry import TaskConfig
from vpbench.tiny.video import COLOURS, render, write_video
from vpbench.tiny import USER_FILES_DIR
from vpbench.tiny.writers._files import train_eval_clips, write_json, youtube_ids

FRAMES = 80
FPS = 8
SEGMENT_FRAMES = (24, 40)
"""Shortest and longest segment, in frames; the rest of each video is background."""


def label_of(colour: str) -> str:
    return f"{colour.capitalize()} object moving"


def write(task: TaskConfig, data_dir: Path, rng: np.random.Generator) -> None:
    train, evaluation = train_eval_clips(rng, "anet", num_frames=SEGMENT_FRAMES[1], fps=FPS)
    ids = iter(youtube_ids(rng, len(train) + len(evaluation)))
    database, video_scores = {}, {}
    for subset, clips in (("training", train), ("validation", evaluation)):
        for clip in clips:
            video_id = next(ids)
            length = int(rng.integers(SEGMENT_FRAMES[0], SEGMENT_FRAMES[1] + 1))
            start = int(rng.integers(4, FRAMES - length - 4))
            frames = np.empty((FRAMES, clip.size, clip.size, 3), dtype=np.uint8)
            frames[:] = clip.background
            frames[start:start + length] = render(clip)[:length]
            write_video(video_dir(task, data_dir) / f"v_{video_id}.mp4", frames, FPS)
            database[video_id] = {
                "duration": FRAMES / FPS, "subset": subset, "resolution": f"{clip.size}x{clip.size}",
                "url": f"https://www.youtube.com/watch?v={video_id}",
                "annotations": [{"segment": [start / FPS, (start + length) / FPS],
                                 "label": label_of(clip.subject.colour)}]}
            if subset == "validation":
                video_scores[video_id] = classifier_scores(rng, list(COLOURS).index(clip.subject.colour),
                                                           second=len(video_scores) % 4 == 3)
    taxonomy = [{"nodeId": 0, "nodeName": "Root", "parentId": None, "parentName": None},
                {"nodeId": 1, "nodeName": "Moving objects", "parentId": 0, "parentName": "Root"}]
    taxonomy += [{"nodeId": 2 + k, "nodeName": label_of(colour), "parentId": 1, "parentName": "Moving objects"}
                 for k, colour in enumerate(COLOURS)]
    write_json(annotation_path(task, data_dir, "database"),
               {"version": "VERSION 1.3", "taxonomy": taxonomy, "database": database})
    write_json(data_dir / USER_FILES_DIR / "video_scores",
               {"results": video_scores, "class": [label_of(colour) for colour in COLOURS],
                "external_data": {"used": True, "details": "tiny suite stand-in for a video-level classifier"}})


def classifier_scores(rng: np.random.Generator, true_class: int, second: bool) -> list[float]:
    """Softmax-like scores over the colours: the true class first (or second, when ``second``)."""
    scores = rng.uniform(0.0, 0.1, size=len(COLOURS))
    scores[true_class] = 0.6
    if second:
        scores[(true_class + 1) % len(COLOURS)] = 0.7
    return [round(float(v), 4) for v in scores / scores.sum()]
