"""The procedural clips: balanced facts, boxes that follow the object, real files decord reads back."""

import numpy as np
import pytest

from vpbench.tiny.video import COLOURS, TinyClip, fact_grid, random_clips, render, write_clip


def test_clips_are_deterministic_and_balanced():
    a = random_clips(np.random.default_rng(3), 48)
    b = random_clips(np.random.default_rng(3), 48)
    assert [c.subject for c in a] == [c.subject for c in b]
    facts = {(c.subject.colour, c.subject.shape, c.subject.direction) for c in a}
    assert facts == set(fact_grid())  # 48 clips cover the 48 combinations once each


def test_render_draws_the_subject_in_its_colour_where_its_box_says():
    clip = random_clips(np.random.default_rng(0), 1)[0]
    frames = render(clip)
    assert frames.shape == (clip.num_frames, clip.size, clip.size, 3) and frames.dtype == np.uint8
    colour = np.array(COLOURS[clip.subject.colour])
    for t in (0, clip.num_frames - 1):
        x1, y1, x2, y2 = (np.array(clip.subject.box_at(t, clip.size)) * clip.size).round().astype(int)
        inside = frames[t, y1:y2, x1:x2].reshape(-1, 3)
        assert (inside == colour).all(axis=1).mean() > 0.3
        mask = (frames[t] == colour).all(axis=-1)
        ys, xs = np.nonzero(mask)
        assert x1 - 1 <= xs.min() and xs.max() <= x2 + 1 and y1 - 1 <= ys.min() and ys.max() <= y2 + 1


def test_subject_moves_in_its_direction():
    for clip in random_clips(np.random.default_rng(1), 8):
        x0, y0 = clip.subject.centre_at(0, clip.size)
        x1, y1 = clip.subject.centre_at(clip.num_frames - 1, clip.size)
        expected = {"left": x1 < x0, "right": x1 > x0, "up": y1 < y0, "down": y1 > y0}
        assert expected[clip.subject.direction], clip


@pytest.mark.parametrize("codec, suffix", [("h264", ".mp4"), ("vp9", ".webm")])
def test_written_videos_decode_to_the_expected_frames(tmp_path, codec, suffix):
    import decord

    clip = random_clips(np.random.default_rng(2), 1)[0]
    path = write_clip(tmp_path / f"clip{suffix}", clip, codec=codec)
    reader = decord.VideoReader(str(path), num_threads=1)
    assert len(reader) == clip.num_frames
    decoded = reader.get_batch(list(range(clip.num_frames))).asnumpy()
    assert np.abs(decoded.astype(int) - render(clip)).mean() < 4  # lossy codec, near-exact at this quality
    assert not list(tmp_path.glob(".*partial*"))


def test_empty_clip_renders_background_only():
    clip = TinyClip("empty", objects=(), num_frames=4)
    assert (render(clip) == np.array(clip.background, dtype=np.uint8)).all()
