"""Decoding real files: the frames a view holds are the frames its indices name; broken files
fail with a reason; a hung decoder is cut off by the timeout.

Test videos show their frame number in binary as black/white stripes, which survive lossy
coding, so the pixels of a decoded frame say which frame it is.
"""

import os
import threading
import time

import numpy as np
import pytest

from vpbench.tiny.video import write_video
from vpbench.video import SamplingSpec, VideoDecodeFailure, decode_views


def numbered_frames(count, height=64, width=96):
    """Frame k shows k in binary as 8 horizontal stripes (white = 1, top = most significant)."""
    bits = (np.arange(count)[:, None] >> np.arange(7, -1, -1)[None, :]) & 1
    rows = np.repeat(bits * 255, height // 8, axis=1).astype(np.uint8)  # [count, height]
    return np.broadcast_to(rows[:, :, None, None], (count, height, width, 3)).copy()


def frame_ids(views):
    """Frame number of every frame in ``views [..., H, W, 3]``, read from the stripes' centres."""
    height = views.shape[-3]
    centres = (np.arange(8) * height) // 8 + height // 16
    bits = views[..., centres, :, :].astype(float).mean(axis=(-1, -2)) > 127
    return (bits * (1 << np.arange(7, -1, -1))).sum(axis=-1)


@pytest.fixture(scope="module")
def numbered_video(tmp_path_factory):
    return write_video(tmp_path_factory.mktemp("videos") / "numbered.mp4", numbered_frames(60), fps=25)


def test_uniform_views_hold_the_indexed_frames(numbered_video):
    spec = SamplingSpec(frames=8, resolution=32, temporal_views=2, spatial_views=3)
    views, info = decode_views(numbered_video, spec)
    assert views.shape == (6, 8, 32, 32, 3) and views.dtype == np.uint8
    assert info.num_frames == 60 and info.fps == 25.0 and not info.padded
    assert info.indices == ((0, 7, 15, 22, 30, 37, 45, 52), (3, 11, 18, 26, 33, 41, 48, 56))
    ids = frame_ids(views)
    for view in range(6):  # view k = temporal k // 3, spatial k % 3
        assert ids[view].tolist() == list(info.indices[view // 3])


def test_stride_on_a_short_video_pads_with_the_last_frame(numbered_video):
    views, info = decode_views(numbered_video, SamplingSpec(frames=16, resolution=32, policy="stride", stride=5))
    assert info.indices == (tuple(range(0, 60, 5)) + (59, 59, 59, 59),)
    assert info.padded_frames == (4,) and info.padded
    assert frame_ids(views)[0].tolist() == list(range(0, 60, 5)) + [59] * 4


def test_clip_span_in_seconds_and_frames(numbered_video):
    spec = SamplingSpec(frames=4, resolution=32)
    views, info = decode_views(numbered_video, spec, clip_span_s=(0.4, 1.2))  # frames 10..29 at 25 fps
    assert info.clip == (10, 30) and info.indices == ((10, 15, 20, 25),)
    assert frame_ids(views)[0].tolist() == [10, 15, 20, 25]
    views, info = decode_views(numbered_video, spec, frame_span=(40, 48))
    assert frame_ids(views)[0].tolist() == [40, 42, 44, 46]
    with pytest.raises(VideoDecodeFailure) as failure:
        decode_views(numbered_video, spec, clip_span_s=(5.0, 6.0))
    assert failure.value.reason == "bad_span"


def test_spatial_views_are_left_centre_right(tmp_path):
    frames = np.zeros((4, 64, 192, 3), np.uint8)
    for third, value in enumerate((40, 140, 240)):
        frames[:, :, third * 64 : (third + 1) * 64, 2] = value
    video = write_video(tmp_path / "thirds.mp4", frames, fps=10)
    views, _ = decode_views(video, SamplingSpec(frames=2, resolution=32, spatial_views=3))
    # Shorter side 64 -> 32, so 192 -> 96 wide; the three 32-px crops are exactly the thirds.
    blue = views[..., 2].astype(float).mean(axis=(1, 2, 3))
    np.testing.assert_allclose(blue, [40, 140, 240], atol=4)
    squashed, _ = decode_views(video, SamplingSpec(frames=2, resolution=32, resize="squash"))
    assert squashed.shape == (1, 2, 32, 32, 3)
    np.testing.assert_allclose(squashed[0, 0, 16, [2, 16, 29], 2], [40, 140, 240], atol=12)


def test_frame_folder_in_natural_order_and_fps_for_time_spans(tmp_path):
    from PIL import Image

    folder = tmp_path / "frames"
    folder.mkdir()
    for k, frame in enumerate(numbered_frames(12)):
        Image.fromarray(frame).save(folder / f"img_{k + 1}.png")  # img_2 must come before img_10
    (folder / "notes.txt").write_text("not a frame")
    views, info = decode_views(folder, SamplingSpec(frames=4, resolution=32))
    assert info.num_frames == 12 and info.fps is None
    assert frame_ids(views)[0].tolist() == [0, 3, 6, 9]
    with pytest.raises(VideoDecodeFailure, match="frame rate") as failure:
        decode_views(folder, SamplingSpec(frames=2, resolution=32), clip_span_s=(0.5, 1.0))
    assert failure.value.reason == "bad_span"
    views, info = decode_views(folder, SamplingSpec(frames=2, resolution=32), clip_span_s=(0.5, 1.0), fps=10)
    assert info.clip == (5, 10) and frame_ids(views)[0].tolist() == [5, 7]
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(VideoDecodeFailure) as failure:
        decode_views(empty, SamplingSpec(frames=2, resolution=32))
    assert failure.value.reason == "zero_frames"


def test_vp9_webm_decodes(tmp_path):
    # decord's default threaded decoder fails on VP9; the reader must use one thread.
    from vpbench.tiny.video import random_clips, write_clip

    clip = random_clips(np.random.default_rng(0), 1)[0]
    video = write_clip(tmp_path / "clip.webm", clip, codec="vp9")
    views, info = decode_views(video, SamplingSpec(frames=8, resolution=32))
    assert views.shape == (1, 8, 32, 32, 3) and info.num_frames == clip.num_frames


def broken_files(folder, good):
    """One file per failure kind; returns {path: expected reason}."""
    import av

    data = good.read_bytes()
    files = {}
    (folder / "random.mp4").write_bytes(np.random.default_rng(0).integers(0, 256, 4000, np.uint8).tobytes())
    files[folder / "random.mp4"] = "unreadable"
    (folder / "cut.mp4").write_bytes(data[: len(data) // 2])  # moov atom at the end: lost
    files[folder / "cut.mp4"] = "unreadable"
    (folder / "empty.mp4").write_bytes(b"")
    files[folder / "empty.mp4"] = "empty_file"
    files[folder / "missing.mp4"] = "missing"
    with av.open(str(folder / "audio.mp4"), "w") as container:  # a container with no video stream
        stream = container.add_stream("aac", rate=16000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        frame.sample_rate = 16000
        for packet in [*stream.encode(frame), *stream.encode()]:
            container.mux(packet)
    files[folder / "audio.mp4"] = "zero_frames"
    return files


def test_truncated_stream_with_index_is_a_decode_error(tmp_path):
    import av

    video = tmp_path / "faststart.mp4"  # index (moov) first, so cutting the file loses stream data only
    with av.open(str(video), "w", options={"movflags": "+faststart"}) as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
        stream.options = {"g": "12"}
        for t in range(100):
            frame = np.random.default_rng(t).integers(0, 256, (64, 64, 3), np.uint8)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())
    cut = tmp_path / "faststart_cut.mp4"
    cut.write_bytes(video.read_bytes()[: video.stat().st_size // 2])
    with pytest.raises(VideoDecodeFailure) as failure:
        decode_views(cut, SamplingSpec(frames=8, resolution=32))
    assert failure.value.reason == "decode_error" and "truncated" in failure.value.detail


def test_broken_files_fail_with_their_reason(tmp_path, numbered_video):
    for path, reason in broken_files(tmp_path, numbered_video).items():
        with pytest.raises(VideoDecodeFailure) as failure:
            decode_views(path, SamplingSpec(frames=4, resolution=32))
        assert failure.value.reason == reason, path
        assert str(path) in str(failure.value)


def test_a_hung_decoder_is_cut_off_by_the_timeout(tmp_path):
    # Opening a FIFO with no writer blocks inside FFmpeg, like a stalled network mount.
    fifo = tmp_path / "stalled.mp4"
    os.mkfifo(fifo)
    start = time.perf_counter()
    with pytest.raises(VideoDecodeFailure) as failure:
        decode_views(fifo, SamplingSpec(frames=4, resolution=32), timeout_s=0.5)
    assert failure.value.reason == "timeout"
    assert time.perf_counter() - start < 5
    # Release the abandoned thread: give its open() a writer, then close (EOF).
    released = threading.Event()

    def unblock():
        fd = os.open(fifo, os.O_WRONLY)
        os.close(fd)
        released.set()

    threading.Thread(target=unblock, daemon=True).start()
    assert released.wait(10)
