"""Reader for AVA v2.2 (``dataset.format: ava_csv``): one sample per annotated keyframe.

Files as released in ``ava_v2.2.zip`` (box CSVs without header, the 60-class ``.pbtxt``,
excluded timestamps); conventions in :mod:`vpbench.datasets.ava_common`. Videos are the movies
as the CVDF mirror serves them, ``<videos>/<video_id>.<mp4|mkv|webm>``; a CSV timestamp is the
second in that movie (902..1798). Users who keep mmaction2's 15-minute cuts
(``ava_videos_15min``, starting at second 900) set ``dataset.options.timestamp_offset: 900``:
the keyframe then sits at ``timestamp - 900`` seconds in the file. The clip is
``sampling.clip_s`` seconds centred on the keyframe (VideoGLUE), clamped at the file start.
A movie that is not on disk is reported as missing, never an error.
"""

from __future__ import annotations

from pathlib import Path

from vpbench.datasets import ava_common
from vpbench.datasets.fields import VideoFinder
from vpbench.datasets.paths import annotation_path, video_dir
from vpbench.datasets.sample import DatasetSplit
from vpbench.errors import AnnotationError
from vpbench.registry import TaskConfig


def read(task: TaskConfig, data_dir: Path, split: str, user_files: dict) -> DatasetSplit:
    place = movie_placer(task, video_dir(task, data_dir), annotation_path(task, data_dir, split))
    return ava_common.read_split(task, data_dir, split, user_files, [(split, place)])


def movie_placer(task: TaskConfig, root: Path, source: Path) -> ava_common.Placer:
    """Keyframes of whole movies named ``<video_id>.<ext>`` under ``root``."""
    finder = VideoFinder(root, source)
    offset = float(task.dataset.get("options", {}).get("timestamp_offset", 0))
    half = float(task.sampling["clip_s"]) / 2

    def place(keyframe: ava_common.Keyframe) -> ava_common.Placement:
        where = keyframe.where()
        keyframe_s = keyframe.timestamp - offset
        if keyframe_s < 0:
            raise AnnotationError(f"{where}: timestamp {keyframe.timestamp:g} is before "
                                  f"dataset.options.timestamp_offset {offset:g} (the second the video files start at)")
        found, expected = finder.locate([keyframe.video_id], where)
        return ava_common.Placement(
            video_path=found, expected=expected, clip_span_s=(max(0.0, keyframe_s - half), keyframe_s + half),
            keyframe_s=keyframe_s)

    return place
