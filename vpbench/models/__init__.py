"""Encoders: the interface every encoder implements (``encoder``); VideoPrism in PyTorch
(``videoprism``, official checkpoints ``checkpoint``, transformers-format checkpoints
``transformers_format``); other transformers encoders (``hf_backends``); user encoders
(``user_encoders``); hub locations (``hub``), the text tokenizer (``tokenizer``) and the table of
known models (``zoo``). See README.md in this folder.

Names are resolved lazily so that importing the tokenizer does not import torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Tokenizer": "vpbench.models.tokenizer",
    "VideoEncoder": "vpbench.models.encoder",
    "EncoderCard": "vpbench.models.encoder",
    "Preprocessing": "vpbench.models.encoder",
    "register_encoder": "vpbench.models.user_encoders",
    "load_model": "vpbench.models.zoo",
    "load_tokenizer": "vpbench.models.zoo",
    "MODELS": "vpbench.models.zoo",
    "VideoPrismConfig": "vpbench.models.config",
    "VideoPrismEncoder": "vpbench.models.videoprism",
    "VideoPrismLvT": "vpbench.models.videoprism",
    "VideoPrismClassifier": "vpbench.models.videoprism",
    "build_model": "vpbench.models.videoprism",
    "write_random_checkpoint": "vpbench.models.checkpoint",
    "sha256_file": "vpbench.models.checkpoint",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'vpbench.models' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
