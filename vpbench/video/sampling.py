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
  ``native_fps / fps`` rounded down per frame). The clip placement is DMVR's, which VideoGLUE
  uses (``dmvr/processors.py``): a clip spans ``T * stride`` frames (``fps``: ``T`` frames of the
  resampled rate, ``floor(T * native_fps / fps)`` native frames); one clip starts at
  ``max(0, (n - span) // 2)`` (``sample_sequence(random=False)``), ``V > 1`` clips start at
  ``floor(v * max(0, n - span) / (V - 1))`` (``sample_linspace_sequence``), i.e. evenly from the
  first frame to the last start that fits.
* ``segments``: TSN-style, DMVR's ``sample_sequence_by_segment`` (VideoGLUE's SSv2): the clip is
  cut into ``T`` segments of ``(n - 1) / T`` frames with bounds rounded half to even, and the
  evaluation view takes the middle frame of each (one temporal view only, as there).
* A clip with fewer frames than a view needs is padded, and the number of padded frames is
  reported per view: short videos are never silently stretched. ``pad='repeat_last'`` repeats
  the last frame; ``pad='loop'`` continues from the clip's first frame (DMVR's
  ``repeat_sequence``, what VideoGLUE does).
* A ``frame_span`` may start before frame 0 (a clip centred on a frame near the start of a
  video): the frames before the video repeat frame 0 and count as padded. That is the centred
  clip of SlowFast/mmaction2 (``get_sequence`` / ``SampleAVAFrames`` clamp indices into the video).

Training-time augmentation (random clip start, random crop, flip) lives in
:mod:`vpbench.video.augment`, which reuses the step arithmetic here.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np

from vpbench.errors import VpbenchError

Policy = Literal["uniform", "stride", "fps", "segments"]
ResizeMode = Literal["short_side", "squash"]
PadMode = Literal["repeat_last", "loop"]

_POLICIES = ("uniform", "stride", "fps", "segments")
_RESIZE_MODES = ("short_side", "squash")
_PAD_MODES = ("repeat_last", "loop")
# Float rounding guard: a time or rate product meant to be an integer must not drop below it.
_EPS = 1e-6


@dataclass(frozen=True)
class AugmentSpec:
    """How augmented training views are drawn (the settings, not one view's outcome).

    ``area`` and ``aspect`` are the ranges of VideoGLUE's Inception-style random crop (fraction of
    the frame's area, width / height); ``flip`` allows a random horizontal flip; ``seed`` with a
    work item's stream key and view index fixes every random draw (:mod:`vpbench.video.augment`).
    """

    seed: int = 0
    area: tuple[float, float] = (0.3, 1.0)
    aspect: tuple[float, float] = (0.5, 2.0)
    flip: bool = True

    def __post_init__(self) -> None:
        def bad(field: str, expected: str) -> VpbenchError:
            return VpbenchError(f"AugmentSpec.{field}={getattr(self, field)!r}: expected {expected}")

        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or self.seed < 0:
            raise bad("seed", "an integer >= 0")
        for field, upper in (("area", 1.0), ("aspect", math.inf)):
            value = getattr(self, field)
            try:
                low, high = (float(v) for v in value)
            except (TypeError, ValueError):
                raise bad(field, "two numbers (low, high)") from None
            if not 0 < low <= high <= upper:
                raise bad(field, f"0 < low <= high <= {upper:g}")
            object.__setattr__(self, field, (low, high))
        if not isinstance(self.flip, bool):
            raise bad("flip", "true or false")


@dataclass(frozen=True)
class SamplingSpec:
    """One view request: which frames, how many clips and crops, at which resolution.

    ``spatial_views`` crops of ``resolution`` px are taken along the longer side after resizing
    the shorter side to ``round(resolution * short_side_ratio)`` (3 = left/top, centre,
    right/bottom; with a ratio above 1 the shorter side is centred too: VideoGLUE resizes to 256
    and crops 224, a ratio of 8/7). ``resize='squash'`` instead resizes the whole frame to
    ``resolution`` x ``resolution`` (the official demo's choice for square videos) and allows
    one spatial view only. View ``k`` of an item is temporal view ``k // spatial_views`` and
    spatial view ``k % spatial_views``.

    ``augment`` makes this a request for one *augmented training view* per work item (random
    clip start, random resized crop, optional flip; :mod:`vpbench.video.augment`) instead of
    the fixed evaluation views, so it needs one temporal and one spatial view.
    """

    frames: int = 16
    resolution: int = 288
    policy: Policy = "uniform"
    stride: int = 1
    fps: float | None = None
    temporal_views: int = 1
    spatial_views: int = 1
    resize: ResizeMode = "short_side"
    short_side_ratio: float = 1.0
    pad: PadMode = "repeat_last"
    augment: AugmentSpec | None = None

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
        if self.pad not in _PAD_MODES:
            raise bad("pad", f"one of {', '.join(_PAD_MODES)}")
        ratio = self.short_side_ratio
        if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not 1.0 <= ratio <= 4.0:
            raise bad("short_side_ratio", "a number in [1, 4] (resized shorter side / crop size)")
        if self.resize == "squash" and ratio != 1.0:
            raise bad("short_side_ratio", "1 when resize='squash' (a squashed frame is not cropped)")
        if self.policy == "segments" and self.temporal_views != 1:
            raise bad("temporal_views", "1 when policy='segments' (the segments already cover the clip)")
        if self.augment is not None:
            if not isinstance(self.augment, AugmentSpec):
                raise bad("augment", "an AugmentSpec or None")
            if self.num_views != 1:
                raise bad("augment", "None unless temporal_views = spatial_views = 1 (a work item asks for one "
                                     "augmented view)")

    @property
    def short_side(self) -> int:
        """The shorter side after resizing, before the crops are cut."""
        return int(math.floor(self.resolution * self.short_side_ratio + 0.5))

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
    n = clip[1] - clip[0]
    frames, views = spec.frames, spec.temporal_views
    if spec.policy == "uniform":
        offsets = _uniform_offsets(n, frames, views)
    elif spec.policy == "segments":
        bounds = segment_bounds(n, frames)
        offsets = ((bounds[:, 0] + bounds[:, 1]) // 2)[None, :]
    else:
        steps, span = clip_steps(spec, fps)
        offsets = _placed_clips(n, steps, span, views)
    return place_offsets(spec, clip, offsets)


def place_offsets(spec: SamplingSpec, clip: tuple[int, int], offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Clip-relative offsets ``[V, T]`` -> absolute indices with padding past the clip's end, and the
    padded-frame count per view (``spec.pad``: repeat the last frame, or loop to the first)."""
    start, end = clip
    n = end - start
    inside = offsets % n if spec.pad == "loop" else np.minimum(offsets, n - 1)
    # Frames before the video (a centred clip near its start) repeat frame 0 and count as padded.
    padded = (offsets > n - 1).sum(axis=1) + (start + inside < 0).sum(axis=1)
    return np.maximum(start + inside, 0), padded.astype(np.int64)


def clip_steps(spec: SamplingSpec, fps: float | None) -> tuple[np.ndarray, int]:
    """Frame offsets ``[T]`` of a ``stride`` / ``fps`` clip from its first frame, and its span in frames.

    The span is what DMVR places clips by: ``T * stride`` frames (not ``(T - 1) * stride + 1``);
    for ``fps``, ``T`` frames of the resampled rate in native frames.
    """
    frames = spec.frames
    if spec.policy == "stride":
        return np.arange(frames, dtype=np.int64) * spec.stride, frames * spec.stride
    if spec.policy != "fps":
        raise ValueError(f"clip_steps: policy {spec.policy!r} has no fixed steps")
    if fps is None or not fps > 0:
        raise ClipSpanError("policy 'fps' needs the video's frame rate, which is unknown")
    ratio = fps / spec.fps
    return np.floor(np.arange(frames) * ratio + _EPS).astype(np.int64), max(1, math.floor(frames * ratio + _EPS))


def segment_bounds(n: int, frames: int) -> np.ndarray:
    """``[T, 2]`` frame ranges ``[start, end)`` of DMVR's ``sample_sequence_by_segment``.

    Segment ``i`` runs from ``round(i * s)`` to ``max(round((i + 1) * s), start + 1)`` with
    ``s = (n - 1) / T`` and round half to even (``tf.math.round``; ``np.rint`` rounds the same way).
    """
    size = (n - 1) / frames
    i = np.arange(frames, dtype=np.float64)
    starts = np.rint(size * i).astype(np.int64)
    ends = np.maximum(np.rint(size * (i + 1)).astype(np.int64), starts + 1)
    return np.stack([starts, ends], axis=1)


def _uniform_offsets(n: int, frames: int, views: int) -> np.ndarray:
    if n < frames:
        # Too short to spread: every frame once, then the last one repeated (and reported).
        return np.tile(np.arange(frames, dtype=np.int64), (views, 1))
    i = np.arange(frames, dtype=np.int64)[None, :]
    v = np.arange(views, dtype=np.int64)[:, None]
    return ((i * views + v) * n) // (frames * views)


def _placed_clips(n: int, steps: np.ndarray, span: int, views: int) -> np.ndarray:
    slack = max(n - span, 0)
    if views == 1:
        starts = np.array([slack // 2], dtype=np.int64)
    else:
        # tf.linspace(0, slack, V) cast to int32: floor, exact at both ends.
        starts = (np.arange(views, dtype=np.int64) * slack) // (views - 1)
    return starts[:, None] + steps[None, :]

