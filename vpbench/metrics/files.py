"""Readers shared by the metrics' file-level wrappers: JSON, delimited text, NumPy arrays.

Every problem in a prediction or reference file becomes a :class:`PredictionFileError` that
names the file, the row (1-based line number) or key, and what was expected, so a user can fix
a 100k-line file without a debugger. This module only parses; it never scores, and it never
guesses a value that is missing or malformed.
"""

from __future__ import annotations

import json
import math
import os
import zipfile
import zlib
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from vpbench.errors import PredictionFileError
from vpbench.textio import csv_records, read_text


def read_json(path: str | os.PathLike) -> Any:
    """Parse a JSON file; a missing file, a folder, non-UTF-8 bytes or a syntax error names the file (and line)."""
    try:
        return json.loads(read_text(path, what="a JSON file", error=PredictionFileError))
    except json.JSONDecodeError as error:
        raise PredictionFileError(f"{path}: line {error.lineno}: not valid JSON ({error.msg})") from None


def csv_rows(path: str | os.PathLike, delimiter: str | None = ",") -> Iterator[tuple[int, list[str]]]:
    """Yield (line number, fields) for each non-blank line of a delimited text file.

    ``delimiter=None`` splits on runs of whitespace (the Charades submission format). Quoted
    fields are parsed strictly (:func:`vpbench.textio.csv_records`): an unclosed quote is an
    error naming its line, not the rest of the file read as one field.
    """
    text = read_text(path, what="a delimited text file", error=PredictionFileError)
    if delimiter is None:
        for line_number, line in enumerate(text.replace("\r\n", "\n").replace("\r", "\n").split("\n"), start=1):
            fields = line.split()
            if fields:
                yield line_number, fields
        return
    for line_number, fields in csv_records(text, path, delimiter=delimiter, error=PredictionFileError):
        if fields and any(field.strip() for field in fields):
            yield line_number, fields


def parse_float(text: str, path: str | os.PathLike, line: int, what: str, allow_nan: bool = False) -> float:
    """A finite float, or an error naming the file, line and field."""
    try:
        value = float(text)
    except ValueError:
        raise PredictionFileError(f"{path}: line {line}: {what} {text!r} is not a number") from None
    if not allow_nan and not math.isfinite(value):
        raise PredictionFileError(f"{path}: line {line}: {what} is {text!r}; expected a finite number")
    return value


def parse_int(text: str, path: str | os.PathLike, line: int, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise PredictionFileError(f"{path}: line {line}: {what} {text!r} is not an integer") from None


def check_finite(array: np.ndarray, path: str | os.PathLike, what: str, row_names: list[str] | None = None) -> None:
    """Raise naming the first row holding NaN or inf: such a score has no rank."""
    bad = ~np.isfinite(array)
    if bad.any():
        row = int(np.argwhere(bad)[0][0])
        where = f"id {row_names[row]!r}" if row_names is not None else f"row {row}"
        raise PredictionFileError(f"{path}: {where}: {what} contains NaN or inf; expected finite numbers")


def load_npz(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """The arrays of an ``.npz``/``.npy`` file, never unpickling objects.

    A folder, a truncated archive or member, and an array of Python objects (pickled) are each
    an error naming the file and the array.
    """
    path = Path(path)
    if path.is_dir():
        raise PredictionFileError(f"{path}: is a directory, expected an .npz or .npy file")
    try:
        loaded = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise PredictionFileError(f"{path}: file not found") from None
    except ValueError as error:
        raise PredictionFileError(f"{path}: not a plain NumPy array file ({error})") from None
    except (OSError, EOFError, zipfile.BadZipFile) as error:
        raise PredictionFileError(f"{path}: unreadable or truncated NumPy file ({error})") from None
    if isinstance(loaded, np.ndarray):
        return {"array": loaded}
    arrays = {}
    with loaded:
        for key in loaded.files:
            try:
                arrays[key] = loaded[key]
            except ValueError as error:
                problem = "holds Python objects (pickled), which are never loaded" if "allow_pickle" in str(error) \
                    else f"is truncated or not a plain array ({error})"
                raise PredictionFileError(f"{path}: array {key!r} {problem}; expected numeric arrays") from None
            except (OSError, EOFError, zipfile.BadZipFile, zlib.error) as error:
                raise PredictionFileError(f"{path}: array {key!r} is truncated or corrupt ({error})") from None
    return arrays


def match_ids(prediction_ids: list[str], reference_ids: list[str], predictions_path: str | os.PathLike,
              references_path: str | os.PathLike) -> np.ndarray:
    """Index into the predictions for each reference id; every id must be present on both sides.

    A prediction file from another split, or one with a dropped row, would otherwise give a
    number that looks valid; so a missing or an extra id is an error naming the first one.
    """
    position: dict[str, int] = {}
    for index, item in enumerate(prediction_ids):
        if item in position:
            raise PredictionFileError(f"{predictions_path}: id {item!r} appears more than once")
        position[item] = index
    missing = [item for item in reference_ids if item not in position]
    if missing:
        raise PredictionFileError(
            f"{predictions_path}: no prediction for {len(missing)} id(s) of {references_path}, "
            f"first {missing[0]!r}")
    reference_set = set(reference_ids)
    extra = [item for item in prediction_ids if item not in reference_set]
    if extra:
        raise PredictionFileError(
            f"{predictions_path}: {len(extra)} id(s) are not in {references_path}, first {extra[0]!r}")
    return np.array([position[item] for item in reference_ids], dtype=np.int64)


def read_score_file(path: str | os.PathLike) -> tuple[list[str], np.ndarray, list[str] | None]:
    """A per-item score matrix: one line per item, ``id score_0 ... score_{C-1}``.

    Fields are separated by commas or by whitespace (the Charades submission format:
    ``<video id> <157 scores>``). An optional first line starting with ``id`` names the classes.
    Returns (ids, scores [N, C] float64, class names or None).
    """
    path = Path(path)
    first = read_text(path, what="a score file", error=PredictionFileError).split("\n", 1)[0]
    delimiter = "," if "," in first else None
    ids: list[str] = []
    rows: list[list[float]] = []
    class_names = None
    width = None
    for line, fields in csv_rows(path, delimiter):
        fields = [field.strip() for field in fields]
        if not ids and class_names is None and fields[0].lower() == "id":
            class_names = fields[1:]
            width = len(class_names)
            continue
        if width is None:
            width = len(fields) - 1
        if len(fields) - 1 != width or width < 1:
            raise PredictionFileError(
                f"{path}: line {line}: {len(fields) - 1} scores; expected {width} (id then one score per class)")
        ids.append(fields[0])
        rows.append([parse_float(text, path, line, f"score {k}") for k, text in enumerate(fields[1:])])
    if not ids:
        raise PredictionFileError(f"{path}: no prediction rows")
    return ids, np.asarray(rows, dtype=np.float64), class_names


def read_label_file(path: str | os.PathLike, num_classes: int,
                    class_names: list[str] | None = None) -> tuple[list[str], list[list[int]]]:
    """Ground-truth labels per item from a CSV with a header.

    Two layouts: a generic ``id,label`` (or ``id,labels``) file whose labels are class indices or
    class names, several separated by ``;``; or the official Charades CSV (``id,...,actions,...``)
    whose ``actions`` field is ``cNNN start end;...``. An item may have no label (empty field).
    """
    path = Path(path)
    rows = csv_rows(path)
    try:
        _, header = next(rows)
    except StopIteration:
        raise PredictionFileError(f"{path}: empty file; expected a header line") from None
    header = [name.strip().lstrip("\ufeff") for name in header]
    if "id" not in header:
        raise PredictionFileError(f"{path}: line 1: header {header} has no 'id' column")
    if "actions" in header:
        column, charades = header.index("actions"), True
    elif "labels" in header or "label" in header:
        column, charades = header.index("labels" if "labels" in header else "label"), False
    else:
        raise PredictionFileError(f"{path}: line 1: header {header} has no 'label', 'labels' or 'actions' column")
    id_column = header.index("id")
    name_to_index = {name: k for k, name in enumerate(class_names or [])}
    ids, labels = [], []
    for line, fields in rows:
        if len(fields) != len(header):
            raise PredictionFileError(f"{path}: line {line}: {len(fields)} fields; expected {len(header)}")
        item_labels = []
        for token in filter(None, (part.strip() for part in fields[column].split(";"))):
            if charades:
                token = token.split()[0]
                if not (token[:1] == "c" and token[1:].isdigit()):
                    raise PredictionFileError(f"{path}: line {line}: action {token!r} is not of the form cNNN")
                label = int(token[1:])
            elif token.lstrip("-").isdigit():
                label = int(token)
            elif token in name_to_index:
                label = name_to_index[token]
            else:
                raise PredictionFileError(
                    f"{path}: line {line}: label {token!r} is neither a class index nor a class name "
                    "from the predictions' header")
            if not 0 <= label < num_classes:
                raise PredictionFileError(
                    f"{path}: line {line}: class {label} is outside the predictions' {num_classes} classes")
            item_labels.append(label)
        ids.append(fields[id_column].strip())
        labels.append(item_labels)
    return ids, labels
