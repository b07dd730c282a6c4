"""Which frames a view request takes: the sampling policies as pure index arithmetic.

Everything here works on frame counts and rates only, so every policy can be checked by hand
without a video. It must never open a file or depend on a decoder: the readers in
:mod:`vpbench.video.readers` fetch the indices this module chooses.

Conventions (all indices are absolute frame numbers in the video, 0-based):

* ``uniform``: ``T`` frames spread over the clip. With ``n >= T`` frames in the clip, frame
  ``i`` of temporal view ``v`` (of ``V``) is ``floor((i + v/V) * n / T)``. For ``V == 1`` this
  is the official VideoPrism demo's ``np.linspace(0, n, T, endpoint=False).astype(int)``,
  computed here in exact integer arithmetic; further views shift every frame by ``v/V`` of a
  segment, so the views interleave instead of repeating.
* ``stride`` / ``fps``: ``T`` frames ``step`` frames apart (``step = stride``, or
  ``native_fps / fps`` rounded down per frame). The ``V`` clips start evenly from the first
  possible start to the last one (one clip: the centred one), the SlowFast/VideoGLUE test
  convention.
* A clip with fewer frames than a view needs is padded by repeating its last frame, and the
  number of padded frames is reported per view: short videos are never silently stretched.
* A ``frame_span`` may start before frame 0 (a clip centred on a frame near the start of a
  video): the frames before the video repeat frame 0 and count as padded. That is the centred
  clip of SlowFast/mmaction2 (``get_sequence`` / ``SampleAVAFrames`` clamp indices into the video).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np

from vpbench.errors import VpbenchError

Policy = Literal["uniform", "stride", "fps"]
ResizeMode = Literal["short_side", "squash"]

_POLICIES = ("uniform", "stride", "fps")
_RESIZE_MODES = ("short_side", "squash")
# Float rounding guard: a time or rate product meant to be an integer must not drop below it.
_EPS = 1e-6


@dataclass(frozen=True)
class SamplingSpec:
    """One view request: which frames, how many clips and crops, at which resolution.

    ``spatial_views`` crops are taken along the longer side after resizing the shorter side
    to ``resolution`` (3 = left/top, centre, right/bottom). ``resize='squash'`` instead
    resizes the whole frame to ``resolution`` x ``resolution`` (the official demo's choice for
    square videos) and allows one spatial view only. View ``k`` of an item is temporal view
    ``k // spatial_views`` and spatial view ``k % spatial_views``.
    """

    frames: int = 16
    resolution: int = 288
    policy: Policy = "uniform"
    stride: int = 1
    fps: float | None = None
    temporal_views: int = 1
    spatial_views: int = 1
    resize: ResizeMode = "short_side"

    def __post_init__(self) -> None:
        def bad(field: str, expected: str) -> VpbenchError:
            return VpbenchError(f"SamplingSpec.{field}={getattr(self, field)!r}: expected {expected}")

        for field in ("frames", "resolution", "stride", "temporal_views", "spatial_views"):
            value = getattr(self, field)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise bad(field, "an integer >= 1")
        if self.policy not in _POLICIES:
            raise bad("policy", f"one of {', '.join(_POLICIES)}")
        if self.resize not in _RESIZE_MODES:
            raise bad("resize", f"one of {', '.join(_RESIZE_MODES)}")
        if self.policy == "fps" and (self.fps is None or not self.fps > 0):
            raise bad("fps", "a positive frame rate when policy='fps'")
        if self.policy != "fps" and self.fps is not None:
            raise bad("fps", "None unless policy='fps' (it would be ignored)")
        if self.policy != "stride" and self.stride != 1:
            raise bad("stride", "1 unless policy='stride' (it would be ignored)")
        if self.resize == "squash" and self.spatial_views != 1:
            raise bad("spatial_views", "1 when resize='squash' (a squashed frame has no crops)")

    @property
    def num_views(self) -> int:
        return self.temporal_views * self.spatial_views

    def as_dict(self) -> dict:
        return asdict(self)


def clip_range(
    num_frames: int,
    fps: float | None,
    clip_span_s: tuple[float, float] | None = None,
    frame_span: tuple[int, int] | None = None,
) -> tuple[int, int]:
    """The clip's frames ``[start, end)`` within a video of ``num_frames`` frames.

    A span in seconds takes the frames whose timestamps ``k / fps`` lie in ``[start_s, end_s)``
    (at least one frame). A span running past the end is cut at the last frame; a span that
    starts after it raises :class:`ClipSpanError`. A frame span may start before frame 0 (its
    frames there repeat frame 0, see :func:`temporal_indices`) but must reach frame 0.
    """
    if clip_span_s is not None and frame_span is not None:
        raise ClipSpanError("give clip_span_s or frame_span, not both")
    if clip_span_s is not None:
        start_s, end_s = (float(x) for x in clip_span_s)
        if not end_s > start_s:
            raise ClipSpanError(f"clip span {start_s}-{end_s} s is empty (end must be after start)")
        if fps is None or not fps > 0:
            raise ClipSpanError("a clip span in seconds needs the video's frame rate, which is unknown")
        start = max(0, math.ceil(start_s * fps - _EPS))
        end = max(start + 1, math.ceil(end_s * fps - _EPS))
    elif frame_span is not None:
        start, end = (int(x) for x in frame_span)
        if end <= max(start, 0):
            raise ClipSpanError(f"frame span {start}-{end} is empty or negative (expected start < end, end > 0)")
    else:
        start, end = 0, num_frames
    if start >= num_frames:
        raise ClipSpanError(f"clip starts at frame {start} but the video has {num_frames} frames")
    return start, min(end, num_frames)


class ClipSpanError(ValueError):
    """A clip span that selects no frame of the video (raised before any decoding)."""


def temporal_indices(spec: SamplingSpec, clip: tuple[int, int], fps: float | None) -> tuple[np.ndarray, np.ndarray]:
    """Frame indices ``[V, T]`` (absolute, int64) and padded-frame counts ``[V]`` for a clip."""
    start, end = clip
    n = end - start
    frames, views = spec.frames, spec.temporal_views
    if spec.policy == "uniform":
        offsets = _uniform_offsets(n, frames, views)
    else:
        if spec.policy == "stride":
            steps = np.arange(frames, dtype=np.int64) * spec.stride
        else:
            if fps is None or not fps > 0:
                raise ClipSpanError("policy 'fps' needs the video's frame rate, which is unknown")
            steps = np.floor(np.arange(frames) * (fps / spec.fps) + _EPS).astype(np.int64)
        offsets = _placed_clips(n, steps, views)
    padded = (offsets > n - 1).sum(axis=1) + (start + offsets < 0).sum(axis=1)
    return np.maximum(start + np.minimum(offsets, n - 1), 0), padded.astype(np.int64)


def _uniform_offsets(n: int, frames: int, views: int) -> np.ndarray:
    if n < frames:
        # Too short to spread: every frame once, then the last one repeated (and reported).
        return np.tile(np.arange(frames, dtype=np.int64), (views, 1))
    i = np.arange(frames, dtype=np.int64)[None, :]
    v = np.arange(views, dtype=np.int64)[:, None]
    return ((i * views + v) * n) // (frames * views)


def _placed_clips(n: int, steps: np.ndarray, views: int) -> np.ndarray:
    delta = max(n - (int(steps[-1]) + 1), 0)
    if views == 1:
        starts = np.array([delta // 2], dtype=np.int64)
    else:
        starts = (np.arange(views, dtype=np.int64) * delta) // (views - 1)
    return starts[:, None] + steps[None, :]

