"""The per-group aggregate score of the leaderboard, defined once, versioned.

VideoGLUE describes a scalar score for a group of tasks but its code does not compute one; the
VideoPrism paper compares models table by table. vpbench reports, per group and per column,
the plain average that papers in this field quote for a suite ("average over tasks").

Version 1 definition:
- the unweighted arithmetic mean of the group's benchmark values, in the units benchmarks.yaml
  uses (percent; CIDEr x100), each benchmark weighing the same whatever its size;
- defined only when the column has a value for every benchmark of the group: a mean over a
  subset is not comparable with a mean over the full group, so it is reported as missing
  rather than computed over what is there.

Change :data:`AGGREGATE_VERSION` whenever this definition changes; it travels with every table.
This module must never be bypassed by a renderer computing its own average.
"""

from __future__ import annotations

import statistics
from typing import Sequence

AGGREGATE_VERSION = 1
AGGREGATE_NAME = "group mean"


def group_mean(values: Sequence[float | None]) -> float | None:
    """Version-1 aggregate of one column over one group; None unless every value is present."""
    if not values or any(value is None for value in values):
        return None
    return statistics.fmean(values)  # type: ignore[arg-type]
