"""ActivityNet temporal-localisation mAP: official eval_detection.py values, hand cases, bad files."""

import json
import re
from pathlib import Path

import numpy as np
import pytest

from vpbench import metrics
from vpbench.errors import PredictionFileError
from vpbench.metrics.tal import Segments, TIOU_THRESHOLDS, detection_ap, segment_iou

FIXTURES = Path(__file__).parent / "fixtures" / "metrics" / "tal"
EXPECTED = json.loads((FIXTURES / "expected_official.json").read_text())


def test_matches_official_eval_detection():
    result = metrics.score_files("activitynet_tal", FIXTURES / "predictions.json", FIXTURES / "groundtruth.json")
    assert result["avg_mAP_iou_0.5_0.95"] == pytest.approx(100 * EXPECTED["average_mAP"], abs=1e-9)
    per_threshold = [result[f"mAP@{t:g}"] for t in TIOU_THRESHOLDS]
    assert per_threshold == pytest.approx([100 * v for v in EXPECTED["mAP_per_threshold"]], abs=1e-9)
    for name, aps in EXPECTED["ap_per_class_per_threshold"].items():
        assert result["per_class_avg_ap"][name] == pytest.approx(100 * np.mean(aps), abs=1e-9)
    assert result["num_predictions_on_videos_without_gt"] == 1 and result["num_classes"] == 5


def _one_class(gt, predictions):
    truth = Segments(np.zeros(len(gt), int), np.zeros(len(gt), int), np.array([g[0] for g in gt], float),
                     np.array([g[1] for g in gt], float))
    predicted = Segments(np.array([p[0] for p in predictions]), np.zeros(len(predictions), int),
                         np.array([p[1] for p in predictions], float), np.array([p[2] for p in predictions], float),
                         np.array([p[3] for p in predictions], float))
    return detection_ap(truth, predicted, np.array([0.5, 0.85]))


def test_prediction_falls_back_to_the_next_free_segment():
    # Unlike AVA, a prediction whose best segment (tIoU 0.95) is taken tries the next one (tIoU 0.86 here).
    ap = _one_class([(10, 30), (12, 32)], [(0, 10, 30, 0.9), (0, 10.5, 30.5, 0.8)])
    assert ap.tolist() == pytest.approx([1.0, 1.0])
    # below the threshold the fallback fails: at 0.85 the second segment (tIoU 0.70) does not count
    ap = _one_class([(10, 30), (14, 34)], [(0, 10, 30, 0.9), (0, 10.5, 30.5, 0.8)])
    assert ap.tolist() == pytest.approx([1.0, 0.5])


def test_other_video_empty_predictions_and_iou():
    assert _one_class([(0, 10)], [(1, 0, 10, 0.9)]).tolist() == [0.0, 0.0]  # prediction on another video
    assert _one_class([(0, 10)], []).tolist() == [0.0, 0.0]
    assert segment_iou(0, 10, np.array([5.0, 20.0, 3.0]), np.array([15.0, 30.0, 3.0])).tolist() == pytest.approx([1 / 3, 0, 0])


def _write(tmp_path, predictions):
    gt = {"version": "1.3", "database": {"vid1": {"subset": "validation", "annotations": [{"segment": [1, 5], "label": "Surfing"}]},
                                         "vid2": {"subset": "training", "annotations": [{"segment": [1, 5], "label": "Knitting"}]}}}
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    (tmp_path / "pred.json").write_text(json.dumps({"version": "1.3", "results": predictions, "external_data": {}}))
    return tmp_path / "pred.json", tmp_path / "gt.json"


def test_label_of_another_subset_is_dropped_and_counted(tmp_path):
    predictions, truth = _write(tmp_path, {"vid1": [{"label": "Surfing", "score": 0.5, "segment": [1, 5]},
                                                    {"label": "Knitting", "score": 0.9, "segment": [1, 5]}]})
    result = metrics.score_files("activitynet_tal", predictions, truth)
    assert result["avg_mAP_iou_0.5_0.95"] == 100.0 and result["num_predictions_with_label_outside_subset"] == 1


@pytest.mark.parametrize("item, message", [
    ({"label": "Juggling", "score": 0.5, "segment": [1, 5]}, "label 'Juggling' is not a class of"),
    ({"label": "Surfing", "score": float("nan"), "segment": [1, 5]}, "score nan is not a finite number"),
    ({"label": "Surfing", "score": 0.5, "segment": [5, 1]}, "segment [5, 1] ends before it starts"),
    ({"label": "Surfing", "segment": [1, 5]}, "expected an object with 'label', 'score' and 'segment'"),
])
def test_bad_prediction_entries(tmp_path, item, message):
    predictions, truth = _write(tmp_path, {"vid1": [{"label": "Surfing", "score": 0.5, "segment": [1, 5]}, item]})
    with pytest.raises(PredictionFileError, match=re.escape(f"{predictions}: results['vid1'][1]: {message}")):
        metrics.score_files("activitynet_tal", predictions, truth)
