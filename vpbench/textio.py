"""Reading text files a user hands vpbench (annotations, lists, predictions, results) with named errors.

Every reader of a user's text file decodes it here, so that a file that is missing, a folder,
unreadable, or not UTF-8 gives one error naming the file, the line and what was expected, in the
caller's exception type (``AnnotationError`` for annotations, ``PredictionFileError`` for
prediction files...), never a ``UnicodeDecodeError`` traceback. :func:`csv_records` does the same
for delimited text: it parses strictly, so an unclosed quote cannot swallow the rest of a file
into one field, and reports where the broken field starts. This module never guesses an encoding
and never repairs a file.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Iterator

from vpbench.errors import VpbenchError


def read_text(path: str | os.PathLike, *, what: str, error: type[VpbenchError] = VpbenchError) -> str:
    """The file's text decoded as UTF-8 (a byte-order mark is dropped); ``what`` names the expected content."""
    return decode_utf8(read_bytes(path, what=what, error=error), path, what=what, error=error)


def read_bytes(path: str | os.PathLike, *, what: str, error: type[VpbenchError] = VpbenchError) -> bytes:
    path = Path(path)
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise error(f"{path}: file not found (expected {what})") from None
    except IsADirectoryError:
        raise error(f"{path}: is a directory, expected a file ({what})") from None
    except OSError as failure:
        raise error(f"{path}: cannot read ({failure.strerror or failure}); expected {what}") from None


def decode_utf8(data: bytes, path: str | os.PathLike, *, what: str, error: type[VpbenchError] = VpbenchError) -> str:
    """``data`` as UTF-8 text, or an error naming the line and column of the first bad byte."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as failure:
        offset = failure.start + (3 if data.startswith(b"\xef\xbb\xbf") else 0)
        line = data.count(b"\n", 0, offset) + 1
        column = offset - (data.rfind(b"\n", 0, offset) + 1) + 1
        bad = data[offset:offset + max(1, failure.end - failure.start)]
        raise error(f"{path}: line {line}, column {column}: byte(s) {bad!r} are not UTF-8 text "
                    f"(expected {what}, saved as UTF-8)") from None


def csv_records(text: str, path: str | os.PathLike, *, delimiter: str = ",",
                error: type[VpbenchError] = VpbenchError) -> Iterator[tuple[int, list[str]]]:
    """(1-based line where the record starts, fields) for every record of ``text``, blank ones included.

    Parsing is strict: a quote that is never closed, or a closing quote followed by anything but
    the delimiter or a line end, is an error naming the line where that field starts (the
    lenient default would glue every following row into one field). A field over the csv
    module's size limit is an error too, never silently cut.
    """
    import io

    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    start = 1
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as failure:
            raise error(f"{path}: line {start}: {_csv_problem(str(failure), start, reader.line_num, delimiter)}") from None
        yield start, fields
        start = reader.line_num + 1


def _csv_problem(message: str, start: int, stopped: int, delimiter: str) -> str:
    if "field limit" in message:
        return (f"a field longer than {csv.field_size_limit()} characters (an unclosed quote?); "
                "expected one record per line")
    if "unexpected end of data" in message:
        return "a quoted field starts in this record and is never closed (the file ends inside it)"
    if "expected after" in message:
        return (f"a quoted field of this record closes at line {stopped} and is followed by text; "
                f"expected {delimiter!r} or a line end after a closing quote (an unbalanced quote?)")
    return f"not valid delimited text ({message})"
