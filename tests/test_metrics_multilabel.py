"""Charades mAP: official charades-algorithms map.py values, hand-computed ties, exclusions, files."""

import json
from pathlib import Path

import numpy as np
import pytest

from vpbench import metrics
from vpbench.errors import PredictionFileError
from vpbench.metrics.multilabel import charades_average_precision, multilabel_map

FIXTURES = Path(__file__).parent / "fixtures" / "metrics" / "charades"
EXPECTED = json.loads((FIXTURES / "expected_official.json").read_text())


def test_matches_official_charades_map():
    scores, labels = np.load(FIXTURES / "scores.npy"), np.load(FIXTURES / "labels.npy")
    result = multilabel_map(scores, labels)
    expected = EXPECTED["charades_labels"]
    assert result["mAP"] == pytest.approx(100 * expected["mAP"], abs=1e-9)
    assert [result["per_class_ap"][str(k)] for k in range(10)] == pytest.approx([100 * a for a in expected["per_class_ap"]], abs=1e-9)
    assert result["num_videos_without_label"] == 3 and result["num_videos"] == 37


def test_class_without_positive_is_excluded_and_reported():
    scores, labels = np.load(FIXTURES / "scores.npy"), np.load(FIXTURES / "labels_class7_empty.npy")
    expected = EXPECTED["charades_labels_class7_empty"]
    assert expected["mAP"] is None  # the official mean is NaN
    result = multilabel_map(scores, labels)
    official = [a for a in expected["per_class_ap"] if a is not None]
    assert result["mAP"] == pytest.approx(100 * np.mean(official), abs=1e-9)
    assert result["num_classes_excluded"] == 1 and result["classes_excluded"] == [7]
    assert result["num_classes_evaluated"] == 9


def test_hand_computed_ap_and_ties():
    # order by score: pos, neg, pos -> precisions at positives 1/1 and 2/3
    assert charades_average_precision([0.9, 0.8, 0.7], [1, 0, 1]) == pytest.approx((1 + 2 / 3) / 2)
    # all tied: stable order keeps input order (no tie grouping, unlike sklearn)
    assert charades_average_precision([0.5, 0.5, 0.5], [0, 1, 1]) == pytest.approx((1 / 2 + 2 / 3) / 2)
    assert charades_average_precision([0.5, 0.5, 0.5], [1, 1, 0]) == pytest.approx(1.0)
    assert np.isnan(charades_average_precision([0.1, 0.2], [0, 0]))


def test_class_subset_for_science_sets():
    # class 2 (say, "background") ranks a negative first: AP 1/2; classes 0 and 1 are perfect
    scores = np.array([[0.9, 0.1, 0.3], [0.2, 0.8, 0.95], [0.4, 0.3, 0.9]])
    labels = np.eye(3, dtype=int)
    assert multilabel_map(scores, labels)["mAP"] == pytest.approx(100 * (1 + 1 + 0.5) / 3)
    behaviours = multilabel_map(scores, labels, classes=[0, 1])
    assert behaviours["mAP"] == pytest.approx(100.0)
    assert behaviours["num_classes_evaluated"] == 2 and set(behaviours["per_class_ap"]) == {"0", "1"}
    by_name = multilabel_map(scores, labels, exclude_classes=["background"], class_names=["attack", "mount", "background"])
    assert by_name["mAP"] == pytest.approx(100.0) and by_name["num_classes_evaluated"] == 2
    with pytest.raises(ValueError, match="'other' to exclude"):
        multilabel_map(scores, labels, exclude_classes=["other"], class_names=["attack", "mount", "background"])


def test_charades_files(tmp_path):
    submission = tmp_path / "submission.txt"
    submission.write_text("46GP8 0.9 0.1 0.2\n0IH69 0.3 0.2 0.9\nX1 0.1 0.9 0.3\n")
    truth = tmp_path / "Charades_v1_test.csv"
    truth.write_text('id,subject,actions,length\r\n46GP8,HR43,c000 11.90 21.20;c002 0.00 12.60,24.83\r\n'
                     '0IH69,6RE8,,30.25\r\nX1,AB,"c001 1.0 2.0",10\r\n')
    result = metrics.score_files("multilabel_map", submission, truth)
    assert result["num_videos_without_label"] == 1
    assert result["mAP"] == pytest.approx(100 * (1 + 1 + 1 / 2) / 3)
    truth.write_text("id,actions\n46GP8,x000 1 2\n0IH69,\nX1,\n")
    with pytest.raises(PredictionFileError, match=r"line 2: action 'x000' is not of the form cNNN"):
        metrics.score_files("multilabel_map", submission, truth)
