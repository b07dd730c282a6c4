"""Reader for Charades v1 multi-label classification (``dataset.format: charades_csv``).

Verified against copies of the official CSVs (smpotdar/Gated-Spatio-Temporal-Energy-Graph):
header ``id,subject,scene,quality,relevance,verified,script,objects,descriptions,actions,length``,
CRLF line endings, fields quoted only when they contain commas, ``actions`` a ``;``-separated
list of ``cNNN start end`` (seconds) that may be empty (174 of 7,985 train videos have none).
``Charades_v1_classes.txt`` holds ``cNNN <name>`` lines, 157 classes. A video's targets are the
union of its action classes (the standard Charades mAP protocol); the timed actions are kept as
``segments``. Videos: ``Charades_v1_480/<id>.mp4``. This reader never drops a video with no
action: it is a valid all-negative row of the mAP.

Reversed spans: the released ``Charades_v1_train.csv`` has 7 actions in 4 videos whose end is
before their start (``00SL4``: ``c071 18.00 10.00``; also ``AKKWU``, ``IOL8Q``, ``LEOL6``). The
dataset authors' loader (gsig/charades-algorithms ``datasets/charadesrgb.py``) gives a video every
action's class as a video-level target whatever the times, and samples frames for an action only
where ``start < t < end``, which such a span never holds. This reader does the same: the class
counts for the video, the span is kept out of ``segments`` (it covers no frame), and the result
notes how many there were. Any other bad time (negative, not a number) is still an error.
"""

from __future__ import annotations

import re
from pathlib import Path

from vpbench.datasets.locate import VideoLocator
from vpbench.datasets.paths import annotation_path, video_dir
from vpbench.datasets.sample import DatasetSplit, MissingVideo, Sample, Segment
from vpbench.datasets.tabular import Row, index_table, lookup, parse_number, read_csv, read_lines
from vpbench.errors import AnnotationError
from vpbench.registry import TaskConfig

CLASS_ID = re.compile(r"^c\d{3}$")


def read(task: TaskConfig, data_dir: Path, split: str, user_files: dict[str, Path]) -> DatasetSplit:
    classes_path = annotation_path(task, data_dir, "classes")
    ids, names = read_classes(classes_path)
    index = index_table(ids)
    path = annotation_path(task, data_dir, split)
    rows = read_csv(path, required=("id", "actions"), what="a Charades CSV (id,...,actions,length)")
    locator = VideoLocator(video_dir(task, data_dir, split))
    samples, missing, seen, reversed_spans = [], [], set(), {}
    for row in rows:
        video_id = row["id"].strip()
        if not video_id:
            raise row.error("column 'id' is empty")
        if video_id in seen:
            raise row.error(f"video id '{video_id}' appears twice")
        seen.add(video_id)
        actions = parse_actions(row, index, classes_path)
        segments = tuple(s for s in actions if s.end_s >= s.start_s)
        if len(segments) < len(actions):
            reversed_spans[video_id] = [f"c{s.label:03d} {s.start_s:.2f} {s.end_s:.2f}" for s in actions
                                        if s.end_s < s.start_s]
        length = row.get("length", "").strip()
        duration = row.numeric("length", float) if length else None
        found, expected = locator.locate([f"{video_id}.mp4"], source=path, where=row.where)
        if found is None:
            missing.append(MissingVideo(video_id, expected))
        samples.append(Sample(sample_id=video_id, video_id=video_id, video_path=found,
                              labels=tuple(sorted({s.label for s in actions})), segments=segments,
                              duration_s=duration, meta={"scene": row.get("scene"),
                                                         "reversed_spans": reversed_spans.get(video_id, [])}))
    empty = sum(1 for s in samples if not s.labels)
    notes = [f"{empty} of {len(samples)} videos have no action (kept as all-negative rows)"]
    if reversed_spans:
        count = sum(len(spans) for spans in reversed_spans.values())
        shown = "; ".join(f"{video}: {', '.join(spans)}" for video, spans in list(reversed_spans.items())[:4])
        notes.append(f"{count} action span(s) in {len(reversed_spans)} video(s) end before they start ({shown}): "
                     "their classes count for the video (as the dataset authors' loader does); the spans cover "
                     "no frame and are left out of the segments")
    return DatasetSplit(task=task.name, split=split, samples=samples, class_names=names, missing=missing,
                        annotation_files=[classes_path, path], notes=notes)


def read_classes(path: Path) -> tuple[list[str], list[str]]:
    """(class ids ``c000``..., names) from ``Charades_v1_classes.txt``, in file order."""
    ids, names = [], []
    for line, text in read_lines(path, what="Charades_v1_classes.txt ('c000 Holding some clothes' per line)"):
        class_id, _, name = text.strip().partition(" ")
        if not CLASS_ID.match(class_id) or not name.strip():
            raise AnnotationError(f"{path}: line {line}: '{text.strip()}', expected 'cNNN <class name>'")
        if class_id in ids:
            raise AnnotationError(f"{path}: line {line}: class id {class_id} appears twice")
        ids.append(class_id)
        names.append(name.strip())
    return ids, names


def parse_actions(row: Row, index: dict[str, int], classes_path: Path) -> tuple[Segment, ...]:
    """The ``actions`` column: ``cNNN start end`` items separated by ``;``; empty means no action.

    A span whose end is before its start is returned as written (see the module docstring);
    a negative or non-numeric time is an error.
    """
    segments = []
    for item in filter(None, (part.strip() for part in row["actions"].split(";"))):
        parts = item.split()
        if len(parts) != 3:
            raise row.error(f"action '{item}' in column 'actions', expected 'cNNN start end'")
        label = lookup(parts[0], index, where=f"{row.where}: column 'actions'", what="class id",
                       listed_in=classes_path)
        start, end = parse_number(parts[1]), parse_number(parts[2])
        if start is None or end is None or start < 0 or end < 0:
            raise row.error(f"action '{item}' in column 'actions' has a bad time span, expected 'cNNN start end' "
                            "in seconds, both >= 0")
        segments.append(Segment(start_s=start, end_s=end, label=label))
    return tuple(segments)
