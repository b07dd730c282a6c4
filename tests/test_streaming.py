"""Streaming training (vpbench.families.streaming) and the cached/streaming choice (vpbench.families.train_mode):
the feature-cache estimate is the arithmetic of the layout, streamed views are the cached views, a probe trained
with the encoder in the loop beats chance like the cached one, and data-parallel training equals one process."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest
import torch

from test_family_probe_common import tiny_task

from vpbench.families import RunContext, train_mode
from vpbench.registry import TaskConfig, load_registry

pytestmark = pytest.mark.usefixtures("one_torch_thread")

VIEW_B = 4096 * 768 * 2  # k400-probe on VideoPrism-B: 16 frames x (288/18)^2 tokens of 768, float16
K400 = {"train": 246534, "eval": 19906}


def test_k400_probe_estimate_is_items_times_views_times_bytes_and_picks_streaming():
    task = load_registry().task("k400-probe")
    estimate = train_mode.estimate_cache(task, K400, train_mode.zoo_card("videoprism-b"))
    train, evaluation = estimate.splits
    assert (train.views, evaluation.views) == (4, 12) and estimate.view_shape == (4096, 768)
    assert train.bytes_per_view == VIEW_B == 6_291_456
    assert estimate.bytes == (246534 * 4 + 19906 * 12) * VIEW_B  # ~7.71 TB
    large = train_mode.estimate_cache(task, K400, train_mode.zoo_card("videoprism-l"))
    assert large.splits[0].bytes_per_view == 4096 * 1024 * 2  # -L: D = 1024, the task's 16 frames

    chosen = train_mode.choose(None, estimate, None)  # the default 500 GB budget
    assert chosen.mode == "streaming" and "above it" in chosen.reason
    assert train_mode.choose(None, estimate, estimate.bytes).mode == "cached"  # a budget it fits in
    forced = train_mode.choose("cached", estimate, None)
    assert forced.mode == "cached" and forced.reason.startswith("--train-mode cached")
    assert forced.record()["cache_estimate"]["bytes"] == estimate.bytes
    pooled = dataclasses.replace(task, features={"layout": "frame_pooled", "dtype": "float16"})
    assert train_mode.estimate_cache(pooled, K400, train_mode.zoo_card("videoprism-b")).view_shape == (16, 768)
    assert train_mode.zoo_card("hf:someone/else") is None
    assert train_mode.format_bytes(6_291_456) == "6.29 MB" and train_mode.format_bytes(999) == "999 B"


def test_doctor_prints_the_k400_estimate_without_any_data(capsys, monkeypatch):
    import json

    from vpbench.cli import main

    monkeypatch.delenv("VPBENCH_DATA", raising=False)
    capsys.readouterr()
    main(["doctor", "--task", "k400-probe", "--model", "videoprism-b", "--json"])
    (report,) = json.loads(capsys.readouterr().out)
    estimate = report["cache_estimate"]
    assert estimate["items_from"] == {"train": "official count", "eval": "official count"}
    assert estimate["cache_estimate"]["bytes"] == (246534 * 4 + 19906 * 12) * VIEW_B
    assert estimate["mode"] == "streaming" and estimate["budget_bytes"] == train_mode.DEFAULT_BUDGET
    main(["doctor", "--task", "k400-probe", "--model", "videoprism-b", "--feature-budget", "10T", "--json"])
    assert json.loads(capsys.readouterr().out)[0]["cache_estimate"]["mode"] == "cached"


def _tiny_setup(name: str = "diving48-probe"):
    from vpbench.tiny import make_tiny

    task = tiny_task(name)
    root = make_tiny(task, Path(os.environ["VPBENCH_TEST_CACHE"]) / "tiny" / task.name)
    return task, root


def test_streamed_views_are_the_cached_views(tmp_path):
    """View v of a sample streamed (planned ahead or not) equals the cache's view v of it: the same pure
    function of (sample, view, seed, spec), so streaming trains on what a cached run with that many views would."""
    import vpbench
    from vpbench.datasets import read_split
    from vpbench.features import FeatureCache, extract_features
    from vpbench.features.encode import ClipEncoder, decode_spec
    from vpbench.families import streaming, train_views

    task, root = _tiny_setup()
    samples = read_split(task, root, task.dataset["train_split"]).available[:4]
    model = vpbench.load_model("tiny", device="cpu")
    spec = decode_spec(model, train_views.training_spec(task))
    requests = [([0, 2], [5, 0]), ([3, 1], [1, 7])]
    items = [train_views.view_item(samples[i], "train", v) for batch, views in requests for i, v in zip(batch, views)]
    cached = extract_features(model, items, spec, "tokens", FeatureCache(tmp_path / "cache"), batch_size=4)
    expected = torch.stack([torch.from_numpy(cached.features[item.item_id][0]) for item in items])

    loader = streaming.StreamingViews(samples, spec, ClipEncoder(model, "tokens", "float32", spec.frames),
                                      augmented=True, batch_size=3)
    unplanned = torch.cat([loader(batch, views) for batch, views in requests])
    loader.plan(requests)
    planned = torch.cat([loader(batch, views) for batch, views in requests])
    assert unplanned.shape == expected.shape == (4, 128, 64)
    torch.testing.assert_close(unplanned, expected, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(planned, unplanned, rtol=0, atol=0)
    assert not loader._planned and loader.stats.clips == 8 and loader.stats.video_bytes > 0
    assert (unplanned[0] - unplanned[1]).abs().max() > 1e-3  # two views of two videos really differ

    # --decoder reaches the streamed decode: torchcodec's frames are decord's (tests/test_video_torchcodec.py),
    # so its features are too, and a decoder a streaming run cannot use is refused before decoding.
    other = streaming.StreamingViews(samples, spec, ClipEncoder(model, "tokens", "float32", spec.frames),
                                     augmented=True, batch_size=3, decoder="torchcodec")
    other.plan(requests)
    torch.testing.assert_close(torch.cat([other(batch, views) for batch, views in requests]), planned, rtol=0, atol=0)
    from vpbench.errors import VpbenchError

    with pytest.raises(VpbenchError, match="decoder 'nvdec'"):
        streaming.StreamingViews(samples, spec, ClipEncoder(model, "tokens", "float32", spec.frames),
                                 augmented=True, batch_size=3, decoder="nvdec")(*requests[0])


def _short(task: TaskConfig) -> TaskConfig:
    """The tiny task with 12 epochs and one setting (no grid): a streaming test that takes seconds."""
    return dataclasses.replace(task, adapter={**task.adapter, "epochs": 12, "lr_grid": [0.01]})


@pytest.mark.parametrize("mode", ["streaming", "cached"])
def test_a_streamed_probe_beats_chance_like_the_cached_one(tmp_path, mode):
    """diving48-probe on the tiny suite with augmentation, the head trained with the encoder in the loop
    (a fresh augmented view per video per epoch) or on cached views: both clearly above chance (25%)."""
    from vpbench.families import probe

    task, root = _tiny_setup()
    context = RunContext(data_root=root, output_dir=tmp_path, model="tiny", tiny=True, cache_dir=tmp_path / "cache",
                         workers=0, device="cpu", train_mode=None if mode == "streaming" else "cached",
                         feature_budget=1000 if mode == "streaming" else None,  # 1 kB: the tiny cache is above it
                         decoder="torchcodec" if mode == "streaming" else "decord")
    record = probe.run(_short(task), context)
    assert record.scores["top1"] >= 25 + 35, record.scores
    chosen = record.extra["train_mode"]
    assert chosen["mode"] == mode and record.adapter["train_mode"] == mode
    deviations = set(record.deviations)
    if mode == "streaming":
        assert "above it" in chosen["reason"] and chosen["budget_bytes"] == 1000
        assert record.counts["features"] == {}  # nothing extracted, nothing cached
        assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").rglob("*.npy"))
        assert record.counts["streamed"]["train_clips"] == 12 * 48 and record.counts["train_views"] == 12
        assert record.fingerprint["views"]["train"]["kind"] == "augmented, streamed"
        assert "cached-train-views" not in deviations  # a fresh view every epoch, as VideoGLUE
        assert record.fingerprint["decoder"]["backend"] == "torchcodec"  # --decoder reached the streamed decode
        assert "torchcodec" in record.fingerprint["decoder"]["libraries"]
    else:
        assert record.counts["features"]["train"]["items"] == 2 * 48
        assert "cached-train-views" in deviations  # 2 cached views over 12 epochs
        assert "decoder" not in record.fingerprint  # the default decoder keeps the fingerprint it always had


def test_data_parallel_training_equals_one_process(tmp_path):
    """Two gloo ranks, each training on half of every batch with gradients averaged, end with the weights one
    process gets from the whole batches (a linear head, no dropout; the last batch splits 3/2)."""
    import torch.multiprocessing as mp

    from data_parallel_worker import train_linear

    result = train_linear(None, 1, tmp_path)
    mp.spawn(train_linear, args=(2, tmp_path), nprocs=2, join=True)
    for rank in range(2):
        saved = torch.load(tmp_path / f"rank{rank}.pt")
        torch.testing.assert_close(saved["weights"], result, rtol=1e-5, atol=1e-6)
        assert saved["streamed"] == [1 + 2, 100 + 200]  # every rank reports both ranks' streaming counts


def test_an_undecodable_training_video_is_left_out_before_training(tmp_path):
    """Streaming checks every training video once before training: a broken file is left out with its reason,
    never a failure in the middle of an epoch."""
    from vpbench.datasets import read_split
    from vpbench.families import streaming, train_views

    task, root = _tiny_setup()
    samples = read_split(task, root, task.dataset["train_split"]).available[:3]
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video at all")
    samples[1] = dataclasses.replace(samples[1], video_path=broken)
    kept, failed = streaming.decodable(samples, train_views.training_spec(task), augmented=True, workers=0)
    assert [s.sample_id for s in kept] == [samples[0].sample_id, samples[2].sample_id]
    ((sample, failure),) = failed
    assert sample.video_path == broken and failure.reason and str(broken) in str(failure)


def test_train_mode_is_refused_for_tasks_without_a_probe_head(capsys):
    from vpbench.cli import main

    assert main(["run", "--task", "msrvtt-retrieval", "--tiny", "--train-mode", "streaming"]) != 0
    assert "only probe tasks" in capsys.readouterr().err


def test_prefetch_keeps_order_raises_the_loaders_error_and_closes_while_full():
    from vpbench.families.streaming import Prefetch

    def loader():
        yield from (1, 2, 3)
        raise ValueError("decoder crashed")

    prefetch = Prefetch(loader(), depth=2)
    assert [prefetch.get() for _ in range(3)] == [1, 2, 3]
    with pytest.raises(ValueError, match="decoder crashed"):
        prefetch.get()
    endless = Prefetch(iter(range(10 ** 9)), depth=1)  # its queue fills at once
    endless.close()
    assert not endless._thread.is_alive()


def test_features_of_an_encoder_running_under_inference_mode_can_train_a_head():
    """The transformers backends encode under torch.inference_mode; a streamed head must still backpropagate
    through its own layers on their features."""
    from vpbench.features.encode import ClipEncoder

    class InferenceModeEncoder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.scale = torch.nn.Parameter(torch.ones(1))

        def encode_video(self, video):
            with torch.inference_mode():
                return video.flatten(2).mean(-1, keepdim=True).expand(-1, -1, 4) * self.scale

    features = ClipEncoder(InferenceModeEncoder(), "tokens", "float32", 2).on_device(
        torch.full((2, 2, 8, 8, 3), 255, dtype=torch.uint8))
    assert not features.is_inference() and not features.requires_grad and features.shape == (2, 2, 4)
    head = torch.nn.Sequential(torch.nn.LayerNorm(4), torch.nn.Linear(4, 2))
    head(features).sum().backward()
    assert head[1].weight.grad is not None


def test_streamed_evaluation_scores_equal_the_cached_ones(tmp_path):
    """Every eval view decoded, encoded and scored in small groups gives the scores the cached path gives
    (per-view probabilities averaged per item), with a broken video left out and named."""
    import vpbench
    from vpbench.adapters.classification import build_head, predict_probe, probe_spec
    from vpbench.datasets import read_split
    from vpbench.features import FeatureCache, extract_features
    from vpbench.features.encode import ClipEncoder, decode_spec
    from vpbench.families import streaming
    from vpbench.families.common import FeatureTable, sampling_spec, work_items

    task, root = _tiny_setup()
    samples = read_split(task, root, task.dataset["eval_split"]).available[:6]
    model = vpbench.load_model("tiny", device="cpu")
    spec = decode_spec(model, sampling_spec(task))
    assert spec.num_views == 2
    probe = probe_spec(task.adapter, 4, seed=0, device="cpu")
    torch.manual_seed(0)
    head = build_head(probe, 64).eval()
    cached = extract_features(model, work_items(samples, "eval"), spec, "tokens", FeatureCache(tmp_path / "cache"))
    table = FeatureTable(cached.features, [f"eval/{s.sample_id}" for s in samples], view=None)
    expected = predict_probe(probe, head, table, len(table))

    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video")
    with_broken = [*samples[:3], dataclasses.replace(samples[3], sample_id="broken", video_path=broken), *samples[3:]]
    kept, scores, failures, stats = streaming.predict(
        probe, head, with_broken, spec, ClipEncoder(model, "tokens", "float32", spec.frames), batch_size=3, workers=0)
    assert kept == samples and [s.video_path for s, _ in failures] == [broken]
    assert scores.shape == expected.shape == (6, 4) and stats.clips == 6
    torch.testing.assert_close(torch.from_numpy(scores), torch.from_numpy(expected), rtol=1e-4, atol=1e-5)
