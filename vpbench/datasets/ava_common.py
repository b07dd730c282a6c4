"""The AVA keyframe format shared by AVA v2.2, AVA-Kinetics and ChimpACT readers.

All three release box CSVs without a header, one row per (person box, action):
``video_id,timestamp,x1,y1,x2,y2,action_id[,person_id]``, a ``.pbtxt`` label map, and
``video_id,timestamp`` excluded-timestamp lists. This module turns them into one
:class:`~vpbench.datasets.sample.Sample` per annotated keyframe; the readers only say where
each keyframe's video is (:data:`Placer`), because that is where the three datasets differ.

Conventions (those of the ActivityNet official evaluator, ``get_ava_performance.py``):

- Rows are grouped by (video, timestamp, box): one :class:`PersonBox` per distinct box, with
  the sorted original action ids of its rows (ids stay as in the CSV, e.g. 80 for
  "watch (a person)"). Person ids are not kept (the evaluator ignores them).
- Actions whose id is not in the label map are dropped (the 60-class evaluation list omits 20
  of AVA's 80 actions); a box left with no action and a keyframe left with no box are dropped,
  and the split's notes count them.
- Class index ``i`` (``DatasetSplit.class_names[i]``) is the ``i``-th label-map id in ascending
  order; every sample's ``meta["class_ids"]`` holds that id list, so index ``i`` means action
  id ``meta["class_ids"][i]``.
- ``meta["frame_key"]`` is the evaluator's frame identity ``"video_id,%.6f" % timestamp``, so
  ``0902`` and ``902`` name one frame; ``meta["timestamp"]`` is the CSV timestamp as a number.
- Person proposals (``dataset.user_files.<split>_proposals``) are AVA-style CSV rows
  ``video_id,timestamp,x1,y1,x2,y2,score`` or, as SlowFast's ``ava_*_predicted_boxes.csv``,
  ``video_id,timestamp,x1,y1,x2,y2,<action or empty>,score``. Pickled proposal files
  (mmaction2's ``.pkl``) are refused, never unpickled: a pickle can run code.

Parsing of the label map and box CSV is :mod:`vpbench.metrics.ava_io`'s (the evaluator must
read exactly what the reader reads); this module adds what a dataset needs on top.
"""

from __future__ import annotations

import decimal
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from vpbench.datasets.fields import number
from vpbench.datasets.paths import annotation_path, user_file
from vpbench.datasets.sample import DatasetSplit, MissingVideo, PersonBox, Sample
from vpbench.datasets.tabular import read_lines
from vpbench.errors import AnnotationError, PredictionFileError
from vpbench.metrics import ava_io
from vpbench.registry import TaskConfig


@dataclass(frozen=True)
class Keyframe:
    """One annotated keyframe: the CSV's video id and timestamp, and its person boxes."""

    video_id: str
    timestamp: float
    frame_key: str
    boxes: tuple[PersonBox, ...]
    source: Path
    line: int

    def where(self) -> str:
        """The keyframe's first row, for error messages."""
        return f"{self.source}: line {self.line} (video {self.video_id!r})"


@dataclass(frozen=True)
class Placement:
    """Where a keyframe's clip is: the file (None if missing) and the span to decode.

    ``expected`` is the path reported when the file is missing. ``keyframe_s`` is the
    keyframe's time within the file; ``frame_span`` replaces the spans in seconds for datasets
    whose timestamps are frame indices (ChimpACT).
    """

    video_path: Path | None
    expected: Path
    clip_span_s: tuple[float, float] | None = None
    keyframe_s: float | None = None
    frame_span: tuple[int, int] | None = None
    meta: dict | None = None


Placer = Callable[[Keyframe], Placement]
"""Maps a keyframe to its video and span; a reader's only dataset-specific part."""


def read_label_map(path: Path) -> dict[int, str]:
    """Action id → name from a ``.pbtxt`` label map (``item { name: "..." id: N }``)."""
    try:
        return ava_io.read_label_map(path)
    except PredictionFileError as error:
        raise AnnotationError(str(error)) from None


def read_keyframes(path: Path, label_map: dict[int, str]) -> tuple[list[Keyframe], dict[str, int]]:
    """The keyframes of a box CSV, in file order, and counts of what was dropped and why.

    Grouping is vectorised (AVA's train CSV has ~840k rows): one code per distinct
    (frame, box) in order of first appearance, then the sorted kept actions of each code.
    """
    try:
        table = ava_io.read_boxes(path, "groundtruth")
    except PredictionFileError as error:
        raise AnnotationError(str(error)) from None
    lines = _row_lines(path)
    check_boxes(table.boxes, path, lambda i: int(lines[table.row[i]]))
    keep = np.isin(table.action, np.fromiter(label_map, dtype=np.int64))
    box_of_row, first_row_of_box = _first_appearance(np.column_stack([table.frame, table.boxes]))
    box_frame, box_xyxy = table.frame[first_row_of_box], table.boxes[first_row_of_box]
    base = int(table.action.max(initial=0)) + 1
    pairs = np.unique(box_of_row[keep] * base + table.action[keep])
    box_actions: dict[int, list[int]] = {}
    for code, action in zip((pairs // base).tolist(), (pairs % base).tolist()):
        box_actions.setdefault(code, []).append(action)
    per_frame: dict[int, list[PersonBox]] = {}
    for code, (frame, box) in enumerate(zip(box_frame.tolist(), box_xyxy.tolist())):
        boxes = per_frame.setdefault(frame, [])
        if code in box_actions:
            boxes.append(PersonBox(box_xyxy=tuple(box), action_ids=tuple(box_actions[code])))
    first_row = np.full(len(table.frames), len(table.row), dtype=np.int64)
    np.minimum.at(first_row, table.frame, table.row)
    keyframes = []
    for frame, boxes in per_frame.items():
        if boxes:
            video_id, stamp = table.frames[frame].rsplit(",", 1)
            keyframes.append(Keyframe(video_id, float(stamp), table.frames[frame], tuple(boxes), path,
                                      int(lines[first_row[frame]])))
    dropped = {"rows with an action id outside the label map": int((~keep).sum()),
               "boxes left with no action": len(box_frame) - len(box_actions),
               "keyframes left with no box": len(per_frame) - len(keyframes),
               "keyframes listed without boxes": len(table.frames) - len(per_frame)}
    return keyframes, dropped


def _first_appearance(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the code of its distinct key (codes ordered by first appearance); per code, its first row."""
    if len(keys) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    _, first, inverse = np.unique(keys, axis=0, return_index=True, return_inverse=True)
    order = np.argsort(first)
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return rank[inverse.ravel()], first[order]


def read_excluded(path: Path) -> set[str]:
    """Frame keys listed in an excluded-timestamps CSV."""
    try:
        return ava_io.read_excluded(path)
    except PredictionFileError as error:
        raise AnnotationError(str(error)) from None


def read_proposals(path: Path) -> dict[str, list[PersonBox]]:
    """Person proposals by frame key, from an AVA-style CSV with a score column."""
    if path.suffix.lower() in (".pkl", ".pickle"):
        raise AnnotationError(
            f"{path}: pickled proposal files are refused (unpickling can run arbitrary code). Write the "
            "proposals as CSV rows 'video_id,timestamp,x1,y1,x2,y2,score' (boxes normalised to [0, 1]), "
            "e.g. SlowFast's ava_val_predicted_boxes.csv")
    proposals: dict[str, list[PersonBox]] = {}
    for line, content in read_lines(path, what="person proposals (AVA-style CSV with a score column)"):
        fields = [f.strip() for f in content.split(",")]
        if len(fields) not in (7, 8):
            raise AnnotationError(f"{path}: line {line}: {len(fields)} fields; expected "
                                  "video_id,timestamp,x1,y1,x2,y2,score (or ...,x2,y2,action_id,score)")
        where = f"{path}: line {line}"
        box = tuple(number(v, where, "box coordinate") for v in fields[2:6])
        check_boxes(np.array([box]), path, lambda i: line)
        score = number(fields[-1], where, "score")
        try:
            key = ava_io.frame_key(fields[0], fields[1])
        except decimal.InvalidOperation:
            raise AnnotationError(f"{where}: timestamp {fields[1]!r} is not a number") from None
        proposals.setdefault(key, []).append(PersonBox(box_xyxy=box, score=score))
    return proposals


def check_boxes(boxes: np.ndarray, path: Path, line_of: Callable[[int], int]) -> None:
    """Boxes must be normalised ``x1 <= x2``, ``y1 <= y2`` inside [0, 1]; else name the row's line."""
    if len(boxes) == 0:
        return
    bad = ((boxes < 0) | (boxes > 1)).any(axis=1) | (boxes[:, 2] < boxes[:, 0]) | (boxes[:, 3] < boxes[:, 1])
    if bad.any():
        row = int(np.argmax(bad))
        x1, y1, x2, y2 = boxes[row].tolist()
        raise AnnotationError(f"{path}: line {line_of(row)}: box x1,y1,x2,y2 = {x1},{y1},{x2},{y2} is not a "
                              "normalised box (expected 0 <= x1 <= x2 <= 1 and 0 <= y1 <= y2 <= 1)")


def _row_lines(path: Path) -> np.ndarray:
    """1-based line number of each non-blank line, i.e. of each row the CSV parser returns."""
    with open(path, "rb") as f:
        return np.array([number for number, line in enumerate(f, start=1) if line.strip()], dtype=np.int64)


def timestamp_text(timestamp: float) -> str:
    """A timestamp as AVA writes it: four zero-padded digits when whole (``0902``)."""
    return f"{int(timestamp):04d}" if float(timestamp).is_integer() else repr(timestamp)


def read_split(task: TaskConfig, data_dir: Path, split: str, user_files: dict,
               sources: list[tuple[str, Placer]]) -> DatasetSplit:
    """One split of an AVA-format dataset.

    ``sources`` pairs each box-CSV role of this split (``dataset.annotations.<role>``) with the
    placer for its videos (AVA-Kinetics has two: AVA movies and Kinetics clips).
    """
    label_path = annotation_path(task, data_dir, "label_map")
    label_map = read_label_map(label_path)
    class_ids = tuple(sorted(label_map))
    files = [label_path]
    notes = [f"class index i = action id class_ids[i], class_ids = {list(class_ids)} (ascending ids of "
             f"{label_path.name})"]
    excluded: set[str] = set()
    if f"{split}_excluded" in task.dataset["annotations"]:
        excluded_path = annotation_path(task, data_dir, f"{split}_excluded")
        excluded = read_excluded(excluded_path)
        files.append(excluded_path)
    proposals = _proposals(task, split, user_files, files, notes)

    samples: list[Sample] = []
    missing: list[MissingVideo] = []
    used_proposals: set[str] = set()
    for role, place in sources:
        path = annotation_path(task, data_dir, role)
        keyframes, dropped = read_keyframes(path, label_map)
        files.append(path)
        notes.extend(f"{path.name}: {count} {what} (dropped)" for what, count in dropped.items() if count)
        kept = [k for k in keyframes if k.frame_key not in excluded]
        if len(kept) < len(keyframes):
            notes.append(f"{path.name}: {len(keyframes) - len(kept)} keyframes in the excluded-timestamps list dropped")
        for keyframe in kept:
            placement = place(keyframe)
            sample_id = f"{keyframe.video_id},{timestamp_text(keyframe.timestamp)}"
            if placement.video_path is None:
                missing.append(MissingVideo(sample_id, placement.expected))
            frame_proposals = ()
            if proposals is not None:
                frame_proposals = tuple(proposals.get(keyframe.frame_key, ()))
                used_proposals.add(keyframe.frame_key)
            samples.append(Sample(
                sample_id=sample_id, video_id=keyframe.video_id, video_path=placement.video_path,
                clip_span_s=placement.clip_span_s, frame_span=placement.frame_span,
                keyframe_s=placement.keyframe_s, boxes=keyframe.boxes, proposals=frame_proposals,
                meta={"frame_key": keyframe.frame_key, "timestamp": keyframe.timestamp, "class_ids": class_ids,
                      **(placement.meta or {})}))
    if proposals is not None:
        without = sum(1 for s in samples if not s.proposals)
        unused = len(set(proposals) - used_proposals)
        if without:
            notes.append(f"{without} keyframes have no proposal in the proposals file")
        if unused:
            notes.append(f"{unused} proposal frames are not annotated keyframes of this split (ignored)")
    return DatasetSplit(task=task.name, split=split, samples=samples, class_names=[label_map[i] for i in class_ids],
                        missing=missing, annotation_files=files, notes=notes)


def _proposals(task: TaskConfig, split: str, user_files: dict, files: list[Path],
               notes: list[str]) -> dict[str, list[PersonBox]] | None:
    key = f"{split}_proposals"
    if key not in task.dataset.get("user_files", {}):
        return None
    path = user_file(task, user_files, key)
    if path is None:
        notes.append(f"no '{key}' user file: person boxes for this split are the ground-truth boxes")
        return None
    files.append(path)
    notes.append(f"person proposals from {path.name} (user file '{key}')")
    return read_proposals(path)
