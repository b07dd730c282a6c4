"""Reading official annotation files (CSV, JSON, plain lists) with errors that say where and what.

Every dataset reader parses its official files through these helpers, so that a bad file always
produces an :class:`~vpbench.errors.AnnotationError` naming the file, the row (or JSON key) and
what was expected, instead of a ``KeyError`` deep inside a reader. This module knows no dataset:
readers state which columns, keys and types they need. It must never guess a missing value or
silently skip a malformed row.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from vpbench.errors import AnnotationError
from vpbench.textio import csv_records, read_text


def require_file(path: Path, what: str) -> Path:
    """``path`` if it is a file; otherwise an error saying which official file was expected."""
    path = Path(path)
    if not path.is_file():
        raise AnnotationError(f"{path}: file not found (expected {what})")
    return path


@dataclass(frozen=True)
class Row:
    """One data row of a CSV file: its values by column name, and where it sits in the file."""

    path: Path
    number: int
    """1-based index among the data rows (the header does not count)."""
    line: int
    """1-based physical line where the row starts (quoted fields may span lines)."""
    values: dict[str, str]

    @property
    def where(self) -> str:
        return f"{self.path}: row {self.number} (line {self.line})"

    def error(self, problem: str) -> AnnotationError:
        return AnnotationError(f"{self.where}: {problem}")

    def __getitem__(self, column: str) -> str:
        return self.values[column]

    def get(self, column: str, default: str | None = None) -> str | None:
        return self.values.get(column, default)

    def numeric(self, column: str, kind: type = float, *, minimum: float | None = 0) -> Any:
        """The column parsed as ``kind`` (``float`` also accepts ``17``, ``int`` also ``17.0``)."""
        text = self.values[column].strip()
        value = parse_number(text, kind)
        if value is None:
            raise self.error(f"column '{column}' is '{text}', expected {'an integer' if kind is int else 'a number'}")
        if minimum is not None and value < minimum:
            raise self.error(f"column '{column}' is {text}, expected a value >= {minimum}")
        return value


def parse_number(text: str, kind: type = float) -> Any:
    """``text`` as an int or float, or None. Ints accept a zero fraction (``17.0``) as releases differ."""
    try:
        value = float(text)
    except ValueError:
        return None
    if value != value or value in (float("inf"), float("-inf")):
        return None
    if kind is int:
        return int(value) if value.is_integer() else None
    return value


def read_csv(path: Path, *, required: Sequence[str], delimiter: str = ",",
             fieldnames: Sequence[str] | None = None, what: str = "an annotation CSV") -> list[Row]:
    """Rows of a delimited file, checked for the ``required`` columns.

    With ``fieldnames`` the file has no header row and the names are given; rows may then carry
    extra trailing fields (Moments in Time's agreement counts) but no fewer than ``required``.
    With a header, a row with a different number of fields than the header is an error. Blank
    lines are skipped; CRLF and quoted fields containing commas or newlines are handled by
    :mod:`csv`; a UTF-8 byte-order mark is ignored. Parsing is strict
    (:func:`vpbench.textio.csv_records`): a quote left open is an error naming the line where its
    field starts, not the rest of the file read as one field.
    """
    path = require_file(path, what)
    records = csv_records(read_text(path, what=what, error=AnnotationError), path, delimiter=delimiter,
                          error=AnnotationError)
    header = list(fieldnames) if fieldnames is not None else _header(path, records, required)
    rows: list[Row] = []
    for start, fields in records:
        if not any(field.strip() for field in fields):
            continue
        number = len(rows) + 1
        if fieldnames is None and len(fields) != len(header):
            raise AnnotationError(f"{path}: row {number} (line {start}): has {len(fields)} fields, the header "
                                  f"has {len(header)} ({', '.join(header)})")
        if fieldnames is not None and len(fields) < len(required):
            raise AnnotationError(f"{path}: row {number} (line {start}): has {len(fields)} fields, expected at "
                                  f"least {len(required)} ({', '.join(header[:len(required)])})")
        rows.append(Row(path, number, start, dict(zip(header, fields))))
    return rows


def _header(path: Path, records: Iterable[tuple[int, list[str]]], required: Sequence[str]) -> list[str]:
    for number, fields in records:
        if any(field.strip() for field in fields):
            header = [field.strip() for field in fields]
            missing = [column for column in required if column not in header]
            if missing:
                raise AnnotationError(f"{path}: header (line {number}) has columns {header}; missing "
                                      f"required column{'s' if len(missing) > 1 else ''} "
                                      f"{', '.join(repr(c) for c in missing)}")
            return header
    raise AnnotationError(f"{path}: the file is empty (expected a header with columns {list(required)})")


def read_header(path: Path, *, what: str) -> list[str]:
    """The column names of a CSV's header row (for readers whose file layout depends on them)."""
    path = require_file(path, what)
    return _header(path, csv_records(read_text(path, what=what, error=AnnotationError), path,
                                     error=AnnotationError), required=())


def read_frame_list(path: Path, *, required: Sequence[str], what: str) -> list[Row]:
    """A whitespace-separated table with a header line (SlowFast/Charades frame lists, KABR).

    Fields are split like ``line.split()``, so a quoted empty label ``""`` stays a field (its
    quotes are kept for the reader to strip); every row must have as many fields as the header.
    """
    lines = read_lines(path, what=what)
    if not lines:
        raise AnnotationError(f"{path}: the file is empty (expected a header with columns {list(required)})")
    (header_line, header_text), body = lines[0], lines[1:]
    header = _header(path, [(header_line, header_text.split())], required)
    rows = []
    for line, text in body:
        fields = text.split()
        if len(fields) != len(header):
            raise AnnotationError(f"{path}: row {len(rows) + 1} (line {line}): has {len(fields)} fields, the header "
                                  f"has {len(header)} ({' '.join(header)})")
        rows.append(Row(path, len(rows) + 1, line, dict(zip(header, fields))))
    return rows


def read_lines(path: Path, *, what: str, comments: bool = False) -> list[tuple[int, str]]:
    """Non-blank lines as (1-based line number, text without the line ending).

    ``comments=True`` also skips lines starting with ``#``: for lists vpbench asks users to write,
    never for official files, where such a line is data.
    """
    path = require_file(path, what)
    text = read_text(path, what=what, error=AnnotationError)
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")  # as open() reads lines
    return [(number, line) for number, line in enumerate(lines, start=1)
            if line.strip() and not (comments and line.lstrip().startswith("#"))]


def read_json(path: Path, expect: type, *, what: str) -> Any:
    """A JSON file whose top level must be ``expect`` (``list`` or ``dict``)."""
    path = require_file(path, what)
    try:
        data = json.loads(read_text(path, what=what, error=AnnotationError))
    except json.JSONDecodeError as error:
        raise AnnotationError(f"{path}: not valid JSON (line {error.lineno}, column {error.colno}: {error.msg}); "
                              f"expected {what}") from None
    if not isinstance(data, expect):
        raise AnnotationError(f"{path}: top level is a JSON {_json_type(data)}, expected a JSON "
                              f"{_json_type(expect())} ({what})")
    return data


def field(entry: Any, key: str, kind: type | tuple[type, ...], where: str) -> Any:
    """``entry[key]`` checked to be ``kind``; ``where`` names the file and entry for the error."""
    if not isinstance(entry, dict):
        raise AnnotationError(f"{where}: is a JSON {_json_type(entry)}, expected an object with key '{key}'")
    if key not in entry:
        raise AnnotationError(f"{where}: missing key '{key}' (it has {sorted(entry)[:8]})")
    value = entry[key]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        expected = " or ".join(f"a JSON {_json_type(k())}" for k in kinds)
        raise AnnotationError(f"{where}: key '{key}' is {json.dumps(value)[:60]}, expected {expected}")
    return value


def lookup(name: str, table: Mapping[str, int], *, where: str, what: str, listed_in: Path | str) -> int:
    """``table[name]``, or an error naming the unknown name, the list it is missing from, and near misses."""
    if name in table:
        return table[name]
    close = difflib.get_close_matches(name, list(table), n=3)
    hint = f"; closest: {', '.join(repr(c) for c in close)}" if close else ""
    raise AnnotationError(f"{where}: unknown {what} '{name}' (not among the {len(table)} in "
                          f"{Path(listed_in).name}{hint})")


def index_table(names: Iterable[str]) -> dict[str, int]:
    """Class name -> index in the given order."""
    return {name: index for index, name in enumerate(names)}


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    return {dict: "object", list: "array", str: "string", int: "number", float: "number",
            type(None): "null"}.get(type(value), type(value).__name__)
