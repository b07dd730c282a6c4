"""LiT text tower (vpbench.adapters.lit): learns from features that carry the caption's facts,
learns nothing from shuffled captions, saves and loads without pickle, validates its settings."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vpbench.adapters.lit import (
    LiTModel,
    embed_tokens,
    embed_video,
    load_lit,
    lit_settings,
    save_lit,
    train_lit,
)
from vpbench.errors import CheckpointError, RegistryError, VpbenchError
from vpbench.metrics.retrieval import retrieval_metrics
from vpbench.models.zoo import load_tokenizer
from vpbench.tiny.video import COLOURS, DIRECTIONS, SHAPES, fact_grid

FAST = {"width": 32, "layers": 1, "heads": 2, "epochs": 15, "batch_size": 16, "lr": 3e-3, "weight_decay": 0.0}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer("tiny-lvt", max_length=12)


def _facts_to_features(facts, rng, tokens: bool) -> np.ndarray:
    """Frozen 'features' that encode (colour, shape, direction) linearly, plus noise.

    With ``tokens`` each fact sits in its own token (so only a pooling head that looks at every
    token can recover all three), as frame tokens of a real encoder would spread them.
    """
    basis = np.random.default_rng(123).normal(size=(3, 4, 24))
    rows = []
    for colour, shape, direction in facts:
        parts = [basis[0, list(COLOURS).index(colour)], basis[1, SHAPES.index(shape)],
                 basis[2, list(DIRECTIONS).index(direction)]]
        if tokens:
            rows.append(np.stack(parts) + 0.3 * rng.normal(size=(3, 24)))
        else:
            rows.append(sum(parts) + 0.3 * rng.normal(size=24))
    return np.asarray(rows, dtype=np.float32)


def _caption(facts) -> str:
    colour, shape, direction = facts
    return f"a {colour} {shape} moves {direction}"


def _heldout_t2v(model, tokenizer, features, captions) -> dict:
    ids, paddings = tokenizer(captions)
    return retrieval_metrics(np.arange(len(captions)), text_embeddings=embed_tokens(model, ids, paddings),
                             video_embeddings=embed_video(model, features))


@pytest.mark.parametrize("tokens", [False, True], ids=["embedding", "tokens"])
def test_lit_beats_chance_and_shuffled_captions_do_not(tokenizer, tokens):
    """Held-out videos of all 48 fact combinations: chance R@1 is 2.1 %, chance mean rank 24.5."""
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    grid = fact_grid()
    train_facts = [grid[i] for i in rng.permutation(2 * len(grid)) % len(grid)]
    test_facts = [grid[i] for i in rng.permutation(len(grid))]
    train_features = _facts_to_features(train_facts, rng, tokens)
    test_features = _facts_to_features(test_facts, rng, tokens)
    test_captions = [_caption(f) for f in test_facts]
    config, training = lit_settings(FAST)
    chance_r1, chance_mean_rank = 100.0 / len(test_facts), (len(test_facts) + 1) / 2

    model, record = train_lit(train_features, [[_caption(f)] for f in train_facts], tokenizer, config, training)
    learned = _heldout_t2v(model, tokenizer, test_features, test_captions)
    assert learned["t2v_R@1"] >= 10 * chance_r1 and learned["v2t_R@1"] >= 10 * chance_r1, learned
    assert learned["t2v_MnR"] < 4
    assert record["train_videos"] == 96 and record["train_pairs"] == 96
    assert model.video_pooler is not None if tokens else model.video_pooler is None

    shuffled = [[_caption(train_facts[i])] for i in rng.permutation(len(train_facts))]
    model, _ = train_lit(train_features, shuffled, tokenizer, config, training)
    unlearned = _heldout_t2v(model, tokenizer, test_features, test_captions)
    assert unlearned["t2v_R@1"] <= 3 * chance_r1, unlearned
    assert unlearned["t2v_MnR"] > 0.6 * chance_mean_rank, unlearned


def test_lit_selection_uses_training_holdout_and_records_it(tokenizer):
    rng = np.random.default_rng(1)
    facts = [fact_grid()[i] for i in rng.permutation(48)]
    features = _facts_to_features(facts, rng, tokens=False)
    captions = [[_caption(f), _caption(f).replace("moves", "goes")] for f in facts]
    config, training = lit_settings({**FAST, "epochs": 2, "lr_grid": [1e-3, 1e-4], "holdout_fraction": 0.25})
    training.pop("lr")
    _, record = train_lit(features, captions, tokenizer, config, training, seed=3)
    selection = record["selection"]
    assert selection["holdout_items"] == 12 and selection["fit_items"] == 36
    assert len(selection["holdout_scores"]) == 2 and selection["score"] == "t2v R@1+R@5+R@10"
    assert selection["selected"]["lr"] in (1e-3, 1e-4)
    assert record["train_pairs"] == 96


def test_lit_rejects_bad_inputs(tokenizer):
    config, training = lit_settings(FAST)
    with pytest.raises(VpbenchError, match="no caption"):
        train_lit(np.zeros((5, 8), np.float32), [["a"], [], ["b"], ["c"], ["d"]], tokenizer, config, training)
    with pytest.raises(VpbenchError, match="N caption lists"):
        train_lit(np.zeros((5, 8), np.float32), [["a"]] * 4, tokenizer, config, training)


def test_lit_settings_validate_keys():
    config, training = lit_settings({"width": 64, "heads": 4, "lr": 1e-3})
    assert config.width == 64 and training["lr"] == 1e-3 and "lr_grid" not in training
    with pytest.raises(RegistryError, match="unknown key"):
        lit_settings({"widht": 64})
    with pytest.raises(RegistryError, match="not divisible"):
        lit_settings({"width": 30, "heads": 4})
    with pytest.raises(RegistryError, match="layers"):
        lit_settings({"layers": 1.5})


def test_save_load_round_trip(tmp_path, tokenizer):
    config, _ = lit_settings(FAST)
    model = LiTModel(config, vocabulary_size=tokenizer.vocab_size, video_dim=24, video_tokens=True).eval()
    path = save_lit(model, tmp_path / "tower.safetensors", {"data": {"task": "msrvtt-retrieval"}})
    loaded, provenance = load_lit(path)
    assert provenance == {"data": {"task": "msrvtt-retrieval"}}
    ids, paddings = tokenizer(["a red circle moves left", "a blue square"])
    features = np.random.default_rng(0).normal(size=(2, 3, 24)).astype(np.float32)
    np.testing.assert_array_equal(embed_tokens(model, ids, paddings), embed_tokens(loaded, ids, paddings))
    np.testing.assert_array_equal(embed_video(model, features), embed_video(loaded, features))
    with pytest.raises(VpbenchError, match="do not fit"):
        embed_video(loaded, features[:, 0])


def test_load_refuses_foreign_files(tmp_path):
    from safetensors.torch import save_file

    save_file({"w": torch.zeros(2)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(CheckpointError, match="format"):
        load_lit(tmp_path / "other.safetensors")
    (tmp_path / "junk.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(CheckpointError, match="readable"):
        load_lit(tmp_path / "junk.safetensors")
    with pytest.raises(CheckpointError, match="no such"):
        load_lit(tmp_path / "absent.safetensors")
