"""Reader for Fly vs. Fly behaviour bouts (``dataset.format: flyvsfly``).

The Caltech Fly-vs-Fly release (Eyjolfsdottir et al. 2014) ships tracking and per-frame action
annotations in MATLAB files; no raw file was available to verify a parser against. The
benchmark the VideoPrism paper reports (App. H: the Sun et al. 2021b "Task Programming" split,
as SciVid re-releases it) classifies each frame from a clip centred on it, keeps only frames
with valid trajectories, and groups the release's behaviours into lunge, wing threat, tussle,
wing extension, circle, copulation and a background class (SciVid ``datasets.md``,
``data/readers/flyvsfly.py``). So this format, defined by vpbench for the user to convert the
release (or the Task Programming split) into, lists the labelled frames as bouts:

- ``behaviours.txt``: one behaviour name per line; class index = line order; ``#`` comments
  allowed. Name the background class ``background`` (the task's metric excludes that name).
- ``bouts_{train,test}.csv``: header ``video,start_frame,end_frame,labels``; ``video`` is a
  file under ``videos/`` (``.mp4`` added when it has no suffix); frames ``[start_frame,
  end_frame)`` 0-based; ``labels`` the ``;``-separated behaviour names of those frames (frames
  with no behaviour of interest name the background class: every frame keeps a label, as in
  SciVid's records). Rows may overlap: a frame's labels are the union of the rows covering it.
  A frame no row covers (no valid trajectory) is not a sample.

Every covered frame is a sample (those at multiples of ``dataset.options.sample_every[split]``),
its clip centred on it (:mod:`vpbench.datasets.clips`). This reader must never accept a
behaviour name that ``behaviours.txt`` does not list.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from vpbench.datasets.clips import centred_span, clip_geometry, sample_every, sampling_note
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
    frames, stride = clip_geometry(task)
    every = sample_every(task, split)
    path = annotation_path(task, data_dir, split)
    rows = read_csv(path, required=COLUMNS, what="a bout list CSV (video,start_frame,end_frame,labels)")
    locator = VideoLocator(video_dir(task, data_dir, split))
    videos: dict[str, tuple[Path | None, Path, dict[int, set[int]]]] = {}
    seen = set()
    for row in rows:
        video = row["video"].strip()
        if not video:
            raise row.error("column 'video' is empty")
        start, end = row.numeric("start_frame", int), row.numeric("end_frame", int)
        if start < 0 or end <= start:
            raise row.error(f"frames [{start}, {end}) are empty or negative (expected 0 <= start_frame < end_frame)")
        names_in_row = [name.strip() for name in row["labels"].split(";") if name.strip()]
        if not names_in_row:
            raise row.error("column 'labels' is empty; name the frames' behaviours, or the background class when "
                            "none of interest happens (a frame without a label would drop out of the mAP)")
        labels = {lookup(name, classes, where=f"{row.where}: column 'labels'", what="behaviour",
                         listed_in=classes_path) for name in names_in_row}
        relative = video if PurePosixPath(video).suffix else f"{video}.mp4"
        if (relative, start, end, frozenset(labels)) in seen:
            raise row.error(f"bout {video} [{start}, {end}) with these labels appears twice")
        seen.add((relative, start, end, frozenset(labels)))
        if relative not in videos:
            videos[relative] = (*locator.locate([relative], source=path, where=row.where), {})
        for frame in range(start, end):
            videos[relative][2].setdefault(frame, set()).update(labels)
    samples, missing = [], []
    for relative, (found, expected, frame_labels) in videos.items():
        stem = PurePosixPath(relative).stem
        for frame in sorted(f for f in frame_labels if f % every == 0):
            sample_id = f"{stem}_{frame:06d}"
            if found is None:
                missing.append(MissingVideo(sample_id, expected))
            samples.append(Sample(sample_id=sample_id, video_id=stem, video_path=found,
                                  frame_span=centred_span(frame, frames, stride),
                                  labels=tuple(sorted(frame_labels[frame])), meta={"label_frame": frame}))
    return DatasetSplit(task=task.name, split=split, samples=samples, class_names=names, missing=missing,
                        annotation_files=[classes_path, path],
                        notes=["Fly vs. Fly bouts in vpbench's documented CSV format (converted by the user from "
                               "the Caltech release or the Task Programming split)", sampling_note(task, split)])


def read_behaviours(path: Path) -> list[str]:
    lines = read_lines(path, what="behaviours.txt (one behaviour name per line)", comments=True)
    names = [text.strip() for _, text in lines]
    if not names:
        raise AnnotationError(f"{path}: no behaviour names")
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise AnnotationError(f"{path}: behaviour(s) {repeated} listed twice")
    return names
