"""What NExT-QA's multiple-choice and open-ended releases share: the question CSV and the video map.

Both CSVs start with ``video,frame_count,width,height,question,answer,qid,type`` (the
multiple-choice one adds ``a0..a4``); ``map_vid_vidorID.json`` maps a video id to its folder,
``"2909445186": "0101/2909445186"``, and the file is ``<videos>/0101/2909445186.mp4``. A question
is identified by ``(video, qid)``: qids restart at 0 in every video, and a pair is never accepted twice.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

from vpbench.datasets.fields import VideoFinder, text
from vpbench.datasets.paths import annotation_path, video_dir
from vpbench.datasets.tabular import read_csv, read_json
from vpbench.errors import AnnotationError
from vpbench.registry import TaskConfig

COLUMNS = ("video", "frame_count", "width", "height", "question", "answer", "qid", "type")


class NextVideos:
    """Resolves NExT video ids through ``map_vid_vidorID.json`` to files under ``dataset.videos``."""

    def __init__(self, task: TaskConfig, data_dir: Path, source: Path):
        self.map_path = annotation_path(task, data_dir, "video_map")
        self.folders = read_json(self.map_path, dict, what="the NExT-QA video map (map_vid_vidorID.json)")
        self.finder = VideoFinder(video_dir(task, data_dir), source)

    def find(self, sample_id: str, video: str, where: str) -> Path | None:
        relative = self.folders.get(video)
        if not isinstance(relative, str):
            raise AnnotationError(f"{where}: video {video!r} has no entry in {self.map_path.name}")
        return self.finder.find(sample_id, [relative], where)


def read_questions(path: Path, videos: NextVideos,
                   extra_columns: tuple[str, ...] = ()) -> Iterator[tuple[str, dict, dict]]:
    """``(where, row, fields)`` per question; ``fields`` are the Sample fields both releases share.

    A question appearing twice is an error: ``(video, qid)`` is the key results are matched by.
    """
    seen = set()
    for row in read_csv(path, required=COLUMNS + extra_columns, what="a NExT-QA question CSV"):
        where = row.where
        video, qid = text(row["video"], where, "video"), text(row["qid"], where, "qid")
        key = f"{video}_{qid}"
        if key in seen:
            raise AnnotationError(f"{where}: question (video {video}, qid {qid}) appears twice")
        seen.add(key)
        yield where, row, {
            "sample_id": key, "video_id": video, "video_path": videos.find(key, video, where),
            "question": text(row["question"], where, "question"), "question_type": text(row["type"], where, "type"),
            "meta": {"qid": qid, "frame_count": row["frame_count"], "width": row["width"], "height": row["height"]}}
