"""Tiny VATEX in the official JSON layout (``dataset.format: vatex_json``).

``vatex_training_v1.0.json`` and ``vatex_validation_v1.0.json`` are lists of ``{"videoID",
"enCap", "chCap"}`` with ten English captions (:func:`paraphrases` of the clip's facts) and ten
Chinese ones; ``vatex_public_test_english_v1.1.json`` lists ``{"videoID", "enCap"}`` (the public
test set's English release). A videoID is ``<youtube id>_<start:06d>_<end:06d>``; every other
YouTube id contains ``_``, so a reader splitting from the left would fail. Clips are
``videos/<videoID>.mp4``. Both VATEX tasks share this folder and the tiny suite writes it once,
so this writer always writes every file both read: the three splits (names from the task where
it declares the role, else the release's), and the user file ``test_ids`` (the HGR list the
retrieval task takes; here half of the validation clips).
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np

from vpbench.datasets.paths import video_dir
from vpbench.registry import TaskConfig
from vpbench.tiny import EVAL_CLIPS
from vpbench.tiny.video import random_clips, write_clip
from vpbench.tiny.writers._files import train_eval_clips, write_json, write_user_file, youtube_ids
from vpbench.tiny.writers._language import chinese_caption, paraphrases

FILES = {"train": "vatex_training_v1.0.json", "val": "vatex_validation_v1.0.json",
         "test": "vatex_public_test_english_v1.1.json"}
"""Split → the release's file name, used for splits the asking task does not declare."""


def write(task: TaskConfig, data_dir: Path, rng: np.random.Generator) -> None:
    train, validation = train_eval_clips(rng, "vatex", num_frames=32)
    ids = iter(youtube_ids(rng, len(train) + len(validation)))
    for split, clips in (("train", train), ("val", validation)):
        entries = _write_split(task, data_dir, split, clips, ids, rng)
        if split == "val":
            write_user_file(data_dir, "test_ids", [entry["videoID"] for entry in entries[::2]])
    test = random_clips(rng, EVAL_CLIPS, prefix="vatextest", num_frames=32)
    _write_split(task, data_dir, "test", test, iter(youtube_ids(rng, len(test))), rng)


def _write_split(task: TaskConfig, data_dir: Path, split: str, clips: list, ids: Iterator[str],
                 rng: np.random.Generator) -> list[dict]:
    entries = []
    for k, clip in enumerate(clips):
        youtube_id = next(ids)
        if k % 2:
            youtube_id = f"{youtube_id[:5]}_{youtube_id[6:]}"
        start = int(rng.integers(0, 200))
        video_id = f"{youtube_id}_{start:06d}_{start + int(clip.duration_s):06d}"
        write_clip(video_dir(task, data_dir) / f"{video_id}.mp4", clip)
        entry = {"videoID": video_id, "enCap": paraphrases(clip.subject, count=10)}
        entries.append(entry if split == "test" else {**entry, "chCap": [chinese_caption(clip.subject)] * 10})
    write_json(data_dir / task.dataset["annotations"].get(split, FILES[split]), entries)
    return entries
