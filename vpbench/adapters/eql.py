"""Equalization loss (EQL; Tan et al., "Equalization Loss for Long-Tailed Object Recognition", CVPR 2020).

The VideoPrism paper trains its KABR probe with EQL (App. H): KABR is long-tailed (grazing
dominates; running, trotting and auto-grooming are rare), and with a plain sigmoid loss every
frequent-class sample pushes the rare classes' logits down. EQL, the paper's sigmoid form
(its Eq. 3-5), drops exactly those discouraging gradients:

    L_EQL = - sum_j w_j log(p̂_j),   p̂_j = p_j if y_j = 1 else 1 - p_j,   p_j = sigmoid(z_j)
    w_j   = 1 - E(r) T_λ(f_j) (1 - y_j)

``f_j`` is class j's frequency in the training set (the fraction of training items labelled
j), ``T_λ(f) = 1`` if ``f < λ`` else 0 (the tail classes), and ``E(r)`` is 1 for a foreground
region, 0 for background. A classification clip is never a background region (KABR has no
background class: "occluded" is a labelled class), so ``E = 1`` for every item. Positives are
never reweighted. The loss is summed over classes and averaged over the items of a batch, as the
authors' implementation normalises by the number of samples.

This module is the loss only: math on tensors, no I/O.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

DEFAULT_LAMBDA = 1.76e-3
"""λ of Tan et al. for LVIS (their tail threshold); the VideoPrism paper states no λ for KABR."""


def class_frequencies(targets: Tensor) -> Tensor:
    """``f_j``: the fraction of items whose target includes class j, from multi-hot ``[N, C]`` targets."""
    if targets.ndim != 2 or targets.shape[0] == 0:
        raise ValueError(f"class frequencies need non-empty multi-hot targets [N, C], got shape {tuple(targets.shape)}")
    return (targets > 0).float().mean(dim=0)


def tail_mask(frequencies: Tensor, threshold: float) -> Tensor:
    """``T_λ(f_j)``: 1.0 for the classes rarer than ``threshold``, else 0.0."""
    return (frequencies < threshold).float()


def equalization_loss(logits: Tensor, targets: Tensor, tail: Tensor) -> Tensor:
    """EQL of ``logits`` ``[N, C]`` against multi-hot ``targets`` ``[N, C]``, ``tail`` = ``T_λ(f)`` ``[C]``."""
    if logits.shape != targets.shape or tail.shape != logits.shape[-1:]:
        raise ValueError(f"shapes differ: logits {tuple(logits.shape)}, targets {tuple(targets.shape)}, "
                         f"tail {tuple(tail.shape)}")
    weights = 1.0 - tail.unsqueeze(0) * (1.0 - targets)
    per_class = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    return (weights * per_class).sum(dim=1).mean()


def one_hot(labels: Tensor, num_classes: int) -> Tensor:
    """Class ids ``[N]`` as float one-hot ``[N, C]`` (EQL is defined on per-class sigmoids)."""
    return F.one_hot(labels, num_classes).float()
