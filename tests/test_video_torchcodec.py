"""torchcodec, the second decoder: the same frames as decord for the same indices on the tiny suite
(H.264 .mp4 and VP9 .webm), the same failure reasons, its own cache key, and NVDEC refused clearly
where there is no CUDA."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_family_probe_common import tiny_task
from test_features_extract import SPEC, PatchEncoder, make_videos
from test_video_decode import broken_files, numbered_frames

from vpbench.errors import VpbenchError
from vpbench.features import FeatureCache, WorkItem, extract_features
from vpbench.tiny import make_tiny
from vpbench.tiny.video import write_video
from vpbench.video import SamplingSpec, VideoDecodeFailure, decode_views, decoder_versions, open_source
from vpbench.video.readers import DecordSource

pytestmark = pytest.mark.usefixtures("one_torch_thread")

FILES_PER_TASK = 6


@pytest.fixture(scope="module")
def tiny_videos(tmp_path_factory):
    """A few videos of the tiny suite: ActivityNet's 10 s H.264 clips and SSv2's VP9 .webm."""
    videos = []
    for name in ("activitynet-tal", "ssv2-probe"):
        root = make_tiny(tiny_task(name), tmp_path_factory.mktemp(name))
        videos += sorted(p for p in root.rglob("*") if p.suffix in (".mp4", ".webm"))[:FILES_PER_TASK]
    return videos


def test_torchcodec_gives_decords_frames_on_the_tiny_suite(tiny_videos):
    # Tolerance 0: both convert YUV->RGB with FFmpeg's swscale at its defaults, so the pixels agree
    # exactly (measured on every tiny file). If a future version changes that, this says by how much.
    assert {p.suffix for p in tiny_videos} == {".mp4", ".webm"}
    for path in tiny_videos:
        decord, torchcodec = DecordSource(path), open_source(path, decoder="torchcodec")
        assert (torchcodec.num_frames, torchcodec.fps) == (decord.num_frames, decord.fps), path
        indices = np.r_[np.arange(decord.num_frames), [3, 0, decord.num_frames - 1]]  # in order, then seeks back
        expected, got = decord.read(indices), torchcodec.read(indices)
        assert got.dtype == np.uint8 and got.shape == expected.shape, path
        difference = np.abs(got.astype(int) - expected.astype(int)).max()
        assert difference == 0, f"{path}: torchcodec differs from decord by up to {difference} levels"


def test_views_are_the_same_through_either_decoder(tiny_videos):
    spec = SamplingSpec(frames=8, resolution=32, temporal_views=2, spatial_views=3)
    for path in tiny_videos[:2]:
        views, info = decode_views(path, spec)
        again, same_info = decode_views(path, spec, decoder="torchcodec")
        assert np.array_equal(views, again) and info == same_info


def test_broken_files_fail_with_their_reason(tmp_path):
    good = write_video(tmp_path / "numbered.mp4", numbered_frames(20), fps=25)
    for path, reason in broken_files(tmp_path, good).items():
        with pytest.raises(VideoDecodeFailure) as failure:
            decode_views(path, SamplingSpec(frames=4, resolution=32), decoder="torchcodec")
        assert failure.value.reason == reason, path
        assert str(path) in str(failure.value)


def test_unknown_decoder_and_nvdec_without_cuda_are_clear_errors(tmp_path):
    video = write_video(tmp_path / "v.mp4", numbered_frames(10), fps=25)
    with pytest.raises(VpbenchError, match=r"decoder 'ffmpeg': expected one of decord, torchcodec, torchcodec:cuda"):
        open_source(video, decoder="ffmpeg")
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA: NVDEC is exercised by perf/gpu.sh")
    with pytest.raises(VpbenchError, match=r"NVDEC.*no CUDA device.*--decoder torchcodec"):
        open_source(video, decoder="torchcodec:cuda")


def test_the_decoder_is_part_of_the_cache_key(tmp_path):
    versions = decoder_versions("torchcodec")
    assert versions["torchcodec"].startswith("torchcodec==") and "ffmpeg" in versions["torchcodec"]
    assert "decord" not in versions and set(decoder_versions()) == {"decord", "PIL"}
    items = [WorkItem(f"v{k}", str(p)) for k, p in enumerate(make_videos(tmp_path / "videos", 2))]
    model, cache = PatchEncoder(), FeatureCache(tmp_path / "cache")
    first = extract_features(model, items, SPEC, cache=cache)
    other = extract_features(model, items, SPEC, cache=cache, decoder="torchcodec")
    assert other.cache_misses == 2 and other.cache_hits == 0  # never served decord's entries
    assert other.settings["digest"] != first.settings["digest"]
    assert other.settings["decoders"]["torchcodec"] == versions["torchcodec"]
    for item in items:
        assert np.array_equal(first.features[item.item_id], other.features[item.item_id])
    assert extract_features(model, items, SPEC, cache=cache, decoder="torchcodec").cache_hits == 2


def test_a_run_records_a_non_default_decoder_in_its_fingerprint(tmp_path):
    from vpbench.families import RunContext
    from vpbench.families.common import RunLog, extract

    items = [WorkItem(f"v{k}", str(p)) for k, p in enumerate(make_videos(tmp_path / "videos", 2))]
    task = tiny_task("k400-probe")
    fingerprints = {}
    for decoder in ("decord", "torchcodec"):
        context = RunContext(data_root=tmp_path, output_dir=tmp_path, model="tiny", cache_dir=tmp_path / "cache",
                             workers=0, decoder=decoder)
        log = RunLog(task, context)
        extract(log, context, task, PatchEncoder(), items, SPEC, name="train", layout="tokens")
        fingerprints[decoder] = log.fingerprint
    assert "decoder" not in fingerprints["decord"]  # the default keeps the fingerprint results always had
    recorded = fingerprints["torchcodec"]["decoder"]
    assert recorded["backend"] == "torchcodec" and recorded["libraries"] == decoder_versions("torchcodec")
