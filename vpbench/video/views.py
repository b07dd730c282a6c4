"""The views of one video for one :class:`SamplingSpec`: decode, resize, crop; report padding.

This is the single entry point the feature extractor (and anything else needing model input)
calls per video: the fixed evaluation views of a spec, or, when the spec carries an
``augment`` setting, the one augmented training view a work item names
(:mod:`vpbench.video.augment`). It must never hide a short or broken video: padding is reported in
:class:`ViewInfo`, and every failure is a :class:`VideoDecodeFailure` with a reason.
"""

from __future__ import annotations

import os
import threading
from dataclasses import asdict, dataclass
from typing import Callable, TypeVar

import numpy as np

from vpbench.errors import VpbenchError
from vpbench.video.augment import AugmentedView, ViewPlan, plan_crop, plan_flip, plan_temporal
from vpbench.video.readers import BAD_SPAN, DEFAULT_DECODER, TIMEOUT, FrameSource, VideoDecodeFailure, open_source
from vpbench.video.sampling import ClipSpanError, SamplingSpec, clip_range, temporal_indices
from vpbench.video.transforms import crop_and_resize, resize_and_crop

T = TypeVar("T")

# Bump whenever sampling, resizing or cropping code changes the pixels a spec yields: the
# feature cache key includes it, so old features can never be reused after such a change.
PIXELS_VERSION = 2


@dataclass(frozen=True)
class ViewInfo:
    """What was sampled: the clip ``[start, end)``, frame indices per temporal view, padding, and
    for an augmented view its outcome (frame size, crop box, flip)."""

    path: str
    num_frames: int
    fps: float | None
    clip: tuple[int, int]
    indices: tuple[tuple[int, ...], ...]
    padded_frames: tuple[int, ...]
    augment: dict | None = None

    @property
    def padded(self) -> bool:
        return any(self.padded_frames)

    def as_dict(self) -> dict:
        return asdict(self)


def decode_views(
    path: str | os.PathLike,
    spec: SamplingSpec,
    *,
    clip_span_s: tuple[float, float] | None = None,
    frame_span: tuple[int, int] | None = None,
    fps: float | None = None,
    timeout_s: float | None = None,
    augment_view: AugmentedView | None = None,
    decoder: str = DEFAULT_DECODER,
    source: FrameSource | None = None,
) -> tuple[np.ndarray, ViewInfo]:
    """Views uint8 ``[V, T, R, R, 3]`` (view ``k`` = temporal ``k // S``, spatial ``k % S``) + info.

    ``fps`` overrides the container's frame rate, and is required for frame folders sampled
    by time. ``timeout_s`` bounds a hung decoder (a stalled network mount, a pathological
    file): the call returns a ``timeout`` failure and abandons the stuck thread. With
    ``spec.augment``, ``augment_view`` names the one augmented view to make (``V = 1``).
    ``decoder`` names the video backend (:data:`vpbench.video.readers.DECODERS`); ``source``, a
    source already opened on ``path`` (with ``fps`` and ``decoder``), is read instead of opening
    the file again (the snippets of one video from one reader).
    """
    if (spec.augment is None) != (augment_view is None):
        raise VpbenchError(f"{path}: an augmented view needs both SamplingSpec.augment and augment_view "
                           f"(got augment={spec.augment!r}, augment_view={augment_view!r})")

    def run() -> tuple[np.ndarray, ViewInfo]:
        opened = source if source is not None else open_source(path, fps, decoder)
        if augment_view is not None:
            return _decode_augmented(path, opened, spec, clip_span_s, frame_span, augment_view)
        return _decode_views(path, opened, spec, clip_span_s, frame_span)

    if timeout_s is None:
        return run()
    return call_with_timeout(run, timeout_s, path)


def _decode_views(path, source, spec, clip_span_s, frame_span) -> tuple[np.ndarray, ViewInfo]:
    try:
        clip = clip_range(source.num_frames, source.fps, clip_span_s, frame_span)
        indices, padded = temporal_indices(spec, clip, source.fps)
    except ClipSpanError as error:
        raise VideoDecodeFailure(path, BAD_SPAN, str(error)) from None
    unique, position = np.unique(indices, return_inverse=True)
    crops = resize_and_crop(source.read(unique), spec.resolution, spec.spatial_views, spec.resize, spec.short_side)
    position = position.reshape(indices.shape)
    views = np.stack([crops[s][position[t]] for t in range(spec.temporal_views) for s in range(spec.spatial_views)])
    info = ViewInfo(
        path=os.fspath(path),
        num_frames=source.num_frames,
        fps=source.fps,
        clip=clip,
        indices=tuple(tuple(int(i) for i in row) for row in indices),
        padded_frames=tuple(int(p) for p in padded),
    )
    return views, info


def _decode_augmented(path, source, spec, clip_span_s, frame_span, view: AugmentedView) -> tuple[np.ndarray, ViewInfo]:
    try:
        clip = clip_range(source.num_frames, source.fps, clip_span_s, frame_span)
        indices, padded = plan_temporal(spec, view, clip, source.fps)
    except ClipSpanError as error:
        raise VideoDecodeFailure(path, BAD_SPAN, str(error)) from None
    unique, position = np.unique(indices, return_inverse=True)
    frames = source.read(unique)
    height, width = frames.shape[1:3]
    plan = ViewPlan(indices=tuple(int(i) for i in indices), padded_frames=padded,
                    crop_box=plan_crop(spec, view, height, width), flip=plan_flip(spec, view))
    clip_pixels = crop_and_resize(frames, plan.crop_box, spec.resolution, plan.flip)[position]
    info = ViewInfo(path=os.fspath(path), num_frames=source.num_frames, fps=source.fps, clip=clip,
                    indices=(plan.indices,), padded_frames=(padded,),
                    augment={"view": view.as_dict(), "frame_hw": [int(height), int(width)], **plan.as_dict()})
    return clip_pixels[None], info


def call_with_timeout(fn: Callable[[], T], timeout_s: float, path: str | os.PathLike) -> T:
    """Run ``fn`` on a daemon thread; give up after ``timeout_s``.

    A thread (not a signal) because a decoder stuck inside C code never returns to Python to
    run a signal handler; decord's ctypes calls release the GIL, so the caller keeps running.
    The abandoned thread is a daemon and cannot keep the process alive at exit.
    """
    outcome: dict = {}

    def target() -> None:
        try:
            outcome["value"] = fn()
        except BaseException as error:  # re-raised in the caller's thread below
            outcome["error"] = error

    thread = threading.Thread(target=target, name="vpbench-decode", daemon=True)
    thread.start()
    thread.join(timeout_s)
    if thread.is_alive():
        raise VideoDecodeFailure(path, TIMEOUT, f"no frames after {timeout_s:g} s")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]
