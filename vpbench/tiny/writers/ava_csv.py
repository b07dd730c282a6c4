"""Tiny AVA v2.2 in the official CSV layout (``dataset.format: ava_csv``).

Each "movie" ``videos/<id>.mp4`` is a 4-second clip of two moving shapes, the "persons". Their
boxes at keyframes 1, 2 and 3 s (timestamps written ``0001``..``0003``, so the default
``timestamp_offset`` of 0 applies: the movie starts at second 0) come from
:meth:`ShapeTrack.box_at`, and each person's action is its direction, mapped onto four real AVA
action ids (:data:`ACTIONS`, non-contiguous: 8, 12, 14, 80) listed in a four-item ``.pbtxt``.
Persons moving quickly get a second row with action 11 ("run/jog"), which is not in that label
map, as real training rows carry actions outside the 60 evaluated ones. One keyframe per split
is listed in the excluded-timestamps file and has no rows, as in the release. The user file
``val_proposals`` holds SlowFast-style detections (the true boxes jittered, high scores, plus one
low-scoring false box per keyframe).
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from vpbench.datasets.paths import annotation_path, video_dir
from vpbench.registry import TaskConfig
from vpbench.tiny import EVAL_CLIPS, TRAIN_CLIPS
from vpbench.tiny.video import COLOURS, DIRECTIONS, SHAPES, ShapeTrack, TinyClip, random_clips, write_clip
from vpbench.tiny.writers._files import write_text, write_user_file, youtube_ids

ACTIONS = {"left": (14, "walk"), "right": (12, "stand"), "up": (80, "watch (a person)"), "down": (8, "lie/sleep")}
"""Direction → (AVA action id, AVA name)."""
QUICK_ACTION = 11
"""AVA's "run/jog": added for quickly moving persons; deliberately absent from the tiny label map."""
KEYFRAME_SECONDS = (1, 2, 3)


def write(task: TaskConfig, data_dir: Path, rng: np.random.Generator) -> None:
    ids = iter(youtube_ids(rng, TRAIN_CLIPS + EVAL_CLIPS))
    write_label_map(annotation_path(task, data_dir, "label_map"), ACTIONS.values())
    for split, count in ((task.dataset["train_split"], TRAIN_CLIPS), (task.dataset["eval_split"], EVAL_CLIPS)):
        clips = two_person_clips(rng, count, prefix=f"ava{split}")
        movies = [(next(ids), clip) for clip in clips]
        rows, excluded, proposals = write_movies(video_dir(task, data_dir), movies, rng)
        write_text(annotation_path(task, data_dir, split), rows)
        write_text(annotation_path(task, data_dir, f"{split}_excluded"), excluded)
        if split == task.dataset["eval_split"]:
            write_user_file(data_dir, "val_proposals", proposals)


def two_person_clips(rng: np.random.Generator, count: int, prefix: str) -> list[TinyClip]:
    """Clips of two objects moving along the same axis in separate lanes, so their boxes never overlap.

    The subject's facts cycle through the fact grid (:func:`random_clips`); the second object
    has random colour and shape and a random direction on the subject's axis.
    """
    clips = []
    for clip in random_clips(rng, count, prefix=prefix, num_frames=32):
        horizontal = clip.subject.direction in ("left", "right")
        tracks = []
        for lane, (colour, shape, direction) in zip((0.25, 0.75), (
                (clip.subject.colour, clip.subject.shape, clip.subject.direction),
                (list(COLOURS)[rng.integers(len(COLOURS))], SHAPES[rng.integers(len(SHAPES))],
                 ("left", "right")[rng.integers(2)] if horizontal else ("up", "down")[rng.integers(2)]))):
            radius = clip.size * float(rng.uniform(0.12, 0.18))
            forward = DIRECTIONS[direction][0 if horizontal else 1]
            along = radius + 1 if forward > 0 else clip.size - radius - 1
            across = lane * clip.size
            start = (along, across) if horizontal else (across, along)
            speed = clip.subject.speed if not tracks else ("quickly", "slowly")[rng.integers(2)]
            tracks.append(ShapeTrack(colour, shape, direction, speed, start, radius))
        clips.append(TinyClip(clip.clip_id, tuple(tracks), num_frames=clip.num_frames, fps=clip.fps, size=clip.size))
    return clips


def write_movies(folder: Path, movies: Sequence[tuple[str, TinyClip]], rng: np.random.Generator,
                 ) -> tuple[list[str], list[str], list[str]]:
    """Write the movies; return their box rows, excluded-timestamp rows and proposal rows.

    The first movie's last keyframe is the excluded one (no box rows, no proposals).
    """
    rows, excluded, proposals = [], [], []
    for k, (video_id, clip) in enumerate(movies):
        write_clip(folder / f"{video_id}.mp4", clip)
        for second in KEYFRAME_SECONDS:
            stamp = f"{second:04d}"
            if k == 0 and second == KEYFRAME_SECONDS[-1]:
                excluded.append(f"{video_id},{stamp}")
                continue
            rows += box_rows(video_id, stamp, clip, second * clip.fps, ACTIONS, person_ids=True)
            proposals += proposal_rows(video_id, stamp, clip, second * clip.fps, rng)
    return rows, excluded, proposals


def box_rows(video_id: str, stamp: str, clip: TinyClip, frame: int, actions: dict[str, tuple[int, str]],
             person_ids: bool, quick_action: int | None = QUICK_ACTION) -> list[str]:
    """One row per (person, action) at ``frame``: ``video,stamp,x1,y1,x2,y2,action[,person]``."""
    rows = []
    for person, track in enumerate(clip.objects):
        box = ",".join(f"{v:.3f}" for v in track.box_at(frame, clip.size))
        ids = [actions[track.direction][0]] + ([quick_action] if quick_action and track.speed == "quickly" else [])
        rows += [f"{video_id},{stamp},{box},{action}" + (f",{person}" if person_ids else "") for action in ids]
    return rows


def proposal_rows(video_id: str, stamp: str, clip: TinyClip, frame: int, rng: np.random.Generator) -> list[str]:
    """Detector-like person boxes: each true box jittered (score 0.85-1), one false box (score < 0.5)."""
    rows = []
    boxes = [np.array(track.box_at(frame, clip.size)) for track in clip.objects]
    boxes.append(np.array([0.0, 0.0, 0.2, 0.2]) + rng.uniform(0, 0.1))
    scores = [rng.uniform(0.85, 1.0) for _ in clip.objects] + [rng.uniform(0.05, 0.5)]
    for box, score in zip(boxes, scores):
        x1, y1, x2, y2 = np.clip(box + rng.uniform(-0.01, 0.01, size=4), 0.0, 1.0)
        rows.append(f"{video_id},{stamp},{min(x1, x2):.3f},{min(y1, y2):.3f},{max(x1, x2):.3f},{max(y1, y2):.3f},,"
                    f"{score:.6f}")
    return rows


def write_label_map(path: Path, items: Iterable[tuple[int, str]]) -> Path:
    """A ``.pbtxt`` label map in the release's item format, ids ascending."""
    lines = []
    for action_id, name in sorted(items):
        lines += ["item {", f'  name: "{name}"', f"  id: {action_id}", "}"]
    return write_text(path, lines)
