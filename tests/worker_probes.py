"""Datasets that report from inside a decoding worker (a module of its own, so that a worker started
from the fork server imports this, not the test suite)."""

from __future__ import annotations

import os


class NicenessDataset:
    """Item ``i`` is the niceness of the process that loads it; shaped like a ``DecodeDataset`` for ``make_loader``."""

    decoder = "decord"
    timeout_s = None

    def __init__(self, count: int) -> None:
        self.count = count

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, position: int) -> int:
        return os.nice(0)
