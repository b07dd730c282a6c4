"""The stal family end to end on tiny AVA (`vpbench run --task ava-stal --tiny`): the RoI head trained on
ground-truth boxes scores the user's person proposals far above the label-permutation control, and writes
the official AVA detection CSV; without a proposals file the result says it scored ground-truth boxes."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from test_family_probe_common import run_tiny, tiny_task

from vpbench.adapters.roi import roi_spec
from vpbench.datasets.sample import PersonBox
from vpbench.families import RunContext, stal
from vpbench.families.common import RunLog, sampling_spec
from vpbench.families.stal import _eval_box_source
from vpbench.registry import load_registry
from vpbench.video import temporal_indices
from vpbench.video.sampling import clip_range


def test_roi_head_beats_the_control_and_writes_the_official_detection_csv(tmp_path, capsys):
    result = run_tiny("ava-stal", tmp_path, capsys)
    assert result["scores"]["frame_mAP_iou_0.5"] >= 60, result["scores"]
    assert result["benchmarks"] == {"ava": result["scores"]["frame_mAP_iou_0.5"]}
    convention = result["fingerprint"]["ava_convention"]
    assert convention["eval_boxes"] == "proposals" and convention["metric_convention"] == "activitynet"
    class_ids = result["fingerprint"]["class_subset"]["class_ids"]
    assert result["adapter"]["train_boxes"] == "ground_truth" and result["counts"]["eval_boxes"] > 0

    files = result["extra"]["predictions"]
    with open(files["detections"], newline="") as f:
        rows = list(csv.reader(f))
    assert rows and all(len(row) == 8 for row in rows)  # video_id,timestamp,x1,y1,x2,y2,action_id,score
    assert {int(row[6]) for row in rows} == set(class_ids)
    assert all(len(row[1]) == 4 and row[1].isdigit() for row in rows)  # AVA's zero-padded seconds
    assert all(0.0 <= float(row[7]) <= 1.0 and float(row[2]) <= float(row[4]) for row in rows)
    assert Path(files["groundtruth"]).stat().st_size > 0

    control = run_tiny("ava-stal", tmp_path, capsys, "shuffle_train_labels=true")
    assert control["scores"]["frame_mAP_iou_0.5"] <= result["scores"]["frame_mAP_iou_0.5"] - 25, control["scores"]
    assert control["counts"]["features"]["train"]["cache_misses"] == 0


def test_without_proposals_the_result_says_ground_truth_boxes_were_scored(tmp_path):
    task = tiny_task("ava-stal")
    context = RunContext(data_root=tmp_path, output_dir=tmp_path, model="tiny")
    log = RunLog(task, context)
    spec = roi_spec(task.adapter, 4, seed=0, device="cpu")
    assert _eval_box_source(task, context, spec, "val", log) == "ground_truth_fallback"
    assert any(note.startswith("NOT COMPARABLE TO THE PAPER") for note in log.notes)
    context.user_files["val_proposals"] = tmp_path / "boxes.csv"
    assert _eval_box_source(task, context, spec, "val", RunLog(task, context)) == "proposals"
    chimp = tiny_task("chimpact")
    assert _eval_box_source(chimp, context, roi_spec(chimp.adapter, 4, seed=0, device="cpu"), "test",
                            RunLog(chimp, context)) == "ground_truth"


def test_ava_clip_is_16_frames_at_stride_4_around_the_keyframe_of_30_fps_video():
    # VideoGLUE stal_vmae_vit3d_ava.yaml: 16 frames, temporal_stride 4, sampled around the keyframe.
    task = load_registry().task("ava-stal")
    spec = sampling_spec(task, views=False, resize=stal.RESIZE)
    half = task.sampling["clip_s"] / 2  # as the AVA reader places the clip
    clip = clip_range(27000 + 30 * 60, 30.0, clip_span_s=(902.0 - half, 902.0 + half))
    indices, padded = temporal_indices(spec, clip, 30.0)
    keyframe = 902 * 30
    # processors.sample_sequence_around_keyframe: keyframe - 32 + 4i, the keyframe 9th of 16.
    assert indices.tolist() == [[keyframe - 32 + 4 * i for i in range(16)]] and padded.tolist() == [0]


@pytest.mark.parametrize("name, kept", [("ava-stal", [0.85]), ("ava-kinetics-stal", [0.3, 0.85])])
def test_detections_are_kept_above_the_threshold_videoglue_uses(name, kept):
    # AVAFactory: _EVAL_DETECTION_SCORE = 0.8; AVAKineticsFactory (CenterNet boxes): 0.2.
    task = load_registry().task(name)
    spec = roi_spec(task.adapter, 5, seed=0, device="cpu")

    class Keyframe:
        proposals = [PersonBox(box_xyxy=(0.1, 0.1, 0.2 + s / 10, 0.5), score=s) for s in (0.1, 0.3, 0.85)]
        boxes = []

    boxes = stal._eval_boxes(Keyframe(), "proposals", spec)
    assert np.allclose(boxes[:, 2] - 0.2, [s / 10 for s in kept])
