"""Tiny NExT-QA open-ended (NExT-OE) in the official CSV layout (``dataset.format: nextqa_oe_csv``).

``nextoe/train.csv`` and ``nextoe/val.csv`` with the release's columns
(``video,frame_count,width,height,question,answer,qid,type``; lower-case questions without a
question mark), four questions per video with short free-text answers true to the pixels: the
subject's colour and shape (``DO``), its direction (``TN``), and a yes/no question about its
colour (``DB``, which the WUPS scorer matches exactly). Videos ``NExTVideo/<folder>/<id>.mp4``
through ``map_vid_vidorID.json``, shared with the multiple-choice writer
(:mod:`vpbench.tiny.writers._nextqa`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vpbench.datasets.paths import annotation_path, video_dir
from vpbench.registry import TaskConfig
from vpbench.tiny import EVAL_CLIPS, TRAIN_CLIPS
from vpbench.tiny.video import COLOURS, ShapeTrack, random_clips, write_clip
from vpbench.tiny.writers._files import write_csv, write_json
from vpbench.tiny.writers._nextqa import folder_of, video_ids, video_map

HEADER = ["video", "frame_count", "width", "height", "question", "answer", "qid", "type"]


def write(task: TaskConfig, data_dir: Path, rng: np.random.Generator) -> None:
    for split, group, count in ((task.dataset["train_split"], "oe_train", TRAIN_CLIPS),
                                (task.dataset["eval_split"], "oe_val", EVAL_CLIPS)):
        rows = []
        for video_id, clip in zip(video_ids(group), random_clips(rng, count, prefix=f"nextoe{split}", num_frames=32)):
            write_clip(video_dir(task, data_dir) / f"{folder_of(video_id)}.mp4", clip)
            for qid, (question, answer, kind) in enumerate(_questions(clip.subject, rng)):
                rows.append([video_id, clip.num_frames, clip.size, clip.size, question, answer, qid, kind])
        write_csv(annotation_path(task, data_dir, split), HEADER, rows)
    write_json(annotation_path(task, data_dir, "video_map"), video_map())


def _questions(track: ShapeTrack, rng: np.random.Generator) -> list[tuple[str, str, str]]:
    asked = list(COLOURS)[int(rng.integers(len(COLOURS)))]
    return [(f"what color is the {track.shape}", track.colour, "DO"),
            (f"what shape is the {track.colour} object", track.shape, "DO"),
            (f"which direction does the {track.colour} {track.shape} move", track.direction, "TN"),
            (f"is the {track.shape} {asked}", "yes" if asked == track.colour else "no", "DB")]
