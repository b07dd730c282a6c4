"""AVA frame-mAP: official ActivityNet evaluator and SlowFast helper values, hand cases, bad files."""

import json
import re
from pathlib import Path

import numpy as np
import pytest

from vpbench import metrics
from vpbench.errors import PredictionFileError
from vpbench.metrics.ava import voc_average_precision
from vpbench.metrics.ava_io import frame_key, read_label_map

FIXTURES = Path(__file__).parent / "fixtures" / "metrics" / "ava"
LABEL_MAP = FIXTURES / "ava_action_list_v2.1_for_activitynet_2018.pbtxt"
EXPECTED = json.loads((FIXTURES / "expected_official.json").read_text())
PREFIX = "PascalBoxes_PerformanceByCategory/AP@0.5IOU/"


def _score(convention, excluded=True, detections=FIXTURES / "detections.csv"):
    return metrics.score_files("ava_frame_map", detections, FIXTURES / "groundtruth.csv", label_map=LABEL_MAP,
                               excluded=FIXTURES / "excluded.csv" if excluded else None, convention=convention)


@pytest.mark.parametrize("convention, excluded, key", [
    ("activitynet", False, "activitynet_no_exclusion"),
    ("activitynet", True, "activitynet_excluded_prefiltered"),  # official run on files with those frames removed
    ("slowfast", True, "slowfast_excluded"),
])
def test_matches_official_evaluators(convention, excluded, key):
    result = _score(convention, excluded)
    expected = EXPECTED[key]
    assert result["convention"] == convention
    assert result["frame_mAP_iou_0.5"] == pytest.approx(100 * expected["PascalBoxes_Precision/mAP@0.5IOU"], abs=1e-9)
    official = {name[len(PREFIX):]: ap for name, ap in expected.items() if name.startswith(PREFIX)}
    assert set(result["per_class_ap"]) == {name for name, ap in official.items() if ap is not None}
    for name, ap in result["per_class_ap"].items():
        assert ap == pytest.approx(100 * official[name], abs=1e-9), name


def test_the_two_conventions_differ_and_the_counts_explain_why():
    official, slowfast = _score("activitynet"), _score("slowfast")
    assert official["frame_mAP_iou_0.5"] != pytest.approx(slowfast["frame_mAP_iou_0.5"], abs=0.5)
    assert official["num_detections_over_frame_cap"] > 0 and "num_detections_over_frame_cap" not in slowfast
    assert official["num_detections_on_frames_without_gt"] == 1  # ignored officially, a false positive in SlowFast
    assert official["num_detections_outside_label_map"] > 0 and official["num_detections_with_empty_box"] == 1
    assert official["num_detections_on_excluded_frames"] > 0
    assert official["classes_without_gt"] and official["num_classes_evaluated"] == 13


def _label_map(tmp_path, ids=(3, 7, 9)):
    path = tmp_path / "map.pbtxt"
    path.write_text("".join(f'item {{\n  name: "class {i}"\n  id: {i}\n}}\n' for i in ids))
    return path


def _csv(tmp_path, name, rows):
    path = tmp_path / name
    path.write_text("".join(",".join(map(str, row)) + "\n" for row in rows))
    return path


@pytest.mark.parametrize("convention", ["activitynet", "slowfast"])
def test_detection_on_an_already_matched_box_is_false_positive(tmp_path, convention):
    # Both detections' best IoU is box A; the second overlaps the free box B by 0.86 and is still a FP.
    truth = _csv(tmp_path, "gt.csv", [["v", "0902", .10, .10, .50, .50, 3, 0], ["v", "0902", .14, .10, .54, .50, 3, 1]])
    found = _csv(tmp_path, "det.csv", [["v", "902", .10, .10, .50, .50, 3, .9], ["v", "0902.0", .11, .10, .51, .50, 3, .8]])
    result = metrics.score_files("ava_frame_map", found, truth, label_map=_label_map(tmp_path), convention=convention)
    assert result["num_true_positives"] == 1
    assert result["frame_mAP_iou_0.5"] == pytest.approx(50.0)  # precision 1 at recall 1/2, never reaches 2/2


def test_frame_cap_reproduces_the_official_heap_at_a_tie(tmp_path):
    # 48 high-scoring misses, then two 0.1-score hits on box B (class 3 first in the file, then class 9),
    # then a 0.2 miss. The official min-heap of 50 evicts the smallest (score, action, ...) tuple: class 3.
    truth = _csv(tmp_path, "gt.csv", [["v", "0902", .2, .2, .6, .6, 3], ["v", "0902", .2, .2, .6, .6, 9]])
    rows = [["v", "0902", .7, .7, .9, .9, 7, round(.9 - i * .001, 3)] for i in range(48)]
    rows += [["v", "0902", .2, .2, .6, .6, 3, .1], ["v", "0902", .2, .2, .6, .6, 9, .1], ["v", "0902", .7, .7, .9, .9, 7, .2]]
    result = metrics.score_files("ava_frame_map", _csv(tmp_path, "det.csv", rows), truth, label_map=_label_map(tmp_path))
    assert result["per_class_ap"] == {"class 3": 0.0, "class 9": 100.0}
    assert result["num_detections_over_frame_cap"] == 1
    uncapped = metrics.score_files("ava_frame_map", tmp_path / "det.csv", truth, label_map=_label_map(tmp_path),
                                   convention="slowfast")
    assert uncapped["per_class_ap"] == {"class 3": 100.0, "class 9": 100.0}


def test_voc_ap_hand_computed():
    # TP FP TP with 3 ground truths: precisions 1, 1/2, 2/3 -> envelope 1, 2/3, 2/3 at the TPs 1 and 3
    assert voc_average_precision(np.array([True, False, True]), 3) == pytest.approx((1 + 2 / 3) / 3)
    assert voc_average_precision(np.array([], dtype=bool), 2) == 0.0
    assert np.isnan(voc_average_precision(np.array([True]), 0))


def test_frame_keys_and_label_map_parsing(tmp_path):
    assert frame_key("abc", "0902") == frame_key("abc", "902.0") == "abc,902.000000"
    labels = read_label_map(LABEL_MAP)
    assert len(labels) == 60 and labels[1] == "bend/bow (at the waist)" and max(labels) == 80
    bad = tmp_path / "bad.pbtxt"
    bad.write_text('item {\n  name: "x"\n}\n')
    with pytest.raises(PredictionFileError, match=re.escape(f"{bad}: line 1: item 1 needs both a name and an id")):
        read_label_map(bad)


@pytest.mark.parametrize("row, message", [
    (["v", "0902", .1, .1, .5, .5, 99, .5], "line 2: action_id 99 is not a class id of the label map (1..9)"),
    (["v", "0902", .1, .1, .5, .5, 3, "nan"], "line 2: fields"),
    (["v", "0902", .1, .1, .5, .5, 3], "line 2: fields"),
    (["v", "0902", .1, "x", .5, .5, 3, .5], "line 2: field 4 'x' is not a number"),
    (["v", "09:02", .1, .1, .5, .5, 3, .5], "line 2: timestamp '09:02' is not a number"),
])
def test_bad_detection_rows_name_the_line(tmp_path, row, message):
    truth = _csv(tmp_path, "gt.csv", [["v", "0902", .1, .1, .5, .5, 3]])
    found = _csv(tmp_path, "det.csv", [["v", "0902", .1, .1, .5, .5, 3, .9], row])
    with pytest.raises(PredictionFileError, match=re.escape(message)) as error:
        metrics.score_files("ava_frame_map", found, truth, label_map=_label_map(tmp_path))
    assert str(found) in str(error.value)


def test_label_map_is_required(tmp_path):
    with pytest.raises(PredictionFileError, match="--label-map"):
        metrics.score_files("ava_frame_map", FIXTURES / "detections.csv", FIXTURES / "groundtruth.csv")


def test_empty_detection_file_scores_zero(tmp_path):
    empty = tmp_path / "det.csv"
    empty.write_text("")
    result = metrics.score_files("ava_frame_map", empty, FIXTURES / "groundtruth.csv", label_map=LABEL_MAP)
    assert result["frame_mAP_iou_0.5"] == 0.0 and result["num_detections_scored"] == 0
    assert result["num_classes_evaluated"] == 13  # every class with ground truth counts, at AP 0
