"""Adapters on synthetic features: the math (RoIAlign, losses, NMS, targets), the grid and its
honest selection, and that each head learns a signal that is in the features and nothing when
the labels are shuffled."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from vpbench.adapters.attentive import CrossAttention, MAPConfig, MAPHead
from vpbench.adapters.classification import class_weights, fit_probe, predict_probe, probe_spec, target_matrix
from vpbench.adapters.linear import LinearHead
from vpbench.adapters.roi import RoIHead, RoIConfig, fit_roi, predict_roi, roi_align, roi_spec
from vpbench.adapters.temporal import temporal_spec
from vpbench.adapters.training import (HParams, LoopSettings, ViewSchedule, cosine_lr_lambda, hp_grid,
                                       loop_settings, mean_average_precision, parameter_groups, split_holdout,
                                       train_heads)
from vpbench.errors import RegistryError, VpbenchError


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def quiet(spec):
    return replace(spec, loop=replace(spec.loop, progress=False))


# ----------------------------------------------------------------------------------- RoIAlign


def ramp_map(h: int, w: int) -> torch.Tensor:
    """Channel 0 = x, channel 1 = y of each cell centre (continuous coordinates): bilinear is exact on it."""
    ys, xs = torch.meshgrid(torch.arange(h) + 0.5, torch.arange(w) + 0.5, indexing="ij")
    return torch.stack([xs, ys])[None].float()


def test_roi_align_samples_bin_centres_in_continuous_coordinates():
    out = roi_align(ramp_map(4, 8), torch.tensor([[[0.25, 0.25, 0.75, 0.75]]]), output_size=2)
    # Box spans x in [2, 6] and y in [1, 3] of the 8x4 map: bin centres x = 3, 5 and y = 1.5, 2.5.
    assert out.shape == (1, 1, 2, 2, 2)
    assert torch.allclose(out[0, 0, 0], torch.tensor([[3.0, 5.0], [3.0, 5.0]]))
    assert torch.allclose(out[0, 0, 1], torch.tensor([[1.5, 1.5], [2.5, 2.5]]))


def test_roi_align_uses_each_image_own_map_and_clamps_at_the_border():
    maps = torch.cat([torch.full((1, 1, 4, 4), 1.0), torch.full((1, 1, 4, 4), 7.0)])
    boxes = torch.tensor([[[0.0, 0.0, 1.0, 1.0]], [[0.5, 0.5, 1.0, 1.0]]])
    out = roi_align(maps, boxes, output_size=3)
    assert torch.allclose(out[0], torch.ones(1, 1, 3, 3)) and torch.allclose(out[1], torch.full((1, 1, 3, 3), 7.0))
    # A box reaching the last cell's outer edge samples within [0, w]: the ramp value stays <= w - 0.5.
    edge = roi_align(ramp_map(4, 4), torch.tensor([[[0.9, 0.0, 1.0, 1.0]]]), output_size=1, sampling_ratio=4)
    assert edge[0, 0, 0].item() == pytest.approx(3.5)


# ----------------------------------------------------------------------------------- heads


def test_map_head_variants_and_shapes():
    tokens = torch.randn(3, 10, 16)
    for config, variant in [(MAPConfig(heads=2, hidden=8), "map"),
                            (MAPConfig(heads=2, hidden=8, depth=2, queries=3, mlp=True), "map-d2-q3-mlp")]:
        head = MAPHead(16, 5, config)
        assert config.variant == variant
        assert head(tokens).shape == (3, 5)
    # The VideoGLUE pooler is one bare attention (no MLP, no residual, no extra blocks).
    plain = MAPHead(16, 5, MAPConfig(heads=2, hidden=8))
    assert isinstance(plain.pool, CrossAttention) and len(plain.blocks) == 0
    assert LinearHead(16, 5)(tokens).shape == (3, 5) and LinearHead(16, 5)(tokens.mean(1)).shape == (3, 5)


def test_cross_attention_mask_ignores_masked_tokens():
    attention = CrossAttention(8, 8, 2)
    queries, tokens = torch.randn(1, 1, 8), torch.randn(1, 6, 8)
    mask = torch.tensor([[True, True, True, False, False, False]])
    garbage = tokens.clone()
    garbage[:, 3:] = 100.0
    assert torch.allclose(attention(queries, tokens, mask), attention(queries, garbage, mask), atol=1e-6)
    assert torch.allclose(attention(queries, tokens, mask), attention(queries, tokens[:, :3]), atol=1e-6)


# ----------------------------------------------------------------------------------- training machinery


def test_hp_grid_and_errors_name_the_key():
    assert hp_grid({"lr_grid": [0.1, 0.2], "weight_decay_grid": [0.0, 0.5]}) == [
        HParams(0.1, 0.0), HParams(0.1, 0.5), HParams(0.2, 0.0), HParams(0.2, 0.5)]
    assert hp_grid({"lr": 0.3, "weight_decay": 0.01}) == [HParams(0.3, 0.01)]
    with pytest.raises(RegistryError, match="adapter.lr_grid"):
        hp_grid({"lr_grid": []})
    with pytest.raises(RegistryError, match="adapter: needs 'lr_grid'"):
        hp_grid({})


def test_cosine_schedule_warms_up_then_decays_to_zero():
    factor = cosine_lr_lambda(total_steps=10, warmup_steps=2)
    assert [factor(0), factor(1)] == [0.5, 1.0]
    assert factor(2) == pytest.approx(1.0) and factor(6) == pytest.approx(0.5) and factor(10) == pytest.approx(0.0)


def test_cosine_from_start_is_tf_linear_warmup_around_cosine_decay():
    # TF Model Garden: lr(s) = cos_decay(s) after warm-up, with cos_decay counted from step 0 over
    # all 10 steps; during warm-up a straight line from 0 to cos_decay(warmup).
    factor = cosine_lr_lambda(total_steps=10, warmup_steps=2, from_start=True)
    at_warmup_end = 0.5 * (1 + math.cos(math.pi * 2 / 10))
    assert factor(0) == 0.0 and factor(1) == pytest.approx(at_warmup_end / 2)
    assert factor(2) == pytest.approx(at_warmup_end) and factor(5) == pytest.approx(0.5)
    assert factor(10) == pytest.approx(0.0)
    settings = loop_settings({"epochs": 1, "batch_size": 2, "schedule": "cosine_from_start",
                              "weight_decay_skips": ["norm", "bias"]}, seed=0, device="cpu", description="t")
    assert settings.schedule == "cosine_from_start" and settings.weight_decay_skips == ("bias", "norm")
    with pytest.raises(RegistryError, match="adapter.schedule is 'linear'"):
        loop_settings({"epochs": 1, "batch_size": 2, "schedule": "linear"}, seed=0, device="cpu", description="t")
    with pytest.raises(RegistryError, match="adapter.weight_decay_skips"):
        loop_settings({"epochs": 1, "batch_size": 2, "weight_decay_skips": ["LayerNorm"]}, seed=0, device="cpu",
                      description="t")


def test_weight_decay_skips_biases_and_norm_layers_as_videoglue_excludes_them():
    head = MAPHead(8, 3, MAPConfig(heads=2, hidden=8))
    groups = parameter_groups(head, 0.1, ("bias", "norm"))
    names = {id(p): n for n, p in head.named_parameters()}
    decayed = sorted(names[id(p)] for p in groups[0]["params"])
    skipped = sorted(names[id(p)] for p in groups[1]["params"])
    assert groups[0]["weight_decay"] == 0.1 and groups[1]["weight_decay"] == 0.0
    assert decayed == ["classifier.weight", "pool.key_value.weight", "pool.out.weight", "pool.query.weight", "query"]
    assert skipped == ["classifier.bias", "pool.key_value.bias", "pool.out.bias", "pool.query.bias",
                       "token_norm.bias", "token_norm.weight"]
    everything = parameter_groups(head, 0.1, ())
    assert len(everything) == 1 and len(everything[0]["params"]) == len(list(head.parameters()))


def test_view_schedule_uses_one_view_per_item_per_epoch_and_cycles_through_all():
    schedule = ViewSchedule(num_items=50, views=4, seed=3)
    epochs = np.stack([schedule.at(e) for e in range(8)])  # [epoch, item]
    assert epochs.shape == (8, 50) and set(np.unique(epochs)) == {0, 1, 2, 3}
    for item in range(50):  # any 4 consecutive epochs visit each of the item's views once
        assert sorted(epochs[1:5, item]) == [0, 1, 2, 3]
    assert len(set(epochs[0])) == 4  # one epoch's batches mix the views
    assert np.array_equal(ViewSchedule(50, 4, 3).at(6), epochs[6])
    assert not np.array_equal(ViewSchedule(50, 4, 4).at(0), epochs[0])
    assert ViewSchedule(5, 1, 0).at(7).tolist() == [0] * 5


def test_probe_trains_on_the_scheduled_view_and_scores_the_holdout_on_every_view():
    rng = np.random.default_rng(4)
    train, labels = clustered(40, 4, rng, rng.normal(size=(4, 16)), views=3)  # [40 items, 3 views, 8, 16]
    asked: dict[int, set[int]] = {}

    def load(items, views):
        for item, view in zip(items, views):
            asked.setdefault(item, set()).add(view)
        return train[items, views]

    spec = quiet(probe_spec({**PROBE, "epochs": 2, "lr_grid": [0.0, 0.003]}, 4, seed=1, device="cpu"))
    fitted = fit_probe(spec, load, labels.tolist(), 16, views=3)
    # Two epochs train on two of each item's three views (the schedule's); the held-out items are
    # also scored on the mean over all three views, so exactly they were asked for every view.
    schedule = ViewSchedule(40, 3, 1)
    _, held = split_holdout(40, 0.2, 1, strata=labels.tolist())
    assert fitted.selection["holdout_items"] == len(held) == 8
    assert sorted(item for item, views in asked.items() if views == {0, 1, 2}) == held
    for item in set(range(40)) - set(held):
        assert asked[item] == {int(schedule.at(0)[item]), int(schedule.at(1)[item])}


def test_holdout_is_disjoint_seeded_and_spans_the_classes():
    labels = [k % 6 for k in range(48)]
    fit, held = split_holdout(48, 0.25, seed=3, strata=labels)
    assert sorted(fit + held) == list(range(48)) and len(held) == 12
    assert {labels[i] for i in held} == set(range(6))  # 2 per class, round-robin
    assert split_holdout(48, 0.25, seed=3, strata=labels) == (fit, held)
    assert split_holdout(48, 0.25, seed=4, strata=labels) != (fit, held)
    fit, held = split_holdout(12, 0.1, seed=0, strata=list(range(12)))  # one item per class: nothing to spare
    assert held == [] or all(labels.count(labels[i]) > 1 for i in held)


def test_grid_heads_share_one_batch_load_and_keep_their_own_optimizer():
    loads = []
    features, targets = torch.randn(20, 4), torch.randint(0, 3, (20,))

    def load(indices):
        loads.append(list(indices))
        return features[indices], targets[indices]

    heads = [LinearHead(4, 3) for _ in range(3)]
    initial = heads[0].classifier.weight.detach().clone()
    settings = LoopSettings(epochs=2, batch_size=8, progress=False)
    train_heads(heads, [HParams(0.0, 0.0), HParams(0.1, 0.0), HParams(0.2, 0.0)], range(20), load,
                lambda head, batch: torch.nn.functional.cross_entropy(head(batch[0]), batch[1]), settings)
    assert len(loads) == 2 * math.ceil(20 / 8)  # one load per batch, not one per head
    assert sorted(i for batch in loads[:3] for i in batch) == list(range(20))
    assert torch.equal(heads[0].classifier.weight, initial)  # lr 0: its own optimizer never moved it
    assert not torch.equal(heads[1].classifier.weight, heads[2].classifier.weight)


def test_mean_average_precision_skips_classes_without_positives():
    truth = np.array([[1, 0], [0, 0], [1, 0]])
    assert mean_average_precision(truth, np.array([[0.9, 0.1], [0.1, 0.9], [0.8, 0.2]])) == 1.0
    assert math.isnan(mean_average_precision(np.zeros((2, 2)), np.zeros((2, 2))))


# ----------------------------------------------------------------------------------- classification probe


def clustered(num: int, classes: int, rng: np.random.Generator, prototypes: np.ndarray, views: int | None = None):
    labels = np.arange(num) % classes
    shape = (num, 8, prototypes.shape[1]) if views is None else (num, views, 8, prototypes.shape[1])
    noise = rng.normal(size=shape)
    signal = prototypes[labels][:, None, :] if views is None else prototypes[labels][:, None, None, :]
    return torch.tensor(noise + 1.5 * signal, dtype=torch.float32), labels


def one_view(features: torch.Tensor):
    """A training loader over one view per item (``views`` must all be 0)."""
    def load(items, views):
        assert set(views) == {0}
        return features[items]
    return load


PROBE = {"type": "map", "heads": 2, "hidden": 16, "dropout": 0.1, "epochs": 15, "batch_size": 16,
         "lr_grid": [0.0, 0.003], "weight_decay": 0.0001, "label_smoothing": 0.1, "classifier_l2": 1.5e-5,
         "holdout_fraction": 0.2}


def test_probe_learns_single_label_and_chooses_on_the_training_holdout():
    rng = np.random.default_rng(0)
    prototypes = rng.normal(size=(4, 16))
    train, train_labels = clustered(64, 4, rng, prototypes)
    test, test_labels = clustered(32, 4, rng, prototypes, views=2)
    spec = quiet(probe_spec(PROBE, 4, seed=0, device="cpu"))
    fitted = fit_probe(spec, one_view(train), train_labels.tolist(), 16)
    # lr 0 cannot learn: the held-out part of TRAIN must prefer 0.003, and the record says how.
    assert fitted.selection["selected"]["lr"] == 0.003
    assert fitted.selection["holdout_items"] == 13 and fitted.selection["fit_items"] == 51
    assert "TRAINING split" in fitted.selection["rule"]
    scores = predict_probe(spec, fitted.head, lambda idx: test[idx], 32)
    assert scores.shape == (32, 4) and np.allclose(scores.sum(axis=1), 1.0, atol=1e-5)
    assert (scores.argmax(axis=1) == test_labels).mean() >= 0.9

    shuffled = rng.permutation(train_labels)
    control = fit_probe(replace(spec, grid=(HParams(0.003, 0.0001),)), one_view(train), shuffled.tolist(), 16)
    control_scores = predict_probe(spec, control.head, lambda idx: test[idx], 32)
    assert (control_scores.argmax(axis=1) == test_labels).mean() <= 0.5


def test_probe_multilabel_and_class_balanced_settings():
    rng = np.random.default_rng(1)
    prototypes = rng.normal(size=(3, 16))
    labels = [tuple(k for k in range(3) if (i >> k) & 1) for i in range(48)]

    def make(items):
        x = rng.normal(size=(len(items), 8, 16))
        for row, item in enumerate(items):
            for k in item:
                x[row] += 1.5 * prototypes[k]
        return torch.tensor(x, dtype=torch.float32)

    train, test_items = make(labels), labels[:24]
    test = make(test_items).unsqueeze(1)
    spec = quiet(probe_spec({**PROBE, "multilabel": True, "label_smoothing": 0.0, "lr_grid": [0.003]}, 3,
                            seed=0, device="cpu"))
    fitted = fit_probe(spec, one_view(train), labels, 16)
    assert fitted.selection["rule"].startswith("single setting")
    scores = predict_probe(spec, fitted.head, lambda idx: test[idx], 24)
    truth = target_matrix(test_items, 3, multilabel=True).numpy()
    assert mean_average_precision(truth, scores) >= 0.9

    weights = class_weights(torch.tensor([0, 0, 0, 1]), 3, multilabel=False)
    assert weights.tolist() == pytest.approx([4 / 6, 2.0, 1.0])
    assert class_weights(torch.tensor([[1.0, 0.0], [1.0, 1.0], [0.0, 0.0]]), 2, multilabel=True).tolist() == \
        pytest.approx([0.5, 2.0])


def test_probe_spec_rejects_bad_settings_naming_the_key():
    with pytest.raises(RegistryError, match="adapter.hidden .*divisible"):
        probe_spec({**PROBE, "hidden": 10, "heads": 3}, 4, seed=0, device="cpu")
    with pytest.raises(RegistryError, match="adapter.type"):
        probe_spec({**PROBE, "type": "mlp"}, 4, seed=0, device="cpu")
    with pytest.raises(RegistryError, match="adapter.dropout"):
        probe_spec({**PROBE, "dropout": 1.5}, 4, seed=0, device="cpu")
    with pytest.raises(RegistryError, match=r"unknown key\(s\) \['epoch'\]"):
        probe_spec({**PROBE, "epoch": 3}, 4, seed=0, device="cpu")
    with pytest.raises(RegistryError, match="adapter.optimizer is 'sgd'"):
        probe_spec({**PROBE, "optimizer": "sgd"}, 4, seed=0, device="cpu")


def test_every_task_adapter_section_is_valid_in_full_and_tiny_form():
    from vpbench.registry import load_registry

    builders = {"probe": lambda a: probe_spec(a, 5, seed=0, device="cpu"),
                "stal": lambda a: roi_spec(a, 5, seed=0, device="cpu"),
                "tal": lambda a: temporal_spec(a, 5, 16, seed=0, device="cpu")}
    checked = 0
    for task in load_registry().tasks.values():
        if task.family in builders:
            for form in (task, task.for_tiny()):
                builders[task.family](form.adapter)
            checked += 1
    assert checked == 14


def test_probe_is_deterministic_given_the_seed():
    rng = np.random.default_rng(2)
    train, labels = clustered(32, 4, rng, rng.normal(size=(4, 16)))
    spec = quiet(probe_spec({**PROBE, "epochs": 3}, 4, seed=5, device="cpu"))
    runs = [predict_probe(spec, fit_probe(spec, one_view(train), labels.tolist(), 16).head,
                          lambda idx: train[idx].unsqueeze(1), 32) for _ in range(2)]
    assert np.array_equal(runs[0], runs[1])
    views, _ = clustered(32, 4, rng, rng.normal(size=(4, 16)), views=3)
    runs = [predict_probe(spec, fit_probe(spec, lambda items, chosen: views[items, chosen], labels.tolist(), 16,
                                          views=3).head, lambda idx: views[idx], 32) for _ in range(2)]
    assert np.array_equal(runs[0], runs[1])


# ----------------------------------------------------------------------------------- RoI head


def box_world(num: int, rng: np.random.Generator, prototypes: np.ndarray):
    """4x4 token maps, two boxes per keyframe (left / right half); each box's class is written in its cells."""
    tokens = rng.normal(size=(num, 2, 4, 4, 16)) * 0.5
    boxes, labels = [], []
    for i in range(num):
        classes = rng.integers(0, 3, size=2)
        tokens[i, :, :, :2] += 1.5 * prototypes[classes[0]]
        tokens[i, :, :, 2:] += 1.5 * prototypes[classes[1]]
        boxes.append(np.array([[0.0, 0.0, 0.5, 1.0], [0.5, 0.0, 1.0, 1.0]], dtype=np.float32))
        labels.append(np.eye(3, dtype=np.float32)[classes])
    return torch.tensor(tokens, dtype=torch.float32), boxes, labels


ROI = {"type": "roi", "roi_size": 2, "heads": 2, "hidden": 16, "layers": 1, "dropout": 0.1, "epochs": 25,
       "batch_size": 16, "lr": 0.003, "weight_decay": 0.0001, "eval_boxes": "ground_truth"}


def test_roi_head_reads_the_box_region_and_shuffled_labels_do_not():
    rng = np.random.default_rng(0)
    prototypes = rng.normal(size=(3, 16))
    train_tokens, train_boxes, train_labels = box_world(48, rng, prototypes)
    test_tokens, test_boxes, test_labels = box_world(24, rng, prototypes)
    spec = quiet(roi_spec(ROI, 3, seed=0, device="cpu"))
    fitted = fit_roi(spec, lambda idx: train_tokens[idx], train_boxes, train_labels, 16)
    probs = predict_roi(spec, fitted.head, lambda idx: test_tokens[idx], test_boxes)
    truth, scores = np.concatenate(test_labels), np.concatenate(probs)
    assert scores.shape == (48, 3)
    assert mean_average_precision(truth, scores) >= 0.9

    shuffled = np.concatenate(train_labels)[rng.permutation(96)]
    control = fit_roi(spec, lambda idx: train_tokens[idx], train_boxes, [shuffled[2 * i:2 * i + 2] for i in range(48)],
                      16)
    control_scores = np.concatenate(predict_roi(spec, control.head, lambda idx: test_tokens[idx], test_boxes))
    assert mean_average_precision(truth, control_scores) <= 0.6


def test_roi_head_handles_ragged_and_empty_box_lists():
    head = RoIHead(16, 3, RoIConfig(roi_size=2, heads=2, hidden=8)).eval()
    spec = quiet(roi_spec({**ROI, "batch_size": 2}, 3, seed=0, device="cpu"))
    tokens = torch.randn(3, 2, 4, 4, 16)
    boxes = [np.zeros((0, 4), np.float32), np.array([[0.1, 0.1, 0.4, 0.9]], np.float32),
             np.array([[0.0, 0.0, 1.0, 1.0], [0.2, 0.3, 0.5, 0.6], [0.6, 0.1, 0.9, 0.5]], np.float32)]
    out = predict_roi(spec, head, lambda idx: tokens[idx], boxes)
    assert [o.shape for o in out] == [(0, 3), (1, 3), (3, 3)]
    # A box's scores do not depend on the other boxes of its keyframe.
    alone = predict_roi(spec, head, lambda idx: tokens[idx], [boxes[2][1:2]], order=[2])
    assert np.allclose(alone[0], out[2][1:2], atol=1e-5)


def test_a_grid_needs_two_training_items_to_hold_one_out():
    with pytest.raises(VpbenchError, match="at least 2 training items"):
        split_holdout(1, 0.1, seed=0)
