"""Augmented training views: a pure function of (sample, view, seed, spec) with VideoGLUE's
distributions, decoded views that differ from the centre view, and one cache entry per view."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from test_features_extract import PatchEncoder, entry_bytes

from vpbench.errors import VpbenchError
from vpbench.features import FeatureCache, WorkItem, extract_features
from vpbench.tiny.video import write_video
from vpbench.video import AugmentedView, AugmentSpec, SamplingSpec, decode_views
from vpbench.video.augment import plan_crop, plan_flip, plan_temporal
from vpbench.video.sampling import segment_bounds

pytestmark = pytest.mark.usefixtures("one_torch_thread")

K400 = SamplingSpec(frames=16, resolution=288, policy="stride", stride=4, augment=AugmentSpec(seed=0))


def plan(spec, view, clip=(0, 300), frame_hw=(360, 640)):
    return (plan_temporal(spec, view, clip, 30.0)[0].tolist(), plan_crop(spec, view, *frame_hw),
            plan_flip(spec, view))


def test_a_view_is_a_pure_function_of_sample_view_seed_and_spec():
    view = AugmentedView("abc", 0)
    assert plan(K400, view) == plan(K400, AugmentedView("abc", 0))
    others = [plan(K400, AugmentedView("abc", 1)), plan(K400, AugmentedView("abd", 0)),
              plan(replace(K400, augment=AugmentSpec(seed=1)), view)]
    assert all(other[:2] != plan(K400, view)[:2] for other in others)
    # One generator per decision: other crop ranges move the crop, never the clip start.
    wider = plan(replace(K400, augment=AugmentSpec(seed=0, area=(0.08, 1.0))), view)
    assert wider[0] == plan(K400, view)[0] and wider[1] != plan(K400, view)[1]


def test_random_clip_starts_follow_dmvr_and_segments_stay_in_their_segment():
    starts = []
    for v in range(300):
        frames, padded = plan_temporal(K400, AugmentedView("s", v), (10, 310), 30.0)
        assert padded == 0 and np.diff(frames).tolist() == [4] * 15
        starts.append(int(frames[0]) - 10)
    # DMVR sample_sequence(random=True): start uniform in [0, n - (T - 1) * stride) = [0, 240).
    assert min(starts) >= 0 and max(starts) <= 239
    assert min(starts) < 12 and max(starts) > 227 and len(set(starts)) > 150

    ssv2 = SamplingSpec(frames=8, policy="segments", augment=AugmentSpec(flip=False))
    bounds = segment_bounds(50, 8)
    picks = np.stack([plan_temporal(ssv2, AugmentedView("s", v), (0, 50), None)[0] for v in range(100)])
    assert ((picks >= bounds[:, 0]) & (picks < bounds[:, 1])).all()
    assert all(len(set(picks[:, k])) == bounds[k, 1] - bounds[k, 0] for k in range(8))  # every frame of each


def test_crops_follow_the_inception_ranges_and_fall_back_to_the_whole_frame():
    for v in range(300):
        top, left, height, width = plan_crop(K400, AugmentedView("s", v), 360, 640)
        assert 0 <= top and top + height <= 360 and 0 <= left and left + width <= 640
        assert 0.3 - 0.01 <= height * width / (360 * 640) <= 1.0
        assert 0.5 - 0.02 <= width / height <= 2.0 + 0.02
    # No box of (almost) the whole area with aspect ~2 fits a square frame: the whole frame.
    strict = replace(K400, augment=AugmentSpec(area=(0.99, 1.0), aspect=(1.9, 2.0)))
    assert plan_crop(strict, AugmentedView("s", 0), 100, 100) == (0, 0, 100, 100)


def test_flip_is_a_fair_coin_only_where_allowed():
    flips = [plan_flip(K400, AugmentedView("s", v)) for v in range(400)]
    assert 160 < sum(flips) < 240
    no_flip = replace(K400, augment=AugmentSpec(flip=False))
    assert not any(plan_flip(no_flip, AugmentedView("s", v)) for v in range(100))


def test_spec_rejects_bad_augmentation_settings():
    for kwargs, field in [({"area": (0.0, 1.0)}, "area"), ({"area": (0.5, 1.5)}, "area"),
                          ({"aspect": (2.0, 0.5)}, "aspect"), ({"seed": -1}, "seed"), ({"flip": 1}, "flip")]:
        with pytest.raises(VpbenchError, match=f"AugmentSpec.{field}="):
            AugmentSpec(**kwargs)
    with pytest.raises(VpbenchError, match="AugmentedView.index="):
        AugmentedView("s", -1)


@pytest.fixture(scope="module")
def video(tmp_path_factory) -> Path:
    """40 frames of 48 x 64: a left-right and top-bottom gradient that changes with time."""
    t, y, x = np.meshgrid(np.arange(40), np.arange(48), np.arange(64), indexing="ij")
    frames = np.stack([x * 4, y * 5, (t * 6) % 256], axis=-1).astype(np.uint8)
    return write_video(tmp_path_factory.mktemp("augment") / "gradient.mp4", frames, fps=10)


def test_decoded_augmented_views_differ_from_the_centre_view_and_repeat_bit_for_bit(video):
    eval_spec = SamplingSpec(frames=4, resolution=32, policy="stride", stride=2)
    centre, _ = decode_views(video, eval_spec)
    train_spec = replace(eval_spec, augment=AugmentSpec(seed=3))
    views = [decode_views(video, train_spec, augment_view=AugmentedView("clip", v)) for v in range(4)]
    for pixels, info in views:
        assert pixels.shape == centre.shape and not np.array_equal(pixels, centre)
        assert info.augment["frame_hw"] == [48, 64] and len(info.augment["crop_box_tlhw"]) == 4
    again, _ = decode_views(video, train_spec, augment_view=AugmentedView("clip", 2))
    assert np.array_equal(again, views[2][0])
    # The flip is a pure mirror of the same clip and crop (its draw is independent of the others).
    flips = [info.augment["flip"] for _, info in views]
    v = flips.index(True) if any(flips) else None
    assert v is not None, flips
    unflipped, _ = decode_views(video, replace(train_spec, augment=AugmentSpec(seed=3, flip=False)),
                                augment_view=AugmentedView("clip", v))
    assert np.array_equal(views[v][0], unflipped[:, :, :, ::-1])
    with pytest.raises(VpbenchError, match="augment_view"):
        decode_views(video, train_spec)


def test_each_augmented_view_is_a_cache_entry_of_its_own(video, tmp_path):
    spec = SamplingSpec(frames=4, resolution=32, policy="stride", stride=2, augment=AugmentSpec(seed=0))

    def items(count):
        return [WorkItem(f"train/a#view{v}", str(video), augment=AugmentedView("a", v)) for v in range(count)]

    cache = FeatureCache(tmp_path / "cache")
    first = extract_features(PatchEncoder(), items(2), spec, "global", cache)
    assert (first.cache_hits, first.cache_misses) == (0, 2)
    assert not np.array_equal(first.features["train/a#view0"], first.features["train/a#view1"])
    assert first.features.info("train/a#view1")["augment"]["view"] == {"stream": "a", "index": 1}
    more = extract_features(PatchEncoder(), items(3), spec, "global", cache)  # one more view: one new entry
    assert (more.cache_hits, more.cache_misses) == (2, 1)
    reseeded = extract_features(PatchEncoder(), items(1), replace(spec, augment=AugmentSpec(seed=1)), "global", cache)
    centre = extract_features(PatchEncoder(), [WorkItem("train/a", str(video))], replace(spec, augment=None),
                              "global", cache)
    assert reseeded.cache_misses == 1 and centre.cache_misses == 1
    assert not np.array_equal(centre.features["train/a"], more.features["train/a#view0"])
    # Same seed, fresh cache: the same bytes.
    other = FeatureCache(tmp_path / "other")
    extract_features(PatchEncoder(), items(3), spec, "global", other)
    first_bytes, other_bytes = entry_bytes(cache.root), entry_bytes(other.root)
    assert set(other_bytes) <= set(first_bytes)
    assert all(other_bytes[name] == first_bytes[name] for name in other_bytes)
    with pytest.raises(VpbenchError, match="augmented views need"):
        extract_features(PatchEncoder(), [WorkItem("x", str(video))], spec, "global", cache)
