"""Scale without terabytes: evaluation in bounded memory, the sharded feature store, compact layouts."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from vpbench.adapters.classification import VIEW_MEMORY_FACTOR, build_head, predict_probe, probe_spec

pytestmark = pytest.mark.usefixtures("one_torch_thread")

PROBE = {"type": "map", "heads": 2, "hidden": 16, "dropout": 0.1, "epochs": 2, "batch_size": 16,
         "lr_grid": [0.003], "holdout_fraction": 0.2}


def quiet(spec):
    return replace(spec, loop=replace(spec.loop, progress=False))


class CountingHead(torch.nn.Module):
    """A head that records the largest number of views it was given at once."""

    def __init__(self, head: torch.nn.Module) -> None:
        super().__init__()
        self.head = head
        self.largest = 0

    def forward(self, features):
        self.largest = max(self.largest, features.shape[0])
        return self.head(features)


def test_eval_in_a_memory_budget_smaller_than_all_views_gives_the_unbounded_scores():
    items, views, tokens, dim = 11, 6, 8, 16
    features = torch.from_numpy(np.random.default_rng(0).normal(size=(items, views, tokens, dim)).astype(np.float32))
    spec = quiet(probe_spec(PROBE, 5, seed=0, device="cpu"))
    torch.manual_seed(0)
    head = CountingHead(build_head(spec, dim))
    loaded = []

    def load(indices):
        loaded.append(len(indices))
        return features[indices]

    unbounded = predict_probe(spec, head, load, items, memory_bytes=1 << 40)
    assert head.largest == 10 * views  # one item first (its shape sizes the batches), then the other ten
    view_bytes = tokens * dim * 4
    budget = view_bytes * VIEW_MEMORY_FACTOR * 4  # four views at a time; all views are 66
    head.largest, loaded[:] = 0, []
    bounded = predict_probe(spec, head, load, items, memory_bytes=budget)
    assert head.largest == 4 < items * views
    assert max(loaded) == 1  # an item has 6 views > 4: one item per batch, its views in chunks
    np.testing.assert_allclose(bounded, unbounded, rtol=0, atol=1e-6)
    assert bounded.shape == (items, 5) and np.allclose(bounded.sum(axis=1), 1.0, atol=1e-5)

    head.largest, loaded[:] = 0, []
    two_items = predict_probe(spec, head, load, items, memory_bytes=view_bytes * VIEW_MEMORY_FACTOR * 13)
    assert max(loaded) == 2 and head.largest == 12
    np.testing.assert_allclose(two_items, unbounded, rtol=0, atol=1e-6)


# ----------------------------------------------------------------------------- the sharded store


def rows_of(count: int, shape=(3, 4), seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {f"item{k}": rng.normal(size=shape).astype(np.float32) for k in range(count)}


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
def test_store_round_trips_rows_across_shards_in_their_dtype(tmp_path, dtype):
    from vpbench.features.store import StoreReader, build_store, from_storage, open_store, to_storage

    rows = {k: from_storage(to_storage(v, dtype), dtype) for k, v in rows_of(10).items()}  # values of dtype
    ids = list(rows)[::-1]
    built = build_store(tmp_path / "s", ids, rows.__getitem__, dtype, shard_bytes=3 * built_row_bytes(dtype))
    assert [s.rows for s in built.shards] == [3, 3, 3, 1] and built.nbytes == 10 * built_row_bytes(dtype)
    store = open_store(tmp_path / "s")
    assert store.ids == ids and store.item_shape == (3, 4)
    reader = StoreReader(store, block_bytes=2 * store.row_bytes)
    got = reader.rows([9, 0, 4])
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, np.stack([rows[ids[9]], rows[ids[0]], rows[ids[4]]]))
    for shard in store.shards:  # plain .npy files, readable without pickle
        assert np.load(tmp_path / "s" / shard.file, allow_pickle=False).shape[1:] == (3, 4)


def built_row_bytes(dtype: str) -> int:
    return 12 * (4 if dtype == "float32" else 2)


def test_store_checks_its_files_and_an_unfinished_build_is_not_a_store(tmp_path):
    from vpbench.features.store import INDEX_FILE, StoreError, build_store, open_store

    rows = rows_of(6)
    build_store(tmp_path / "s", list(rows), rows.__getitem__, "float16", shard_bytes=48)
    shard = tmp_path / "s" / "shard-00001.npy"
    data = bytearray(shard.read_bytes())
    data[-1] ^= 0xFF
    shard.write_bytes(bytes(data))
    with pytest.raises(StoreError, match="shard-00001.npy: SHA-256 differs"):
        open_store(tmp_path / "s")
    shard.write_bytes(bytes(data[:-8]))  # cut
    with pytest.raises(StoreError, match="shard-00001.npy"):
        open_store(tmp_path / "s", verify=False)

    def dies(item_id):  # a build killed half-way leaves no index: not a store, and the next build starts over
        if item_id == "item4":
            raise KeyboardInterrupt
        return rows[item_id]

    with pytest.raises(KeyboardInterrupt):
        build_store(tmp_path / "s", list(rows), dies, "float16", shard_bytes=48)
    assert not (tmp_path / "s" / INDEX_FILE).exists() and open_store(tmp_path / "s") is None
    build_store(tmp_path / "s", list(rows), rows.__getitem__, "float16", shard_bytes=48)
    assert open_store(tmp_path / "s").ids == list(rows)


def test_an_epoch_in_window_order_reads_every_block_once_and_random_order_does_not(tmp_path):
    from vpbench.features.store import StoreReader, build_store, open_store, window_order

    rows = rows_of(40)
    build_store(tmp_path / "s", list(rows), rows.__getitem__, "float32", shard_bytes=20 * 48)
    store = open_store(tmp_path / "s")
    items = list(range(40))
    reader = StoreReader(store, block_bytes=5 * 48, cache_blocks=4)  # 8 blocks of 5 rows, 2 per window
    order = window_order(items, items, reader, torch.Generator().manual_seed(0), window_blocks=2)
    assert sorted(order) == items and order != items
    for start in range(0, 40, 8):  # batches of 8
        reader.rows(order[start:start + 8])
    assert reader.reads == 8 and reader.bytes_read == store.nbytes  # sequential blocks, each read once
    # Rows outside a plan (held-out scoring after training) are read alone, not as whole blocks.
    np.testing.assert_array_equal(reader.rows([3, 17, 38]), np.stack([rows[f"item{k}"] for k in (3, 17, 38)]))
    assert reader.reads == 8 + 3 and reader.bytes_read == store.nbytes + 3 * 48
    second = window_order(items, items, reader, torch.Generator().manual_seed(1), window_blocks=2)
    assert second != order  # a new shuffle each epoch
    for start in range(0, 40, 8):
        reader.rows(second[start:start + 8])
    assert 8 + 3 + 8 - reader.cache_blocks <= reader.reads <= 8 + 3 + 8  # blocks still in memory are not re-read

    shuffled = StoreReader(store, block_bytes=5 * 48, cache_blocks=4)  # one read per row without the plan
    permutation = torch.randperm(40, generator=torch.Generator().manual_seed(0)).tolist()
    for start in range(0, 40, 8):
        shuffled.rows(permutation[start:start + 8])
    assert shuffled.reads == 40 and shuffled.bytes_read == store.nbytes


def test_probe_trains_from_the_sharded_store_in_a_small_memory_budget(tmp_path, capsys):
    from test_family_probe_common import run_tiny

    # 96 training rows of 16 kB do not fit 64 kB: the store is chosen, and evaluation runs in the same budget.
    result = run_tiny("diving48-probe", tmp_path, capsys, "memory_budget=64k")
    chance = 100.0 / result["fingerprint"]["class_subset"]["num_classes"]
    assert result["scores"]["top1"] >= chance + 35, result["scores"]
    store = result["extra"]["train_feature_store"]
    assert store["rows"] == 2 * 48 and store["shards"] == 1 and store["bytes"] > 0
    # A 64 kB budget gets one-row blocks: every epoch (60 on the 43 fit items, 60 on all 48 in the refit)
    # reads each of its rows once, plus the held-out scoring (2 heads x 5 items x 2 views).
    row = store["bytes"] // store["rows"]
    assert store["reads"] == 60 * 43 + 60 * 48 + 2 * 5 * 2 and store["bytes_read"] == store["reads"] * row
    assert store["epochs"] == 120 and store["bytes_read_per_epoch"] == {"min": 43 * row, "max": 48 * row}
    assert store["scattered_bytes_read"] == 2 * 5 * 2 * row
    # The order changes the trained head, so the result says how the store ordered the epochs.
    assert "shuffled within windows" in result["fingerprint"]["adapter"]["train_order"]
    assert any("windows smaller than a batch (1 < 16 rows)" in note for note in result["notes"])  # it mixes less


# ----------------------------------------------------------------------------- compact layouts


def test_view_sizes_follow_the_encoder_grid_and_heads_take_only_layouts_they_can_read():
    from vpbench.errors import RegistryError
    from vpbench.features.layouts import check_head_layout, view_bytes

    grid = (16, 16, 16)  # 16 frames at 288 px, 18-px patches: k400-probe on VideoPrism-B and -L
    assert view_bytes("tokens", "bfloat16", grid, 768) == 4096 * 768 * 2 == 6_291_456
    assert view_bytes("frame_pooled", "bfloat16", grid, 1024) == 16 * 1024 * 2
    assert view_bytes("global", "float32", grid, 768) == 768 * 4
    assert check_head_layout("map", "tokens", "t") and not check_head_layout("map", "frame_pooled", "t")
    assert check_head_layout("linear", "global", "t")  # a linear head averages the tokens anyway
    with pytest.raises(RegistryError, match="'global' cannot feed a 'map' head"):
        check_head_layout("map", "global", "tasks/x.yaml")
    with pytest.raises(RegistryError, match="features.dtype 'int8'"):
        view_bytes("tokens", "int8", grid, 768)


def test_the_frame_pooled_variant_is_a_declared_deviation_and_the_default_stays_tokens():
    from vpbench.registry import load_registry

    task = load_registry().task("k400-probe")
    assert task.features["layout"] == "tokens"
    pooled = task.with_variant("frame-pooled")
    assert pooled.features["layout"] == "frame_pooled"
    assert "compact-layout" in {d["id"] for d in pooled.protocol_record()["deviations"]}
    assert "compact-layout" not in {d["id"] for d in task.protocol_record()["deviations"]}


def test_ensure_store_builds_once_rebuilds_a_damaged_store_and_builders_take_turns(tmp_path):
    import threading

    from vpbench.features.store import ensure_store

    rows = rows_of(6)
    calls = []

    def read(item_id):
        calls.append(item_id)
        return rows[item_id]

    results = []
    builders = [threading.Thread(target=lambda: results.append(ensure_store(tmp_path / "s", list(rows), read,
                                                                            "float16", shard_bytes=48)))
                for _ in range(2)]
    for builder in builders:
        builder.start()
    for builder in builders:
        builder.join()
    assert sorted(reason is None for _, reason in results) == [False, True]  # one built it, the other found it
    assert len(calls) == 6  # every row read once, by the one builder
    shard = tmp_path / "s" / "shard-00000.npy"
    shard.write_bytes(shard.read_bytes()[:-1] + b"\x00")
    store, reason = ensure_store(tmp_path / "s", list(rows), read, "float16", shard_bytes=48)
    assert "shard-00000.npy: SHA-256 differs" in reason and store.ids == list(rows) and len(calls) == 12
    assert ensure_store(tmp_path / "s", list(rows), read, "float16")[1] is None


def test_cache_info_and_prune_see_training_stores_as_units_used_when_reopened(tmp_path, capsys):
    import json
    import os

    from vpbench.cli import main
    from vpbench.features import FeatureCache
    from vpbench.features.cache import STORES_FOLDER
    from vpbench.features.store import ensure_store

    rows = rows_of(6)
    cache = FeatureCache(tmp_path / "cache")
    old, new = (cache.root / STORES_FOLDER / name for name in ("old", "new"))
    for root in (old, new):
        ensure_store(root, list(rows), rows.__getitem__, "float32", shard_bytes=48)
    day = 86400
    os.utime(old / "index.json", (0, os.stat(old / "index.json").st_mtime - 10 * day))
    os.utime(new / "index.json", (0, os.stat(new / "index.json").st_mtime - 10 * day))
    ensure_store(new, list(rows), rows.__getitem__, "float32", shard_bytes=48)  # reused now: used now
    infos = {info.path.name: info for info in cache.stores()}
    assert set(infos) == {"old", "new"} and infos["old"].last_used < infos["new"].last_used - 9 * day
    assert infos["old"].files == 6 + 2 and infos["old"].bytes > 6 * 48  # a 48-byte row per shard, index, lock

    capsys.readouterr()
    main(["cache", "info", "--cache-dir", str(cache.root), "--json"])
    assert sorted(Path(s["path"]).name for s in json.loads(capsys.readouterr().out)["stores"]) == ["new", "old"]
    main(["cache", "prune", "--cache-dir", str(cache.root), "--older-than", "5", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert report["stores_removed"] == 1 and report["files"] == infos["old"].files and not old.exists()
    assert new.is_dir()
    report = cache.prune(max_bytes=0, dry_run=True)
    assert (report.stores_removed, report.bytes) == (1, infos["new"].bytes) and new.is_dir()
    assert cache.prune(everything=True).stores_removed == 1 and cache.stores() == []


@pytest.mark.parametrize("layout", ["tokens", "frame_pooled", "global"])
def test_view_bytes_match_what_the_encoder_stores(layout):
    import vpbench
    from vpbench.features.encode import ClipEncoder, decode_spec
    from vpbench.features.layouts import encoder_view_bytes
    from vpbench.video import SamplingSpec

    model = vpbench.load_model("tiny")
    spec = SamplingSpec(frames=8, resolution=32)
    encoder = ClipEncoder(model, layout, "bfloat16", spec.frames)
    shape = encoder.clip_shape(decode_spec(model, spec))
    assert encoder_view_bytes(model.card, spec, layout, "bfloat16") == int(np.prod(shape)) * 2
