"""Batched extraction: layouts, a cache keyed by every setting, bad videos, workers, resume
after SIGKILL, and two processes writing one cache."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from vpbench.errors import VideoDecodeError, VpbenchError
from vpbench.features import FeatureCache, WorkItem, extract_features
from vpbench.features.extract import encoder_cpu_threads
from vpbench.features.keys import FeatureSettings, model_fingerprint
from vpbench.tiny.video import write_video
from vpbench.video import PIXELS_VERSION, SamplingSpec, open_source

REPO = Path(__file__).resolve().parents[1]
SPEC = SamplingSpec(frames=4, resolution=32)


class PatchEncoder(torch.nn.Module):
    """Stand-in with the vpbench model contract: a fixed random projection of 8x8 patches.

    ``[B, T, H, W, 3]`` -> tokens ``[B, T*(H/8)*(W/8), dim]`` (or a unit-norm ``[B, dim]``
    embedding). ``delay_s`` slows each call so a test can kill a run part-way.
    """

    def __init__(self, seed=0, dim=16, embedding=False, delay_s=0.0):
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        self.proj = torch.nn.Parameter(torch.randn(8 * 8 * 3, dim, generator=generator) / 8)
        self.embedding = embedding
        self.delay_s = delay_s
        # Like VideoPrism models: what shapes the output besides the weights is in ``config``,
        # which the cache key hashes.
        self.config = {"dim": dim, "embedding": embedding}

    def encode_video(self, video, frame_paddings=None, scale=1.0):
        time.sleep(self.delay_s)
        b, t, h, w, c = video.shape
        patches = video.reshape(b, t, h // 8, 8, w // 8, 8, c).permute(0, 1, 2, 4, 3, 5, 6)
        tokens = torch.tanh(patches.reshape(b, t * (h // 8) * (w // 8), 8 * 8 * c) @ self.proj * scale)
        return torch.nn.functional.normalize(tokens.mean(1), dim=-1) if self.embedding else tokens


def make_videos(folder, count):
    """``count`` small distinct H.264 videos of 10 to 10 + 3 * (count - 1) frames."""
    rng = np.random.default_rng(0)
    paths = []
    for k in range(count):
        base = rng.integers(0, 256, (1, 8, 12, 3))
        frames = np.repeat(np.repeat(base, 8, axis=1), 8, axis=2)  # 64 x 96, 8-px blocks
        frames = (frames + np.arange(10 + 3 * k)[:, None, None, None] * 6) % 256
        paths.append(write_video(Path(folder) / f"v{k}.mp4", frames.astype(np.uint8), fps=10))
    return paths


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    return make_videos(tmp_path_factory.mktemp("extract_videos"), 12)


def items_for(paths):
    return [WorkItem(f"clip{k}", str(p)) for k, p in enumerate(paths)]


def entry_bytes(cache_root):
    return {p.name: p.read_bytes() for p in Path(cache_root).rglob("*.safetensors")}


def test_layouts_shapes_and_pooling(videos, tmp_path):
    items = items_for(videos[:2])
    spec = SamplingSpec(frames=4, resolution=32, temporal_views=2, spatial_views=3)
    cache = FeatureCache(tmp_path)
    out = {layout: extract_features(PatchEncoder(), items, spec, layout, cache).features
           for layout in ("tokens", "frame_pooled", "global")}
    tokens = out["tokens"]["clip1"]
    assert tokens.shape == (6, 4 * 16, 16) and tokens.dtype == np.float32
    np.testing.assert_allclose(out["frame_pooled"]["clip1"], tokens.reshape(6, 4, 16, 16).mean(2), rtol=0, atol=1e-6)
    np.testing.assert_allclose(out["global"]["clip1"], tokens.mean(1), rtol=0, atol=1e-6)
    embedding = extract_features(PatchEncoder(embedding=True), items, spec, "embedding", cache).features["clip0"]
    assert embedding.shape == (6, 16)
    np.testing.assert_allclose(np.linalg.norm(embedding, axis=1), 1, atol=1e-5)
    with pytest.raises(VpbenchError, match="layout 'embedding'"):
        extract_features(PatchEncoder(), items, spec, "embedding", cache)
    with pytest.raises(VpbenchError, match="use layout 'embedding'"):
        extract_features(PatchEncoder(embedding=True), items, spec, "tokens", cache)


def test_second_run_is_served_from_the_cache(videos, tmp_path):
    items = items_for(videos[:4])
    cache = FeatureCache(tmp_path)
    first = extract_features(PatchEncoder(), items, SPEC, "global", cache, batch_size=3)
    assert (first.cache_hits, first.cache_misses) == (0, 4)
    assert first.timings["decoded_items"] == 4 and first.timings["encoded_clips"] == 4
    # Steady state (perf/extract.py's throughput): the clips after the first encoder call, in the time after it.
    assert first.timings["steady_clips"] == 4 - 3 and 0 < first.timings["steady_s"] < first.timings["wall_s"]
    second = extract_features(PatchEncoder(), items, SPEC, "global", cache, batch_size=3)
    assert (second.cache_hits, second.cache_misses) == (4, 0)
    # No decoding and no encoding: the extraction stage did none of the first run's work.
    assert second.timings["decoded_items"] == 0 and second.timings["encoder_calls"] == 0
    assert second.timings["decode_s"] == 0 and second.timings["encode_s"] == 0
    for item in items:
        np.testing.assert_array_equal(first.features[item.item_id], second.features[item.item_id])
    assert list(second.features) == [item.item_id for item in items]


def test_short_video_padding_is_recorded(videos, tmp_path):
    spec = SamplingSpec(frames=16, resolution=32)
    result = extract_features(PatchEncoder(), items_for(videos[:1]), spec, "global", FeatureCache(tmp_path))
    info = result.features.info("clip0")
    assert info["num_frames"] == 10 and info["padded_frames"] == [6]
    assert info["indices"] == [list(range(10)) + [9] * 6]


def test_storage_dtypes(videos, tmp_path):
    items = items_for(videos[:2])
    cache = FeatureCache(tmp_path)
    full = extract_features(PatchEncoder(), items, SPEC, "tokens", cache).features["clip1"]
    half = extract_features(PatchEncoder(), items, SPEC, "tokens", cache, dtype="float16").features["clip1"]
    brain = extract_features(PatchEncoder(), items, SPEC, "tokens", cache, dtype="bfloat16").features["clip1"]
    assert half.dtype == np.float16 and np.array_equal(half, full.astype(np.float16))
    assert brain.dtype == np.float32  # numpy has no bfloat16: widened exactly
    assert np.array_equal(brain, torch.from_numpy(full).bfloat16().float().numpy())
    assert not np.array_equal(brain, full)


def variants(tmp_path, video):
    """(name, run kwargs) for one change of each setting that alters features."""
    base_item = WorkItem("clip", str(video))
    changed = {
        "frames": {"spec": SamplingSpec(frames=5, resolution=32)},
        "resolution": {"spec": SamplingSpec(frames=4, resolution=40)},
        "policy stride": {"spec": SamplingSpec(frames=4, resolution=32, policy="stride", stride=2)},
        "stride": {"spec": SamplingSpec(frames=4, resolution=32, policy="stride", stride=3)},
        "policy fps": {"spec": SamplingSpec(frames=4, resolution=32, policy="fps", fps=5.0)},
        "temporal views": {"spec": SamplingSpec(frames=4, resolution=32, temporal_views=2)},
        "spatial views": {"spec": SamplingSpec(frames=4, resolution=32, spatial_views=3)},
        "resize": {"spec": SamplingSpec(frames=4, resolution=32, resize="squash")},
        "layout": {"layout": "frame_pooled"},
        "dtype": {"dtype": "float16"},
        "weights": {"model": PatchEncoder(seed=1)},
        "encode kwargs": {"encode_kwargs": {"scale": 2.0}},
        "identity mode": {"identity": "content"},
        "clip span s": {"item": WorkItem("clip", str(video), clip_span_s=(0.2, 0.9))},
        "frame span": {"item": WorkItem("clip", str(video), frame_span=(2, 9))},
        "fps override": {"item": WorkItem("clip", str(video), fps=20.0)},
    }
    base = {"model": PatchEncoder(), "item": base_item, "spec": SPEC, "layout": "global", "dtype": "float32"}
    return base, changed


def run_variant(cache, model, item, spec, layout, dtype, **kwargs):
    return extract_features(model, [item], spec, layout, cache, dtype=dtype, **kwargs)


def test_changing_any_one_setting_misses_the_cache(videos, tmp_path):
    video = tmp_path / "video.mp4"
    video.write_bytes(videos[5].read_bytes())
    cache = FeatureCache(tmp_path / "cache")
    base, changed = variants(tmp_path, video)
    assert run_variant(cache, **base).cache_misses == 1
    assert run_variant(cache, **base).cache_hits == 1
    baseline = run_variant(cache, **base).features["clip"]
    for name, change in changed.items():
        result = run_variant(cache, **{**base, **change})
        assert (result.cache_hits, result.cache_misses) == (0, 1), name
    # The video itself: a new mtime (same bytes) or new bytes (same size) are a new video.
    os.utime(video, ns=(video.stat().st_atime_ns, video.stat().st_mtime_ns + 10**9))
    assert run_variant(cache, **base).cache_misses == 1
    data = bytearray(video.read_bytes())
    data[-1] ^= 0xFF
    video.write_bytes(bytes(data))
    assert run_variant(cache, **base).cache_misses == 1
    assert run_variant(cache, **{**base, "identity": "content"}).cache_misses == 1
    again = run_variant(cache, **base)  # unchanged settings: the recomputed entry is found
    assert again.cache_hits == 1 and again.features["clip"].shape == baseline.shape


def test_key_covers_model_config_precision_decoders_and_pixel_pipeline(monkeypatch):
    def digest(**kwargs):
        return FeatureSettings(model="m", spec=SPEC, layout="tokens", dtype="float32", **kwargs).digest()

    before = digest()
    import decord
    import PIL

    decoders = dict(FeatureSettings(model="m", spec=SPEC, layout="tokens", dtype="float32").decoders)
    assert decoders["PIL"] == f"pillow=={PIL.__version__}"
    name, version = decoders["decord"].split("==")
    assert name in ("decord", "eva-decord", "decord2") and version == decord.__version__
    assert digest(decoders=(("decord", "eva-decord==0.6.1"), ("PIL", "pillow==11.0.0"))) != before
    monkeypatch.setattr("vpbench.features.keys.PIXELS_VERSION", PIXELS_VERSION + 1)
    assert digest() != before
    monkeypatch.undo()
    assert digest() == before
    model = PatchEncoder()
    plain = model_fingerprint(model)
    model.precision = "bf16"
    assert model_fingerprint(model) != plain
    model.checkpoint_sha256 = "abc"
    with_file_hash = model_fingerprint(model)
    model.proj.data += 1  # a loader-provided checkpoint hash stands for the weights
    assert model_fingerprint(model) == with_file_hash
    del model.checkpoint_sha256
    assert model_fingerprint(model) not in (plain, with_file_hash)
    # Same weights, different config (an output head switched on): a different model.
    assert model_fingerprint(PatchEncoder(embedding=True)) != model_fingerprint(PatchEncoder())


def test_an_entry_under_the_wrong_name_is_refused(videos, tmp_path):
    cache = FeatureCache(tmp_path)
    result = extract_features(PatchEncoder(), items_for(videos[:2]), SPEC, "global", cache)
    first, second = sorted(Path(tmp_path).rglob("*.safetensors"))
    second.write_bytes(first.read_bytes())  # a copy renamed by hand
    with pytest.raises(VpbenchError, match="holds key"):
        [result.features[i] for i in ("clip0", "clip1")]


def bad_inputs(folder, good):
    data = good.read_bytes()
    (folder / "corrupt.mp4").write_bytes(np.random.default_rng(1).integers(0, 256, 3000, np.uint8).tobytes())
    (folder / "truncated.mp4").write_bytes(data[: len(data) // 2])
    (folder / "empty.mp4").write_bytes(b"")
    return {"corrupt": folder / "corrupt.mp4", "truncated": folder / "truncated.mp4",
            "empty": folder / "empty.mp4", "missing": folder / "missing.mp4"}


def test_bad_videos_are_skipped_and_counted_with_decoding_workers(videos, tmp_path):
    bad = bad_inputs(tmp_path, videos[0])
    good = items_for(videos[:3])
    items = good[:1] + [WorkItem(name, str(path)) for name, path in bad.items()] + good[1:]
    reference = extract_features(PatchEncoder(), good, SPEC, "global", FeatureCache(tmp_path / "ref"))
    threads = torch.get_num_threads()
    result = extract_features(PatchEncoder(), items, SPEC, "global", FeatureCache(tmp_path / "run"), workers=2,
                              batch_size=2)
    assert torch.get_num_threads() == threads  # the encoder's CPU share is restored
    assert encoder_cpu_threads(0) == threads and encoder_cpu_threads(10_000) == 1
    assert result.skipped_counts == {"empty_file": 1, "missing": 1, "unreadable": 2}
    assert {(s.item_id, s.reason) for s in result.skipped} == {
        ("corrupt", "unreadable"), ("truncated", "unreadable"), ("empty", "empty_file"), ("missing", "missing")}
    assert all(s.path == str(bad[s.item_id]) for s in result.skipped)
    assert sorted(result.features) == ["clip0", "clip1", "clip2"]
    for item in good:  # decoded in spawned workers, identical to in-process decoding
        np.testing.assert_array_equal(result.features[item.item_id], reference.features[item.item_id])
    report = result.to_json()
    assert report["skipped"] == 4 and report["extracted"] == 3 and report["skipped_by_reason"]["unreadable"] == 2
    # strict: missing files are found before any decoding, so they fail first.
    with pytest.raises(VideoDecodeError, match="missing.mp4: missing"):
        extract_features(PatchEncoder(), items, SPEC, "global", FeatureCache(tmp_path / "strict"), strict=True)
    with pytest.raises(VideoDecodeError, match="corrupt.mp4: unreadable"):
        extract_features(PatchEncoder(), [i for i in items if i.item_id != "missing"], SPEC, "global",
                         FeatureCache(tmp_path / "strict"), strict=True)


def test_duplicate_ids_and_bad_arguments_are_rejected(videos, tmp_path):
    item = WorkItem("a", str(videos[0]))
    with pytest.raises(VpbenchError, match="appears twice"):
        extract_features(PatchEncoder(), [item, item], SPEC, "global", FeatureCache(tmp_path))
    with pytest.raises(VpbenchError, match="layout="):
        extract_features(PatchEncoder(), [item], SPEC, "pooled", FeatureCache(tmp_path))
    with pytest.raises(VpbenchError, match="clip_span_s or frame_span"):
        WorkItem("b", "x.mp4", clip_span_s=(0, 1), frame_span=(0, 4))
    with pytest.raises(VpbenchError, match="no encode_video"):
        extract_features(torch.nn.Linear(2, 2), [item], SPEC, "global", FeatureCache(tmp_path))


# A child process running one extraction; it can wait for a "go" file to start with others.
CHILD = """
import json, sys, time
from pathlib import Path
sys.path.insert(0, {tests!r})
from test_features_extract import PatchEncoder, SPEC
from vpbench.features import FeatureCache, WorkItem, extract_features
args = json.loads(sys.argv[1])
items = [WorkItem(i, p) for i, p in args["items"]]
Path(args["ready"]).touch()
while not Path(args["go"]).exists():
    time.sleep(0.01)
result = extract_features(PatchEncoder(delay_s=args["delay_s"]), items, SPEC, "tokens", FeatureCache(args["cache"]),
                          batch_size=1)
print(json.dumps({{"hits": result.cache_hits, "misses": result.cache_misses}}))
"""


def start_child(tmp_path, name, items, cache, delay_s, go):
    args = {"items": [(i.item_id, i.path) for i in items], "cache": str(cache), "delay_s": delay_s,
            "ready": str(tmp_path / f"{name}.ready"), "go": str(go)}
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    code = CHILD.format(tests=str(REPO / "tests"))
    return subprocess.Popen([sys.executable, "-c", code, json.dumps(args)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def wait_for(condition, timeout_s, what):
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.005)


@pytest.mark.slow
def test_sigkill_then_resume_redoes_only_the_rest_bit_for_bit(videos, tmp_path):
    items = items_for(videos)
    reference = extract_features(PatchEncoder(), items, SPEC, "tokens", FeatureCache(tmp_path / "ref"), batch_size=1)
    cache = tmp_path / "killed"
    go = tmp_path / "go"
    go.touch()
    child = start_child(tmp_path, "victim", items, cache, delay_s=0.25, go=go)
    try:
        wait_for(lambda: len(list(cache.rglob("*.safetensors"))) >= 3, 120, "three finished entries")
        child.send_signal(signal.SIGKILL)
        child.wait(30)
    finally:
        child.kill()
    done = len(list(cache.rglob("*.safetensors")))
    assert 3 <= done < len(items), "the run must die part-way"
    resumed = extract_features(PatchEncoder(), items, SPEC, "tokens", FeatureCache(cache), batch_size=1)
    assert (resumed.cache_hits, resumed.cache_misses) == (done, len(items) - done)
    assert resumed.timings["decoded_items"] == len(items) - done
    for item in items:
        np.testing.assert_array_equal(resumed.features[item.item_id], reference.features[item.item_id])
    assert entry_bytes(cache) == entry_bytes(tmp_path / "ref")


@pytest.mark.slow
def test_two_processes_writing_one_cache(videos, tmp_path):
    items = items_for(videos[:8])
    cache = tmp_path / "shared"
    go = tmp_path / "go"
    children = [start_child(tmp_path, f"writer{k}", items, cache, delay_s=0.05, go=go) for k in range(2)]
    try:
        wait_for(lambda: all((tmp_path / f"writer{k}.ready").exists() for k in range(2)), 120, "both writers")
        go.touch()
        outputs = [child.communicate(timeout=120) for child in children]
    finally:
        for child in children:
            child.kill()
    for child, (stdout, stderr) in zip(children, outputs):
        assert child.returncode == 0, stderr[-2000:]
        # Both started before either wrote: each computed and wrote every entry.
        assert json.loads(stdout.strip().splitlines()[-1]) == {"hits": 0, "misses": 8}
    reference = extract_features(PatchEncoder(), items, SPEC, "tokens", FeatureCache(tmp_path / "ref"), batch_size=1)
    assert entry_bytes(cache) == entry_bytes(tmp_path / "ref")
    assert not list(cache.rglob("*.tmp"))
    again = extract_features(PatchEncoder(), items, SPEC, "tokens", FeatureCache(cache), batch_size=1)
    assert again.cache_hits == 8
    for item in items:
        np.testing.assert_array_equal(again.features[item.item_id], reference.features[item.item_id])


def test_default_cache_dir_lives_under_the_vpbench_cache_root(monkeypatch, tmp_path):
    monkeypatch.setenv("VPBENCH_CACHE", str(tmp_path))
    assert FeatureCache().root == tmp_path / "features"
    monkeypatch.delenv("VPBENCH_CACHE")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert FeatureCache().root == tmp_path / "home" / ".cache" / "vpbench" / "features"


def snippet_items(paths, snippets, order="by_video"):
    """ActivityNet-style snippets (consecutive 1 s spans) of each video, video by video (what the tal
    family builds) or interleaved across videos (every snippet then opens its file anew)."""
    per_video = [[WorkItem(f"{p.stem}#snippet{k}", str(p), clip_span_s=(float(k), k + 1.0)) for k in range(snippets)]
                 for p in paths]
    if order == "by_video":
        return [item for video in per_video for item in video]
    return [video[k] for k in range(snippets) for video in per_video]


def test_snippets_of_a_video_share_one_reader_and_give_the_same_features(videos, tmp_path):
    paths = videos[-3:]  # 3 videos of 3.1 to 4.3 s at 10 fps: 3 one-second snippets each
    spec = SamplingSpec(frames=4, resolution=32, policy="fps", fps=4)
    shared = extract_features(PatchEncoder(), snippet_items(paths, 3), spec, "global", FeatureCache(tmp_path / "a"))
    reopened = extract_features(PatchEncoder(), snippet_items(paths, 3, order="interleaved"), spec, "global",
                                FeatureCache(tmp_path / "b"))
    assert shared.timings["video_opens"] == 3 and reopened.timings["video_opens"] == 9
    assert len(shared.features) == 9 and not shared.skipped
    for item_id in shared.features:
        np.testing.assert_array_equal(shared.features[item_id], reopened.features[item_id])
        assert shared.features.info(item_id) == reopened.features.info(item_id)
    assert entry_bytes(tmp_path / "a") == entry_bytes(tmp_path / "b")
    # Two workers, each a contiguous run of the 9 snippets: one more open where a run starts mid-video.
    workers = extract_features(PatchEncoder(), snippet_items(paths, 3), spec, "global", FeatureCache(tmp_path / "c"),
                               workers=2)
    assert workers.timings["video_opens"] == 4
    assert entry_bytes(tmp_path / "c") == entry_bytes(tmp_path / "a")


def test_each_decoding_worker_gets_one_contiguous_run_of_items():
    from vpbench.features.loader import worker_runs

    for count, workers in ((10, 3), (9, 3), (2, 4), (7, 1), (0, 2)):
        order = worker_runs(count, workers)
        assert sorted(order) == list(range(count))
        runs = [[index for k, index in enumerate(order) if k % max(workers, 1) == w] for w in range(max(workers, 1))]
        for run in runs:  # what a DataLoader gives worker w: the k-th index goes to worker k % workers
            assert not run or run == list(range(run[0], run[0] + len(run)))
        assert sum(len(run) for run in runs) == count and max(map(len, runs)) - min(map(len, runs)) <= 1


def test_cache_writes_run_on_a_bounded_writer_thread(tmp_path):
    import threading

    from vpbench.features.cache import CacheWriter

    release, written = threading.Event(), []

    class SlowDisk(FeatureCache):
        def write(self, path, key, features, metadata):
            release.wait(30)
            written.append(key)

    writer = CacheWriter(SlowDisk(tmp_path), depth=1)
    entry = (tmp_path / "x", "k0", torch.zeros(1), {})
    writer.put([entry])  # the writer thread takes it and blocks on the "disk"
    wait_for(lambda: writer._queue.empty(), 10, "the writer to take the first batch")
    writer.put([(tmp_path / "y", "k1", torch.zeros(1), {})])  # queued: the caller does not wait
    assert written == []
    blocked = threading.Thread(target=writer.put, args=([(tmp_path / "z", "k2", torch.zeros(1), {})],))
    blocked.start()
    time.sleep(0.2)
    assert blocked.is_alive(), "a full queue must make the caller wait (bounded memory)"
    release.set()
    blocked.join(10)
    writer.close()
    assert written == ["k0", "k1", "k2"] and writer.entries == 3


def test_a_cache_write_error_stops_the_run_and_it_resumes_bit_for_bit(videos, tmp_path, monkeypatch):
    items = items_for(videos[:6])
    reference = extract_features(PatchEncoder(), items, SPEC, "tokens", FeatureCache(tmp_path / "ref"), batch_size=2)
    original, calls = FeatureCache.write, []

    def failing_write(self, path, key, features, metadata):
        calls.append(key)
        if len(calls) == 3:
            raise VpbenchError(f"cannot write feature cache entry {path} (No space left on device)")
        original(self, path, key, features, metadata)

    monkeypatch.setattr(FeatureCache, "write", failing_write)
    with pytest.raises(VpbenchError, match="No space left on device"):
        extract_features(PatchEncoder(), items, SPEC, "tokens", FeatureCache(tmp_path / "full"), batch_size=2)
    monkeypatch.undo()
    done = len(list((tmp_path / "full").rglob("*.safetensors")))
    assert 2 <= done < len(items) and not list((tmp_path / "full").rglob("*.tmp"))
    resumed = extract_features(PatchEncoder(), items, SPEC, "tokens", FeatureCache(tmp_path / "full"), batch_size=2)
    assert (resumed.cache_hits, resumed.cache_misses) == (done, len(items) - done)
    assert entry_bytes(tmp_path / "full") == entry_bytes(tmp_path / "ref")


def test_a_file_that_fails_to_open_is_tried_once_for_all_its_snippets(tmp_path, monkeypatch):
    import vpbench.features.loader as loader

    broken = tmp_path / "broken.mp4"
    broken.write_bytes(np.random.default_rng(0).integers(0, 256, 4000, np.uint8).tobytes())
    attempts = []
    monkeypatch.setattr(loader, "open_source", lambda *args: attempts.append(args) or open_source(*args))
    dataset = loader.DecodeDataset(snippet_items([broken], 4), SPEC, timeout_s=30.0)
    decoded = [dataset[k] for k in range(4)]
    assert [d.failure.reason for d in decoded] == ["unreadable"] * 4 and len(attempts) == 1


@pytest.mark.skipif(not hasattr(os, "O_TMPFILE"), reason="anonymous temp files are Linux's")
def test_an_entry_is_written_without_a_named_temp_file(tmp_path, monkeypatch):
    # A SIGKILL while the writer thread writes must leave nothing: the bytes go to an anonymous file
    # that is named only once complete (the named-temp fallback is not taken here).
    import vpbench.features.cache as cache_module

    monkeypatch.setattr(cache_module, "atomic_write_bytes", lambda *args: pytest.fail("fell back to a named temp"))
    cache, path = FeatureCache(tmp_path), tmp_path / "g" / "ab" / "abc.safetensors"
    for value in (0.0, 1.0):  # the second write replaces the first
        cache.write(path, "abc", torch.full((2, 3), value), {"item": {}})
    np.testing.assert_array_equal(cache.read(path, "abc"), np.ones((2, 3), np.float32))
    assert [p.name for p in path.parent.iterdir()] == ["abc.safetensors"]
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


def test_decoding_workers_beside_a_cpu_encoder_run_at_a_lower_priority():
    """The encoder is the critical path on a CPU: its decoding workers run niced (vpbench.features.loader.worker_nice)
    so that their helper threads do not preempt it; beside a GPU they keep the caller's priority."""
    import os

    import torch
    from worker_probes import NicenessDataset

    from vpbench.features.loader import WORKER_NICE, make_loader, worker_nice

    assert worker_nice(torch.device("cpu")) == WORKER_NICE == worker_nice("cpu")
    assert worker_nice(torch.device("cuda", 0)) == 0 == worker_nice("cuda")
    base = os.nice(0)
    assert list(make_loader(NicenessDataset(3), 1, nice=WORKER_NICE)) == [min(19, base + WORKER_NICE)] * 3
    assert list(make_loader(NicenessDataset(3), 1)) == [base] * 3
