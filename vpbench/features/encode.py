"""Preprocess a batch of uint8 clips for the encoder, run it, and reduce its output to a token layout.

This is the "preprocess for this encoder -> encode" half of the one path from a video to
features (:func:`decode_spec` gives the decode half its request); cached extraction uses it,
and so can anything that runs the encoder in a loop. Layouts (per clip):

* ``tokens``: ``[T'*h*w, D]``, the encoder's token grid flattened time-major;
* ``frame_pooled``: ``[T', D]``, tokens averaged over space within each temporal position;
* ``global``: ``[D]``, tokens averaged over space and time;
* ``embedding``: ``[D]``, the encoder's own clip embedding (a video-text model's L2-normalised
  video embedding), stored as is.

The encoder is a :class:`vpbench.models.encoder.VideoEncoder`. A bare module with only
``encode_video(video in [0, 1]) -> [B, T*h*w, D] tokens or [B, D]`` (the model API before the
encoder interface) is accepted too, with no preprocessing beyond scaling to [0, 1].

Pooling is done in float32 and only then cast to the storage dtype. This module must never
run the model in training mode or with gradients.
"""

from __future__ import annotations

from typing import Any, Mapping

from vpbench.errors import VpbenchError
from vpbench.features.cache import STORAGE_DTYPES

LAYOUTS = ("tokens", "frame_pooled", "global", "embedding")


def decode_spec(encoder: Any, spec: Any) -> Any:
    """The task's :class:`~vpbench.video.SamplingSpec` as this encoder needs its clips decoded."""
    card = getattr(encoder, "card", None)
    return spec if card is None else card.preprocessing.sampling(spec)


def token_grid(encoder: Any, spec: Any) -> tuple[int, int, int]:
    """(T', H', W') of the ``tokens`` layout this encoder gives for the task's ``spec``."""
    card = encoder.card
    return card.token_grid(*card.preprocessing.input_shape(spec))


class ClipEncoder:
    """uint8 ``[B, T, H, W, 3]`` clips (decoded with :func:`decode_spec`) -> CPU features ``[B, ...]``."""

    def __init__(
        self, model, layout: str, dtype: str, frames: int, encode_kwargs: Mapping[str, Any] | None = None
    ) -> None:
        import torch

        if layout not in LAYOUTS:
            raise VpbenchError(f"layout={layout!r}: expected one of {', '.join(LAYOUTS)}")
        if dtype not in STORAGE_DTYPES:
            raise VpbenchError(f"dtype={dtype!r}: expected one of {', '.join(STORAGE_DTYPES)}")
        self.card = getattr(model, "card", None)
        if self.card is not None:
            from vpbench.models.encoder import check_encoder, unsupported

            check_encoder(model, "feature extraction")
            wanted = "embedding" if layout == "embedding" else "tokens"
            if wanted not in self.card.outputs:
                raise unsupported(self.card, f"{wanted} output for layout {layout!r}")
        elif not callable(getattr(model, "encode_video", None)):
            raise VpbenchError(
                f"{type(model).__name__} is not a vpbench encoder (no card, video_tokens, video_embedding; "
                "see vpbench.models.encoder.VideoEncoder) and has no encode_video(video) method"
            )
        # Frozen-encoder features are defined in eval mode (no dropout, no stochastic depth).
        model.eval()
        self.model = model
        self.layout = layout
        self.frames = frames  # frames per clip, for a bare encode_video module's flat tokens
        self.encode_kwargs = dict(encode_kwargs or {})
        self.storage_dtype = getattr(torch, dtype)
        first = next(iter(model.parameters()), None)
        self.device = first.device if first is not None else torch.device("cpu")
        self.input_dtype = first.dtype if first is not None and first.is_floating_point() else torch.float32

    def __call__(self, clips):
        """Features ``[B, ...]`` in the storage dtype, on the CPU: what the cache stores."""
        return self.on_device(clips).to(self.storage_dtype).cpu()

    def on_device(self, clips, *, autocast: bool = False):
        """Float32 features ``[B, ...]`` left on the encoder's device, computed without gradients.

        A streaming training loop feeds them straight to a head (they are plain tensors, not
        inference-mode ones, so autograd may save them). ``autocast``: bf16 autocast on CUDA (a
        streaming run's choice; cached features are computed in the encoder's own precision).
        """
        import contextlib

        import torch

        if self.device.type == "cuda":
            clips = clips.pin_memory()
        clips = clips.to(self.device, non_blocking=True)
        amp = (torch.autocast("cuda", dtype=torch.bfloat16) if autocast and self.device.type == "cuda"
               else contextlib.nullcontext())
        with torch.no_grad(), amp:
            if self.card is None:
                output = self.model.encode_video(clips.to(self.input_dtype).div_(255.0), **self.encode_kwargs)
            else:
                video = self.card.preprocessing(clips, self.input_dtype)
                method = self.model.video_embedding if self.layout == "embedding" else self.model.video_tokens
                output = method(video, **self.encode_kwargs)
            features = self.reduce(output)
        # An encoder that runs under inference_mode itself (the transformers backends) returns tensors
        # autograd may not save; a copy made here is a plain one.
        return features.clone() if features.is_inference() else features

    def clip_shape(self, spec) -> tuple[int, ...]:
        """The shape of one clip's features, found by encoding one blank clip (what a cached entry
        must have per view: its shape is checked against this, not taken on trust)."""
        import torch

        blank = torch.zeros((1, spec.frames, spec.resolution, spec.resolution, 3), dtype=torch.uint8)
        return tuple(self(blank).shape[1:])

    def reduce(self, output):
        if not hasattr(output, "ndim"):
            raise VpbenchError(f"the encoder returned {type(output).__name__}, expected a tensor")
        output = output.float()
        if self.layout == "embedding":
            if output.ndim != 2:
                raise VpbenchError(
                    f"layout 'embedding' needs a model returning [B, D] embeddings; this one returned "
                    f"{list(output.shape)} tokens (use 'tokens', 'frame_pooled' or 'global')"
                )
            return output
        if output.ndim == 5:  # the token grid [B, T', H', W', D]
            steps = output.shape[1]
        elif output.ndim == 3 and self.card is None:  # a bare module's flat time-major tokens, T per clip
            steps = self.frames
        else:
            raise VpbenchError(
                f"layout {self.layout!r} needs a [B, T', H', W', D] token grid; the model returned "
                f"{list(output.shape)} (an embedding model: use layout 'embedding')"
            )
        batch, width = output.shape[0], output.shape[-1]
        tokens = output.reshape(batch, -1, width)  # a view: the grid's own memory, time-major
        if self.layout == "tokens":
            return tokens
        if self.layout == "global":
            return tokens.mean(dim=1)
        if tokens.shape[1] % steps:
            raise VpbenchError(
                f"layout 'frame_pooled': {tokens.shape[1]} tokens do not split into {steps} frames of equal size"
            )
        return tokens.reshape(batch, steps, tokens.shape[1] // steps, width).mean(dim=2)
