"""Spatial preprocessing: resize to the model resolution and cut the spatial views.

Frames stay uint8 from decoder to model input so that a view crosses process boundaries at a
quarter of the float size; the model side divides by 255. This module must never change the
colour values beyond the resize itself (no normalisation: the model expects [0, 1] RGB).

Resizing is bilinear with antialiasing (torch's uint8 kernel, within 2 grey levels of PIL's
bilinear filter), done once per decoded frame before the crops are cut.
"""

from __future__ import annotations

import math

import numpy as np

from vpbench.video.sampling import ResizeMode


def crop_offsets(length: int, size: int, count: int) -> list[int]:
    """Start offsets of ``count`` windows of ``size`` spread evenly over ``length`` (one: centred)."""
    slack = length - size
    if count == 1:
        return [slack // 2]
    return [(k * slack) // (count - 1) for k in range(count)]


def resized_shape(height: int, width: int, resolution: int, mode: ResizeMode) -> tuple[int, int]:
    """Frame size after resizing: shorter side to ``resolution`` (aspect kept), or square."""
    if mode == "squash":
        return resolution, resolution
    scale = resolution / min(height, width)
    return max(resolution, math.floor(height * scale + 0.5)), max(resolution, math.floor(width * scale + 0.5))


def resize_and_crop(frames: np.ndarray, resolution: int, spatial_views: int, mode: ResizeMode,
                    short_side: int | None = None) -> np.ndarray:
    """uint8 ``[N, H, W, 3]`` -> uint8 ``[S, N, resolution, resolution, 3]``.

    The shorter side is resized to ``short_side`` (default ``resolution``); the ``S`` crops run
    along the longer side (left to right, or top to bottom for portrait video) and the shorter
    side is centred.
    """
    _, height, width, _ = frames.shape
    new_h, new_w = resized_shape(height, width, short_side or resolution, mode)
    x = _resize(frames, new_h, new_w)
    if new_w >= new_h:
        tops, lefts = [(new_h - resolution) // 2] * spatial_views, crop_offsets(new_w, resolution, spatial_views)
    else:
        tops, lefts = crop_offsets(new_h, resolution, spatial_views), [(new_w - resolution) // 2] * spatial_views
    return np.stack([x[:, t : t + resolution, l : l + resolution] for t, l in zip(tops, lefts)])


def crop_and_resize(frames: np.ndarray, box: tuple[int, int, int, int], resolution: int, flip: bool) -> np.ndarray:
    """uint8 ``[N, H, W, 3]`` -> uint8 ``[N, resolution, resolution, 3]``: the box ``(top, left,
    height, width)`` of every frame resized to a square (Inception-style: the box's aspect is
    not kept), then mirrored left-right when ``flip``."""
    top, left, height, width = box
    x = _resize(frames[:, top : top + height, left : left + width], resolution, resolution)
    return np.ascontiguousarray(x[:, :, ::-1]) if flip else x


def _resize(frames: np.ndarray, height: int, width: int) -> np.ndarray:
    import torch
    import torch.nn.functional as F

    if frames.shape[1:3] == (height, width):
        return np.ascontiguousarray(frames)
    # NHWC uint8 viewed as channels-last NCHW: torch's vectorised uint8 antialias kernel,
    # ~10x faster than resizing in float, and within 1 grey level of it.
    x = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2)
    x = F.interpolate(x, size=(height, width), mode="bilinear", antialias=True)
    return x.permute(0, 2, 3, 1).numpy()
