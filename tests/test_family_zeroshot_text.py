"""Text embeddings of the zero-shot families (vpbench.families.text_embeddings): batching, the
on-disk cache and what its key covers."""

from __future__ import annotations

import numpy as np
import pytest

from vpbench.families.text_embeddings import TextEmbedder, TextTower
from vpbench.models.zoo import load_tokenizer


class CountingTower:
    """A deterministic fake text tower: embeds the token ids, counts what it was asked to encode."""

    def __init__(self, offset: float = 0.0) -> None:
        self.batches: list[int] = []
        self.offset = offset

    def __call__(self, token_ids, paddings):
        self.batches.append(len(token_ids))
        x = np.concatenate([token_ids[:, :8].astype(np.float32), 1.0 - paddings[:, :8]], axis=1) + self.offset
        return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.fixture()
def tokenizer():
    return load_tokenizer("tiny-lvt", max_length=16)


def _embedder(tower, tokenizer, cache_dir, identity="ckpt-a", batch_size=3):
    return TextEmbedder(TextTower(tower, identity, "released"), tokenizer, cache_dir, batch_size=batch_size)


def test_unique_texts_are_encoded_once_in_batches_and_order_is_kept(tokenizer):
    tower = CountingTower()
    embed = _embedder(tower, tokenizer, None)
    texts = ["a red circle", "a blue square", "a red circle", "a green triangle", "x", "y", "a blue square"]
    out = embed(texts)
    assert tower.batches == [3, 2]  # 5 unique texts, batch size 3
    assert out.shape == (7, 16) and out.dtype == np.float32
    np.testing.assert_array_equal(out[0], out[2])
    np.testing.assert_array_equal(out[1], out[6])
    direct = tower(*tokenizer(texts))
    np.testing.assert_allclose(out, direct, rtol=0, atol=0)


def test_cache_hits_and_what_invalidates_it(tmp_path, tokenizer):
    tower = CountingTower()
    first = _embedder(tower, tokenizer, tmp_path)(["a red circle", "a blue square"])
    again = _embedder(tower, tokenizer, tmp_path)
    second = again(["a blue square", "a red circle", "a new one"])
    assert again.stats == {"cached": 2, "computed": 1}
    np.testing.assert_array_equal(second[:2], first[::-1])
    shards = list((tmp_path / "text_embeddings").rglob("*.npz"))
    assert len(shards) == 2
    with np.load(shards[0], allow_pickle=False) as archive:  # no pickle anywhere in the cache
        assert archive["keys"].dtype.kind == "S" and archive["embeddings"].dtype == np.float32

    other_weights = _embedder(CountingTower(offset=1.0), tokenizer, tmp_path, identity="ckpt-b")
    changed = other_weights(["a red circle"])
    assert other_weights.stats == {"cached": 0, "computed": 1}
    assert not np.allclose(changed[0], first[0])

    shorter = _embedder(tower, load_tokenizer("tiny-lvt", max_length=2), tmp_path)
    shorter(["a red circle"])
    assert shorter.stats == {"cached": 0, "computed": 1}
    assert len({e.namespace() for e in (again, other_weights, shorter)}) == 3


def test_tower_with_wrong_output_shape_is_an_error(tokenizer):
    embed = TextEmbedder(TextTower(lambda ids, pads: np.zeros((1, 4)), "x", "released"), tokenizer)
    with pytest.raises(Exception, match="expected \\[texts, dim\\]"):
        embed(["a", "b"])


def _context(**options):
    from pathlib import Path

    from vpbench.families import RunContext

    return RunContext(data_root=Path("."), output_dir=Path("."), model="tiny", options=options)


def test_text_tower_mode_and_lit_data_choice():
    from vpbench.errors import RegistryError
    from vpbench.families.towers import lit_data_task, text_tower_mode
    from vpbench.registry import load_registry

    registry = load_registry()
    vatex, k400 = registry.task("vatex-retrieval"), registry.task("k400-zeroshot")
    assert text_tower_mode(vatex, _context()) == "released"
    assert text_tower_mode(vatex, _context(text_tower="lit")) == "lit"
    with pytest.raises(RegistryError, match="expected one of"):
        text_tower_mode(vatex, _context(text_tower="clip"))
    assert lit_data_task(vatex, _context()).name == "vatex-retrieval"  # a retrieval task learns from its own train
    assert lit_data_task(k400, _context()).name == "msrvtt-retrieval"  # others borrow MSR-VTT's 9k captions
    assert lit_data_task(k400, _context(lit_data="activitynet-retrieval")).name == "activitynet-retrieval"
    with pytest.raises(RegistryError, match="no 'dataset.train_split'"):
        lit_data_task(vatex, _context(lit_data="charades-sta-zeroshot"))
