"""G-TAD (Xu et al., CVPR 2020) on frozen per-snippet features: the ActivityNet TAL head of VideoGLUE.

Why G-TAD: the VideoPrism paper (App. E.1) trains "a G-TAD head, batch 32, 10 epochs", and
VideoGLUE (whose protocol it follows) says: "we employ G-TAD as our task head ... Please follow
this implementation" (tensorflow/models ``official/projects/videoglue/README.md``, pointing at
frostinassiky/gtad, branch ``anet``). The architecture, losses and post-processing below follow
that code; the code itself is vpbench's.

* Input: a video's snippet features rescaled to ``T = temporal_scale`` (100) positions by linear
  interpolation (:func:`rescale_snippets`, G-TAD's ``F.interpolate(..., mode='linear')``).
* Backbone: Conv1d(D -> 256, width 3, 4 groups) + ReLU + GCNeXt; a second GCNeXt. A GCNeXt block
  adds to its input a temporal branch (1x1 conv to 32x4 channels, grouped width-3 conv, 1x1 conv
  back) and a semantic branch (edge convolution over each snippet's k = 3 nearest snippets in
  feature space: 1x1 convs on [neighbour, self], max over neighbours), then ReLU.
* Boundaries: from the first backbone stage, a GCNeXt + 1x1 conv + sigmoid each for start and
  end probabilities per position.
* SGAlign: every proposal (start s, duration d+1 positions, s + d < T) is widened by half its
  length on each side and sampled by 1-D RoIAlign (G-TAD's ``Align1D``: bins averaging linearly
  interpolated points, ``ceil(length / bins)`` points per bin) into 32 bins of the second stage's
  features, plus 4 bins of the mean of each position's 3 nearest neighbours' features.
* Localization: a per-proposal MLP (G-TAD's 1x1 Conv2d stack, 256*36 -> 512 -> 128 -> 128 -> 128
  -> 2, ReLU, sigmoid): an IoU-regression confidence and a classification confidence.
* Losses (G-TAD ``loss_function.py``): boundary BCE with positives re-weighted by the ratio of
  entries to positives; proposal regression MSE on all IoU > 0.7 entries plus as many randomly
  drawn 0.3-0.7 and 0-0.3 entries; proposal classification BCE at IoU 0.9, re-weighted the
  same way; total = boundary + 10 x regression + classification.
* Post-processing (G-TAD ``gtad_inference.py`` / ``gtad_postprocess.py``, BMN's): candidate
  starts/ends are local maxima or values above half the maximum (plus the first start and the
  last end); a proposal [start, end) with end < T is scored classification x regression
  confidence; Gaussian soft-NMS with ``exp(-IoU^2 / 0.8)``, at most 100 kept (the loop stops when
  one candidate is left, as G-TAD's does); then the video-level fusion of :func:`fuse_classes`.

G-TAD is class-agnostic: classes come from a video-level classifier (ActivityNet pipelines use
CUHK's, ``cuhk_val_simp_share.json``): each proposal is emitted for the video's top-2 classes,
scored proposal score x class score. Times are fractions of the span the snippets cover.

Cost: at T = 100 a video has 5,050 proposals of 256 x 36 SGAlign values (~190 MB in float32,
as in G-TAD, which computes them for all 10,000 (start, duration) cells); the paper's batch of 32
needs ~20 GB of accelerator memory for training. A smaller ``batch_size`` changes the protocol.
This module never reads or writes files.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vpbench.adapters.training import (Fitted, HParams, LoopSettings, check_keys, fit_with_selection, hp_grid,
                                       loop_record, loop_settings, read_choice, read_int, read_number)
from vpbench.errors import RegistryError

EPSILON = 1e-6
REGRESSION_WEIGHT = 10.0
HIGH_IOU, LOW_IOU, CLASSIFICATION_IOU = 0.7, 0.3, 0.9
VIDEO_SCORE_SOURCES = ("user_file", "own_classifier")


@dataclass(frozen=True)
class GTADConfig:
    """Sizes of G-TAD (its ``opts.py`` ActivityNet defaults)."""

    temporal_scale: int = 100
    hidden_1d: int = 256
    hidden_2d: int = 128
    hidden_3d: int = 512
    knn: int = 3
    groups: int = 32
    width_per_group: int = 4
    inner_bins: int = 32
    context_bins: int = 4
    expand_ratio: float = 0.5

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def rescale_snippets(features: Tensor, length: int) -> Tensor:
    """``[S, D]`` snippet features to ``[length, D]`` by linear interpolation (G-TAD's fixed temporal scale)."""
    if features.shape[0] == length:
        return features
    return F.interpolate(features.T.unsqueeze(0), size=length, mode="linear", align_corners=False)[0].T


def knn_indices(x: Tensor, k: int) -> Tensor:
    """``[B, T, k]``: for each position of ``x`` ``[B, C, T]``, its k nearest positions in feature space (itself first)."""
    inner = x.transpose(1, 2) @ x
    squared = (x ** 2).sum(dim=1, keepdim=True)
    negative_distance = 2 * inner - squared - squared.transpose(1, 2)
    return negative_distance.topk(k=min(k, x.shape[2]), dim=-1).indices


def gather_neighbours(x: Tensor, index: Tensor) -> Tensor:
    """``[B, C, T, k]``: the features of each position's neighbours ``index`` ``[B, T, k]``."""
    batch, channels, length = x.shape
    flat = index.reshape(batch, 1, -1).expand(batch, channels, -1)
    return x.gather(2, flat).reshape(batch, channels, length, index.shape[-1])


class GCNeXt(nn.Module):
    """G-TAD's graph block: input + temporal-graph branch + semantic-graph (kNN edge conv) branch, then ReLU."""

    def __init__(self, channels: int, config: GTADConfig) -> None:
        super().__init__()
        width = config.width_per_group * config.groups
        self.k = config.knn
        self.temporal = nn.Sequential(
            nn.Conv1d(channels, width, 1), nn.ReLU(),
            nn.Conv1d(width, width, 3, padding=1, groups=config.groups), nn.ReLU(),
            nn.Conv1d(width, channels, 1))
        self.semantic = nn.Sequential(
            nn.Conv2d(2 * channels, width, 1), nn.ReLU(),
            nn.Conv2d(width, width, 1, groups=config.groups), nn.ReLU(),
            nn.Conv2d(width, channels, 1))

    def forward(self, x: Tensor) -> Tensor:
        neighbours = gather_neighbours(x, knn_indices(x, self.k))
        edges = torch.cat([neighbours, x.unsqueeze(-1).expand_as(neighbours)], dim=1)
        return F.relu(x + self.temporal(x) + self.semantic(edges).max(dim=-1).values)


def proposal_grid(length: int) -> np.ndarray:
    """``[A, 2]`` (duration index d, start s) of every proposal inside the video (s + d < length), d-major."""
    return np.array([(d, s) for d in range(length) for s in range(length - d)], dtype=np.int64).reshape(-1, 2)


def align_matrix(length: int, rois: np.ndarray, bins: int) -> np.ndarray:
    """``[R * bins, length]`` weights of G-TAD's ``Align1D`` (sampling ratio 0, scale 1) for ``rois`` ``[R, 2]``.

    Bin ``b`` of roi ``[x0, x1]`` averages ``n = ceil(max(x1 - x0, 1) / bins)`` points
    ``x0 + (b + (i + 0.5) / n) * max(x1 - x0, 1) / bins``; a point outside ``[-1, length]`` counts 0,
    a negative one is clamped to 0, and the rest is linear interpolation between positions.
    """
    rois = np.asarray(rois, dtype=np.float64).reshape(-1, 2)
    extent = np.maximum(rois[:, 1] - rois[:, 0], 1.0)
    width = extent / bins
    points = np.ceil(extent / bins).astype(np.int64)
    most = int(points.max()) if len(rois) else 1
    r, b, i = np.meshgrid(np.arange(len(rois)), np.arange(bins), np.arange(most), indexing="ij")
    used = i < points[r]
    t = rois[r, 0] + b * width[r] + (i + 0.5) * width[r] / points[r]
    used &= (t >= -1.0) & (t <= length)
    t = np.maximum(t, 0.0)
    low = np.minimum(t.astype(np.int64), length - 1)
    at_end = low >= length - 1
    fraction = np.where(at_end, 0.0, t - low)
    share = used / points[r]
    rows = (r * bins + b)
    weights = np.zeros((len(rois) * bins, length), dtype=np.float64)
    np.add.at(weights, (rows[used], low[used]), (share * (1.0 - fraction))[used])
    upper = used & ~at_end
    np.add.at(weights, (rows[upper], low[upper] + 1), (share * fraction)[upper])
    return weights.astype(np.float32)


class GTADHead(nn.Module):
    """snippets ``[B, T, D]`` -> (confidence maps ``[B, 2, T, T]`` (regression, classification; duration x
    start), start ``[B, T]``, end ``[B, T]``)."""

    def __init__(self, dim: int, config: GTADConfig) -> None:
        super().__init__()
        self.config = config
        hidden, length = config.hidden_1d, config.temporal_scale
        self.backbone1 = nn.Sequential(nn.Conv1d(dim, hidden, 3, padding=1, groups=4), nn.ReLU(),
                                       GCNeXt(hidden, config))
        self.start = nn.Sequential(GCNeXt(hidden, config), nn.Conv1d(hidden, 1, 1), nn.Sigmoid())
        self.end = nn.Sequential(GCNeXt(hidden, config), nn.Conv1d(hidden, 1, 1), nn.Sigmoid())
        self.backbone2 = GCNeXt(hidden, config)
        grid = proposal_grid(length)
        self.register_buffer("grid", torch.from_numpy(grid), persistent=False)
        span = (grid[:, 0] + 1).astype(np.float64)
        rois = np.stack([grid[:, 1] - span * config.expand_ratio, grid[:, 1] + grid[:, 0] + span * config.expand_ratio],
                        axis=1)
        self.register_buffer("inner", torch.from_numpy(align_matrix(length, rois, config.inner_bins)),
                             persistent=False)
        self.register_buffer("context", torch.from_numpy(align_matrix(length, rois, config.context_bins)),
                             persistent=False)
        features = hidden * (config.inner_bins + config.context_bins)
        self.localization = nn.Sequential(
            nn.Linear(features, config.hidden_3d), nn.ReLU(), nn.Linear(config.hidden_3d, config.hidden_2d), nn.ReLU(),
            nn.Linear(config.hidden_2d, config.hidden_2d), nn.ReLU(), nn.Linear(config.hidden_2d, config.hidden_2d),
            nn.ReLU(), nn.Linear(config.hidden_2d, 2), nn.Sigmoid())

    def forward(self, snippets: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        config, length = self.config, self.config.temporal_scale
        if snippets.shape[1] != length:
            raise ValueError(f"G-TAD expects {length} snippet positions, got {snippets.shape[1]}")
        base = self.backbone1(snippets.transpose(1, 2))
        start, end = self.start(base).squeeze(1), self.end(base).squeeze(1)
        features = self.backbone2(base)
        context = gather_neighbours(features, knn_indices(features, config.knn)).mean(dim=-1)
        batch, channels = features.shape[:2]
        anchors = len(self.grid)
        inner = (features @ self.inner.T).reshape(batch, channels, anchors, config.inner_bins)
        around = (context @ self.context.T).reshape(batch, channels, anchors, config.context_bins)
        pooled = torch.cat([inner, around], dim=3).permute(0, 2, 1, 3).reshape(batch, anchors, -1)
        scores = self.localization(pooled)  # [B, A, 2]
        maps = scores.new_zeros(batch, 2, length, length)
        maps[:, :, self.grid[:, 0], self.grid[:, 1]] = scores.transpose(1, 2)
        return maps, start, end


# ---------------------------------------------------------------- training targets and losses

def proposal_mask(length: int) -> np.ndarray:
    """``[T, T]`` (duration x start): 1 where the proposal lies inside the video."""
    duration, start = np.meshgrid(np.arange(length), np.arange(length), indexing="ij")
    return (start + duration < length).astype(np.float32)


def _overlap(a0, a1, b0, b1) -> np.ndarray:
    return np.maximum(np.minimum(a1, b1) - np.maximum(a0, b0), 0.0)


def gtad_targets(segments: Sequence[tuple[float, float]], length: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(IoU map ``[T, T]``, start ``[T]``, end ``[T]``) targets of one video from (start, end) fractions.

    Proposal (d, s) covers ``[s/T, (s + d + 1)/T]``; its target is the best IoU with a ground
    truth. Position k's boundary target is the largest fraction of ``[(k - 0.5)/T, (k + 0.5)/T]``
    covered by a region 3/T wide around a ground-truth start (end).
    """
    gap = 1.0 / length
    duration, start = np.meshgrid(np.arange(length), np.arange(length), indexing="ij")
    x0, x1 = start * gap, start * gap + (duration + 1) * gap
    iou = np.zeros((length, length))
    starts, ends = np.zeros(length), np.zeros(length)
    anchor0, anchor1 = (np.arange(length) - 0.5) * gap, (np.arange(length) + 0.5) * gap
    for g0, g1 in segments:
        inter = _overlap(x0, x1, g0, g1)
        iou = np.maximum(iou, inter / (x1 - x0 + (g1 - g0) - inter))
        for boundary, out in ((g0, starts), (g1, ends)):
            ioa = _overlap(anchor0, anchor1, boundary - 1.5 * gap, boundary + 1.5 * gap) / (anchor1 - anchor0)
            np.maximum(out, ioa, out=out)
    return iou.astype(np.float32), starts.astype(np.float32), ends.astype(np.float32)


def _balanced_bce(predicted: Tensor, positive: Tensor, negative: Tensor, denominator: Tensor) -> Tensor:
    """G-TAD's BCE with positives weighted ``0.5 * r`` and negatives ``0.5 * r / (r - 1)``, r = entries / positives."""
    positives = positive.sum().clamp(min=1.0)
    ratio = ((positive.sum() + negative.sum()) / positives).clamp(min=1.0 + EPSILON)
    loss = (0.5 * ratio * torch.log(predicted + EPSILON) * positive
            + 0.5 * ratio / (ratio - 1) * torch.log(1.0 - predicted + EPSILON) * negative)
    return -loss.sum() / denominator


def boundary_loss(predicted: Tensor, target: Tensor) -> Tensor:
    """G-TAD's ``bi_loss`` over every position of the batch (mean over entries)."""
    positive = (target > 0.5).float()
    return _balanced_bce(predicted, positive, 1.0 - positive, torch.tensor(float(target.numel())))


def regression_loss(predicted: Tensor, target: Tensor, mask: Tensor, generator: torch.Generator) -> Tensor:
    """Proposal IoU regression: MSE on every IoU > 0.7 entry and as many random 0.3-0.7 and 0-0.3 entries."""
    high = (target > HIGH_IOU).float()
    middle = ((target <= HIGH_IOU) & (target > LOW_IOU)).float()
    low = ((target <= LOW_IOU) & (target > 0.0)).float() * mask
    weights = high
    for band in (middle, low):
        keep = high.sum() / band.sum().clamp(min=1.0)
        draw = torch.rand(band.shape, generator=generator).to(band.device)
        weights = weights + band * (draw > 1.0 - keep).float()
    return 0.5 * (weights * (predicted - target) ** 2).sum() / weights.sum().clamp(min=1.0)


def classification_loss(predicted: Tensor, target: Tensor, mask: Tensor) -> Tensor:
    """Proposal classification at IoU 0.9, balanced like the boundary loss, over the proposals inside the video."""
    positive = (target > CLASSIFICATION_IOU).float()
    negative = (target <= CLASSIFICATION_IOU).float() * mask
    return _balanced_bce(predicted, positive, negative, (positive.sum() + negative.sum()).clamp(min=1.0))


def gtad_loss(maps: Tensor, start: Tensor, end: Tensor, iou: Tensor, start_target: Tensor, end_target: Tensor,
              mask: Tensor, generator: torch.Generator) -> Tensor:
    """boundary + 10 x regression + classification (G-TAD ``gtad_loss_func``)."""
    iou = iou * mask
    return (boundary_loss(start, start_target) + boundary_loss(end, end_target)
            + REGRESSION_WEIGHT * regression_loss(maps[:, 0], iou, mask, generator)
            + classification_loss(maps[:, 1], iou, mask))


# ---------------------------------------------------------------- post-processing

def boundary_candidates(scores: np.ndarray, first: bool) -> np.ndarray:
    """Positions that may start (``first=True``: position 0 always) or end (the last position always) a proposal."""
    candidates = np.zeros(len(scores), dtype=bool)
    candidates[0 if first else -1] = True
    peak = max(scores)
    for k in range(1, len(scores) - 1):
        if (scores[k] > scores[k + 1] and scores[k] > scores[k - 1]) or scores[k] > 0.5 * peak:
            candidates[k] = True
    return candidates


def soft_nms(proposals: np.ndarray, sigma: float, limit: int) -> np.ndarray:
    """G-TAD/BSN Gaussian soft-NMS of ``[N, 3]`` (start, end, score); rows kept in the order chosen.

    As in G-TAD's ``Soft_NMS``: a list of one proposal is returned as it is; otherwise the loop
    stops once one candidate is left (that one is dropped), at ``limit`` kept, or when every score is 0.
    """
    if len(proposals) <= 1:
        return proposals.copy()
    order = np.argsort(-proposals[:, 2], kind="stable")
    rest = [list(row) for row in proposals[order]]
    kept = []
    while len(rest) > 1 and len(kept) < limit and max(row[2] for row in rest) > 0:
        best = max(range(len(rest)), key=lambda k: (rest[k][2], -k))
        s0, e0 = rest[best][0], rest[best][1]
        for k, row in enumerate(rest):
            if k == best or row[0] > e0 or s0 > row[1]:
                continue
            iou = (min(e0, row[1]) - max(s0, row[0])) / (max(e0, row[1]) - min(s0, row[0]))
            if iou > 0:
                row[2] *= math.exp(-iou * iou / sigma)
        kept.append(rest.pop(best))
    return np.array(kept, dtype=np.float64).reshape(-1, 3)


def decode_proposals(maps: np.ndarray, start: np.ndarray, end: np.ndarray, *, sigma: float, limit: int) -> np.ndarray:
    """``[N, 3]`` (start, end, score) fractions of one video, best first, at most ``limit``."""
    length = len(start)
    starts, ends = boundary_candidates(start, first=True), boundary_candidates(end, first=False)
    rows = []
    for d in range(length):
        for s in range(length):
            e = s + d + 1
            if e < length and starts[s] and ends[e]:
                rows.append((s / length, e / length, float(maps[1, d, s]) * float(maps[0, d, s])))
    kept = soft_nms(np.array(rows, dtype=np.float64).reshape(-1, 3), sigma, limit)
    return kept[np.argsort(-kept[:, 2], kind="stable")][:limit]


def fuse_classes(proposals: np.ndarray, class_scores: np.ndarray, top: int) -> list[tuple[float, float, int, float]]:
    """(start, end, class, score): every proposal once per top-``top`` video class, scored proposal x class score.

    G-TAD's ``_gen_detection_video``. ActionFormer takes the square root of the product, which
    ranks every detection the same, so the mAP is the same.
    """
    ranked = np.argsort(-class_scores, kind="stable")[:top]
    return [(float(s), float(e), int(label), float(p) * float(class_scores[label]))
            for label in ranked for s, e, p in proposals]


# ---------------------------------------------------------------- spec, fit, predict

@dataclass(frozen=True)
class TemporalSpec:
    head: GTADConfig
    num_classes: int
    nms_sigma: float
    max_proposals: int
    top_classes: int
    video_scores: str
    video_classifier: dict[str, Any]
    holdout_fraction: float
    loop: LoopSettings
    grid: tuple[HParams, ...]

    @property
    def variant(self) -> str:
        return "gtad" + ("-own-classifier" if self.video_scores == "own_classifier" else "")

    def record(self) -> dict[str, Any]:
        return {
            "type": "temporal",
            "variant": self.variant,
            "design": "G-TAD (Xu et al. 2020; frostinassiky/gtad, branch anet): GCNeXt backbone, SGAlign, "
                      "per-proposal confidence MLP, class-agnostic proposals + video-level classifier fusion",
            "head": self.head.as_dict(),
            "num_classes": self.num_classes,
            "loss": "boundary balanced BCE + 10 x proposal IoU MSE (balanced sampling) + proposal BCE at IoU 0.9",
            "post_processing": {"boundaries": "local maxima or > 0.5 x max", "score": "classification x regression",
                                "soft_nms": {"sigma": self.nms_sigma, "max_proposals": self.max_proposals}},
            "fusion": {"video_scores": self.video_scores, "top_classes": self.top_classes,
                       "rule": "each proposal emitted for the video's top classes, score = proposal x class score"},
            **loop_record(self.loop, self.grid),
        }


TEMPORAL_KEYS = ("hidden_1d", "hidden_2d", "hidden_3d", "knn", "groups", "width_per_group", "inner_bins",
                 "context_bins", "expand_ratio", "nms_sigma", "max_proposals", "top_classes", "video_scores",
                 "video_classifier")


def temporal_spec(adapter: dict[str, Any], num_classes: int, temporal_scale: int, *, seed: int, device: str,
                  where: str = "adapter") -> TemporalSpec:
    if adapter.get("type") != "temporal":
        raise RegistryError(f"{where}.type is {adapter.get('type')!r}; the tal family needs 'temporal'")
    check_keys(adapter, TEMPORAL_KEYS, where)
    head = GTADConfig(
        temporal_scale=temporal_scale, hidden_1d=read_int(adapter, "hidden_1d", 256, where),
        hidden_2d=read_int(adapter, "hidden_2d", 128, where), hidden_3d=read_int(adapter, "hidden_3d", 512, where),
        knn=read_int(adapter, "knn", 3, where), groups=read_int(adapter, "groups", 32, where),
        width_per_group=read_int(adapter, "width_per_group", 4, where),
        inner_bins=read_int(adapter, "inner_bins", 32, where), context_bins=read_int(adapter, "context_bins", 4, where),
        expand_ratio=read_number(adapter, "expand_ratio", 0.5, where))
    if head.hidden_1d % 4:
        raise RegistryError(f"{where}.hidden_1d ({head.hidden_1d}) must be divisible by 4 (G-TAD's grouped stem)")
    sigma = read_number(adapter, "nms_sigma", 0.8, where)
    if sigma <= 0:
        raise RegistryError(f"{where}.nms_sigma must be > 0, got {sigma!r}")
    video_scores = read_choice(adapter, "video_scores", "user_file", VIDEO_SCORE_SOURCES, where)
    classifier = adapter.get("video_classifier", {})
    if not isinstance(classifier, dict) or (video_scores == "own_classifier" and not classifier):
        raise RegistryError(f"{where}.video_classifier must be a mapping (the probe settings of the video-level "
                            f"classifier); video_scores 'own_classifier' needs it")
    return TemporalSpec(
        head=head, num_classes=num_classes, nms_sigma=sigma,
        max_proposals=read_int(adapter, "max_proposals", 100, where),
        top_classes=read_int(adapter, "top_classes", 2, where), video_scores=video_scores,
        video_classifier=dict(classifier),
        holdout_fraction=read_number(adapter, "holdout_fraction", 0.1, where, upper=1.0),
        loop=loop_settings(adapter, seed=seed, device=device, description="G-TAD head", where=where),
        grid=tuple(hp_grid(adapter, where)))


SnippetLoader = Callable[[list[int]], Tensor]
"""indices -> rescaled snippet features ``[b, T, D]`` of those videos."""


def fit_temporal(spec: TemporalSpec, load_snippets: SnippetLoader, segments: Sequence[Sequence[tuple[float, float]]],
                 dim: int) -> Fitted:
    """Train on videos whose ground truth is ``segments[i]``: (start, end) fractions of the covered span."""
    device, length = spec.loop.device, spec.head.temporal_scale
    targets = [gtad_targets(item, length) for item in segments]
    mask = torch.from_numpy(proposal_mask(length)).to(device)
    generator = torch.Generator().manual_seed(spec.loop.seed)

    def load_batch(indices: list[int]) -> tuple[Tensor, ...]:
        iou, start, end = (torch.from_numpy(np.stack([targets[i][k] for i in indices])).to(device) for k in range(3))
        return load_snippets(indices).to(device, torch.float32), iou, start, end

    def loss_fn(head: nn.Module, batch: tuple[Tensor, ...]) -> Tensor:
        snippets, iou, start_target, end_target = batch
        maps, start, end = head(snippets)
        return gtad_loss(maps, start, end, iou, start_target, end_target, mask, generator)

    def score_fn(head: nn.Module, indices: list[int]) -> float:
        head.eval()
        losses = [float(loss_fn(head, load_batch(indices[k:k + spec.loop.batch_size])))
                  for k in range(0, len(indices), spec.loop.batch_size)]
        return -float(np.mean(losses))

    return fit_with_selection(lambda: GTADHead(dim, spec.head), spec.grid, len(segments), load_batch, loss_fn,
                              score_fn, spec.loop, holdout_fraction=spec.holdout_fraction,
                              score_name="negative G-TAD loss")


@torch.no_grad()
def predict_proposals(spec: TemporalSpec, head: nn.Module, load_snippets: SnippetLoader, num_videos: int
                      ) -> list[np.ndarray]:
    """Per video ``[N, 3]`` (start, end, score) proposals as fractions, best first."""
    head.eval()
    out = []
    for first in range(0, num_videos, spec.loop.batch_size):
        indices = list(range(first, min(first + spec.loop.batch_size, num_videos)))
        maps, start, end = (t.cpu().numpy() for t in head(load_snippets(indices).to(spec.loop.device, torch.float32)))
        out.extend(decode_proposals(maps[k], start[k], end[k], sigma=spec.nms_sigma, limit=spec.max_proposals)
                   for k in range(len(indices)))
    return out
