"""Frame-index arithmetic of every sampling policy, checked against hand-computed indices."""

import numpy as np
import pytest

from vpbench.errors import VpbenchError
from vpbench.video.sampling import AugmentSpec, ClipSpanError, SamplingSpec, clip_range, temporal_indices
from vpbench.video.transforms import crop_offsets, resize_and_crop, resized_shape


def indices(spec, clip, fps=None):
    idx, padded = temporal_indices(spec, clip, fps)
    return idx.tolist(), padded.tolist()


def test_uniform_matches_the_official_demo_and_hand_values():
    # 300 frames / 16 = 18.75 per segment; floor(i * 18.75).
    hand = [0, 18, 37, 56, 75, 93, 112, 131, 150, 168, 187, 206, 225, 243, 262, 281]
    got, padded = indices(SamplingSpec(frames=16), (0, 300))
    assert got == [hand] and padded == [0]
    # The official VideoPrism demo: np.linspace(0, n, T, endpoint=False).astype(int32).
    for n in (16, 17, 31, 100, 299, 301, 1000):
        official = np.linspace(0, n, num=16, endpoint=False, dtype=np.int32).tolist()
        assert indices(SamplingSpec(frames=16), (0, n))[0] == [official], n


def test_uniform_temporal_views_interleave():
    got, padded = indices(SamplingSpec(frames=4, temporal_views=2), (0, 8))
    assert got == [[0, 2, 4, 6], [1, 3, 5, 7]] and padded == [0, 0]
    # 3 views of 4 frames over 30 frames: floor((3i + v) * 30 / 12) = floor(2.5 * (3i + v)).
    got, _ = indices(SamplingSpec(frames=4, temporal_views=3), (0, 30))
    assert got == [[0, 7, 15, 22], [2, 10, 17, 25], [5, 12, 20, 27]]


def test_uniform_within_a_clip_and_short_clip_padding():
    assert indices(SamplingSpec(frames=4), (10, 20)) == ([[10, 12, 15, 17]], [0])
    # 5 frames asked for 8: every frame once, then the last one repeated; 3 padded.
    assert indices(SamplingSpec(frames=8), (0, 5)) == ([[0, 1, 2, 3, 4, 4, 4, 4]], [3])
    assert indices(SamplingSpec(frames=3, temporal_views=2), (7, 8)) == ([[7, 7, 7], [7, 7, 7]], [2, 2])


def test_stride_clips_are_placed_as_dmvr_places_them():
    # DMVR (VideoGLUE's sampler) spans T * stride = 20 frames: slack 100 - 20 = 80.
    # One clip: sample_sequence(random=False) starts at (100 - 20) // 2 = 40.
    assert indices(SamplingSpec(frames=4, policy="stride", stride=5), (0, 100)) == ([[40, 45, 50, 55]], [0])
    # Several: sample_linspace_sequence starts at int(linspace(0, 80, 3)) = 0, 40, 80.
    got, _ = indices(SamplingSpec(frames=4, policy="stride", stride=5, temporal_views=3), (0, 100))
    assert got == [[0, 5, 10, 15], [40, 45, 50, 55], [80, 85, 90, 95]]
    # KABR: 16 frames at stride 5 from a 200-frame clip: span 80, slack 120, start 60.
    got, _ = indices(SamplingSpec(frames=16, policy="stride", stride=5), (0, 200))
    assert got == [list(range(60, 140, 5))]


def test_videoglue_k400_test_clips_are_four_linspace_clips_not_interleaved_offsets():
    # A 10 s Kinetics clip at 30 fps: 4 clips of 16 frames at stride 4 (64 frames) start at
    # int(linspace(0, 300 - 64, 4)) = 0, 78, 157, 236 (tf.linspace then a cast to int32).
    spec = SamplingSpec(frames=16, policy="stride", stride=4, temporal_views=4, spatial_views=3)
    got, padded = indices(spec, (0, 300))
    assert [clip[0] for clip in got] == [0, 78, 157, 236] and padded == [0, 0, 0, 0]
    assert all(np.diff(clip).tolist() == [4] * 15 for clip in got)
    official = np.linspace(0.0, 236.0, 4).astype(np.int32).tolist()
    for n in (64, 65, 100, 250, 301, 977):
        starts = [clip[0] for clip in indices(spec, (0, n))[0]]
        assert starts == np.linspace(0.0, float(max(0, n - 64)), 4).astype(np.int32).tolist(), n
    assert official == [0, 78, 157, 236]
    # One test clip: the middle one, (n - 64) // 2.
    assert indices(SamplingSpec(frames=16, policy="stride", stride=4), (0, 300))[0][0][0] == 118


def test_segments_take_the_middle_frame_of_each_rounded_segment():
    # n = 10, T = 4: segment size 9 / 4 = 2.25; bounds round half to even: [0,2) [2,4) [4,7) [7,9);
    # the middles (start + end) // 2 are 1, 3, 5, 8 (DMVR sample_sequence_by_segment, is_training=False).
    assert indices(SamplingSpec(frames=4, policy="segments"), (0, 10)) == ([[1, 3, 5, 8]], [0])
    assert indices(SamplingSpec(frames=4, policy="segments"), (20, 30)) == ([[21, 23, 25, 28]], [0])
    # Shorter than T: size 0.5, starts 0, 0, 1, 2, ends max(rint, start + 1) = 1, 1, 2, 3 -> 0, 0, 1, 2.
    assert indices(SamplingSpec(frames=4, policy="segments"), (0, 3)) == ([[0, 0, 1, 2]], [0])
    with pytest.raises(VpbenchError, match="SamplingSpec.temporal_views="):
        SamplingSpec(policy="segments", temporal_views=2)


def test_stride_short_clip_pads_with_last_frame_or_loops():
    # 10 frames, 4 at stride 5 need 20: 0, 5, then 10 and 15 do not exist -> frame 9 twice.
    assert indices(SamplingSpec(frames=4, policy="stride", stride=5), (0, 10)) == ([[0, 5, 9, 9]], [2])
    assert indices(SamplingSpec(frames=4, policy="stride", stride=5), (20, 30)) == ([[20, 25, 29, 29]], [2])
    # DMVR repeats the sequence instead: 10 -> 0, 15 -> 5 (still counted as padded).
    looped = SamplingSpec(frames=4, policy="stride", stride=5, pad="loop")
    assert indices(looped, (20, 30)) == ([[20, 25, 20, 25]], [2])


def test_fps_policy_steps_by_the_rate_ratio():
    # 30 fps -> 10 fps: every 3rd frame; span 4 * 3 = 12 of 100, slack 88, start 44.
    assert indices(SamplingSpec(frames=4, policy="fps", fps=10), (0, 100), fps=30) == ([[44, 47, 50, 53]], [0])
    # 25 fps -> 10 fps: floor(2.5 i) = 0, 2, 5, 7; span 10 > 8 frames: starts at 0.
    assert indices(SamplingSpec(frames=4, policy="fps", fps=10), (0, 8), fps=25) == ([[0, 2, 5, 7]], [0])
    # Upsampling 10 -> 30 fps repeats frames (these are not padding).
    assert indices(SamplingSpec(frames=4, policy="fps", fps=30), (0, 1000), fps=10)[0][0][:4] == [499, 499, 499, 500]
    with pytest.raises(ClipSpanError, match="frame rate"):
        temporal_indices(SamplingSpec(frames=4, policy="fps", fps=10), (0, 100), None)


def test_clip_range_in_seconds_and_frames():
    assert clip_range(100, 10.0, clip_span_s=(1.0, 2.0)) == (10, 20)
    assert clip_range(100, 10.0, clip_span_s=(1.05, 1.95)) == (11, 20)
    # 0.3 * 10 is 3.0000000000000004 in floating point: still frame 3, not 4.
    assert clip_range(100, 10.0, clip_span_s=(0.3, 0.6)) == (3, 6)
    assert clip_range(50, 10.0, clip_span_s=(4.0, 9.0)) == (40, 50)  # cut at the end
    assert clip_range(100, 10.0, clip_span_s=(2.0, 2.01)) == (20, 21)  # at least one frame
    assert clip_range(100, None, frame_span=(5, 9)) == (5, 9)
    assert clip_range(100, None, frame_span=(5, 500)) == (5, 100)
    assert clip_range(100, None) == (0, 100)
    with pytest.raises(ClipSpanError, match="starts at frame 60"):
        clip_range(50, 10.0, clip_span_s=(6.0, 7.0))
    with pytest.raises(ClipSpanError, match="empty"):
        clip_range(50, 10.0, clip_span_s=(2.0, 2.0))
    with pytest.raises(ClipSpanError, match="frame rate"):
        clip_range(50, None, clip_span_s=(1.0, 2.0))
    with pytest.raises(ClipSpanError, match="empty or negative"):
        clip_range(50, None, frame_span=(9, 3))
    with pytest.raises(ClipSpanError, match="empty or negative"):
        clip_range(50, None, frame_span=(-9, 0))


def test_a_frame_span_before_the_video_repeats_its_first_frame():
    """A clip centred on frame 2 (SlowFast get_sequence / mmaction2 SampleAVAFrames clamp into the video)."""
    spec = SamplingSpec(frames=8, policy="stride", stride=1)
    clip = clip_range(50, None, frame_span=(-2, 6))
    assert clip == (-2, 6)
    indices, padded = temporal_indices(spec, clip, None)
    assert indices.tolist() == [[0, 0, 0, 1, 2, 3, 4, 5]] and padded.tolist() == [2]
    # Both ends: 16 frames at stride 5 around frame 3 of a 20-frame video.
    spec = SamplingSpec(frames=16, policy="stride", stride=5)
    indices, padded = temporal_indices(spec, clip_range(20, None, frame_span=(-37, 39)), None)
    assert indices.tolist() == [[0] * 8 + [3, 8, 13, 18] + [19] * 4] and padded.tolist() == [12]


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"frames": 0}, "frames"),
        ({"resolution": -1}, "resolution"),
        ({"policy": "random"}, "policy"),
        ({"policy": "fps"}, "fps"),
        ({"fps": 5.0}, "fps"),
        ({"stride": 4}, "stride"),
        ({"temporal_views": 0}, "temporal_views"),
        ({"resize": "squash", "spatial_views": 3}, "spatial_views"),
        ({"resize": "pad"}, "resize"),
        ({"pad": "mirror"}, "pad"),
        ({"short_side_ratio": 0.9}, "short_side_ratio"),
        ({"short_side_ratio": 1.2, "resize": "squash"}, "short_side_ratio"),
        ({"augment": AugmentSpec(), "temporal_views": 2}, "augment"),
        ({"augment": {"seed": 0}}, "augment"),
    ],
)
def test_spec_rejects_settings_that_would_be_ignored_or_invalid(kwargs, field):
    with pytest.raises(VpbenchError, match=f"SamplingSpec.{field}="):
        SamplingSpec(**kwargs)


def test_view_count_and_spatial_geometry():
    assert SamplingSpec(temporal_views=4, spatial_views=3).num_views == 12
    assert crop_offsets(384, 288, 3) == [0, 48, 96]
    assert crop_offsets(384, 288, 1) == [48]
    assert crop_offsets(288, 288, 3) == [0, 0, 0]
    assert resized_shape(360, 640, 288, "short_side") == (288, 512)
    assert resized_shape(640, 360, 288, "short_side") == (512, 288)
    assert resized_shape(48, 64, 32, "short_side") == (32, 43)  # 42.67 rounds up
    assert resized_shape(360, 640, 288, "squash") == (288, 288)


def test_crops_are_cut_from_a_frame_resized_by_the_short_side_ratio():
    # VideoGLUE: shorter side 256, three 224 crops (ratio 8/7); at 288 px that is a 329-px side.
    assert SamplingSpec(resolution=288, short_side_ratio=256 / 224).short_side == 329
    assert SamplingSpec(resolution=32, short_side_ratio=1.1428571).short_side == 37
    frames = np.zeros((2, 70, 140, 3), dtype=np.uint8)
    frames[:, :, 70:] = 200  # right half bright
    crops = resize_and_crop(frames, 32, 3, "short_side", short_side=37)
    # 70 x 140 -> 37 x 74; crops at left 0, 21, 42 and top (37 - 32) // 2 = 2.
    assert crops.shape == (3, 2, 32, 32, 3)
    assert crops[0].max() == 0 and crops[2].min() == 200
    assert 0 < crops[1].mean() < 200
