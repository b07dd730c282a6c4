"""Tiny AVA-Kinetics v1.0 in the official layout (``dataset.format: ava_kinetics_csv``).

Half of each split is tiny AVA (written as :mod:`vpbench.tiny.writers.ava_csv` writes it, movies
under ``videos/ava``); the other half is ``kinetics_<split>_v1.0.csv``: rows
``youtube_id,timestamp,x1,y1,x2,y2,action_id`` (seven fields, no person id) for one keyframe per
Kinetics clip, the timestamp in seconds of the original YouTube video. The clips are
``videos/kinetics/{youtube_id}_{start:06d}_{end:06d}.mp4`` with the keyframe in their middle;
a few YouTube ids also get a second clip that does not contain the keyframe, and the training
CSV lists a few keyframes without boxes (``youtube_id,timestamp``), both as in real downloads.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vpbench.datasets.paths import annotation_path, video_dir
from vpbench.registry import TaskConfig
from vpbench.tiny import EVAL_CLIPS, TRAIN_CLIPS
from vpbench.tiny.video import write_clip
from vpbench.tiny.writers._files import write_text, write_user_file, youtube_ids
from vpbench.tiny.writers.ava_csv import (ACTIONS, box_rows, proposal_rows, two_person_clips, write_label_map,
                                          write_movies)

DECOY_CLIPS = 3
"""Per split, YouTube ids that also have a clip elsewhere in the video (not containing the keyframe)."""


def write(task: TaskConfig, data_dir: Path, rng: np.random.Generator) -> None:
    ids = iter(youtube_ids(rng, TRAIN_CLIPS + EVAL_CLIPS))
    write_label_map(annotation_path(task, data_dir, "label_map"), ACTIONS.values())
    kinetics_dir = video_dir(task, data_dir, "kinetics")
    for split, count in ((task.dataset["train_split"], TRAIN_CLIPS), (task.dataset["eval_split"], EVAL_CLIPS)):
        clips = two_person_clips(rng, count, prefix=f"avak{split}")
        half = count // 2
        rows, excluded, proposals = write_movies(video_dir(task, data_dir, "ava"),
                                                 [(next(ids), clip) for clip in clips[:half]], rng)
        kinetics_rows = []
        for k, clip in enumerate(clips[half:]):
            youtube_id = next(ids)
            start = int(rng.integers(10, 300))
            end = start + int(clip.duration_s)
            keyframe = start + int(clip.duration_s) // 2
            frame = (keyframe - start) * clip.fps
            write_clip(kinetics_dir / f"{youtube_id}_{start:06d}_{end:06d}.mp4", clip)
            if k < DECOY_CLIPS:
                write_clip(kinetics_dir / f"{youtube_id}_{end + 20:06d}_{end + 24:06d}.mp4", clip)
                if split == task.dataset["train_split"]:
                    kinetics_rows.append(f"{youtube_id},{end + 22}")
            kinetics_rows += box_rows(youtube_id, str(keyframe), clip, frame, ACTIONS, person_ids=False)
            proposals += proposal_rows(youtube_id, str(keyframe), clip, frame, rng)
        write_text(annotation_path(task, data_dir, split), rows)
        write_text(annotation_path(task, data_dir, f"kinetics_{split}"), kinetics_rows)
        write_text(annotation_path(task, data_dir, f"{split}_excluded"), excluded)
        if split == task.dataset["eval_split"]:
            write_user_file(data_dir, "val_proposals", proposals)
