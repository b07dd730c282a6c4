"""Work items: what to extract features for, independent of any dataset's annotation format.

Family runners turn their Sample records into these (id, video file or frame folder, optional
clip span); the extractor needs nothing else. This module must never read a video.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Iterable

from vpbench.errors import VpbenchError
from vpbench.video.augment import AugmentedView


@dataclass(frozen=True)
class WorkItem:
    """One clip to encode.

    ``clip_span_s`` (seconds) or ``frame_span`` (``[start, end)`` frames) restrict sampling to
    part of the video; ``fps`` overrides the container's frame rate and is required for frame
    folders sampled by time. ``augment`` names the augmented training view to make (the
    sampling spec then carries the augmentation settings); it is part of the cache key.
    """

    item_id: str
    path: str
    clip_span_s: tuple[float, float] | None = None
    frame_span: tuple[int, int] | None = None
    fps: float | None = None
    augment: AugmentedView | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.item_id, str) or not self.item_id:
            raise VpbenchError(f"work item {self.item_id!r}: item_id must be a non-empty string")
        object.__setattr__(self, "path", os.fspath(self.path))
        if self.clip_span_s is not None and self.frame_span is not None:
            raise VpbenchError(f"work item {self.item_id!r}: give clip_span_s or frame_span, not both")
        if self.clip_span_s is not None:
            object.__setattr__(self, "clip_span_s", _pair(self.item_id, "clip_span_s", self.clip_span_s, float))
        if self.frame_span is not None:
            object.__setattr__(self, "frame_span", _pair(self.item_id, "frame_span", self.frame_span, int,
                                                              from_zero=False))
        if self.fps is not None and not float(self.fps) > 0:
            raise VpbenchError(f"work item {self.item_id!r}: fps={self.fps!r}, expected a positive frame rate")
        if self.augment is not None and not isinstance(self.augment, AugmentedView):
            raise VpbenchError(f"work item {self.item_id!r}: augment={self.augment!r}, expected an AugmentedView")

    def span_key(self) -> dict:
        """The fields besides the video that change which frames are sampled (and, for an augmented
        view, which random draws: its stream and index)."""
        key = {"clip_span_s": self.clip_span_s, "frame_span": self.frame_span, "fps": self.fps}
        if self.augment is not None:
            key["augment"] = self.augment.as_dict()
        return key


def _pair(item_id: str, name: str, value, kind, from_zero: bool = True) -> tuple:
    """``(start, end)`` checked; a frame span may start before frame 0 (a clip centred on a frame near
    the start of a video repeats frame 0, see :mod:`vpbench.video.sampling`), a span in seconds may not."""
    try:
        first, second = value
        start, end = kind(first), kind(second)
    except (TypeError, ValueError, OverflowError):
        raise VpbenchError(f"work item {item_id!r}: {name}={value!r}, expected two numbers (start, end)") from None
    if not (math.isfinite(start) and math.isfinite(end) and start <= end and (start >= 0 or not from_zero)):
        bound = "0 <= start <= end" if from_zero else "start <= end"
        raise VpbenchError(f"work item {item_id!r}: {name}={value!r}, expected finite numbers with {bound}")
    return start, end


def check_unique(items: Iterable[WorkItem]) -> list[WorkItem]:
    """The items as a list; duplicate ids are an error because results are keyed by id."""
    items = list(items)
    seen: set[str] = set()
    for item in items:
        if not isinstance(item, WorkItem):
            raise VpbenchError(f"expected WorkItem records, got {type(item).__name__}")
        if item.item_id in seen:
            raise VpbenchError(f"work item id {item.item_id!r} appears twice; ids must be unique")
        seen.add(item.item_id)
    return items
