"""The temporal localization head (ActivityNet v1.3) on per-snippet frozen features.

What it is, and why. A video is ``S`` evenly spaced snippets (``sampling.snippets``), each a short
clip encoded to one global vector, so a video is a ``[S, D]`` sequence and time is normalised to
[0, 1] (as BMN / G-TAD rescale every ActivityNet video to a fixed number of snippets). On that
sequence the head is anchor-free and single-scale, in the spirit of ActionFormer:

* stem: LayerNorm, a width-3 1-D convolution to ``hidden``, sinusoidal positions;
* ``layers`` pre-LN self-attention blocks over all snippets (ActivityNet actions often span most
  of a video, so every snippet needs the whole video in view; a feature pyramid buys little at
  S = 128 and costs parameters a light probe should not have);
* two width-3 convolutional branches per snippet: class logits (sigmoid, focal loss) and the
  distances from the snippet centre to the action's start and end as fractions of the video
  (sigmoid, 1 - generalised IoU loss).

Training targets: a snippet whose centre lies inside a ground-truth segment is positive for that
segment's class (the shortest segment wins where several overlap, as in ActionFormer); a segment
containing no snippet centre is given the snippet nearest its middle. Decoding: every (snippet,
class) with probability >= ``min_score`` becomes a segment; per class Gaussian soft-NMS
(``nms_sigma``) or hard NMS (``nms: hard``, ``nms_iou``); the ``max_detections`` best per video
are kept, in seconds, clipped to the video. This module never reads or writes files.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vpbench.adapters.attentive import LN_EPSILON, SelfAttentionBlock
from vpbench.adapters.training import (Fitted, HParams, LoopSettings, check_keys, fit_with_selection, hp_grid,
                                       loop_record, loop_settings, read_choice, read_int, read_number)
from vpbench.errors import RegistryError

FOCAL_ALPHA = 0.25
FOCAL_GAMMA = 2.0
PRIOR_PROBABILITY = 0.01


@dataclass(frozen=True)
class TemporalConfig:
    hidden: int = 256
    layers: int = 2
    heads: int = 4
    dropout: float = 0.1

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def sinusoidal_positions(length: int, dim: int, device: torch.device | None = None) -> Tensor:
    position = torch.arange(length, dtype=torch.float32, device=device)[:, None]
    frequency = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32, device=device) * (-math.log(10000.0) / dim))
    table = torch.zeros(length, dim, device=device)
    table[:, 0::2] = torch.sin(position * frequency)
    table[:, 1::2] = torch.cos(position * frequency[: dim // 2])
    return table


def _branch(hidden: int, out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv1d(hidden, hidden, 3, padding=1), nn.GELU(), nn.Conv1d(hidden, out, 3, padding=1))


class TemporalHead(nn.Module):
    """snippets [B, S, D] -> class logits [B, S, C], (start, end) distances [B, S, 2] in video fractions."""

    def __init__(self, dim: int, num_classes: int, config: TemporalConfig) -> None:
        super().__init__()
        self.config = config
        self.in_norm = nn.LayerNorm(dim, eps=LN_EPSILON)
        self.stem = nn.Conv1d(dim, config.hidden, 3, padding=1)
        self.dropout = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(SelfAttentionBlock(config.hidden, config.heads) for _ in range(config.layers))
        self.out_norm = nn.LayerNorm(config.hidden, eps=LN_EPSILON)
        self.classes = _branch(config.hidden, num_classes)
        self.offsets = _branch(config.hidden, 2)
        # Focal-loss prior: start every class at probability 0.01 so background does not swamp early steps.
        nn.init.constant_(self.classes[-1].bias, -math.log((1 - PRIOR_PROBABILITY) / PRIOR_PROBABILITY))

    def forward(self, snippets: Tensor) -> tuple[Tensor, Tensor]:
        x = self.stem(self.in_norm(snippets).transpose(1, 2)).transpose(1, 2)
        x = self.dropout(F.gelu(x) + sinusoidal_positions(x.shape[1], x.shape[2], x.device))
        for block in self.blocks:
            x = block(x)
        x = self.out_norm(x).transpose(1, 2)
        return self.classes(x).transpose(1, 2), torch.sigmoid(self.offsets(x)).transpose(1, 2)


def snippet_centres(num_snippets: int) -> np.ndarray:
    return (np.arange(num_snippets) + 0.5) / num_snippets


def snippet_targets(segments: Sequence[tuple[float, float, int]], num_snippets: int, num_classes: int
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(class targets [S, C], distance targets [S, 2], positive mask [S]) from normalised (start, end, class)."""
    centres = snippet_centres(num_snippets)
    owner = np.full(num_snippets, -1)
    owner_length = np.full(num_snippets, np.inf)
    for k, (start, end, _) in sorted(enumerate(segments), key=lambda item: item[1][1] - item[1][0]):
        inside = (centres >= start) & (centres <= end) & (owner < 0)
        if not inside.any():
            nearest = int(np.clip(math.floor((start + end) / 2 * num_snippets), 0, num_snippets - 1))
            inside = np.zeros(num_snippets, dtype=bool)
            inside[nearest] = owner_length[nearest] > end - start
        owner[inside] = k
        owner_length[inside] = end - start
    classes = np.zeros((num_snippets, num_classes), dtype=np.float32)
    distances = np.zeros((num_snippets, 2), dtype=np.float32)
    for t in np.flatnonzero(owner >= 0):
        start, end, label = segments[owner[t]]
        classes[t, label] = 1.0
        distances[t] = (max(centres[t] - start, 0.0), max(end - centres[t], 0.0))
    return classes, distances, owner >= 0


def giou_loss_1d(predicted: Tensor, target: Tensor) -> Tensor:
    """1 - generalised IoU of segments given as (distance to start, distance to end) from the same centre."""
    inter = torch.minimum(predicted[:, 0], target[:, 0]) + torch.minimum(predicted[:, 1], target[:, 1])
    union = predicted.sum(dim=1) + target.sum(dim=1) - inter
    hull = torch.maximum(predicted[:, 0], target[:, 0]) + torch.maximum(predicted[:, 1], target[:, 1])
    iou = inter / union.clamp(min=1e-8)
    return 1 - (iou - (hull - union) / hull.clamp(min=1e-8))


def localization_loss(cls_logits: Tensor, offsets: Tensor, cls_targets: Tensor, distance_targets: Tensor,
                      positive: Tensor) -> Tensor:
    """Sigmoid focal loss over all (snippet, class) + gIoU loss on positives, both per positive snippet."""
    positives = positive.sum().clamp(min=1).float()
    probs = torch.sigmoid(cls_logits)
    ce = F.binary_cross_entropy_with_logits(cls_logits, cls_targets, reduction="none")
    p_t = probs * cls_targets + (1 - probs) * (1 - cls_targets)
    alpha_t = FOCAL_ALPHA * cls_targets + (1 - FOCAL_ALPHA) * (1 - cls_targets)
    focal = (alpha_t * ce * (1 - p_t) ** FOCAL_GAMMA).sum() / positives
    if not bool(positive.any()):
        return focal
    return focal + giou_loss_1d(offsets[positive], distance_targets[positive]).sum() / positives


def segment_iou(segment: np.ndarray, others: np.ndarray) -> np.ndarray:
    """tIoU of one [2] segment with each of [K, 2] segments."""
    inter = np.clip(np.minimum(segment[1], others[:, 1]) - np.maximum(segment[0], others[:, 0]), 0, None)
    union = (segment[1] - segment[0]) + (others[:, 1] - others[:, 0]) - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def suppress(segments: np.ndarray, scores: np.ndarray, *, method: str, sigma: float, iou_threshold: float,
             min_score: float, limit: int) -> tuple[np.ndarray, np.ndarray]:
    """Greedy NMS over one class: Gaussian soft-NMS (``soft``) decays overlapping scores, ``hard`` drops them."""
    segments, scores = segments.copy(), scores.copy()
    kept_segments, kept_scores = [], []
    while len(scores) and len(kept_scores) < limit:
        best = int(np.argmax(scores))
        if scores[best] < min_score:
            break
        kept_segments.append(segments[best])
        kept_scores.append(scores[best])
        chosen = segments[best]
        segments, scores = np.delete(segments, best, axis=0), np.delete(scores, best)
        overlap = segment_iou(chosen, segments)
        if method == "soft":
            scores = scores * np.exp(-(overlap ** 2) / sigma)
        else:
            keep = overlap < iou_threshold
            segments, scores = segments[keep], scores[keep]
    return np.asarray(kept_segments).reshape(-1, 2), np.asarray(kept_scores)


@dataclass(frozen=True)
class TemporalSpec:
    head: TemporalConfig
    num_classes: int
    num_snippets: int
    max_detections: int
    nms: str
    nms_sigma: float
    nms_iou: float
    min_score: float
    pre_nms: int
    holdout_fraction: float
    loop: LoopSettings
    grid: tuple[HParams, ...]

    @property
    def variant(self) -> str:
        return f"temporal-l{self.head.layers}"

    def record(self) -> dict[str, Any]:
        return {
            "type": "temporal",
            "variant": self.variant,
            "head": self.head.as_dict(),
            "design": "anchor-free single-scale 1-D head (ActionFormer-style): conv stem + self-attention over "
                      "all snippets, per-snippet sigmoid class scores + (start, end) distances in video fractions",
            "num_classes": self.num_classes,
            "num_snippets": self.num_snippets,
            "loss": f"sigmoid focal (alpha {FOCAL_ALPHA}, gamma {FOCAL_GAMMA}) + 1 - gIoU on positive snippets",
            "nms": {"method": self.nms, "sigma": self.nms_sigma, "iou": self.nms_iou, "min_score": self.min_score,
                    "pre_nms": self.pre_nms, "max_detections": self.max_detections},
            **loop_record(self.loop, self.grid),
        }


def temporal_spec(adapter: dict[str, Any], num_classes: int, num_snippets: int, *, seed: int, device: str,
                  where: str = "adapter") -> TemporalSpec:
    if adapter.get("type") != "temporal":
        raise RegistryError(f"{where}.type is {adapter.get('type')!r}; the tal family needs 'temporal'")
    check_keys(adapter, ("hidden", "layers", "heads", "dropout", "max_detections", "nms", "nms_sigma", "nms_iou",
                         "min_score", "pre_nms"), where)
    head = TemporalConfig(hidden=read_int(adapter, "hidden", 256, where), layers=read_int(adapter, "layers", 2, where),
                          heads=read_int(adapter, "heads", 4, where),
                          dropout=read_number(adapter, "dropout", 0.1, where, upper=1.0))
    if head.hidden % head.heads or head.hidden % 2:
        raise RegistryError(f"{where}.hidden ({head.hidden}) must be even and divisible by {where}.heads "
                            f"({head.heads})")
    sigma = read_number(adapter, "nms_sigma", 0.75, where)
    if sigma <= 0:
        raise RegistryError(f"{where}.nms_sigma must be > 0, got {sigma!r}")
    return TemporalSpec(
        head=head, num_classes=num_classes, num_snippets=num_snippets,
        max_detections=read_int(adapter, "max_detections", 100, where),
        nms=read_choice(adapter, "nms", "soft", ("soft", "hard"), where),
        nms_sigma=sigma,
        nms_iou=read_number(adapter, "nms_iou", 0.5, where, upper=1.0),
        min_score=read_number(adapter, "min_score", 0.001, where, upper=1.0),
        pre_nms=read_int(adapter, "pre_nms", 2000, where),
        holdout_fraction=read_number(adapter, "holdout_fraction", 0.1, where, upper=1.0),
        loop=loop_settings(adapter, seed=seed, device=device, description="temporal head", where=where),
        grid=tuple(hp_grid(adapter, where)))


SnippetLoader = Callable[[list[int]], Tensor]
"""indices -> per-snippet features [b, S, D] of those videos."""


def fit_temporal(spec: TemporalSpec, load_snippets: SnippetLoader,
                 segments: Sequence[Sequence[tuple[float, float, int]]], dim: int) -> Fitted:
    """Train on videos whose ground truth is ``segments[i]``: (start, end, class) with times in [0, 1]."""
    device = spec.loop.device
    targets = [snippet_targets(item, spec.num_snippets, spec.num_classes) for item in segments]

    def load_batch(indices: list[int]) -> tuple[Tensor, ...]:
        cls, dist, positive = (torch.as_tensor(np.stack([targets[i][k] for i in indices])).to(device)
                               for k in range(3))
        return load_snippets(indices).to(device, torch.float32), cls, dist, positive

    def loss_fn(head: nn.Module, batch: tuple[Tensor, ...]) -> Tensor:
        snippets, cls, dist, positive = batch
        logits, offsets = head(snippets)
        return localization_loss(logits, offsets, cls, dist, positive)

    def score_fn(head: nn.Module, indices: list[int]) -> float:
        head.eval()
        losses = [float(loss_fn(head, load_batch(indices[k:k + spec.loop.batch_size])))
                  for k in range(0, len(indices), spec.loop.batch_size)]
        return -float(np.mean(losses))

    return fit_with_selection(lambda: TemporalHead(dim, spec.num_classes, spec.head), spec.grid, len(segments),
                              load_batch, loss_fn, score_fn, spec.loop, holdout_fraction=spec.holdout_fraction,
                              score_name="negative localization loss")


@torch.no_grad()
def predict_temporal(spec: TemporalSpec, head: nn.Module, load_snippets: SnippetLoader, durations_s: Sequence[float]
                     ) -> list[list[tuple[float, float, int, float]]]:
    """Detections per video: (start_s, end_s, class, score), best first, at most ``max_detections``."""
    head.eval()
    centres = snippet_centres(spec.num_snippets)
    detections: list[list[tuple[float, float, int, float]]] = []
    for start in range(0, len(durations_s), spec.loop.batch_size):
        indices = list(range(start, min(start + spec.loop.batch_size, len(durations_s))))
        logits, offsets = head(load_snippets(indices).to(spec.loop.device, torch.float32))
        probs, offsets = torch.sigmoid(logits).cpu().numpy(), offsets.cpu().numpy()
        for row, index in enumerate(indices):
            detections.append(_decode(spec, probs[row], offsets[row], centres, float(durations_s[index])))
    return detections


def _decode(spec: TemporalSpec, probs: np.ndarray, offsets: np.ndarray, centres: np.ndarray,
            duration_s: float) -> list[tuple[float, float, int, float]]:
    snippet, label = np.nonzero(probs >= spec.min_score)
    scores = probs[snippet, label]
    top = np.argsort(-scores, kind="stable")[: spec.pre_nms]
    snippet, label, scores = snippet[top], label[top], scores[top]
    segments = np.stack([centres[snippet] - offsets[snippet, 0], centres[snippet] + offsets[snippet, 1]], axis=1)
    segments = np.clip(segments, 0.0, 1.0) * duration_s
    found: list[tuple[float, float, int, float]] = []
    for cls in np.unique(label):
        chosen = (label == cls) & (segments[:, 1] > segments[:, 0])
        kept, kept_scores = suppress(segments[chosen], scores[chosen], method=spec.nms, sigma=spec.nms_sigma,
                                     iou_threshold=spec.nms_iou, min_score=spec.min_score, limit=spec.max_detections)
        found.extend((float(s), float(e), int(cls), float(p)) for (s, e), p in zip(kept, kept_scores))
    found.sort(key=lambda d: -d[3])
    return found[: spec.max_detections]
