"""Checked values from annotation entries: numbers, time spans, texts, and the video an entry names.

The JSON releases (ActivityNet, VATEX, YouCook2, the QA sets) put numbers, spans and sentences in
fields whose type and range a reader must check before use; :mod:`vpbench.datasets.tabular`
parses the files, this module checks the values, each error naming the file and entry (``where``)
and what was expected. :class:`VideoFinder` turns an entry's video id into a file, trying the
names real downloads use (``v_`` prefixes, ``.mp4``/``.mkv``/``.webm``...), and records a missing
one instead of failing. Nothing here reads a file or guesses a value.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Sequence

from vpbench.datasets.locate import VideoLocator
from vpbench.datasets.sample import MissingVideo
from vpbench.errors import AnnotationError

VIDEO_EXTENSIONS = (".mp4", ".mkv", ".webm", ".avi", ".mov", ".m4v")
"""Containers a downloaded benchmark video comes in; tried in this order for a name without one."""


def number(value: Any, where: str, what: str) -> float:
    """A finite number from a JSON number or a numeric string."""
    try:
        result = float(value)
    except (TypeError, ValueError):
        raise AnnotationError(f"{where}: {what} {value!r} is not a number") from None
    if isinstance(value, bool) or not math.isfinite(result):
        raise AnnotationError(f"{where}: {what} {value!r} is not a finite number")
    return result


def integer(value: Any, where: str, what: str) -> int:
    """An integer from a JSON integer or a string of digits (``"0902"`` is 902)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    raise AnnotationError(f"{where}: {what} {value!r} is not an integer")


def time_span(value: Any, where: str, what: str = "segment") -> tuple[float, float]:
    """``[start, end]`` in seconds: two finite numbers with ``0 <= start <= end``."""
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise AnnotationError(f"{where}: {what} {value!r} is not a [start, end] pair")
    start, end = (number(v, where, f"{what} time") for v in value)
    if start < 0 or end < start:
        raise AnnotationError(f"{where}: {what} [{start:g}, {end:g}] must satisfy 0 <= start <= end")
    return start, end


def text(value: Any, where: str, what: str) -> str:
    """A non-empty string, stripped (annotators' leading and trailing spaces carry no meaning)."""
    if not isinstance(value, str) or not value.strip():
        raise AnnotationError(f"{where}: {what} {value!r} is not a non-empty string")
    return value.strip()


class VideoFinder:
    """Finds the video of each entry under one folder; keeps the list of those not found.

    A candidate is a path relative to ``root`` without an extension (every container of
    :data:`VIDEO_EXTENSIONS` is tried) or with one (that name first, then the other
    containers). ``frame_folders=True`` also accepts a folder of that name (frames extracted to
    disk). Lookups go through :class:`~vpbench.datasets.locate.VideoLocator`: cached listings,
    and no path outside ``root``.
    """

    def __init__(self, root: Path, source: Path | str, frame_folders: bool = False):
        self.source = source
        self.missing: list[MissingVideo] = []
        self._files = VideoLocator(root)
        self._folders = VideoLocator(root, folders=True) if frame_folders else None
        self._known: dict[tuple[str, ...], tuple[Path | None, Path]] = {}

    def find(self, sample_id: str, candidates: Sequence[str], where: str) -> Path | None:
        """The first candidate that exists; None (and a :class:`MissingVideo` recorded) when none does."""
        found, expected = self.locate(candidates, where)
        if found is None:
            self.missing.append(MissingVideo(sample_id, expected))
        return found

    def locate(self, candidates: Sequence[str], where: str) -> tuple[Path | None, Path]:
        """(the first candidate that exists or None, the path to report as expected); records nothing.

        Answers are remembered per candidate list: AVA names each movie in ~900 keyframes.
        """
        key = tuple(candidates)
        if key not in self._known:
            names = [name for candidate in candidates for name in _with_containers(candidate)]
            found, expected = self._files.locate(names, source=self.source, where=where)
            if found is None and self._folders is not None:
                found, _ = self._folders.locate(list(candidates), source=self.source, where=where)
            self._known[key] = found, expected
        return self._known[key]


def _with_containers(candidate: str) -> list[str]:
    suffix = Path(candidate).suffix.lower()
    if suffix in VIDEO_EXTENSIONS:
        stem = candidate[: -len(suffix)]
        return [candidate] + [stem + extension for extension in VIDEO_EXTENSIONS if extension != suffix]
    return [candidate + extension for extension in VIDEO_EXTENSIONS]
