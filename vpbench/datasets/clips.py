"""Per-frame behaviour labels as samples: one labelled frame, one clip centred on it.

The behaviour benchmarks of the VideoPrism paper's CV-for-science group (App. H) label every
frame of long recordings, and their own code classifies each labelled frame from a short clip
around it: SciVid's CalMS21 and Fly vs. Fly records carry one ``clip/label/index`` each (the
label of the clip's middle frame, one record per frame: 262,107 CalMS21 test records = the test
frames), and KABR's ``miniscene2behavior`` labels every frame from a SlowFast ``get_sequence``
clip centred on it. Shared by the readers of CalMS21, CRIM13, Fly vs. Fly and KABR so they all
place clips the same way:

* :func:`centred_span`: ``frames`` frames ``stride`` apart with the labelled frame at position
  ``frames // 2`` (SlowFast's ``get_sequence``: ``range(c - frames*stride//2, c + frames*stride//2,
  stride)``). Near a video's ends the span reaches past it; the sampler repeats the first/last
  frame there (:mod:`vpbench.video.sampling`), as SlowFast and mmaction2 clamp their indices.
* :func:`sample_every`: which labelled frames become samples, per split: those whose index is a
  multiple of ``dataset.options.sample_every: {<split>: N}`` (default 1 = every labelled frame, as
  the official records; SciVid's "slim" CalMS21 train set keeps every 16th).

This module never reads a file.
"""

from __future__ import annotations

from typing import Any

from vpbench.errors import RegistryError
from vpbench.registry import TaskConfig


def centred_span(frame: int, frames: int, stride: int = 1) -> tuple[int, int]:
    """``[start, end)`` holding ``frames`` frames ``stride`` apart, frame ``frame`` at index ``frames // 2``.

    ``start`` may be negative (a frame near the video's start); the span is exactly as long as
    the sampled frames reach, so the stride sampler places them with no offset.
    """
    if frames < 1 or stride < 1:
        raise ValueError(f"frames and stride must be >= 1, got {frames}, {stride}")
    start = frame - (frames * stride) // 2
    return start, start + (frames - 1) * stride + 1


def clip_geometry(task: TaskConfig) -> tuple[int, int]:
    """(frames, stride) of the task's clips: ``sampling.frames`` and ``sampling.stride`` (default 1)."""
    frames, stride = task.sampling.get("frames"), task.sampling.get("stride", 1)
    for key, value in (("frames", frames), ("stride", stride)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise RegistryError(f"{task.source}: key 'sampling.{key}' must be a positive integer, got {value!r}")
    return frames, stride


def sample_every(task: TaskConfig, split: str) -> int:
    """Every how many labelled frames one becomes a sample in ``split`` (``dataset.options.sample_every``)."""
    table: Any = task.dataset.get("options", {}).get("sample_every", {})
    if not isinstance(table, dict):
        raise RegistryError(f"{task.source}: key 'dataset.options.sample_every' must map split names to "
                            f"positive integers, got {table!r}")
    value = table.get(split, 1)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise RegistryError(f"{task.source}: key 'dataset.options.sample_every.{split}' must be a positive "
                            f"integer, got {value!r}")
    return value


def sampling_note(task: TaskConfig, split: str) -> str:
    """What a reader's split notes say about its samples (one wording for every per-frame reader)."""
    frames, stride = clip_geometry(task)
    every = sample_every(task, split)
    which = "every labelled frame" if every == 1 else f"the labelled frames at multiples of {every}"
    return (f"one sample per labelled frame ({which}): its label(s), and {frames} frames at stride {stride} "
            f"centred on it (frames past the video's ends repeat its first/last frame)")
