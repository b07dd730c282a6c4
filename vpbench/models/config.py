"""The architecture description of a VideoPrism model, without torch.

Kept apart from the modules so that the model table (``zoo``) and the checkpoint writer can be
used by cheap commands without importing torch. Must never hold weights or math.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

ModelType = Literal["encoder", "lvt", "classifier"]
Precision = Literal["fp32", "bf16", "fp16"]
AttentionBackend = Literal["auto", "math", "flex"]


@dataclass(frozen=True)
class VideoPrismConfig:
    """Architecture of one VideoPrism model; everything but ``atten_logit_cap`` is readable
    from a checkpoint's array shapes (see ``checkpoint.infer_config``)."""

    model_type: ModelType = "encoder"
    patch_size: int = 18
    pos_emb_shape: tuple[int, int, int] = (16, 16, 16)  # (frames, grid rows, grid cols)
    model_dim: int = 768
    num_spatial_layers: int = 12
    num_temporal_layers: int = 4
    num_heads: int = 12
    mlp_dim: int = 3072
    atten_logit_cap: float = 50.0
    # LvT video-text model only.
    num_auxiliary_layers: int = 0
    num_unimodal_layers: int = 0
    vocabulary_size: int = 0
    # Classifier only.
    num_classes: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "pos_emb_shape", tuple(int(v) for v in self.pos_emb_shape))
        if self.model_type not in ("encoder", "lvt", "classifier"):
            raise ValueError(f"model_type must be encoder, lvt or classifier, got {self.model_type!r}")
        if len(self.pos_emb_shape) != 3 or min(self.pos_emb_shape) < 1:
            raise ValueError(f"pos_emb_shape must be 3 positive ints (T, rows, cols), got {self.pos_emb_shape}")
        if self.model_dim % self.num_heads:
            raise ValueError(f"model_dim {self.model_dim} is not divisible by num_heads {self.num_heads}")
        if self.model_type == "lvt" and (self.vocabulary_size < 1 or self.num_unimodal_layers < 1):
            raise ValueError("an lvt config needs vocabulary_size >= 1 and num_unimodal_layers >= 1")
        if self.model_type == "classifier" and self.num_classes < 1:
            raise ValueError("a classifier config needs num_classes >= 1")

    @property
    def num_frames(self) -> int:
        return self.pos_emb_shape[0]

    @property
    def image_size(self) -> int:
        return self.pos_emb_shape[1] * self.patch_size

    def replace(self, **changes: Any) -> "VideoPrismConfig":
        return dataclasses.replace(self, **changes)
