"""Tiny MSR-VTT in its official layouts (``dataset.format: msrvtt_json``).

The captioning and retrieval tasks share the folder ``msrvtt``, and the tiny suite writes it once
for whichever task asks first, so this writer always writes every file both tasks read:
``train_val_videodatainfo.json`` (splits "train" and "validate") and ``test_videodatainfo.json``
(keys with spaces, ten captions per video: :func:`paraphrases` of its facts), CLIP4Clip's
``MSRVTT_data.json`` (all videos and sentences), ``MSRVTT_train.9k.csv`` (the train and
validate videos) and ``MSRVTT_JSFUSION_test.csv`` (one caption per test video, header
``key,vid_key,video_id,sentence``). File names come from the task where it declares the role,
else the release's names. Videos are ``video<N>.mp4``, numbered train, validate, test as in the
release.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vpbench.datasets.paths import video_dir
from vpbench.registry import TaskConfig
from vpbench.tiny.video import COLOURS, write_clip
from vpbench.tiny.writers._files import train_eval_clips, write_csv, write_json, youtube_ids
from vpbench.tiny.writers._language import paraphrases

FILES = {"train": "train_val_videodatainfo.json", "test": "test_videodatainfo.json", "data": "MSRVTT_data.json",
         "train_9k": "MSRVTT_train.9k.csv", "test_1k": "MSRVTT_JSFUSION_test.csv"}
"""Annotation role → the release's file name, used for roles the asking task does not declare."""
VALIDATE = 4
"""How many of the training clips are the "validate" split (MSR-VTT: 497 of 7,010)."""
INFO = {"contributor": "vpbench tiny suite", "data_created": "2024-01-01", "version": "1.0",
        "description": "procedural clips in the MSR-VTT layout", "year": "2024"}


def write(task: TaskConfig, data_dir: Path, rng: np.random.Generator) -> None:
    train, evaluation = train_eval_clips(rng, "msrvtt", num_frames=32)
    urls = iter(youtube_ids(rng, len(train) + len(evaluation)))
    videos, sentences, clip_of = [], [], {}
    for number, clip in enumerate(train + evaluation):
        video_id = f"video{number}"
        split = "train" if number < len(train) - VALIDATE else "validate" if number < len(train) else "test"
        start = round(float(rng.uniform(0, 100)), 2)
        videos.append({"category": list(COLOURS).index(clip.subject.colour),
                       "url": f"https://www.youtube.com/watch?v={next(urls)}", "video_id": video_id,
                       "start time": start, "end time": round(start + clip.duration_s, 2), "split": split,
                       "id": number})
        sentences += [{"caption": caption, "video_id": video_id, "sen_id": len(sentences) + k}
                      for k, caption in enumerate(paraphrases(clip.subject, count=10))]
        clip_of[video_id] = clip
        write_clip(video_dir(task, data_dir) / f"{video_id}.mp4", clip)

    def subset(splits: tuple[str, ...]) -> dict:
        chosen = [v for v in videos if v["split"] in splits]
        ids = {v["video_id"] for v in chosen}
        return {"info": INFO, "videos": chosen, "sentences": [s for s in sentences if s["video_id"] in ids]}

    write_json(_path(task, data_dir, "train"), subset(("train", "validate")))
    write_json(_path(task, data_dir, "test"), subset(("test",)))
    write_json(_path(task, data_dir, "data"), subset(("train", "validate", "test")))
    write_csv(_path(task, data_dir, "train_9k"), ["video_id"],
              [[v["video_id"]] for v in videos if v["split"] != "test"])
    tests = [v["video_id"] for v in videos if v["split"] == "test"]
    write_csv(_path(task, data_dir, "test_1k"), ["key", "vid_key", "video_id", "sentence"],
              [[f"ret{k}", f"msr{video_id[5:]}", video_id,
                paraphrases(clip_of[video_id].subject, count=10)[int(rng.integers(10))]]
               for k, video_id in enumerate(tests)])


def _path(task: TaskConfig, data_dir: Path, role: str) -> Path:
    declared = task.dataset["annotations"]
    if role == "test" and "test_full" in declared:
        return data_dir / declared["test_full"]
    return data_dir / declared.get(role, FILES[role])
