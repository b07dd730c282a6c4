"""Cached feature layouts: the shape and size of one view, and which heads a layout can feed.

A task chooses its layout and storage dtype in ``features: {layout, dtype}``. The compact
layouts cut the cache by orders of magnitude but are not free for every head:

* a linear head averages the tokens itself, so ``global`` (tokens averaged at extraction, in
  float32) and ``frame_pooled`` give it the same input as ``tokens``, up to the storage rounding;
* a MAP head attends over the token sequence: ``frame_pooled`` hands it T' per-frame averages
  instead of T'*h*w tokens, which changes what it can attend to (a named variant, or a recorded
  deviation); ``global`` leaves it one token, which is not a MAP probe and is refused.

bfloat16 and float16 both take 2 bytes: bfloat16 keeps float32's range (no overflow of large
activations) with an 8-bit mantissa, float16 an 11-bit mantissa in a narrower range.
"""

from __future__ import annotations

import math
from typing import Any

from vpbench.errors import RegistryError

DTYPE_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2}
# For each head type: the layouts it accepts, and those that give it the same input as `tokens`.
HEAD_LAYOUTS = {"map": ("tokens", "frame_pooled"), "linear": ("tokens", "frame_pooled", "global")}
SAME_INPUT = {"map": ("tokens",), "linear": ("tokens", "frame_pooled", "global")}
COMPACT_DEVIATION = "compact-layout"


def view_shape(layout: str, grid: tuple[int, int, int], dim: int) -> tuple[int, ...]:
    """One view's stored shape for a ``(T', h, w)`` token grid of width ``dim``."""
    steps, height, width = grid
    shapes = {"tokens": (steps * height * width, dim), "frame_pooled": (steps, dim), "global": (dim,),
              "embedding": (dim,)}
    if layout not in shapes:
        raise RegistryError(f"features.layout {layout!r}: expected one of {', '.join(shapes)}")
    return shapes[layout]


def view_bytes(layout: str, dtype: str, grid: tuple[int, int, int], dim: int) -> int:
    """Bytes of one stored view (the tensor only; a cache entry adds a small JSON header)."""
    if dtype not in DTYPE_BYTES:
        raise RegistryError(f"features.dtype {dtype!r}: expected one of {', '.join(DTYPE_BYTES)}")
    return math.prod(view_shape(layout, grid, dim)) * DTYPE_BYTES[dtype]


def encoder_view_bytes(card: Any, spec: Any, layout: str, dtype: str) -> int:
    """:func:`view_bytes` for an encoder's :class:`~vpbench.models.encoder.EncoderCard` and a task's
    :class:`~vpbench.video.SamplingSpec` (the grid the encoder gives for that input)."""
    return view_bytes(layout, dtype, card.token_grid(*card.preprocessing.input_shape(spec)), card.embed_dim)


def check_head_layout(head_type: str, layout: str, where: str) -> bool:
    """Refuse a layout the head cannot take; return whether the head sees the same input as with
    ``tokens`` (False: the run must carry a variant's or a run-time deviation)."""
    allowed = HEAD_LAYOUTS.get(head_type, ("tokens",))
    if layout not in allowed:
        raise RegistryError(f"{where}: features.layout {layout!r} cannot feed a {head_type!r} head; it takes "
                            f"{', '.join(allowed)}")
    return layout in SAME_INPUT.get(head_type, ("tokens",))


def compact_deviation_text(head_type: str, layout: str) -> str:
    return (f"the {head_type} head is trained and evaluated on the '{layout}' layout (tokens averaged within each "
            f"frame) instead of every frozen token the paper's head attends to")
