"""Reader for AVA-Kinetics v1.0 (``dataset.format: ava_kinetics_csv``): AVA keyframes + Kinetics keyframes.

A split is the AVA v2.2 CSV of that split (read as :mod:`vpbench.datasets.ava_csv` reads it,
videos under ``dataset.videos.ava``) plus ``kinetics_<split>_v1.0.csv``, whose rows are
``youtube_id,timestamp,x1,y1,x2,y2,action_id`` with the timestamp in seconds of the original
YouTube video (one annotated keyframe per Kinetics-700 clip). Rows of only
``youtube_id,timestamp`` (keyframes without boxes) are skipped and counted.

Assumption about the Kinetics videos (the release ships none): they are Kinetics clips named as
the Kinetics crawler and mmaction2 name them, ``{youtube_id}_{start:06d}_{end:06d}.<ext>``,
anywhere under ``dataset.videos.kinetics`` (class sub-folders allowed). A keyframe belongs to a
clip of its YouTube id with ``start <= timestamp <= end``; when several clips contain it, the
one where it sits most centrally is used. The keyframe is then at ``timestamp - start`` seconds
in that file, and the clip is ``sampling.clip_s`` seconds around it, cut to the file. A keyframe
that no clip contains is reported missing; the reader never guesses another clip's time.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from vpbench.datasets import ava_common
from vpbench.datasets.fields import VIDEO_EXTENSIONS
from vpbench.datasets.ava_csv import movie_placer
from vpbench.datasets.paths import annotation_path, video_dir
from vpbench.datasets.sample import DatasetSplit
from vpbench.registry import TaskConfig

_CLIP_NAME = re.compile(r"^(?P<id>.+)_(?P<start>\d{6})_(?P<end>\d{6})(?P<ext>\.[A-Za-z0-9]+)$")


def read(task: TaskConfig, data_dir: Path, split: str, user_files: dict) -> DatasetSplit:
    ava = movie_placer(task, video_dir(task, data_dir, "ava"), annotation_path(task, data_dir, split))
    kinetics = clip_placer(task, video_dir(task, data_dir, "kinetics"))
    return ava_common.read_split(task, data_dir, split, user_files, [(split, ava), (f"kinetics_{split}", kinetics)])


def clip_placer(task: TaskConfig, root: Path) -> ava_common.Placer:
    """Keyframes of Kinetics clips ``{youtube_id}_{start:06d}_{end:06d}.<ext>`` found under ``root``."""
    clips = _index_clips(root)
    half = float(task.sampling["clip_s"]) / 2

    def place(keyframe: ava_common.Keyframe) -> ava_common.Placement:
        ts = keyframe.timestamp
        containing = [(start, end, path) for start, end, path in clips.get(keyframe.video_id, ())
                      if start <= ts <= end]
        expected = root / f"{keyframe.video_id}_<start>_<end>.mp4"
        if not containing:
            return ava_common.Placement(video_path=None, expected=expected)
        start, end, path = max(containing, key=lambda clip: min(ts - clip[0], clip[1] - ts))
        keyframe_s = ts - start
        return ava_common.Placement(
            video_path=path, expected=expected, keyframe_s=keyframe_s,
            clip_span_s=(max(0.0, keyframe_s - half), min(float(end - start), keyframe_s + half)),
            meta={"clip_start_s": float(start)})

    return place


def _index_clips(root: Path) -> dict[str, list[tuple[int, int, Path]]]:
    """YouTube id → clips (start, end, path) of every Kinetics-named video file under ``root``."""
    clips: dict[str, list[tuple[int, int, Path]]] = {}
    for folder, _, names in os.walk(root):
        for name in names:
            match = _CLIP_NAME.match(name)
            if match and match["ext"].lower() in VIDEO_EXTENSIONS:
                clips.setdefault(match["id"], []).append((int(match["start"]), int(match["end"]), Path(folder) / name))
    for entries in clips.values():
        entries.sort()
    return clips
