"""Augmented training views: view ``v`` of a sample as a pure function of (sample, v, seed, spec).

VideoGLUE trains its frozen-backbone heads on a fresh random clip of every video each epoch
(``official/projects/videoglue/datasets/common/utils.py`` ``add_image``, training branch):

* a random clip start (DMVR ``sample_sequence(random=True)``: start uniform in
  ``[0, max(n - (T - 1) * stride, 1))``; for SSv2's segment sampling one random frame per
  segment, ``sample_sequence_by_segment(is_training=True)``);
* an Inception-style random crop (``processors.random_crop_resize``, TF's
  ``sample_distorted_bounding_box`` with area ``[0.3, 1]`` and aspect ``[0.5, 2]`` of the frame,
  100 attempts, the whole frame as fallback) resized to the square input;
* a random horizontal flip unless the config sets ``random_flip_image: false`` (SSv2).

vpbench caches a fixed number of such views per video instead of drawing new ones each epoch,
so every view must be reproducible: its random draws come from generators seeded by
``(AugmentSpec.seed, view index, a hash of the stream key)`` (the stream key names the sample,
not the file), one generator per decision, so changing the crop ranges never moves the clip
start. :func:`plan_view` turns those draws into frame indices, a crop box and a flip once the
clip length and frame size are known; nothing here decodes a video or touches a model, so the
same function serves extraction and a streaming training loop. The draws follow the VideoGLUE
distributions, not TensorFlow's random streams: the views are VideoGLUE-like, not bit-equal.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import numpy as np

from vpbench.errors import VpbenchError
from vpbench.video.sampling import AugmentSpec, SamplingSpec, clip_steps, place_offsets, segment_bounds

CROP_ATTEMPTS = 100
"""``sample_distorted_bounding_box(max_attempts=100)`` in VideoGLUE's ``random_crop_resize``."""


@dataclass(frozen=True)
class AugmentedView:
    """Which augmented view a work item asks for: ``index`` of the views of ``stream`` (the sample)."""

    stream: str
    index: int

    def __post_init__(self) -> None:
        if not isinstance(self.stream, str) or not self.stream:
            raise VpbenchError(f"AugmentedView.stream={self.stream!r}: expected a non-empty string")
        if not isinstance(self.index, int) or isinstance(self.index, bool) or self.index < 0:
            raise VpbenchError(f"AugmentedView.index={self.index!r}: expected an integer >= 0")

    def as_dict(self) -> dict:
        return {"stream": self.stream, "index": self.index}


@dataclass(frozen=True)
class ViewPlan:
    """The outcome of one augmented view: absolute frame indices, padding, crop box, flip."""

    indices: tuple[int, ...]
    padded_frames: int
    crop_box: tuple[int, int, int, int]  # top, left, height, width in the decoded frame
    flip: bool

    def as_dict(self) -> dict:
        return {"indices": list(self.indices), "padded_frames": self.padded_frames,
                "crop_box_tlhw": list(self.crop_box), "flip": self.flip}


def plan_temporal(spec: SamplingSpec, view: AugmentedView, clip: tuple[int, int],
                  fps: float | None) -> tuple[np.ndarray, int]:
    """The view's frame indices ``[T]`` (absolute) and padded-frame count: a random clip start."""
    rng = _generator(_augment(spec), view, "temporal")
    n = clip[1] - clip[0]
    frames = spec.frames
    if spec.policy == "segments":
        bounds = segment_bounds(n, frames)
        offsets = bounds[:, 0] + np.floor(rng.random(frames) * (bounds[:, 1] - bounds[:, 0])).astype(np.int64)
    elif spec.policy == "uniform":
        # The uniform policy's analogue of a random start: every frame shifted by one random
        # fraction of a segment (the evaluation views use the fractions v / V).
        shift = rng.random()
        offsets = np.floor((np.arange(frames) + shift) * n / frames).astype(np.int64) if n >= frames \
            else np.arange(frames, dtype=np.int64)
    else:
        steps, _ = clip_steps(spec, fps)
        starts = max(n - int(steps[-1]), 1)
        offsets = int(rng.integers(starts)) + steps
    indices, padded = place_offsets(spec, clip, offsets[None, :])
    return indices[0], int(padded[0])


def plan_crop(spec: SamplingSpec, view: AugmentedView, height: int, width: int) -> tuple[int, int, int, int]:
    """A random ``(top, left, height, width)`` box: area and aspect drawn uniformly in the spec's ranges.

    As TF's ``sample_distorted_bounding_box``: up to 100 attempts, each drawing an aspect ratio
    (width / height) and an area; the first box that fits the frame is placed uniformly at
    random; if none fits, the whole frame.
    """
    augment = _augment(spec)
    rng = _generator(augment, view, "crop")
    frame_area = height * width
    for _ in range(CROP_ATTEMPTS):
        aspect = rng.uniform(*augment.aspect)
        area = rng.uniform(*augment.area) * frame_area
        box_h = int(round(math.sqrt(area / aspect)))
        box_w = int(round(math.sqrt(area * aspect)))
        if 0 < box_h <= height and 0 < box_w <= width:
            top = int(rng.integers(height - box_h + 1))
            left = int(rng.integers(width - box_w + 1))
            return top, left, box_h, box_w
    return 0, 0, height, width


def plan_flip(spec: SamplingSpec, view: AugmentedView) -> bool:
    """A fair coin when the spec allows flipping (VideoGLUE's ``random_flip_left_right``)."""
    augment = _augment(spec)
    return bool(augment.flip and _generator(augment, view, "flip").random() < 0.5)


def _augment(spec: SamplingSpec) -> AugmentSpec:
    if spec.augment is None:
        raise VpbenchError("an augmented view needs SamplingSpec.augment (the augmentation settings)")
    return spec.augment


_PURPOSES = {"temporal": 0, "flip": 1, "crop": 2}


def _generator(augment: AugmentSpec, view: AugmentedView, purpose: str) -> np.random.Generator:
    stream = int.from_bytes(hashlib.sha256(view.stream.encode()).digest()[:8], "little")
    return np.random.default_rng([augment.seed, view.index, stream, _PURPOSES[purpose]])
