"""Reader for Fly vs. Fly behaviour clips (``dataset.format: flyvsfly``).

The Caltech Fly-vs-Fly release (Eyjolfsdottir et al. 2014) ships tracking and per-frame action
annotations in MATLAB files; no raw file was available to verify a parser against, and the
VideoPrism paper does not say how it cut clips. So this format is defined by vpbench, for the
user to convert the release into (not verified against any official file):

- ``behaviours.txt``: one behaviour name per line (``lunge``, ``wing threat``, ...); class index
  = line order; ``#`` comments allowed. Name the background class ``background`` (the task's
  metric excludes that name).
- ``clips_{train,test}.csv``: header ``video,start_frame,end_frame,labels``; ``video`` is a
  file under ``videos/`` (``.mp4`` added when it has no suffix); frames ``[start_frame,
  end_frame)`` 0-based; ``labels`` the ``;``-separated behaviour names present in the clip
  (empty = no behaviour of interest).

This reader must never accept a behaviour name that ``behaviours.txt`` does not list.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from vpbench.datasets.locate import VideoLocator
from vpbench.datasets.paths import annotation_path, video_dir
from vpbench.datasets.sample import DatasetSplit, MissingVideo, Sample
from vpbench.datasets.tabular import index_table, lookup, read_csv, read_lines
from vpbench.errors import AnnotationError
from vpbench.registry import TaskConfig

COLUMNS = ("video", "start_frame", "end_frame", "labels")


def read(task: TaskConfig, data_dir: Path, split: str, user_files: dict[str, Path]) -> DatasetSplit:
    classes_path = annotation_path(task, data_dir, "classes")
    names = read_behaviours(classes_path)
    classes = index_table(names)
    path = annotation_path(task, data_dir, split)
    rows = read_csv(path, required=COLUMNS, what="a clip list CSV (video,start_frame,end_frame,labels)")
    locator = VideoLocator(video_dir(task, data_dir, split))
    samples, missing, seen = [], [], set()
    for row in rows:
        video = row["video"].strip()
        if not video:
            raise row.error("column 'video' is empty")
        start, end = row.numeric("start_frame", int), row.numeric("end_frame", int)
        if end <= start:
            raise row.error(f"end_frame {end} is not after start_frame {start} (frames are [start, end))")
        names_in_row = [name.strip() for name in row["labels"].split(";") if name.strip()]
        labels = tuple(sorted({lookup(name, classes, where=f"{row.where}: column 'labels'", what="behaviour",
                                      listed_in=classes_path) for name in names_in_row}))
        relative = video if PurePosixPath(video).suffix else f"{video}.mp4"
        stem = PurePosixPath(relative).stem
        sample_id = f"{stem}_{start:06d}_{end:06d}"
        if sample_id in seen:
            raise row.error(f"clip {video} [{start}, {end}) appears twice")
        seen.add(sample_id)
        found, expected = locator.locate([relative], source=path, where=row.where)
        if found is None:
            missing.append(MissingVideo(sample_id, expected))
        samples.append(Sample(sample_id=sample_id, video_id=stem, video_path=found, frame_span=(start, end),
                              labels=labels))
    return DatasetSplit(task=task.name, split=split, samples=samples, class_names=names, missing=missing,
                        annotation_files=[classes_path, path],
                        notes=["Fly vs. Fly clip list in vpbench's documented CSV format (converted by the user "
                               "from the Caltech release)"])


def read_behaviours(path: Path) -> list[str]:
    lines = read_lines(path, what="behaviours.txt (one behaviour name per line)", comments=True)
    names = [text.strip() for _, text in lines]
    if not names:
        raise AnnotationError(f"{path}: no behaviour names")
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise AnnotationError(f"{path}: behaviour(s) {repeated} listed twice")
    return names
