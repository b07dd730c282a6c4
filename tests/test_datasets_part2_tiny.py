"""Tiny writers of part 2 (ActivityNet, AVA, AVA-Kinetics, ChimpACT, MSR-VTT, VATEX, YouCook2, the QA sets,
NExT-QA): each writes its dataset in the official layout, its reader reads it back, and every target the
reader returns (segment labels, boxes and actions, captions, answers, candidates) is checked against the
pixels of the video it names, so a row attached to the wrong video or a shuffled label fails here."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from vpbench.datasets import read_split
from vpbench.registry import load_registry
from vpbench.tiny import EVAL_CLIPS, TRAIN_CLIPS, make_tiny, tiny_user_files
from vpbench.tiny.video import COLOURS

TINY_TASKS = ["activitynet-tal", "activitynet-retrieval", "ava-stal", "ava-kinetics-stal", "chimpact",
              "msrvtt-retrieval", "msrvtt-captioning", "vatex-retrieval", "vatex-captioning", "youcook2-captioning",
              "msrvtt-qa", "msvd-qa", "nextqa-atp-hard-zeroshot", "nextqa-oe"]


def task(name: str):
    return load_registry().task(name).for_tiny()


@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory):
    """The session's tiny root (what ``vpbench run --tiny`` uses under the test cache, see conftest), so
    the subsets written here are reused by later end-to-end tests; tasks sharing a folder write it once."""
    root = Path(os.environ.get("VPBENCH_TEST_CACHE", tmp_path_factory.getbasetemp() / "vpbench-cache")) / "tiny"
    for name in TINY_TASKS:
        make_tiny(task(name), root)
    return root


def splits(name: str, root: Path) -> dict:
    config = task(name)
    user_files = tiny_user_files(config, root)
    names = dict.fromkeys(s for s in (config.dataset.get("train_split"), config.dataset["eval_split"]) if s)
    return {split: read_split(config, root, split, user_files) for split in names}


def frames_of(path: Path) -> np.ndarray:
    from vpbench.video import open_source

    source = open_source(path)
    return source.read(np.arange(source.num_frames))


def colours_in(frame: np.ndarray, min_pixels: int = 12) -> set[str]:
    """The tiny palette colours visibly present in a decoded frame (or part of one)."""
    return {name for name, rgb in COLOURS.items()
            if (np.abs(frame.astype(int) - np.array(rgb)).max(axis=-1) < 45).sum() >= min_pixels}


def frame_at(sample, seconds: float | None = None, index: int | None = None) -> np.ndarray:
    frames = frames_of(sample.video_path)
    if index is None:
        index = int(round(seconds * 8))  # every tiny clip is 8 fps
    return frames[min(index, len(frames) - 1)]


def crop(frame: np.ndarray, box) -> np.ndarray:
    size = frame.shape[0]
    x1, y1, x2, y2 = (np.array(box) * size).round().astype(int)
    return frame[y1:y2, x1:x2]


def centroid(frame: np.ndarray) -> np.ndarray:
    ys, xs = np.nonzero(np.abs(frame.astype(int) - 30).max(axis=-1) > 60)
    return np.array([xs.mean(), ys.mean()])


def colour_word(text: str) -> str:
    return next(word for word in text.lower().replace(".", " ").split() if word in COLOURS)


EXPECTED_COUNTS = {  # samples per (train, eval) split when no video is missing
    "activitynet-tal": (TRAIN_CLIPS, EVAL_CLIPS), "activitynet-retrieval": (TRAIN_CLIPS, EVAL_CLIPS),
    "ava-stal": (3 * TRAIN_CLIPS - 1, 3 * EVAL_CLIPS - 1),  # 3 keyframes per movie, 1 excluded per split
    "ava-kinetics-stal": (3 * 24 - 1 + 24, 3 * 12 - 1 + 12),  # half AVA movies, half Kinetics clips
    "chimpact": (3 * TRAIN_CLIPS, 3 * EVAL_CLIPS),
    "msrvtt-retrieval": (TRAIN_CLIPS, EVAL_CLIPS), "msrvtt-captioning": (TRAIN_CLIPS - 4, EVAL_CLIPS),
    "vatex-retrieval": (TRAIN_CLIPS, EVAL_CLIPS // 2),  # eval = the test_ids user file: half of val
    "vatex-captioning": (TRAIN_CLIPS, EVAL_CLIPS), "youcook2-captioning": (TRAIN_CLIPS, EVAL_CLIPS),
    "msrvtt-qa": (3 * TRAIN_CLIPS, 3 * EVAL_CLIPS), "msvd-qa": (3 * TRAIN_CLIPS, 3 * EVAL_CLIPS),
    "nextqa-atp-hard-zeroshot": (None, 2 * EVAL_CLIPS),  # the causal + temporal questions of 3 per video
    "nextqa-oe": (4 * TRAIN_CLIPS, 4 * EVAL_CLIPS),
}


@pytest.mark.parametrize("name", TINY_TASKS)
def test_round_trip_counts_and_files(tiny_root, name):
    config = task(name)
    for split, data in splits(name, tiny_root).items():
        expected = EXPECTED_COUNTS[name][0 if split == config.dataset.get("train_split") else 1]
        assert len(data.samples) == expected, (name, split)
        assert not data.missing and all(s.video_path.is_file() for s in data.samples)
        assert len({s.sample_id for s in data.samples}) == len(data.samples)
        assert all(path.is_file() for path in data.annotation_files)


def test_activitynet_segments_are_where_the_labelled_colour_is(tiny_root):
    data = splits("activitynet-tal", tiny_root)["validation"]
    assert data.class_names == sorted(f"{c.capitalize()} object moving" for c in COLOURS)
    for sample in data.samples[:6]:
        (segment,) = sample.segments
        frames = frames_of(sample.video_path)
        visible = [bool(colours_in(frame)) for frame in frames]
        inside = range(int(np.ceil(segment.start_s * 8)), int(segment.end_s * 8))
        assert all(visible[t] for t in inside) and not any(visible[:int(segment.start_s * 8) - 1])
        assert not any(visible[int(np.ceil(segment.end_s * 8)) + 1:])
        assert colours_in(frames[inside[len(inside) // 2]]) == {data.class_names[segment.label].split()[0].lower()}


@pytest.mark.parametrize("name", ["ava-stal", "ava-kinetics-stal", "chimpact"])
def test_person_boxes_and_actions_follow_the_objects(tiny_root, name):
    """Each box holds a drawn object at the keyframe; its action is the direction that object moves."""
    direction_of_action = {"ava-stal": {14: (-1, 0), 12: (1, 0), 80: (0, -1), 8: (0, 1)},
                           "chimpact": {1: (-1, 0), 2: (1, 0), 3: (0, -1), 4: (0, 1)}}
    direction_of_action["ava-kinetics-stal"] = direction_of_action["ava-stal"]
    data = splits(name, tiny_root)[task(name).dataset["eval_split"]]
    kinetics = [s for s in data.samples if "clip_start_s" in s.meta]
    for sample in [*data.samples[:4], *kinetics[:2]]:
        frames = frames_of(sample.video_path)
        t = sample.meta["keyframe_frame"] if name == "chimpact" else int(round(sample.keyframe_s * 8))
        assert len(sample.boxes) == 2 and sample.meta["class_ids"] == tuple(sorted(direction_of_action[name]))
        for box in sample.boxes:
            assert colours_in(crop(frames[t], box.box_xyxy), min_pixels=20), (sample.sample_id, box)
            (action,) = box.action_ids  # run/jog (11) is outside the tiny label map and dropped
            # The object's centroid, in a window around its box, 3 frames before and after the keyframe.
            x1, y1, x2, y2 = (np.array(box.box_xyxy) * 64 + [-12, -12, 12, 12]).clip(0, 64).astype(int)
            before, after = np.zeros_like(frames[t]), np.zeros_like(frames[t])
            before[y1:y2, x1:x2] = frames[max(t - 3, 0)][y1:y2, x1:x2]
            after[y1:y2, x1:x2] = frames[min(t + 3, len(frames) - 1)][y1:y2, x1:x2]
            shift = centroid(after) - centroid(before)
            assert shift @ np.array(direction_of_action[name][action]) > 0.5, (sample.sample_id, action, shift)
    if name != "chimpact":
        assert all(len(s.proposals) == 3 and max(p.score for p in s.proposals) > 0.85 for s in data.samples)
    if name == "ava-kinetics-stal":
        assert len(kinetics) == EVAL_CLIPS // 2 and all(s.video_path.parent.name == "kinetics" for s in kinetics)
        assert all(s.keyframe_s == 2.0 for s in kinetics)  # a clip containing the keyframe, not the decoy


@pytest.mark.parametrize("name", ["activitynet-retrieval", "msrvtt-retrieval", "msrvtt-captioning",
                                  "vatex-retrieval", "youcook2-captioning"])
def test_captions_name_the_colours_drawn(tiny_root, name):
    for data in splits(name, tiny_root).values():
        for sample in data.samples[::5]:
            if sample.segments:  # a paragraph: each sentence describes its own part
                for segment in sample.segments:
                    frame = frame_at(sample, (segment.start_s + segment.end_s) / 2)
                    assert colours_in(frame) == {colour_word(segment.sentence)}, sample.sample_id
                continue
            middle = None if sample.clip_span_s is None else sum(sample.clip_span_s) / 2
            frame = frame_at(sample, middle if middle is not None else 2.0)
            assert {colour_word(c) for c in sample.captions} == colours_in(frame), sample.sample_id


@pytest.mark.parametrize("name", ["msrvtt-qa", "msvd-qa", "nextqa-oe"])
def test_answers_are_true_to_the_pixels(tiny_root, name):
    for data in splits(name, tiny_root).values():
        for sample in data.samples[:24]:
            colour = colours_in(frame_at(sample, 2.0))
            if sample.question.startswith("what color"):
                assert {sample.answer} == colour, sample.sample_id
            elif sample.question.startswith("is the"):
                assert (sample.answer == "yes") == (sample.question.split()[-1] in colour)


def test_nextqa_candidates_and_atp_hard_subset(tiny_root):
    data = splits("nextqa-atp-hard-zeroshot", tiny_root)["val"]
    assert {s.question_type for s in data.samples} == {"TN", "CH"}
    assert "ATP-hard" in data.notes[0] and "48 of 72" in data.notes[0]
    for sample in data.samples[:8]:
        frames = frames_of(sample.video_path)
        move = centroid(frames[-1]) - centroid(frames[0])
        truth = {"moves left": (-1, 0), "moves right": (1, 0), "moves up": (0, -1), "moves down": (0, 1)}
        assert len(sample.candidates) == 5 and sample.answer == sample.candidates[sample.answer_index]
        assert move @ np.array(truth[sample.answer]) > 5, (sample.sample_id, sample.answer, move)
    # Both NExT tasks share nextqa/: the second writer's map still lists the first writer's videos.
    oe = splits("nextqa-oe", tiny_root)[task("nextqa-oe").dataset["eval_split"]]
    assert not oe.missing and not data.missing


def test_tiny_files_look_official(tiny_root):
    ava = (tiny_root / "ava" / "annotations" / "ava_val_v2.2.csv").read_text().splitlines()
    assert len(ava[0].split(",")) == 8 and ava[0].split(",")[1] in ("0001", "0002", "0003")
    kinetics = (tiny_root / "ava_kinetics" / "annotations" / "kinetics_train_v1.0.csv").read_text().splitlines()
    assert {len(line.split(",")) for line in kinetics} == {2, 7}
    proposals = (tiny_root / "ava" / "user_files" / "val_proposals").read_text().splitlines()
    assert all(len(row.split(",")) == 8 and row.split(",")[6] == "" for row in proposals)
    jsfusion = (tiny_root / "msrvtt" / "MSRVTT_JSFUSION_test.csv").read_text().splitlines()
    assert jsfusion[0] == "key,vid_key,video_id,sentence" and jsfusion[1].startswith("ret0,msr")
    assert (tiny_root / "msrvtt" / "train_val_videodatainfo.json").read_text().count('"start time"') == TRAIN_CLIPS
    assert b"_" in (tiny_root / "vatex" / "user_files" / "test_ids").read_bytes()
    assert (tiny_root / "msvd_qa" / "youtube_mapping.txt").read_text().splitlines()[0].endswith(" vid1")
    assert list((tiny_root / "youcook2" / "videos" / "validation").glob("*/*.mp4"))
    assert (tiny_root / "ChimpACT_processed" / "annotations" / "action" / "action_list.txt").read_text().startswith(
        'item {\n  name: "moving"\n  id: 1\n}')


@pytest.mark.parametrize("name", TINY_TASKS)
def test_deleted_videos_are_reported_missing(tiny_root, tmp_path, name):
    config = task(name)
    shutil.copytree(tiny_root / config.dataset["root"], tmp_path / config.dataset["root"])
    eval_split = config.dataset["eval_split"]
    user_files = tiny_user_files(config, tmp_path)
    before = read_split(config, tmp_path, eval_split, user_files)
    gone = {before.samples[0].video_path, before.samples[-1].video_path}
    for path in gone:
        path.unlink()
    after = read_split(config, tmp_path, eval_split, user_files)
    lost = {s.sample_id for s in before.samples if s.video_path in gone}
    assert {m.sample_id for m in after.missing} == lost
    assert {s.sample_id for s in after.samples if s.video_path is None} == lost
    assert len(after.available) == len(before.samples) - len(lost)
    assert all(m.expected_path.is_relative_to(tmp_path / config.dataset["root"]) for m in after.missing)
