"""Finding the video behind each annotation row under a data root, one directory listing at a time.

Readers name the layouts a dataset is known to be stored in (candidate paths relative to its
video folder, best first). Each candidate goes through :func:`~vpbench.datasets.paths.resolve_under`,
so an annotation row can never point vpbench outside the data root, and is then looked up in a
cached listing of its directory: 250k Kinetics rows cost a few hundred ``scandir`` calls, not a
million ``stat`` calls on a network disk. This module never treats a missing video as an error;
the reader reports it as missing and the run goes on.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

from vpbench.datasets.paths import resolve_under


class VideoLocator:
    """Looks up candidate relative paths under ``root``; ``folders=True`` for frame-folder layouts."""

    def __init__(self, root: Path, *, folders: bool = False) -> None:
        self.root = Path(root)
        self.folders = folders
        self._listings: dict[Path, frozenset[str]] = {}

    def locate(self, candidates: Sequence[str], *, source: Path | str, where: str) -> tuple[Path | None, Path]:
        """(the first candidate that exists or None, the path reported as expected when none does)."""
        paths = [resolve_under(self.root, candidate, source=source, where=where) for candidate in candidates]
        for path in paths:
            if path.name in self._listing(path.parent):
                return path, paths[0]
        return None, paths[0]

    def _listing(self, directory: Path) -> frozenset[str]:
        if directory not in self._listings:
            try:
                with os.scandir(directory) as entries:
                    self._listings[directory] = frozenset(
                        entry.name for entry in entries if (entry.is_dir() if self.folders else entry.is_file()))
            except (FileNotFoundError, NotADirectoryError):
                self._listings[directory] = frozenset()
        return self._listings[directory]
