"""LiT: a text tower trained contrastively against a frozen video encoder ("locked-image tuning").

The released encoder-only checkpoints (VideoPrism-B/L) have no text tower, so the zero-shot
tasks cannot run on them as released. This adapter trains one here, on (video, caption) pairs
of a training split, against the *frozen* video features: a small causal text transformer
from scratch (the LvT text encoder's architecture, :class:`vpbench.models.videoprism.TextEncoder`,
with the same tokenizer) plus, when the features are token sequences (an encoder-only
checkpoint: ``frame_pooled`` [T, D] or ``tokens``), an attention-pooling head on the video
side. Frozen LvT video embeddings ([N, D]) are used as they are, as LiT locks the image tower.
The learning rate and weight decay are chosen on a held-out part of the training videos
(:mod:`vpbench.adapters.training`), never on the evaluation split.

Towers are saved as safetensors with a JSON config in the metadata (no pickle). This module
never reads videos or datasets: it is given features and captions.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vpbench.adapters.training import fit_with_selection, hp_grid, loop_settings
from vpbench.atomic import atomic_write_bytes
from vpbench.errors import CheckpointError, RegistryError, VpbenchError
from vpbench.metrics.retrieval import retrieval_metrics
from vpbench.models.videoprism import AttentionPooler, TextEncoder, VideoPrismConfig, l2_normalize

FORMAT = "vpbench-lit-tower/1"
ARCHITECTURE_DEFAULTS = {"width": 256, "layers": 4, "heads": 4, "init_temperature": 0.07}
TRAINING_DEFAULTS = {"epochs": 30, "batch_size": 128, "lr_grid": [1e-3, 3e-4], "weight_decay": 0.05,
                     "warmup_fraction": 0.05, "holdout_fraction": 0.1}


@dataclass(frozen=True)
class LiTConfig:
    """Architecture of a LiT tower; ``adapter.lit`` in a task YAML overrides any default."""

    width: int = ARCHITECTURE_DEFAULTS["width"]
    layers: int = ARCHITECTURE_DEFAULTS["layers"]
    heads: int = ARCHITECTURE_DEFAULTS["heads"]
    init_temperature: float = ARCHITECTURE_DEFAULTS["init_temperature"]


def lit_settings(options: dict[str, Any] | None, where: str = "adapter.lit") -> tuple[LiTConfig, dict[str, Any]]:
    """(architecture, training settings) from an ``adapter.lit`` mapping over the defaults.

    Training keys are the shared adapter keys of :mod:`vpbench.adapters.training` (``epochs``,
    ``batch_size``, ``lr_grid`` or ``lr``, ``weight_decay``, ``warmup_fraction``, ``holdout_fraction``).
    """
    options = dict(options or {})
    unknown = sorted(set(options) - set(ARCHITECTURE_DEFAULTS) - set(TRAINING_DEFAULTS) - {"lr"})
    if unknown:
        raise RegistryError(f"{where}: unknown key(s) {unknown}; allowed: "
                            f"{sorted([*ARCHITECTURE_DEFAULTS, *TRAINING_DEFAULTS, 'lr'])}")
    architecture = {}
    for key, default in ARCHITECTURE_DEFAULTS.items():
        value = options.pop(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0 or (
                isinstance(default, int) and not isinstance(value, int)):
            kind = "integer" if isinstance(default, int) else "number"
            raise RegistryError(f"{where}.{key}: expected a positive {kind}, got {value!r}")
        architecture[key] = value
    config = LiTConfig(**architecture)
    if config.width % config.heads:
        raise RegistryError(f"{where}: width {config.width} is not divisible by heads {config.heads}")
    training = {**TRAINING_DEFAULTS, **options}
    if "lr" in options and "lr_grid" not in options:
        del training["lr_grid"]
    return config, training


class LiTModel(nn.Module):
    """Text tower (+ video pooling head) whose embeddings live in one L2-normalised space."""

    def __init__(self, config: LiTConfig, *, vocabulary_size: int, video_dim: int, video_tokens: bool) -> None:
        super().__init__()
        self.config = config
        self.vocabulary_size = vocabulary_size
        self.video_dim = video_dim
        self.video_tokens = video_tokens
        text_config = VideoPrismConfig(model_type="lvt", model_dim=config.width, num_heads=config.heads,
                                       num_unimodal_layers=config.layers, vocabulary_size=vocabulary_size)
        self.text_encoder = TextEncoder(text_config)
        self.text_projection = nn.Linear(config.width, video_dim)
        # A locked LvT embedding is the shared space itself; token features need a trained pooler.
        self.video_pooler = AttentionPooler(video_dim, video_dim, _pooler_heads(video_dim)) if video_tokens else None
        self.log_scale = nn.Parameter(torch.tensor(math.log(1.0 / config.init_temperature)))
        self._init_from_scratch()

    def _init_from_scratch(self) -> None:
        """The official init leaves embeddings at N(0, 1) and is then multiplied by sqrt(width);
        scale them down so that tokens and the sinusoidal positions start at comparable size."""
        width = self.config.width
        nn.init.normal_(self.text_encoder.token_emb.weight, std=1.0 / math.sqrt(width))
        nn.init.normal_(self.text_encoder.cls_emb, std=1.0 / math.sqrt(width))
        if self.video_pooler is not None:
            nn.init.normal_(self.video_pooler.pooling_attention_query, std=1.0)

    def encode_text(self, token_ids: Tensor, paddings: Tensor) -> Tensor:
        if token_ids.numel() and int(token_ids.max()) >= self.vocabulary_size:
            raise VpbenchError(f"token id {int(token_ids.max())} is outside this LiT tower's vocabulary of "
                               f"{self.vocabulary_size}: was it trained with another tokenizer?")
        # Trailing columns that are padding in every row change nothing (padded keys are masked,
        # the class token has no position embedding) but cost most of the compute: drop them.
        length = max(1, int((paddings < 0.5).sum(dim=1).max())) if paddings.numel() else 1
        class_token = self.text_encoder(token_ids[:, :length].long(), paddings[:, :length].float())[:, -1]
        return l2_normalize(self.text_projection(class_token))

    def encode_video(self, features: Tensor) -> Tensor:
        features = features.float()
        expected = 3 if self.video_tokens else 2
        if features.ndim != expected or features.shape[-1] != self.video_dim:
            shape = "[N, tokens, D]" if self.video_tokens else "[N, D]"
            raise VpbenchError(f"video features of shape {tuple(features.shape)} do not fit this LiT tower: "
                               f"expected {shape} with D={self.video_dim}")
        if self.video_pooler is not None:
            features = self.video_pooler(features)[:, 0]
        return l2_normalize(features)

    def logit_scale(self) -> Tensor:
        return self.log_scale.clamp(max=math.log(100.0)).exp()


def _pooler_heads(dim: int) -> int:
    return next(h for h in (8, 4, 2, 1) if dim % h == 0)


def train_lit(
    video_features: np.ndarray,
    captions: Sequence[Sequence[str]],
    tokenizer: Any,
    config: LiTConfig,
    training: dict[str, Any],
    *,
    seed: int = 0,
    device: str = "cpu",
    progress: bool = False,
) -> tuple[LiTModel, dict[str, Any]]:
    """Train a LiT tower on videos ``i`` with captions ``captions[i]`` (one or more each).

    Each batch holds distinct videos with one caption drawn per video, so a batch never holds two
    captions of the same video (a false negative for the contrastive loss). The learning-rate /
    weight-decay grid is chosen on a held-out part of these training videos by R@1+R@5+R@10 of
    text-to-video retrieval (every caption a query), then the chosen setting is retrained on all
    of them (:func:`vpbench.adapters.training.fit_with_selection`). Returns the tower and the
    record of how it was trained.
    """
    features = np.asarray(video_features)
    if features.ndim not in (2, 3) or features.shape[0] != len(captions):
        raise VpbenchError(f"LiT needs features [N, D] or [N, tokens, D] and N caption lists; got {features.shape} "
                           f"and {len(captions)} lists")
    empty = [i for i, group in enumerate(captions) if not group]
    if empty:
        raise VpbenchError(f"LiT training: video {empty[0]} (and {len(empty) - 1} more) has no caption")
    if features.shape[0] < 4:
        raise VpbenchError(f"LiT training needs at least 4 (video, caption) videos; got {features.shape[0]}")
    flat = [str(text) for group in captions for text in group]
    offsets = np.cumsum([0] + [len(group) for group in captions])
    token_ids, paddings = (torch.from_numpy(np.asarray(a)) for a in tokenizer(flat))
    video = torch.from_numpy(np.ascontiguousarray(features, dtype=np.float32))
    draw = np.random.default_rng([seed, 4242])

    def make_head() -> LiTModel:
        return LiTModel(config, vocabulary_size=tokenizer.vocab_size, video_dim=features.shape[-1],
                        video_tokens=features.ndim == 3)

    def load_batch(indices: list[int]) -> tuple[Tensor, Tensor, Tensor]:
        rows = torch.from_numpy(np.array([draw.integers(offsets[i], offsets[i + 1]) for i in indices]))
        return (video[indices].to(device), token_ids[rows].to(device), paddings[rows].to(device))

    def loss_fn(model: LiTModel, batch: tuple[Tensor, Tensor, Tensor]) -> Tensor:
        frozen, ids, pads = batch
        logits = model.logit_scale() * model.encode_video(frozen) @ model.encode_text(ids, pads).T
        target = torch.arange(len(logits), device=logits.device)
        return (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2

    def score_fn(model: LiTModel, heldout: list[int]) -> float:
        rows = np.concatenate([np.arange(offsets[i], offsets[i + 1]) for i in heldout])
        owner = np.concatenate([np.full(offsets[i + 1] - offsets[i], k) for k, i in enumerate(heldout)])
        recall = retrieval_metrics(owner, text_embeddings=embed_tokens(model, token_ids[rows], paddings[rows],
                                                                      device=device),
                                   video_embeddings=embed_video(model, video[heldout], device=device))
        return recall["t2v_R@1"] + recall["t2v_R@5"] + recall["t2v_R@10"]

    settings = loop_settings(training, seed=seed, device=device, description="LiT text tower")
    settings = dataclasses.replace(settings, progress=progress)
    fitted = fit_with_selection(make_head, hp_grid(training), features.shape[0], load_batch, loss_fn, score_fn,
                                settings, holdout_fraction=float(training["holdout_fraction"]),
                                score_name="t2v R@1+R@5+R@10")
    record = {
        "architecture": dataclasses.asdict(config),
        "training": {key: training[key] for key in sorted(training)},
        "selection": fitted.selection,
        "final_train_loss": fitted.final_loss,
        "train_videos": int(features.shape[0]),
        "train_pairs": len(flat),
        "vocabulary_size": tokenizer.vocab_size,
    }
    return fitted.head.eval(), record


@torch.no_grad()
def embed_video(model: LiTModel, features: np.ndarray | Tensor, *, batch_size: int = 256,
                device: str = "cpu") -> np.ndarray:
    """L2-normalised video embeddings [N, D] of frozen features, in batches."""
    model.eval()
    if not isinstance(features, Tensor):
        features = torch.from_numpy(np.asarray(features, dtype=np.float32))
    out = [model.encode_video(features[i:i + batch_size].to(device)).cpu() for i in range(0, len(features), batch_size)]
    return torch.cat(out).numpy() if out else np.zeros((0, model.video_dim), dtype=np.float32)


@torch.no_grad()
def embed_tokens(model: LiTModel, token_ids: Any, paddings: Any, *, batch_size: int = 256,
                 device: str = "cpu") -> np.ndarray:
    """L2-normalised text embeddings [N, D] of tokenised texts, in batches (the text-tower encode fn)."""
    model.eval()
    token_ids, paddings = torch.as_tensor(np.asarray(token_ids)), torch.as_tensor(np.asarray(paddings))
    out = [model.encode_text(token_ids[i:i + batch_size].to(device), paddings[i:i + batch_size].to(device)).cpu()
           for i in range(0, len(token_ids), batch_size)]
    return torch.cat(out).numpy() if out else np.zeros((0, model.video_dim), dtype=np.float32)


# --------------------------------------------------------------------------------------------
# Saving and loading


def save_lit(model: LiTModel, path: str | Path, provenance: dict[str, Any]) -> Path:
    """Write the tower as safetensors; the config and where it came from go in the metadata."""
    from safetensors.torch import save

    state = {name: tensor.detach().cpu().contiguous() for name, tensor in model.state_dict().items()}
    metadata = {
        "format": FORMAT,
        "lit_config": json.dumps(dataclasses.asdict(model.config)),
        "vocabulary_size": str(model.vocabulary_size),
        "video_dim": str(model.video_dim),
        "video_tokens": "1" if model.video_tokens else "0",
        "provenance": json.dumps(provenance, sort_keys=True, default=str),
    }
    return atomic_write_bytes(path, save(state, metadata=metadata))


def load_lit(path: str | Path) -> tuple[LiTModel, dict[str, Any]]:
    """A tower written by :func:`save_lit`, and its provenance."""
    from vpbench.models.checkpoint import read_safetensors

    path = Path(path)
    state, metadata = read_safetensors(path, "LiT tower file")
    if metadata.get("format") != FORMAT:
        raise CheckpointError(f"{path}: metadata 'format' is {metadata.get('format')!r}; expected {FORMAT!r} "
                              "(a tower saved by vpbench's LiT adapter)")
    try:
        config = LiTConfig(**json.loads(metadata["lit_config"]))
        model = LiTModel(config, vocabulary_size=int(metadata["vocabulary_size"]),
                         video_dim=int(metadata["video_dim"]), video_tokens=metadata["video_tokens"] == "1")
        model.load_state_dict(state, strict=True)
        provenance = json.loads(metadata.get("provenance", "{}"))
    except (KeyError, TypeError, ValueError, RuntimeError) as error:
        raise CheckpointError(f"{path}: LiT tower metadata or tensors do not agree ({error})") from None
    return model.eval(), provenance
