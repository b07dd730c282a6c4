"""Tiny NExT-QA open-ended (NExT-OE) in the official CSV layout (``dataset.format: nextqa_oe_csv``).

``nextoe/train.csv`` and the evaluation split's CSV (``nextoe/test.csv``) with the release's columns
(``video,frame_count,width,height,question,answer,qid,type``; lower-case questions without a
question mark), four questions per video with short free-text answers true to the pixels: the
subject's colour and shape (``DO``), its direction (``TN``), and a yes/no question about its
colour (``DB``, which the WUPS scorer matches exactly). With an ``add_reference`` annotation the
evaluation split also gets NExT-OE's additional reference answers (``{video: {qid: answer}}``).
Videos ``NExTVideo/<folder>/<id>.mp4`` through ``map_vid_vidorID.json``, shared with the
multiple-choice writer (:mod:`vpbench.tiny.writers._nextqa`).
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
        if split == task.dataset["eval_split"] and "add_reference" in task.dataset["annotations"]:
            write_json(annotation_path(task, data_dir, "add_reference"), _additional_references(rows))
    write_json(annotation_path(task, data_dir, "video_map"), video_map())


def _additional_references(rows: list[list]) -> dict[str, dict[str, str]]:
    """``{video: {qid: answer}}`` for every other video, as NExT-OE's add_reference_answer_test.json
    (about half the test videos there): a second wording of a direction, the same answer otherwise."""
    videos = sorted({row[0] for row in rows})[::2]
    towards = {"left": "to the left", "right": "to the right", "up": "upwards", "down": "downwards"}
    extra: dict[str, dict[str, str]] = {}
    for video, *_, answer, qid, kind in (row for row in rows if row[0] in videos):
        extra.setdefault(video, {})[str(qid)] = towards.get(answer, answer) if kind == "TN" else answer
    return extra


def _questions(track: ShapeTrack, rng: np.random.Generator) -> list[tuple[str, str, str]]:
    asked = list(COLOURS)[int(rng.integers(len(COLOURS)))]
    return [(f"what color is the {track.shape}", track.colour, "DO"),
            (f"what shape is the {track.colour} object", track.shape, "DO"),
            (f"which direction does the {track.colour} {track.shape} move", track.direction, "TN"),
            (f"is the {track.shape} {asked}", "yes" if asked == track.colour else "no", "DB")]
