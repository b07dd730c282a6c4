"""The equalization loss (Tan et al. 2020) against a hand-computed case, its defining property (no
discouraging gradient for tail classes from other classes' samples), and KABR's probe settings as the
VideoPrism paper's App. H states them (lr 5e-6 for B, EQL)."""

from __future__ import annotations

import math

import pytest
import torch

from vpbench.adapters import eql
from vpbench.adapters.classification import classification_loss, probe_spec
from vpbench.errors import RegistryError
from vpbench.registry import load_registry


def softplus(x: float) -> float:
    return math.log1p(math.exp(x))


def test_eql_matches_the_paper_definition_on_a_hand_computed_case():
    train = torch.tensor([[1.0, 0, 0], [1, 0, 0], [0, 1, 0], [1, 0, 0]])
    frequencies = eql.class_frequencies(train)
    assert frequencies.tolist() == pytest.approx([0.75, 0.25, 0.0])
    tail = eql.tail_mask(frequencies, 0.1)
    assert tail.tolist() == [0.0, 0.0, 1.0]  # only class 2 is rarer than lambda

    logits = torch.tensor([[2.0, -1.0, 0.5], [0.0, 1.0, -2.0]])
    targets = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    # Item 1 (class 0): w = [1, 1, 0] -> -log s(2) - log(1 - s(-1)); class 2's negative term is dropped.
    # Item 2 (class 2, a tail class): its own positive term is kept, all weights 1.
    first = softplus(-2.0) + softplus(-1.0)
    second = softplus(0.0) + softplus(1.0) + softplus(2.0)
    assert eql.equalization_loss(logits, targets, tail).item() == pytest.approx((first + second) / 2, rel=1e-6)
    # With no tail class it is plain sigmoid BCE summed over classes.
    none = torch.zeros(3)
    bce = torch.nn.functional.binary_cross_entropy_with_logits(logits, targets, reduction="sum") / 2
    assert eql.equalization_loss(logits, targets, none).item() == pytest.approx(bce.item(), rel=1e-6)


def test_eql_gives_tail_classes_no_discouraging_gradient():
    logits = torch.zeros(2, 3, requires_grad=True)
    targets = eql.one_hot(torch.tensor([0, 2]), 3)
    eql.equalization_loss(logits, targets, torch.tensor([0.0, 0.0, 1.0])).backward()
    assert logits.grad[0, 2] == 0  # class 2 is tail: item 0 (class 0) does not push it down
    assert logits.grad[0, 1] > 0 and logits.grad[1, 2] < 0  # a head class is still pushed down; positives pulled up


def test_kabr_probe_uses_eql_and_the_papers_learning_rate():
    kabr = load_registry().task("kabr")
    spec = probe_spec(kabr.adapter, 8, seed=0, device="cpu")
    assert spec.loss == "eql" and not spec.multilabel and not spec.class_balanced
    assert [hp.lr for hp in spec.grid] == [5e-6]  # App. H: 5e-6 for VideoPrism-B (1e-6 for g)
    assert spec.selection_score == "macro_accuracy" and spec.sigmoid
    assert "equalization loss" in spec.record()["loss"]
    sources = {entry["choice"] for entry in kabr.protocol_record()["sources"]}
    assert {"lr", "loss"} <= sources
    # The probe computes the tail from the training labels and trains through EQL.
    logits = torch.tensor([[3.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]])
    loss = classification_loss(spec, None, logits, torch.tensor([0]), torch.zeros(8))
    assert loss.item() == pytest.approx(softplus(-3.0) + 7 * softplus(0.0), rel=1e-6)
    with pytest.raises(RegistryError, match="loss 'eql' reweights"):
        probe_spec({**kabr.adapter, "class_balanced": True}, 8, seed=0, device="cpu")
