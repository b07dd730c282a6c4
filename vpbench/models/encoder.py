"""What vpbench needs from a frozen video encoder, and what an encoder states about itself.

Family runners talk to an encoder only through :class:`VideoEncoder`, so any model that
implements it runs every task whose needs it meets: VideoPrism and LvT (``videoprism.py``), the
transformers backends (``hf_backends.py``), or a user's own class (``vpbench.models.registry``).
One path takes a decoded clip to features, for cached extraction today and for a training loop
with the encoder in it tomorrow::

    spec = encoder.card.preprocessing.sampling(task_spec)     # frames and decode size for this encoder
    views, info = decode_views(path, spec)                    # uint8 [V, T, R, R, 3]
    video = encoder.card.preprocessing(torch.from_numpy(views), torch.float32)  # crop, [0, 1], mean/std
    tokens = encoder.video_tokens(video)                      # [V, T', H', W', D]   if "tokens" in outputs
    embedding = encoder.video_embedding(video)                # [V, D], L2-normalised if "embedding" in outputs
    text = encoder.encode_text(*tokenizer(texts))             # [N, D], L2-normalised if card.text

This module must never import a backend, and imports torch only inside the preprocessing call.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from vpbench.errors import VpbenchError

OUTPUTS = ("tokens", "embedding")


class EncoderError(VpbenchError):
    """An encoder cannot do what a task asks of it (no text tower, a frame count it cannot take...)."""


@dataclass(frozen=True)
class Preprocessing:
    """How a decoded clip becomes this encoder's input. ``None`` fields take the task's sampling.

    The task keeps the geometry of its views (short side + crops for the probes, the whole frame
    squashed for box tasks) and the choice of frames; the encoder states the sizes and pixel
    statistics it was trained with. In ``short_side`` mode a clip is decoded at ``resize_px`` and
    centre-cropped to ``crop_px`` (VideoMAE: 224 -> 224; V-JEPA 2: 292 -> 256); a squashed frame is
    decoded at ``crop_px`` directly. Values are then scaled to [0, 1] and, with ``mean``/``std``,
    normalised per channel.
    """

    frames: int | None = None
    resize_px: int | None = None
    crop_px: int | None = None
    mean: tuple[float, float, float] | None = None
    std: tuple[float, float, float] | None = None
    tubelet_frames: int = 1  # the frame count must be a multiple of it
    source: str = ""  # where these values come from (a processor config file, a README)

    def __post_init__(self) -> None:
        if (self.mean is None) != (self.std is None):
            raise ValueError("Preprocessing: give both mean and std, or neither")
        if self.crop_px is not None and self.resize_px is not None and self.crop_px > self.resize_px:
            raise ValueError(f"Preprocessing: crop {self.crop_px} px is larger than the resize {self.resize_px} px")

    def sampling(self, spec: Any) -> Any:
        """The task's :class:`~vpbench.video.SamplingSpec` with this encoder's frame count and decode size."""
        frames = self.frames or spec.frames
        if frames % self.tubelet_frames:
            raise EncoderError(f"the encoder takes frames in groups of {self.tubelet_frames} (its tubelet); "
                               f"{frames} frames do not divide ({self.source or 'encoder preprocessing'})")
        resolution = spec.resolution
        if self.crop_px is not None:
            resolution = self.crop_px if spec.resize == "squash" else (self.resize_px or self.crop_px)
        return dataclasses.replace(spec, frames=frames, resolution=resolution)

    def input_shape(self, spec: Any) -> tuple[int, int]:
        """(frames, pixels per side) of the video the encoder receives for the task's ``spec``."""
        decoded = self.sampling(spec)
        return decoded.frames, self.crop_px or decoded.resolution

    def __call__(self, clips: Any, dtype: Any) -> Any:
        """uint8 ``[B, T, H, W, 3]`` (already on the encoder's device) -> ``dtype`` ``[B, T, S, S, 3]``."""
        height, width = clips.shape[2:4]
        size = self.crop_px
        if size is not None and (height, width) != (size, size):
            top, left = (height - size) // 2, (width - size) // 2
            clips = clips[:, :, top:top + size, left:left + size]
        video = clips.to(dtype).div_(255.0)
        if self.mean is not None:
            mean = video.new_tensor(self.mean)
            std = video.new_tensor(self.std)
            video = (video - mean) / std
        return video

    def describe(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class EncoderCard:
    """What an encoder states about itself; the feature cache and the results key on :attr:`identity`."""

    backend: str  # "videoprism", "videomae", "vjepa2", "image-per-frame", "clip-per-frame", or a user's name
    embed_dim: int  # D of the tokens
    patch_px: int  # pixels per token side
    preprocessing: Preprocessing
    outputs: tuple[str, ...] = ("tokens",)  # what video_tokens / video_embedding provide
    text: bool = False  # encode_text exists (a video-text model)
    checkpoint_sha256: str | None = None  # the weights file(s), as results report them
    weights: str = ""  # what identifies the weights and the architecture (a hash); part of the identity
    precision: str = "fp32"
    text_vocab_size: int | None = None  # ids a vpbench tokenizer may give encode_text (None: its own tokenizer)
    details: dict[str, Any] = field(default_factory=dict)  # backend facts worth a result's record (model_type...)

    def __post_init__(self) -> None:
        unknown = sorted(set(self.outputs) - set(OUTPUTS))
        if unknown or not self.outputs:
            raise ValueError(f"EncoderCard.outputs={self.outputs!r}: expected one or more of {OUTPUTS}")

    @property
    def tubelet_frames(self) -> int:
        return self.preprocessing.tubelet_frames

    def token_grid(self, frames: int, image_px: int) -> tuple[int, int, int]:
        """(T', H', W') of :meth:`VideoEncoder.video_tokens` for a clip of that many frames and pixels."""
        return frames // self.tubelet_frames, image_px // self.patch_px, image_px // self.patch_px

    def describe(self) -> dict[str, Any]:
        """The card as JSON (results and fingerprints); ``identity`` included."""
        record = dataclasses.asdict(self)
        record["preprocessing"] = self.preprocessing.describe()
        record["outputs"] = list(self.outputs)
        return {**record, "identity": self.identity}

    @property
    def identity(self) -> str:
        """SHA-256 over everything that changes this encoder's features (the preprocessing included)."""
        record = dataclasses.asdict(self)
        record.pop("details")
        return hashlib.sha256(json.dumps(record, sort_keys=True, default=str).encode()).hexdigest()


@runtime_checkable
class VideoEncoder(Protocol):
    """A frozen video encoder. Input ``video`` is what :class:`Preprocessing` returns: float
    ``[B, T, S, S, 3]`` on the encoder's device. Methods outside ``card.outputs`` / ``card.text``
    raise :class:`EncoderError`. Outputs are float32 and computed without gradients."""

    @property
    def card(self) -> EncoderCard: ...

    def video_tokens(self, video: Any) -> Any:
        """``[B, T', H', W', D]``: the token grid (``card.token_grid(T, S)``)."""

    def video_embedding(self, video: Any) -> Any:
        """``[B, D]``: one L2-normalised vector per clip, in the space of ``encode_text``."""

    def encode_text(self, token_ids: Any, paddings: Any) -> Any:
        """``[N, D]`` L2-normalised text embeddings from ``(token_ids, paddings)`` ``[N, L]`` (1 = pad)."""

    def text_tokenizer(self, max_length: int) -> Any:
        """The tokenizer ``encode_text`` expects (``path``, ``vocab_size``, ``max_length``, ``add_bos``,
        ``canonicalize``, ``__call__(texts) -> (ids, paddings)``), or None: a vpbench SentencePiece
        vocabulary chosen by the task (VideoPrism LvT: ``c4_en``)."""


def weights_fingerprint(module: Any) -> str:
    """SHA-256 of what determines a torch module's outputs: class, config, precision, parameter
    dtypes, and the weights: the loader's ``checkpoint_sha256`` when it set one, else every
    tensor of the state dict (names, dtypes, bytes; about a second per GB).

    Precision and config are hashed separately because they change outputs without changing
    the checkpoint file (bf16 autocast, the attention logit cap).
    """
    import torch

    digest = hashlib.sha256(f"{type(module).__module__}.{type(module).__qualname__}".encode())
    digest.update(repr(getattr(module, "config", None)).encode())
    digest.update(repr(getattr(module, "precision", None)).encode())
    digest.update(repr(sorted({str(p.dtype) for p in module.parameters()})).encode())
    checkpoint = getattr(module, "checkpoint_sha256", None)
    if checkpoint:
        digest.update(f"checkpoint:{checkpoint}".encode())
        return digest.hexdigest()
    for name, tensor in sorted(module.state_dict().items()):
        tensor = tensor.detach().to("cpu").contiguous()
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().data)
    return digest.hexdigest()


REQUIRED = ("card", "video_tokens", "video_embedding", "encode_text", "text_tokenizer")


def check_encoder(encoder: Any, where: str) -> Any:
    """``encoder`` if it implements :class:`VideoEncoder`, else an EncoderError naming what it lacks."""
    missing = [name for name in REQUIRED if not hasattr(encoder, name)]
    if missing:
        raise EncoderError(f"{where}: {type(encoder).__name__} is not a vpbench encoder: it lacks "
                           f"{', '.join(missing)} (see vpbench.models.encoder.VideoEncoder)")
    card = encoder.card
    if not isinstance(card, EncoderCard):
        raise EncoderError(f"{where}: {type(encoder).__name__}.card is {type(card).__name__}, expected an "
                           "EncoderCard")
    return encoder


def unsupported(card: EncoderCard, what: str) -> EncoderError:
    """The error for a method an encoder does not provide."""
    has = " and ".join(card.outputs) + (" and text" if card.text else "")
    return EncoderError(f"this {card.backend} encoder has no {what} (it gives {has})")
