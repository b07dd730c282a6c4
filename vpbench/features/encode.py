"""Run the frozen encoder on a batch of uint8 clips and reduce its output to a token layout.

Layouts (per clip):

* ``tokens``: ``[T*h*w, D]``, the encoder's full token output (time-major);
* ``frame_pooled``: ``[T, D]``, tokens averaged over space within each frame;
* ``global``: ``[D]``, tokens averaged over space and time;
* ``embedding``: ``[D]``, the output of a model that already returns one vector per clip
  (the LvT video-text model's L2-normalised embedding), stored as is.

Pooling is done in float32 and only then cast to the storage dtype. This module must never
run the model in training mode or with gradients.
"""

from __future__ import annotations

from typing import Any, Mapping

from vpbench.errors import VpbenchError
from vpbench.features.cache import STORAGE_DTYPES

LAYOUTS = ("tokens", "frame_pooled", "global", "embedding")


class ClipEncoder:
    """``model.encode_video`` over uint8 ``[B, T, H, W, 3]`` clips -> CPU features ``[B, ...]``."""

    def __init__(
        self, model, layout: str, dtype: str, frames: int, encode_kwargs: Mapping[str, Any] | None = None
    ) -> None:
        import torch

        if layout not in LAYOUTS:
            raise VpbenchError(f"layout={layout!r}: expected one of {', '.join(LAYOUTS)}")
        if dtype not in STORAGE_DTYPES:
            raise VpbenchError(f"dtype={dtype!r}: expected one of {', '.join(STORAGE_DTYPES)}")
        if not callable(getattr(model, "encode_video", None)):
            raise VpbenchError(
                f"{type(model).__name__} has no encode_video(video, frame_paddings=None) method "
                "(the vpbench model API; see vpbench.load_model)"
            )
        # Frozen-encoder features are defined in eval mode (no dropout, no stochastic depth).
        model.eval()
        self.model = model
        self.layout = layout
        self.frames = frames
        self.encode_kwargs = dict(encode_kwargs or {})
        self.storage_dtype = getattr(torch, dtype)
        first = next(iter(model.parameters()), None)
        self.device = first.device if first is not None else torch.device("cpu")
        self.input_dtype = first.dtype if first is not None and first.is_floating_point() else torch.float32

    def __call__(self, clips):
        import torch

        if self.device.type == "cuda":
            clips = clips.pin_memory()
        video = clips.to(self.device, non_blocking=True).to(self.input_dtype).div_(255.0)
        with torch.inference_mode():
            output = self.model.encode_video(video, **self.encode_kwargs)
        return self.reduce(output).to(self.storage_dtype).cpu()

    def clip_shape(self, spec) -> tuple[int, ...]:
        """The shape of one clip's features, found by encoding one blank clip (what a cached entry
        must have per view: its shape is checked against this, not taken on trust)."""
        import torch

        blank = torch.zeros((1, spec.frames, spec.resolution, spec.resolution, 3), dtype=torch.uint8)
        return tuple(self(blank).shape[1:])

    def reduce(self, output):
        if not hasattr(output, "ndim"):
            raise VpbenchError(f"encode_video returned {type(output).__name__}, expected a tensor")
        output = output.float()
        if self.layout == "embedding":
            if output.ndim != 2:
                raise VpbenchError(
                    f"layout 'embedding' needs a model returning [B, D] embeddings; this one returned "
                    f"{list(output.shape)} tokens (use 'tokens', 'frame_pooled' or 'global')"
                )
            return output
        if output.ndim != 3:
            raise VpbenchError(
                f"layout {self.layout!r} needs [B, T*h*w, D] tokens; the model returned {list(output.shape)} "
                "(an embedding model: use layout 'embedding')"
            )
        if self.layout == "tokens":
            return output
        if self.layout == "global":
            return output.mean(dim=1)
        batch, tokens, width = output.shape
        if tokens % self.frames:
            raise VpbenchError(
                f"layout 'frame_pooled': {tokens} tokens do not split into {self.frames} frames of equal size"
            )
        return output.reshape(batch, self.frames, tokens // self.frames, width).mean(dim=2)
