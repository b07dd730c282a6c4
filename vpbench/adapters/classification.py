"""Clip classification on frozen features: build the head an ``adapter:`` section asks for, train, predict.

One module for every probe task (VideoGLUE classification, Charades, the science sets), because
they differ only in settings: ``type`` (``map`` or ``linear``), single- vs multi-label
(``multilabel``: softmax + cross-entropy vs sigmoid + binary cross-entropy), ``label_smoothing``,
``class_balanced`` (inverse-frequency class weights in the loss, positive weights for
multi-label), ``loss: eql`` (the equalization loss, :mod:`vpbench.adapters.eql`, KABR's loss in
the paper; ``eql_lambda`` its tail threshold), ``classifier_l2`` (VideoGLUE's L2 on the classifier kernel), and the
grid (``lr_grid`` / ``weight_decay_grid``) chosen on ``holdout_fraction`` of the training split.

At test time every clip has V views (temporal x spatial crops); each view is scored alone and the
probabilities (softmax, or sigmoid for multi-label) are averaged, as VideoGLUE and V-JEPA do.

Training features come through ``load_train(items, views) -> Tensor``: ``[b, L, D]`` tokens (or
``[b, D]`` globals), view ``views[k]`` of item ``items[k]``; with several cached augmented views
per item each epoch trains on one of them (:class:`~vpbench.adapters.training.ViewSchedule`), and
a held-out item is scored on the mean of its views' probabilities. Prediction takes
``load(indices) -> [b, V, L, D]`` (or ``[b, V, D]``). This module never reads files and never
sees the evaluation split during training.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vpbench.adapters import eql
from vpbench.adapters.attentive import MAPConfig, MAPHead
from vpbench.adapters.linear import LinearHead
from vpbench.adapters.training import (Fitted, HParams, LoopSettings, ViewSchedule, check_keys, fit_with_selection,
                                       hp_grid, loop_record, loop_settings, mean_average_precision, read_bool,
                                       read_choice,
                                       read_int, read_number)
from vpbench.errors import RegistryError

FeatureLoader = Callable[[list[int]], Tensor]
ViewLoader = Callable[[list[int], list[int]], Tensor]
EpochOrder = Callable[[list[int], np.ndarray, torch.Generator], list[int]]
HEAD_TYPES = ("map", "linear")
PROBE_KEYS = ("heads", "hidden", "queries", "depth", "mlp", "dropout", "multilabel", "label_smoothing",
              "class_balanced", "loss", "eql_lambda", "classifier_l2", "refit")
LOSSES = ("cross_entropy", "eql")
DEFAULT_MEMORY_BUDGET = 2 << 30
# Memory one view costs while it is scored, in float32 copies of its features: the loaded batch,
# its device copy, the head's LayerNorm output and a MAP head's keys and values.
VIEW_MEMORY_FACTOR = 5
VIEW_FUSION = "mean of per-view probabilities (softmax; sigmoid for multi-label)"


@dataclass(frozen=True)
class ProbeSpec:
    """Everything about a classification probe that is not a grid point."""

    head_type: str
    map: MAPConfig
    num_classes: int
    multilabel: bool
    label_smoothing: float
    class_balanced: bool
    loss: str
    eql_lambda: float
    classifier_l2: float
    holdout_fraction: float
    refit: bool
    loop: LoopSettings
    grid: tuple[HParams, ...]

    @property
    def variant(self) -> str:
        return self.map.variant if self.head_type == "map" else "linear"

    @property
    def selection_score(self) -> str:
        if self.multilabel:
            return "mAP"
        return "macro_accuracy" if self.class_balanced or self.loss == "eql" else "top1"

    @property
    def sigmoid(self) -> bool:
        """Per-class sigmoid scores (multi-label, or EQL's per-class sigmoids) rather than a softmax."""
        return self.multilabel or self.loss == "eql"

    def record(self) -> dict[str, Any]:
        """The adapter part of a result: variant, sizes, loss settings, grid (selection added later)."""
        return {
            "type": self.head_type,
            "variant": self.variant,
            **({"head": self.map.as_dict()} if self.head_type == "map" else {"dropout": self.map.dropout}),
            "num_classes": self.num_classes,
            "multilabel": self.multilabel,
            "loss": (f"equalization loss (Tan et al. 2020, sigmoid form), lambda {self.eql_lambda:g}"
                     if self.loss == "eql" else
                     "sigmoid binary cross-entropy" if self.multilabel else "softmax cross-entropy"),
            "label_smoothing": self.label_smoothing,
            "class_balanced": self.class_balanced,
            "classifier_l2": self.classifier_l2,
            **loop_record(self.loop, self.grid),
            "view_fusion": VIEW_FUSION,
        }


def probe_spec(adapter: dict[str, Any], num_classes: int, *, seed: int, device: str,
               where: str = "adapter") -> ProbeSpec:
    """Validate an ``adapter:`` section of a probe task; errors name the offending key."""
    head_type = adapter.get("type")
    if head_type not in HEAD_TYPES:
        raise RegistryError(f"{where}.type is {head_type!r}; a probe head is one of {list(HEAD_TYPES)}")
    check_keys(adapter, PROBE_KEYS, where)
    if num_classes < 2:
        raise RegistryError(f"{where}: a classification probe needs at least 2 classes, the split has {num_classes}")
    map_config = MAPConfig(
        heads=read_int(adapter, "heads", 12, where), hidden=read_int(adapter, "hidden", 768, where),
        queries=read_int(adapter, "queries", 1, where), depth=read_int(adapter, "depth", 1, where),
        mlp=read_bool(adapter, "mlp", False, where), dropout=read_number(adapter, "dropout", 0.5, where, upper=1.0))
    if head_type == "map" and map_config.hidden % map_config.heads:
        raise RegistryError(f"{where}.hidden ({map_config.hidden}) must be divisible by {where}.heads "
                            f"({map_config.heads})")
    multilabel = read_bool(adapter, "multilabel", False, where)
    loss = read_choice(adapter, "loss", "cross_entropy", LOSSES, where)
    if loss == "eql" and (adapter.get("class_balanced") or adapter.get("label_smoothing")):
        raise RegistryError(f"{where}: loss 'eql' reweights the classes itself; it takes no class_balanced or "
                            f"label_smoothing")
    return ProbeSpec(
        head_type=head_type, map=map_config, num_classes=num_classes, multilabel=multilabel,
        label_smoothing=read_number(adapter, "label_smoothing", 0.0, where, upper=1.0),
        class_balanced=read_bool(adapter, "class_balanced", False, where),
        loss=loss, eql_lambda=read_number(adapter, "eql_lambda", eql.DEFAULT_LAMBDA, where, upper=1.0),
        classifier_l2=read_number(adapter, "classifier_l2", 0.0, where),
        holdout_fraction=read_number(adapter, "holdout_fraction", 0.1, where, upper=1.0),
        refit=read_bool(adapter, "refit", True, where),
        loop=loop_settings(adapter, seed=seed, device=device, description="probe", where=where),
        grid=tuple(hp_grid(adapter, where)),
    )


def build_head(spec: ProbeSpec, dim: int) -> nn.Module:
    if spec.head_type == "map":
        return MAPHead(dim, spec.num_classes, spec.map)
    return LinearHead(dim, spec.num_classes, spec.map.dropout)


def target_matrix(labels: Sequence[int | Sequence[int]], num_classes: int, multilabel: bool) -> Tensor:
    """Class ids ``[N]`` (single-label) or multi-hot ``[N, C]`` float (multi-label) from per-item labels."""
    if multilabel:
        targets = torch.zeros(len(labels), num_classes)
        for row, item in enumerate(labels):
            for label in item:
                targets[row, int(label)] = 1.0
        return targets
    return torch.tensor([int(label) for label in labels], dtype=torch.long)


def class_weights(targets: Tensor, num_classes: int, multilabel: bool) -> Tensor:
    """Inverse-frequency weights (single-label) or negative/positive ratios (multi-label pos_weight).

    Single-label weights are ``N / (C_present * n_c)`` so a balanced split gets all ones; a class
    absent from training gets weight 1 (it never appears as a target, the value is irrelevant).
    """
    if multilabel:
        positives = targets.sum(dim=0)
        negatives = targets.shape[0] - positives
        return torch.where(positives > 0, negatives / positives.clamp(min=1), torch.ones_like(positives))
    counts = torch.bincount(targets, minlength=num_classes).float()
    present = int((counts > 0).sum())
    return torch.where(counts > 0, targets.numel() / (present * counts.clamp(min=1)), torch.ones_like(counts))


def classification_loss(spec: ProbeSpec, head: nn.Module, logits: Tensor, targets: Tensor,
                        weights: Tensor | None) -> Tensor:
    """The training loss; ``weights`` are the class weights, or EQL's tail mask ``T_λ(f)`` with ``loss: eql``."""
    if spec.loss == "eql":
        multi_hot = targets if spec.multilabel else eql.one_hot(targets, spec.num_classes)
        loss = eql.equalization_loss(logits, multi_hot, weights)
    elif spec.multilabel:
        soft = targets * (1 - spec.label_smoothing) + spec.label_smoothing / 2 if spec.label_smoothing else targets
        loss = F.binary_cross_entropy_with_logits(logits, soft, pos_weight=weights)
    else:
        loss = F.cross_entropy(logits, targets, weight=weights, label_smoothing=spec.label_smoothing)
    if spec.classifier_l2:
        loss = loss + spec.classifier_l2 * head.classifier.weight.pow(2).sum()
    return loss


def selection_score(spec: ProbeSpec, scores: np.ndarray, targets: Tensor) -> float:
    """Held-out score used to pick a grid point: top-1, macro accuracy, or mAP over classes with positives."""
    if spec.multilabel:
        return mean_average_precision(targets.numpy(), scores)
    predicted = scores.argmax(axis=1)
    truth = targets.numpy()
    if spec.selection_score == "macro_accuracy":
        return float(np.mean([np.mean(predicted[truth == c] == c) for c in np.unique(truth)]))
    return float(np.mean(predicted == truth))


def fit_probe(spec: ProbeSpec, load_train: ViewLoader, labels: Sequence[int | Sequence[int]], dim: int,
              views: int = 1, holdout_views: int | None = None, memory_bytes: int = DEFAULT_MEMORY_BUDGET,
              order: EpochOrder | None = None) -> Fitted:
    """Train the probe on training items (all of them, after choosing the grid point on a held-out part).

    ``views`` training views per item: epoch ``e`` trains on the view :class:`ViewSchedule` picks
    for it. A held-out item is scored on its first ``holdout_views`` views (default: all), within
    ``memory_bytes`` (:func:`predict_probe`). A ``load_train`` with a ``plan(requests)`` method (a
    streaming loader) is told each epoch's ``(items, views)`` batches before they are asked for.
    ``order(indices, views, generator)`` gives an epoch's item order from the views the epoch
    trains on (a sharded store's windowed shuffle); default a seeded permutation.
    """
    targets = target_matrix(labels, spec.num_classes, spec.multilabel)
    weights = class_weights(targets, spec.num_classes, spec.multilabel).to(spec.loop.device) \
        if spec.class_balanced else None
    if spec.loss == "eql":
        multi_hot = targets if spec.multilabel else eql.one_hot(targets, spec.num_classes)
        weights = eql.tail_mask(eql.class_frequencies(multi_hot), spec.eql_lambda).to(spec.loop.device)
    device = spec.loop.device
    schedule = ViewSchedule(len(targets), views, spec.loop.seed)
    current = {"views": schedule.at(0)}

    def load_batch(indices: list[int]) -> tuple[Tensor, Tensor]:
        features = load_train(indices, current["views"][indices].tolist())
        return features.to(device, torch.float32), targets[indices].to(device)

    def loss_fn(head: nn.Module, batch: tuple[Tensor, Tensor]) -> Tensor:
        features, batch_targets = batch
        return classification_loss(spec, head, head(features), batch_targets, weights)

    def every_view(indices: list[int]) -> Tensor:
        return torch.stack([load_train(indices, [v] * len(indices)) for v in range(holdout_views or views)], dim=1)

    plan = getattr(load_train, "plan", None)

    def score_fn(head: nn.Module, indices: list[int]) -> float:
        scores = predict_probe(spec, head, every_view, len(indices), order=indices, memory_bytes=memory_bytes)
        return selection_score(spec, scores, targets[indices])

    return fit_with_selection(
        lambda: build_head(spec, dim), spec.grid, len(targets), load_batch, loss_fn, score_fn, spec.loop,
        holdout_fraction=spec.holdout_fraction, score_name=spec.selection_score, refit=spec.refit,
        strata=None if spec.multilabel else targets.tolist(),
        on_epoch=lambda epoch: current.update(views=schedule.at(epoch)),
        prefetch=None if plan is None else
        lambda batches: plan([(batch, current["views"][batch].tolist()) for batch in batches]),
        order=None if order is None else lambda indices, generator: order(indices, current["views"], generator))


def views_per_chunk(view_bytes: int, memory_bytes: int) -> int:
    """How many views are scored at once so that their features and the head's activations stay
    within ``memory_bytes`` (at least one: a single view is the smallest unit the head takes)."""
    return max(1, memory_bytes // max(1, view_bytes * VIEW_MEMORY_FACTOR))


@torch.no_grad()
def predict_probe(spec: ProbeSpec, head: nn.Module, load_views: FeatureLoader, num_items: int,
                  order: Sequence[int] | None = None, memory_bytes: int = DEFAULT_MEMORY_BUDGET) -> np.ndarray:
    """Scores ``[N, C]`` (probabilities, averaged over each item's views) for items ``order`` (default 0..N-1).

    Evaluation runs in bounded memory: a batch holds as many items as ``memory_bytes`` allows
    (at most ``spec.loop.batch_size``, at least one), and its views go through the head in chunks
    of :func:`views_per_chunk` views. K400's 12 test views of 4096 x 768 tokens are 151 MB per item
    as float32, so 256 items at once would be 38.7 GB; the budget keeps it to a few items. A head
    in eval mode scores each view alone, so the scores do not depend on the budget (up to float
    rounding of the batched matmuls).
    """
    head.eval()
    order = list(range(num_items)) if order is None else list(order)
    outputs: list[Tensor] = []
    per_batch = 1  # the first batch is one item: its shape sizes the rest
    start = 0
    while start < len(order):
        views = load_views(order[start:start + per_batch])
        batch, num_views = views.shape[:2]
        view_bytes = int(np.prod(views.shape[2:])) * 4
        chunk = views_per_chunk(view_bytes, memory_bytes)
        flat = views.reshape(batch * num_views, *views.shape[2:])
        probs = torch.cat([_probabilities(spec, head, flat[k:k + chunk]) for k in range(0, len(flat), chunk)])
        outputs.append(probs.reshape(batch, num_views, -1).mean(dim=1))
        start += batch
        per_batch = min(spec.loop.batch_size, max(1, chunk // max(1, num_views)))
    if not outputs:
        return np.zeros((0, spec.num_classes), dtype=np.float32)
    return torch.cat(outputs).numpy()


def _probabilities(spec: ProbeSpec, head: nn.Module, views: Tensor) -> Tensor:
    logits = head(views.to(spec.loop.device, torch.float32))
    return (torch.sigmoid(logits) if spec.sigmoid else torch.softmax(logits, dim=-1)).cpu()
