"""Tiny NExT-QA multiple choice in the official CSV layout (``dataset.format: nextqa_mc_csv``).

``dataset/nextqa/val.csv`` with the release's columns
(``video,frame_count,width,height,question,answer,qid,type,a0..a4``; questions lower-case
without a question mark), three questions per video, each with five candidates of which one is
true to the pixels: what the subject does (temporal, ``TN``), how it moves (causal, ``CH``), and
which object is shown (descriptive, ``DO``). Videos ``NExTVideo/<folder>/<id>.mp4`` through
``map_vid_vidorID.json`` (see :mod:`vpbench.tiny.writers._nextqa`). The user file
``atp_hard_ids`` lists the causal and temporal questions (``video,qid`` per line), as the
ATP-hard list is a subset of those.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vpbench.datasets.paths import annotation_path, video_dir
from vpbench.registry import TaskConfig
from vpbench.tiny import EVAL_CLIPS
from vpbench.tiny.video import random_clips, write_clip
from vpbench.tiny.writers._files import write_csv, write_json, write_user_file
from vpbench.tiny.writers._language import direction_choices, object_choices
from vpbench.tiny.writers._nextqa import folder_of, video_ids, video_map

HEADER = ["video", "frame_count", "width", "height", "question", "answer", "qid", "type", "a0", "a1", "a2", "a3", "a4"]


def write(task: TaskConfig, data_dir: Path, rng: np.random.Generator) -> None:
    clips = random_clips(rng, EVAL_CLIPS, prefix="nextmc", num_frames=32)
    rows, hard = [], []
    for video_id, clip in zip(video_ids("mc_val"), clips):
        write_clip(video_dir(task, data_dir) / f"{folder_of(video_id)}.mp4", clip)
        track = clip.subject
        asked = [(f"what does the {track.colour} {track.shape} do", "TN", direction_choices(track, rng)),
                 (f"how does the {track.shape} move across the video", "CH", direction_choices(track, rng)),
                 ("which object appears in the video", "DO", object_choices(track, rng))]
        for qid, (question, kind, (candidates, answer)) in enumerate(asked):
            rows.append([video_id, clip.num_frames, clip.size, clip.size, question, answer, qid, kind, *candidates])
            if kind[0] in "CT":
                hard.append(f"{video_id},{qid}")
    write_csv(annotation_path(task, data_dir, task.dataset["eval_split"]), HEADER, rows)
    write_json(annotation_path(task, data_dir, "video_map"), video_map())
    write_user_file(data_dir, "atp_hard_ids", ["video,qid", *hard])
