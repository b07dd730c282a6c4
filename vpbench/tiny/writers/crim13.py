"""Tiny CRIM13 in the layout :mod:`vpbench.datasets.crim13` reads (``dataset.format: crim13``).

``splits/{train,test}.txt`` (video ids), one Caltech Behavior Annotator file per video in
``annotations/<id>.txt`` (header, configuration with the twelve CRIM13 behaviours, an ``S1``
stream of 1-based inclusive bouts, and an ``S2`` stream the reader must ignore), and both camera
views as ``videos/<id>_side.mp4`` and ``videos/<id>_top.mp4`` (the top view is the side view
rotated, so the two files differ). Both tasks of this format share the folder, so both views are
always written. A recording is four parts of ``PART_FRAMES`` frames; each part's
bout is the behaviour of its subject's colour (red attack, green sniff, blue approach, yellow
other).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vpbench.datasets.paths import annotation_path, video_dir
from vpbench.registry import TaskConfig
from vpbench.tiny.video import render, write_video
from vpbench.tiny.writers._files import PART_FRAMES, chunks, train_eval_clips, write_text

CONFIGURATION = [("approach", "a"), ("attack", "q"), ("copulation", "c"), ("chase", "h"), ("circle", "i"),
                 ("drink", "d"), ("eat", "e"), ("clean", "l"), ("sniff", "s"), ("up", "u"), ("walk_away", "w"),
                 ("other", "o")]
BEHAVIOUR = {"red": "attack", "green": "sniff", "blue": "approach", "yellow": "other"}
CLIPS_PER_VIDEO = 4


def write(task: TaskConfig, data_dir: Path, rng: np.random.Generator) -> None:
    options = task.dataset.get("options", {})
    annotation_dir = data_dir / options.get("annotation_dir", "annotations")
    train, evaluation = train_eval_clips(rng, "crim", num_frames=PART_FRAMES)
    number = 0
    for split, clips in (("train", train), ("test", evaluation)):
        ids = []
        for parts in chunks(clips, CLIPS_PER_VIDEO):
            number += 1
            video_id = f"crim{number:03d}"
            ids.append(video_id)
            frames = np.concatenate([render(part) for part in parts])
            folder = video_dir(task, data_dir, split)
            write_video(folder / f"{video_id}_side.mp4", frames, parts[0].fps)
            write_video(folder / f"{video_id}_top.mp4", np.ascontiguousarray(np.rot90(frames, axes=(1, 2))),
                        parts[0].fps)
            bouts = [(k * PART_FRAMES + 1, (k + 1) * PART_FRAMES, BEHAVIOUR[part.subject.colour])
                     for k, part in enumerate(parts)]
            write_text(annotation_dir / f"{video_id}.txt", annotation_lines(bouts))
        write_text(annotation_path(task, data_dir, split), ids)


def annotation_lines(bouts: list[tuple[int, int, str]]) -> list[str]:
    """A Caltech Behavior Annotator file: header, configuration, stream S1 (the bouts), stream S2."""
    lines = ["Caltech Behavior Annotator - Annotation File", "", "Configuration file:"]
    lines += [f"{name}\t{key}" for name, key in CONFIGURATION]
    lines += ["", "S1:\tstart\tend\ttype", "-----------------------------"]
    lines += [f"\t{start}\t{end}\t{name}" for start, end, name in bouts]
    lines += ["", "S2:\tstart\tend\ttype", "-----------------------------", f"\t1\t{bouts[-1][1]}\tother"]
    return lines
