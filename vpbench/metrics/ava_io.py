"""Readers for the official AVA files: the ``.pbtxt`` label map, box CSVs and excluded timestamps.

Formats (research.google.com/ava/download.html; ActivityNet ``Evaluation/get_ava_performance.py``):

- label map: ``item { name: "bend/bow (at the waist)" id: 1 }`` blocks (``label_id`` also
  accepted, as the official reader does; ``label_type`` ignored);
- box CSV, no header: ``video_id,timestamp,x1,y1,x2,y2,action_id`` then, in ground truth, an
  optional ``person_id``, and in detections a mandatory ``score``; a row of only
  ``video_id,timestamp`` lists a frame without boxes;
- excluded timestamps: ``video_id,timestamp``.

A frame is keyed as the official evaluator keys it, ``"%s,%.6f" % (video_id, Decimal(ts))``, so
``0902`` and ``902`` are the same frame. Reading uses pandas' C parser, because a detection file
for AVA val has millions of rows; every bad row is still reported by its line number. This
module only parses (the dataset reader may reuse it); the evaluation is in :mod:`vpbench.metrics.ava`.
"""

from __future__ import annotations

import decimal
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from vpbench.errors import PredictionFileError
from vpbench.textio import read_text

_ITEM = re.compile(r"item\s*\{(.*?)\}", re.DOTALL)
_NAME = re.compile(r"""\bname\s*:\s*(?:"([^"]*)"|'([^']*)')""")
_ID = re.compile(r"\b(?:label_)?id\s*:\s*(-?\d+)")


def read_label_map(path: str | os.PathLike) -> dict[int, str]:
    """Class id → name from a ``.pbtxt`` label map (e.g. the 60-class AVA list)."""
    path = Path(path)
    text = read_text(path, what="a .pbtxt label map", error=PredictionFileError)
    label_map: dict[int, str] = {}
    for number, match in enumerate(_ITEM.finditer(text), start=1):
        body = match.group(1)
        name, class_id = _NAME.search(body), _ID.search(body)
        line = text.count("\n", 0, match.start()) + 1
        if name is None or class_id is None:
            raise PredictionFileError(f"{path}: line {line}: item {number} needs both a name and an id")
        key = int(class_id.group(1))
        if key < 1:
            raise PredictionFileError(f"{path}: line {line}: class id {key}; AVA ids start at 1")
        if key in label_map:
            raise PredictionFileError(f"{path}: line {line}: class id {key} appears twice")
        label_map[key] = name.group(1) if name.group(1) is not None else name.group(2)
    if not label_map:
        raise PredictionFileError(f"{path}: no 'item {{ name: ... id: ... }}' entries found")
    return label_map


def frame_key(video_id: str, timestamp: str) -> str:
    """The official evaluator's frame identity: ``video_id,<timestamp with 6 decimals>``."""
    return "%s,%.6f" % (video_id, decimal.Decimal(timestamp))


@dataclass
class BoxTable:
    """The box rows of one AVA CSV, in file order.

    ``frames`` lists every frame key the file names (including frames given by a 2-field row),
    in order of first appearance; ``frame`` indexes it per box row. ``boxes`` are
    ``x1, y1, x2, y2``. ``row`` is each box's 0-based position among the file's rows: the
    tie-break order and, through :func:`line_of_row`, the line named in error messages.
    """

    path: Path
    frames: list[str]
    frame: np.ndarray
    boxes: np.ndarray
    action: np.ndarray
    score: np.ndarray
    row: np.ndarray


_NUMERIC = range(2, 10)


def read_boxes(path: str | os.PathLike, kind: Literal["groundtruth", "detections"]) -> BoxTable:
    """Parse a ground-truth (``kind="groundtruth"``) or detection box CSV; see the module docstring."""
    import pandas as pd

    path = Path(path)
    if not path.exists():
        raise PredictionFileError(f"{path}: file not found")
    if path.is_dir():
        raise PredictionFileError(f"{path}: is a directory, expected an AVA box CSV")
    expected = ("video_id,timestamp,x1,y1,x2,y2,action_id[,person_id]" if kind == "groundtruth"
                else "video_id,timestamp,x1,y1,x2,y2,action_id,score")
    try:
        table = pd.read_csv(path, header=None, names=range(10), index_col=False, engine="c",
                            dtype={0: str, 1: str, **{k: np.float64 for k in _NUMERIC}},
                            keep_default_na=False, na_values={k: ["", "nan", "NaN", "NAN"] for k in _NUMERIC})
    except pd.errors.EmptyDataError:
        return BoxTable(path, [], *(np.zeros(shape, dtype) for shape, dtype in (
            (0, np.int64), ((0, 4), np.float64), (0, np.int64), (0, np.float64), (0, np.int64))))
    except pd.errors.ParserError as error:
        raise PredictionFileError(f"{path}: {error}; expected {expected}") from None
    except ValueError:
        _raise_first_non_number(path)
    values = table[list(_NUMERIC)].to_numpy()
    present = ~np.isnan(values)
    has_box = present[:, 0]
    needed = 6 if kind == "detections" else 5  # x1..action (+ score) after video_id,timestamp
    allowed_extra = 0 if kind == "detections" else 1  # ground truth may add person_id
    complete = present[:, :needed].all(axis=1)
    beyond = present[:, needed + allowed_extra:].any(axis=1)
    box_only_frame = ~present.any(axis=1)
    bad = np.where(has_box, ~complete | beyond, ~box_only_frame)
    if kind == "detections":
        bad |= has_box & np.isinf(values[:, 5])
    bad |= has_box & np.isinf(values[:, :4]).any(axis=1)
    if bad.any():
        row = int(np.argmax(bad))
        raise PredictionFileError(
            f"{path}: line {line_of_row(path, row)}: fields {','.join(table.iloc[row].fillna('').astype(str))!r} "
            f"do not form a row of {expected} with finite numbers (or video_id,timestamp for a frame without boxes)")
    action = values[has_box, 4]
    fractional = action != np.round(action)
    if fractional.any():
        k = int(np.argmax(fractional))
        row = int(np.flatnonzero(has_box)[k])
        raise PredictionFileError(f"{path}: line {line_of_row(path, row)}: action_id {action[k]!r} is not an integer")
    frame_codes = _frame_codes(path, table[0].to_numpy(), table[1].to_numpy())
    frame_codes, frames = pd.factorize(pd.Series(frame_codes), sort=False)
    return BoxTable(path=path, frames=list(frames), frame=frame_codes[has_box].astype(np.int64),
                    boxes=values[has_box, :4], action=action.astype(np.int64),
                    score=values[has_box, 5] if kind == "detections" else np.ones(int(has_box.sum())),
                    row=np.flatnonzero(has_box))


def _frame_codes(path: Path, videos: np.ndarray, stamps: np.ndarray) -> np.ndarray:
    """The official frame key of every row, computed once per distinct (video, timestamp) text."""
    import pandas as pd

    video_codes, video_names = pd.factorize(videos, sort=False)
    stamp_codes, stamp_texts = pd.factorize(stamps, sort=False)
    codes, pairs = pd.factorize(video_codes.astype(np.int64) * max(len(stamp_texts), 1) + stamp_codes, sort=False)
    first = _first_rows(codes, len(pairs))
    keys = []
    for index, (video, stamp) in enumerate(zip(videos[first], stamps[first])):
        try:
            keys.append(frame_key(video, stamp))
        except decimal.InvalidOperation:
            row = int(np.argmax(codes == index))
            raise PredictionFileError(
                f"{path}: line {line_of_row(path, row)}: timestamp {stamp!r} is not a number") from None
    return np.asarray(keys, dtype=object)[codes]


def _first_rows(codes: np.ndarray, count: int) -> np.ndarray:
    first = np.full(count, len(codes), dtype=np.int64)
    np.minimum.at(first, codes, np.arange(len(codes)))
    return first


def _raise_first_non_number(path: Path) -> None:
    """Slow path, only after the fast parse failed: find the first field that is not a number."""
    from vpbench.metrics.files import csv_rows

    for line, fields in csv_rows(path):
        for column, text in enumerate(fields[2:], start=2):
            try:
                float(text)
            except ValueError:
                if text.strip():
                    raise PredictionFileError(f"{path}: line {line}: field {column + 1} {text!r} is not a number") from None
    raise PredictionFileError(f"{path}: could not parse as an AVA CSV")


def line_of_row(path: str | os.PathLike, row: int) -> int:
    """1-based line number of the ``row``-th non-blank line (pandas skips blank lines)."""
    seen = -1
    with open(path, "rb") as f:
        for line_number, line in enumerate(f, start=1):
            if line.strip():
                seen += 1
                if seen == row:
                    return line_number
    return row + 1


def read_excluded(path: str | os.PathLike) -> set[str]:
    """Frame keys of an excluded-timestamps CSV (``video_id,timestamp`` per row)."""
    from vpbench.metrics.files import csv_rows

    excluded = set()
    for line, fields in csv_rows(path):
        if len(fields) != 2:
            raise PredictionFileError(f"{path}: line {line}: {len(fields)} fields; expected video_id,timestamp")
        try:
            excluded.add(frame_key(fields[0], fields[1]))
        except decimal.InvalidOperation:
            raise PredictionFileError(f"{path}: line {line}: timestamp {fields[1]!r} is not a number") from None
    return excluded
