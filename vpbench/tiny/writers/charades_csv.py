"""Tiny Charades v1 in the official CSV layout (``dataset.format: charades_csv``).

``Charades_v1_{train,test}.csv`` with the release's eleven columns and CRLF line endings,
fields quoted only where they contain commas (scripts and descriptions do), ``actions`` as
``cNNN start end`` items; ``Charades_v1_classes.txt``; videos ``Charades_v1_480/<id>.mp4``.
Each clip shows two objects; its actions are the classes for the colours red/green/blue and
the shapes circle/triangle of those objects (five classes). Three test clips show only yellow
squares, so they have no action at all, like Charades videos with an empty ``actions`` field.
Video ids start with A-M; the Charades-STA writer, which shares this folder, uses N-Z.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from vpbench.datasets.paths import video_dir
from vpbench.registry import TaskConfig
from vpbench.tiny.video import TinyClip, write_clips
from vpbench.tiny.writers._files import short_ids, train_eval_clips, write_csv, write_text

CLASSES = [("colour", "red", "Holding something red"), ("colour", "green", "Holding something green"),
           ("colour", "blue", "Holding something blue"), ("shape", "circle", "Holding a circle"),
           ("shape", "triangle", "Holding a triangle")]
COLUMNS = ["id", "subject", "scene", "quality", "relevance", "verified", "script", "objects", "descriptions",
           "actions", "length"]
DEFAULT_FILES = {"train": "Charades_v1_train.csv", "test": "Charades_v1_test.csv", "classes": "Charades_v1_classes.txt"}
SCENES = ["Kitchen", "Bedroom", "Living room", "Closet / Walk-in closet / Spear closet"]
EMPTY_TEST_CLIPS = (0, 8, 16)
"""Test clips redrawn as yellow squares only: no class applies, so their actions are empty."""


def write(task: TaskConfig, data_dir: Path, rng: np.random.Generator) -> None:
    files = {role: data_dir / task.dataset["annotations"].get(role, name) for role, name in DEFAULT_FILES.items()}
    write_text(files["classes"], [f"c{index:03d} {name}" for index, (_, _, name) in enumerate(CLASSES)], "\r\n")
    train, evaluation = train_eval_clips(rng, "charades", num_objects=2, num_frames=32)
    evaluation = [_yellow_squares(clip) if i in EMPTY_TEST_CLIPS else clip for i, clip in enumerate(evaluation)]
    ids = iter(short_ids(rng, len(train) + len(evaluation), first="ABCDEFGHIJKLM"))
    jobs = []
    for split, clips in (("train", train), ("test", evaluation)):
        rows = []
        for clip in clips:
            video_id = next(ids)
            rows.append(_row(video_id, clip, rng))
            jobs.append((video_dir(task, data_dir, split) / f"{video_id}.mp4", clip, "h264"))
        write_csv(files[split], COLUMNS, rows, "\r\n")
    write_clips(jobs)


def actions(clip: TinyClip) -> list[int]:
    """Class indices whose colour or shape one of the clip's objects has."""
    return [index for index, (kind, value, _) in enumerate(CLASSES)
            if any(getattr(obj, kind) == value for obj in clip.objects)]


def _row(video_id: str, clip: TinyClip, rng: np.random.Generator) -> list[str]:
    first, second = clip.objects
    duration = clip.duration_s
    script = f"A {first.colour} {first.shape} moves {first.direction}, while a {second.colour} {second.shape} moves."
    descriptions = f"{first.describe()}, quickly.;{second.describe()}"
    return [video_id, f"{int(rng.integers(1000, 9999)):04X}"[-4:], SCENES[int(rng.integers(len(SCENES)))],
            str(int(rng.integers(5, 8))), str(int(rng.integers(5, 8))), "Yes", script,
            ";".join(sorted({first.shape, second.shape})), descriptions,
            ";".join(f"c{index:03d} 0.00 {duration:.2f}" for index in actions(clip)), f"{duration:.2f}"]


def _yellow_squares(clip: TinyClip) -> TinyClip:
    return replace(clip, objects=tuple(replace(obj, colour="yellow", shape="square") for obj in clip.objects))
