"""The RoI head for spatio-temporal action localization (AVA, AVA-Kinetics, ChimpACT) on frozen tokens.

VideoGLUE's frozen STAL head (``ActionTransformer``) in PyTorch, written from its description:

1. the token map ``[T, h, w, D]`` of the clip around a keyframe is LayerNorm-ed and averaged over
   time (RoIAlign is linear, so pooling before or after the crop gives the same crop);
2. RoIAlign (:func:`roi_align`, ``roi_size`` x ``roi_size`` bins, 2 x 2 bilinear samples per bin,
   continuous "aligned" coordinates) crops each person box, and a max over the bins gives one
   vector per box (the SlowFast / VideoGLUE pooling);
3. that vector, projected to ``hidden``, is the query of ``layers`` pre-LN cross-attention blocks
   over all the clip's tokens (so a box sees its context: the object a person holds, the motion);
4. LayerNorm, dropout, a linear multi-label classifier (sigmoid + binary cross-entropy).

torchvision's ``roi_align`` cannot be installed beside this torch, so RoIAlign is written here
with ``grid_sample``. Boxes are normalised ``x1, y1, x2, y2`` in [0, 1] of the (centre-cropped)
frame; a clip's boxes are padded to the batch maximum with a mask. Ground-truth boxes train the
head; which boxes it scores at evaluation is the runner's decision (``adapter.eval_boxes``).
This module never reads files.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vpbench.adapters.attentive import LN_EPSILON, CrossAttentionBlock
from vpbench.adapters.training import (Fitted, HParams, LoopSettings, check_keys, fit_with_selection, hp_grid,
                                       loop_record, loop_settings, mean_average_precision, read_choice, read_int,
                                       read_number)
from vpbench.errors import RegistryError

EVAL_BOXES = ("proposals", "ground_truth")


def roi_align(feature_map: Tensor, boxes: Tensor, output_size: int, sampling_ratio: int = 2) -> Tensor:
    """Average of bilinear samples in each of ``output_size``² bins of each box.

    ``feature_map`` [B, D, h, w]; ``boxes`` [B, R, 4] normalised x1, y1, x2, y2 (the box of image
    b is looked up in map b). Returns [B, R, D, output_size, output_size]. Coordinates are
    continuous (pixel j covers [j, j + 1), its centre at j + 0.5), as torchvision's
    ``aligned=True``; samples falling outside the map take the border value.
    """
    batch, num_boxes = boxes.shape[:2]
    steps = output_size * sampling_ratio
    # Fractional positions of the sample points inside a box, in [0, 1].
    fractions = (torch.arange(steps, device=boxes.device, dtype=boxes.dtype) + 0.5) / steps
    xs = boxes[..., 0:1] + fractions * (boxes[..., 2:3] - boxes[..., 0:1])  # [B, R, steps]
    ys = boxes[..., 1:2] + fractions * (boxes[..., 3:4] - boxes[..., 1:2])
    grid = torch.stack(torch.broadcast_tensors(xs[:, :, None, :], ys[:, :, :, None]), dim=-1)  # [B,R,sy,sx,2]
    grid = grid.reshape(batch, num_boxes * steps, steps, 2) * 2 - 1  # grid_sample's [-1, 1] (align_corners=False)
    samples = F.grid_sample(feature_map, grid.to(feature_map.dtype), mode="bilinear", padding_mode="border",
                            align_corners=False)  # [B, D, R*steps, steps]
    dim = feature_map.shape[1]
    samples = samples.reshape(batch, dim, num_boxes, output_size, sampling_ratio, output_size, sampling_ratio)
    return samples.mean(dim=(4, 6)).permute(0, 2, 1, 3, 4)


@dataclass(frozen=True)
class RoIConfig:
    roi_size: int = 4
    heads: int = 12
    hidden: int = 768
    layers: int = 1
    dropout: float = 0.5

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class RoIHead(nn.Module):
    """tokens [B, T, h, w, D] + boxes [B, R, 4] -> per-box logits [B, R, C]."""

    def __init__(self, dim: int, num_classes: int, config: RoIConfig) -> None:
        super().__init__()
        self.config = config
        self.token_norm = nn.LayerNorm(dim, eps=LN_EPSILON)
        self.roi_proj = nn.Linear(dim, config.hidden)
        self.blocks = nn.ModuleList(CrossAttentionBlock(config.hidden, dim, config.heads)
                                    for _ in range(config.layers))
        self.norm = nn.LayerNorm(config.hidden, eps=LN_EPSILON)
        self.dropout = nn.Dropout(config.dropout)
        self.classifier = nn.Linear(config.hidden, num_classes)

    def forward(self, tokens: Tensor, boxes: Tensor) -> Tensor:
        batch, frames, rows, cols, dim = tokens.shape
        normed = self.token_norm(tokens)
        spatial = normed.mean(dim=1).permute(0, 3, 1, 2)  # [B, D, h, w]
        crops = roi_align(spatial, boxes, self.config.roi_size)  # [B, R, D, s, s]
        queries = self.roi_proj(crops.amax(dim=(-2, -1)))
        context = normed.reshape(batch, frames * rows * cols, dim)
        for block in self.blocks:
            queries = block(queries, context)
        return self.classifier(self.dropout(self.norm(queries)))


@dataclass(frozen=True)
class RoISpec:
    head: RoIConfig
    num_classes: int
    eval_boxes: str
    proposal_score_threshold: float
    holdout_fraction: float
    loop: LoopSettings
    grid: tuple[HParams, ...]

    @property
    def variant(self) -> str:
        return f"roi{self.head.roi_size}-l{self.head.layers}"

    def record(self) -> dict[str, Any]:
        return {
            "type": "roi",
            "variant": self.variant,
            "head": self.head.as_dict(),
            "num_classes": self.num_classes,
            "roi_align": f"{self.head.roi_size}x{self.head.roi_size} bins, 2x2 bilinear samples per bin, aligned, "
                         f"time-averaged token map, max over bins",
            "loss": "sigmoid binary cross-entropy per box",
            "train_boxes": "ground_truth",
            "eval_boxes": self.eval_boxes,
            "proposal_score_threshold": self.proposal_score_threshold,
            **loop_record(self.loop, self.grid),
        }


def roi_spec(adapter: dict[str, Any], num_classes: int, *, seed: int, device: str, where: str = "adapter") -> RoISpec:
    if adapter.get("type") != "roi":
        raise RegistryError(f"{where}.type is {adapter.get('type')!r}; the stal family needs 'roi'")
    check_keys(adapter, ("roi_size", "heads", "hidden", "layers", "dropout", "eval_boxes",
                         "proposal_score_threshold"), where)
    head = RoIConfig(roi_size=read_int(adapter, "roi_size", 4, where), heads=read_int(adapter, "heads", 12, where),
                     hidden=read_int(adapter, "hidden", 768, where), layers=read_int(adapter, "layers", 1, where),
                     dropout=read_number(adapter, "dropout", 0.5, where, upper=1.0))
    if head.hidden % head.heads:
        raise RegistryError(f"{where}.hidden ({head.hidden}) must be divisible by {where}.heads ({head.heads})")
    return RoISpec(
        head=head, num_classes=num_classes,
        eval_boxes=read_choice(adapter, "eval_boxes", "proposals", EVAL_BOXES, where),
        proposal_score_threshold=read_number(adapter, "proposal_score_threshold", 0.0, where, upper=1.0),
        holdout_fraction=read_number(adapter, "holdout_fraction", 0.1, where, upper=1.0),
        loop=loop_settings(adapter, seed=seed, device=device, description="roi head", where=where),
        grid=tuple(hp_grid(adapter, where)))


TokenLoader = Callable[[list[int]], Tensor]
"""indices -> token maps [b, T, h, w, D] of those keyframes' clips."""


def pad_boxes(per_item: Sequence[np.ndarray], device: str) -> tuple[Tensor, Tensor]:
    """Ragged [R_i, 4] box arrays -> padded [B, R_max, 4] (padding: the whole frame) and a mask [B, R_max]."""
    longest = max(1, max((len(b) for b in per_item), default=0))
    boxes = torch.zeros(len(per_item), longest, 4)
    boxes[..., 2:] = 1.0
    mask = torch.zeros(len(per_item), longest, dtype=torch.bool)
    for row, item in enumerate(per_item):
        if len(item):
            boxes[row, :len(item)] = torch.as_tensor(np.asarray(item, dtype=np.float32))
            mask[row, :len(item)] = True
    return boxes.to(device), mask.to(device)


def fit_roi(spec: RoISpec, load_tokens: TokenLoader, boxes: Sequence[np.ndarray], box_labels: Sequence[np.ndarray],
            dim: int) -> Fitted:
    """Train on keyframes with ground-truth boxes; ``box_labels[i]`` is a multi-hot [R_i, C] array."""
    device = spec.loop.device
    if any(len(b) == 0 for b in boxes):
        raise ValueError("every training keyframe needs at least one box; drop the others before fitting")

    def load_batch(indices: list[int]) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        padded, mask = pad_boxes([boxes[i] for i in indices], device)
        targets = torch.zeros(*mask.shape, spec.num_classes)
        for row, i in enumerate(indices):
            targets[row, :len(box_labels[i])] = torch.as_tensor(np.asarray(box_labels[i], dtype=np.float32))
        return load_tokens(indices).to(device, torch.float32), padded, mask, targets.to(device)

    def loss_fn(head: nn.Module, batch: tuple[Tensor, Tensor, Tensor, Tensor]) -> Tensor:
        tokens, padded, mask, targets = batch
        logits = head(tokens, padded)
        return F.binary_cross_entropy_with_logits(logits[mask], targets[mask])

    def score_fn(head: nn.Module, indices: list[int]) -> float:
        scores = predict_roi(spec, head, load_tokens, [boxes[i] for i in indices], order=indices)
        return mean_average_precision(np.concatenate([box_labels[i] for i in indices]), np.concatenate(scores))

    return fit_with_selection(lambda: RoIHead(dim, spec.num_classes, spec.head), spec.grid, len(boxes), load_batch,
                              loss_fn, score_fn, spec.loop, holdout_fraction=spec.holdout_fraction,
                              score_name="box-level mAP (ground-truth boxes)")


@torch.no_grad()
def predict_roi(spec: RoISpec, head: nn.Module, load_tokens: TokenLoader, boxes: Sequence[np.ndarray],
                order: Sequence[int] | None = None) -> list[np.ndarray]:
    """Per-box class probabilities [R_i, C] for each item; ``boxes`` is aligned with ``order``."""
    head.eval()
    order = list(range(len(boxes))) if order is None else list(order)
    outputs: list[np.ndarray] = []
    for start in range(0, len(order), spec.loop.batch_size):
        chunk = list(range(start, min(start + spec.loop.batch_size, len(order))))
        padded, mask = pad_boxes([boxes[k] for k in chunk], spec.loop.device)
        tokens = load_tokens([order[k] for k in chunk]).to(spec.loop.device, torch.float32)
        probs = torch.sigmoid(head(tokens, padded)).cpu().numpy()
        outputs.extend(probs[row, :len(boxes[k])] for row, k in enumerate(chunk))
    return outputs
