"""Tiny VATEX in the official JSON layout (``dataset.format: vatex_json``).

``vatex_training_v1.0.json`` and ``vatex_validation_v1.0.json`` are lists of ``{"videoID",
"enCap", "chCap"}`` with ten English captions (:func:`paraphrases` of the clip's facts) and ten
Chinese ones. A videoID is ``<youtube id>_<start:06d>_<end:06d>``; every other YouTube id
contains ``_``, so a reader splitting from the left would fail. Clips are ``videos/<videoID>.mp4``.
Both VATEX tasks share this folder, so the user file ``test_ids`` (the HGR list the retrieval task
takes; here half of the validation clips) is always written.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vpbench.datasets.paths import annotation_path, video_dir
from vpbench.registry import TaskConfig
from vpbench.tiny.video import write_clip
from vpbench.tiny.writers._files import train_eval_clips, write_json, write_user_file, youtube_ids
from vpbench.tiny.writers._language import chinese_caption, paraphrases


def write(task: TaskConfig, data_dir: Path, rng: np.random.Generator) -> None:
    train, evaluation = train_eval_clips(rng, "vatex", num_frames=32)
    ids = iter(youtube_ids(rng, len(train) + len(evaluation)))
    for split, clips in ((task.dataset["train_split"], train), (task.dataset["eval_split"], evaluation)):
        entries = []
        for k, clip in enumerate(clips):
            youtube_id = next(ids)
            if k % 2:
                youtube_id = f"{youtube_id[:5]}_{youtube_id[6:]}"
            start = int(rng.integers(0, 200))
            video_id = f"{youtube_id}_{start:06d}_{start + int(clip.duration_s):06d}"
            write_clip(video_dir(task, data_dir) / f"{video_id}.mp4", clip)
            entries.append({"videoID": video_id, "enCap": paraphrases(clip.subject, count=10),
                            "chCap": [chinese_caption(clip.subject)] * 10})
        write_json(annotation_path(task, data_dir, split), entries)
        if split == task.dataset["eval_split"]:
            write_user_file(data_dir, "test_ids", [entry["videoID"] for entry in entries[::2]])
