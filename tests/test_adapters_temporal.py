"""The G-TAD head (vpbench.adapters.temporal) against hand-computed cases of G-TAD's own code: Align1D,
training targets, the balanced losses, boundary candidates, soft-NMS with its stopping rule, the
video-level class fusion; and that the head localizes a signal that is in the features and not
when the annotations are shuffled."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from vpbench.adapters.temporal import (GTADConfig, GTADHead, align_matrix, boundary_candidates, boundary_loss,
                                       classification_loss, fit_temporal, fuse_classes, gtad_targets,
                                       predict_proposals, proposal_mask, regression_loss, rescale_snippets, soft_nms,
                                       temporal_spec)
from vpbench.adapters.training import LoopSettings, step_lr_lambda
from vpbench.errors import RegistryError

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TINY = {"type": "temporal", "hidden_1d": 16, "hidden_2d": 16, "hidden_3d": 32, "groups": 4, "width_per_group": 4,
        "inner_bins": 8, "context_bins": 2, "optimizer": "adam", "schedule": "step", "step_epochs": 8,
        "warmup_fraction": 0.0, "grad_clip": None, "epochs": 12, "batch_size": 8, "lr": 0.004, "weight_decay": 0.0001}


def test_align1d_weights_follow_the_gtad_kernel():
    # roi [0, 2] in 2 bins: one point per bin, at 0.5 and 1.5, linear between positions.
    assert align_matrix(4, np.array([[0.0, 2.0]]), 2).tolist() == [[0.5, 0.5, 0, 0], [0, 0.5, 0.5, 0]]
    # A point in [-1, 0) is clamped to position 0; below -1 it counts 0 (and still divides the bin).
    assert align_matrix(4, np.array([[-1.0, 0.0]]), 1).tolist() == [[1.0, 0, 0, 0]]
    assert align_matrix(4, np.array([[-3.0, -1.5]]), 1).tolist() == [[0, 0, 0, 0]]
    # roi [3, 5]: points 3.5 (past the last position: the last position) and 4.5 (> length: 0), each 1/2.
    assert align_matrix(4, np.array([[3.0, 5.0]]), 1).tolist() == [[0, 0, 0, 0.5]]
    # A roi shorter than one position is widened to 1 (G-TAD: "malformed ROIs" become 1 long).
    assert align_matrix(4, np.array([[1.0, 1.0]]), 1).tolist() == [[0, 0.5, 0.5, 0]]


def test_targets_iou_map_and_boundary_regions():
    iou, starts, ends = gtad_targets([(0.25, 0.75)], 4)
    assert iou[1, 1] == pytest.approx(1.0)  # duration index 1 (2 positions) from position 1 = [0.25, 0.75]
    assert iou[0, 1] == pytest.approx(0.5)  # [0.25, 0.5]
    assert iou[3, 0] == pytest.approx(0.5)  # [0, 1]
    # Regions 3/4 wide around each boundary cover whole anchors [(k - 0.5)/4, (k + 0.5)/4].
    assert starts.tolist() == pytest.approx([1.0, 1.0, 1.0, 0.0])
    assert ends.tolist() == pytest.approx([0.0, 0.0, 1.0, 1.0])
    assert proposal_mask(3).tolist() == [[1, 1, 1], [1, 1, 0], [1, 0, 0]]


def test_balanced_losses_match_hand_computation():
    predicted = torch.tensor([0.8, 0.2, 0.5, 0.5])
    target = torch.tensor([1.0, 0.0, 0.0, 0.0])
    # r = 4 entries / 1 positive: positives weigh 0.5 r = 2, negatives 0.5 r / (r - 1) = 2/3; mean over entries.
    expected = -(2 * math.log(0.8) + (2 / 3) * (math.log(0.8) + 2 * math.log(0.5))) / 4
    assert boundary_loss(predicted, target).item() == pytest.approx(expected, rel=1e-4)

    mask = torch.tensor([[1.0, 1.0], [1.0, 0.0]])
    iou = torch.tensor([[0.95, 0.5], [0.2, 0.0]])
    scores = torch.tensor([[0.9, 0.4], [0.3, 0.7]])
    # Classification at IoU 0.9: 1 positive, 2 negatives inside the mask (the masked 0 is left out).
    r = 3.0
    expected = -(0.5 * r * math.log(0.9) + 0.5 * r / (r - 1) * (math.log(0.6) + math.log(0.7))) / 3
    assert classification_loss(scores, iou, mask).item() == pytest.approx(expected, rel=1e-4)
    # Regression: the one IoU > 0.7 entry, plus one of one 0.3-0.7 entry and one of one 0-0.3 entry (all drawn).
    generator = torch.Generator().manual_seed(0)
    expected = 0.5 * ((0.9 - 0.95) ** 2 + (0.4 - 0.5) ** 2 + (0.3 - 0.2) ** 2) / 3
    assert regression_loss(scores, iou, mask, generator).item() == pytest.approx(expected, rel=1e-4)


def test_boundary_candidates_soft_nms_and_fusion():
    scores = np.array([0.1, 0.9, 0.2, 0.3, 0.1, 0.6])
    # Starts: position 0 always, peaks (1, 3), values above half the maximum (5 is last: never a start peak).
    assert boundary_candidates(scores, first=True).tolist() == [True, True, False, True, False, False]
    assert boundary_candidates(scores, first=False).tolist() == [False, True, False, True, False, True]

    proposals = np.array([[0.0, 10.0, 0.9], [0.5, 10.0, 0.8], [20.0, 30.0, 0.7]])
    kept = soft_nms(proposals, sigma=0.8, limit=100)
    # The best is kept, the 0.95-IoU one decays to 0.8 exp(-0.95^2 / 0.8) < 0.7; G-TAD's loop then keeps
    # [20, 30] and stops with one candidate left, which it drops.
    assert kept.tolist() == [[0.0, 10.0, 0.9], [20.0, 30.0, 0.7]]
    assert soft_nms(proposals[:1], sigma=0.8, limit=100).tolist() == [[0.0, 10.0, 0.9]]
    assert len(soft_nms(proposals, sigma=0.8, limit=1)) == 1

    fused = fuse_classes(np.array([[0.1, 0.4, 0.5], [0.6, 0.9, 0.2]]), np.array([0.1, 0.6, 0.3]), top=2)
    assert [label for _, _, label, _ in fused] == [1, 1, 2, 2]  # each proposal for the top-2 classes
    assert np.array([row[:2] for row in fused]).tolist() == [[0.1, 0.4], [0.6, 0.9]] * 2
    assert [score for *_, score in fused] == pytest.approx([0.5 * 0.6, 0.2 * 0.6, 0.5 * 0.3, 0.2 * 0.3])


def test_rescale_step_schedule_and_spec_errors():
    sequence = torch.arange(4, dtype=torch.float32)[:, None].repeat(1, 2)
    assert rescale_snippets(sequence, 2)[:, 0].tolist() == pytest.approx([0.5, 2.5])  # linear, align_corners False
    assert rescale_snippets(sequence, 4) is sequence
    factor = step_lr_lambda(steps_per_epoch=3, warmup_steps=0, step_epochs=5, gamma=0.1)
    assert [factor(s) for s in (0, 14, 15, 29, 30)] == pytest.approx([1, 1, 0.1, 0.1, 0.01])
    assert LoopSettings(epochs=1, batch_size=1).optimizer == "adamw"
    with pytest.raises(RegistryError, match="adapter.video_scores"):
        temporal_spec({**TINY, "video_scores": "oracle"}, 4, 16, seed=0, device="cpu")
    with pytest.raises(RegistryError, match="video_classifier"):
        temporal_spec({**TINY, "video_scores": "own_classifier"}, 4, 16, seed=0, device="cpu")
    with pytest.raises(RegistryError, match="step_epochs/step_gamma only apply"):
        temporal_spec({**TINY, "schedule": "cosine"}, 4, 16, seed=0, device="cpu")


def sequence_world(num: int, rng: np.random.Generator, prototype: np.ndarray, length: int = 16):
    """Snippet sequences with one action each: the prototype added over the action's positions."""
    features, segments = [], []
    centres = (np.arange(length) + 0.5) / length
    for _ in range(num):
        start = rng.uniform(0.0, 0.5)
        end = start + rng.uniform(0.2, 0.45)
        x = rng.normal(size=(length, prototype.shape[0])) * 0.5
        x[(centres >= start) & (centres <= end)] += prototype
        features.append(x)
        segments.append([(start, end)])
    return torch.tensor(np.stack(features), dtype=torch.float32), segments


def mean_best_iou(proposals, segments) -> float:
    best = []
    for found, truth in zip(proposals, segments):
        (g0, g1), (s, e, _) = truth[0], found[0]
        inter = max(0.0, min(e, g1) - max(s, g0))
        best.append(inter / (e - s + g1 - g0 - inter))
    return float(np.mean(best))


def test_gtad_localizes_and_shuffled_annotations_do_not():
    rng = np.random.default_rng(0)
    prototype = rng.normal(size=24) * 1.5
    train, train_segments = sequence_world(32, rng, prototype)
    test, test_segments = sequence_world(16, rng, prototype)
    spec = temporal_spec(TINY, 3, 16, seed=0, device="cpu")
    spec = replace(spec, loop=replace(spec.loop, progress=False))
    with torch.no_grad():
        maps, start, end = GTADHead(24, spec.head)(test[:2])
    assert maps.shape == (2, 2, 16, 16) and start.shape == end.shape == (2, 16)
    assert float(maps[:, :, 15, 1].abs().sum()) == 0  # proposals past the video's end are never scored

    fitted = fit_temporal(spec, lambda idx: train[idx], train_segments, 24)
    proposals = predict_proposals(spec, fitted.head, lambda idx: test[idx], 16)
    assert all(0 < len(p) <= 100 and np.all(np.diff(p[:, 2]) <= 0) for p in proposals)
    assert all(0.0 <= s < e <= 1.0 for p in proposals for s, e, _ in p)
    iou = mean_best_iou(proposals, test_segments)
    assert iou >= 0.55, iou

    shuffled = [train_segments[i] for i in rng.permutation(32)]
    control = fit_temporal(spec, lambda idx: train[idx], shuffled, 24)
    control_iou = mean_best_iou(predict_proposals(spec, control.head, lambda idx: test[idx], 16), test_segments)
    assert control_iou <= iou - 0.15, (control_iou, iou)


def test_gtad_config_defaults_are_the_activitynet_ones():
    config = GTADConfig()
    assert (config.temporal_scale, config.hidden_1d, config.hidden_2d, config.hidden_3d, config.knn) == (100, 256, 128,
                                                                                                         512, 3)
    assert (config.groups, config.width_per_group, config.inner_bins, config.context_bins) == (32, 4, 32, 4)
