"""Tiny Diving48 (V2 labels) in the official JSON layout (``dataset.format: diving48_json``).

``Diving48_vocab.json`` (four-tuples), ``Diving48_V2_{train,test}.json`` (lists of
``{"vid_name", "label", "start_frame", "end_frame"}``) and trimmed clips ``rgb/<vid_name>.mp4``
with names like the release's (``-mmq0PT-u8k_00155``). The tiny vocabulary is the first four
entries of the real one, and a clip's class is chosen by its subject's colour.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vpbench.datasets.paths import annotation_path, video_dir
from vpbench.registry import TaskConfig
from vpbench.tiny.video import COLOURS, write_clips
from vpbench.tiny.writers._files import train_eval_clips, write_json, youtube_ids

VOCAB = [["Back", "15som", "05Twis", "FREE"], ["Back", "15som", "15Twis", "FREE"],
         ["Back", "15som", "25Twis", "FREE"], ["Back", "15som", "NoTwis", "PIKE"]]
"""The first four classes of the real ``Diving48_vocab.json``."""


def write(task: TaskConfig, data_dir: Path, rng: np.random.Generator) -> None:
    write_json(annotation_path(task, data_dir, "vocab"), VOCAB, indent=2)
    colour_class = {colour: index for index, colour in enumerate(sorted(COLOURS))}
    train, evaluation = train_eval_clips(rng, "diving", num_frames=32)
    videos = iter(youtube_ids(rng, len(train) + len(evaluation)))
    jobs = []
    for split, clips in (("train", train), ("test", evaluation)):
        entries = []
        for clip in clips:
            name = f"{next(videos)}_{int(rng.integers(0, 400)):05d}"
            entries.append({"vid_name": name, "label": colour_class[clip.subject.colour], "start_frame": 0,
                            "end_frame": clip.num_frames})
            jobs.append((video_dir(task, data_dir, split) / f"{name}.mp4", clip, "h264"))
        write_json(annotation_path(task, data_dir, split), sorted(entries, key=lambda e: e["label"]), indent=2)
    write_clips(jobs)
