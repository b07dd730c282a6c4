"""Cutting per-frame behaviour annotations into fixed-length multi-label clips.

The behaviour datasets (CalMS21, CRIM13) annotate every frame of long recordings, while the
VideoPrism science protocol classifies short clips. Shared by their readers so both cut the same
way: consecutive, non-overlapping windows of ``clip_frames`` frames from frame 0; a clip's
targets are the set of behaviours present in any of its frames (the background class stays a
class; the metric excludes it). A tail shorter than a clip is not used, except that a recording
shorter than one clip becomes a single clip. This module never reads a file.
"""

from __future__ import annotations

from typing import Sequence

from vpbench.errors import RegistryError


def cut_clips(frame_labels: Sequence[int], clip_frames: int) -> list[tuple[int, int, tuple[int, ...]]]:
    """``(start, end, labels)`` per clip; frames ``[start, end)``, labels sorted and unique."""
    if clip_frames < 1:
        raise ValueError(f"clip_frames must be >= 1, got {clip_frames}")
    total = len(frame_labels)
    if 0 < total < clip_frames:
        return [(0, total, tuple(sorted(set(frame_labels))))]
    return [(start, start + clip_frames, tuple(sorted(set(frame_labels[start:start + clip_frames]))))
            for start in range(0, total - clip_frames + 1, clip_frames)]


def clip_frames_option(options: dict, source: str) -> int:
    """``dataset.options.clip_frames`` as a positive int (the task YAML must set it)."""
    value = options.get("clip_frames")
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise RegistryError(f"{source}: key 'dataset.options.clip_frames' must be a positive integer, got {value!r}")
    return value
