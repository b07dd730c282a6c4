"""Charades mAP: official charades-algorithms map.py values, hand-computed ties, exclusions, files."""

import json
from pathlib import Path

import numpy as np
import pytest

from vpbench import metrics
from vpbench.errors import PredictionFileError
from vpbench.metrics.multilabel import charades_average_precision, multilabel_map, sklearn_average_precision

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


# ---------------------------------------------------------------- the other conventions users compare with

def test_official_empty_class_behaviour_gives_nan():
    scores, labels = np.load(FIXTURES / "scores.npy"), np.load(FIXTURES / "labels_class7_empty.npy")
    assert EXPECTED["charades_labels_class7_empty"]["mAP"] is None  # the official mean is NaN
    result = multilabel_map(scores, labels, empty_classes="nan")
    assert np.isnan(result["mAP"]) and result["classes_excluded"] == [7]
    assert result["empty_classes"] == "nan" and "NaN" in result["empty_classes_detail"]
    official = [a for a in EXPECTED["charades_labels_class7_empty"]["per_class_ap"] if a is not None]
    assert list(result["per_class_ap"].values()) == pytest.approx([100 * a for a in official], abs=1e-9)
    # Without an empty class the official mean is a number, the same in both modes.
    full = np.load(FIXTURES / "labels.npy")
    assert multilabel_map(scores, full, empty_classes="nan")["mAP"] == pytest.approx(multilabel_map(scores, full)["mAP"])


def test_slowfast_convention_hand_computed():
    # Ties are one step: at 0.9 P=0 R=0, at 0.5 P=2/3 R=1 -> AP 2/3; the official order-based AP is (1/2 + 2/3)/2.
    assert sklearn_average_precision([0.9, 0.5, 0.5], [0, 1, 1]) == pytest.approx(2 / 3)
    assert charades_average_precision([0.9, 0.5, 0.5], [0, 1, 1]) == pytest.approx((1 / 2 + 2 / 3) / 2)
    # A video without any label stays as a negative: ranked first, it halves the AP (the official drops it).
    scores = np.array([[0.5, 0.2], [0.9, 0.1], [0.1, 0.8]])
    labels = np.array([[1, 0], [0, 0], [0, 1]])
    official = multilabel_map(scores, labels)
    slowfast = multilabel_map(scores, labels, convention="slowfast")
    assert official["mAP"] == pytest.approx(100.0) and official["num_videos"] == 2
    assert slowfast["per_class_ap"] == pytest.approx({"0": 50.0, "1": 100.0}) and slowfast["num_videos"] == 3
    assert slowfast["convention"] == "slowfast" and "scikit-learn" in slowfast["convention_detail"]


def test_slowfast_convention_equals_scikit_learn_as_slowfast_calls_it():
    from sklearn.metrics import average_precision_score

    rng = np.random.default_rng(7)
    scores = np.round(rng.random((60, 9)), 1)  # one decimal: many ties
    labels = (rng.random((60, 9)) < 0.2).astype(int)
    labels[:5] = 0  # unlabelled videos
    labels[:, 4] = 0  # a class with no positive: SlowFast drops the column
    result = multilabel_map(scores, labels, convention="slowfast")
    kept = ~np.all(labels == 0, axis=0)  # slowfast/utils/meters.py get_map
    expected = average_precision_score(labels[:, kept], scores[:, kept], average=None)
    assert list(result["per_class_ap"].values()) == pytest.approx(list(100 * expected), abs=1e-9)
    assert result["mAP"] == pytest.approx(100 * float(np.mean(expected)), abs=1e-9)
    assert result["classes_excluded"] == [4]


def test_score_cli_records_the_conventions(tmp_path, capsys):
    from vpbench.cli import main

    submission = tmp_path / "scores.txt"
    submission.write_text("a 0.5 0.2\nb 0.9 0.1\nc 0.1 0.8\n")
    truth = tmp_path / "labels.csv"
    truth.write_text("id,labels\na,0\nb,\nc,1\n")
    out = tmp_path / "report.json"
    assert main(["score", "--metric", "multilabel_map", "--predictions", str(submission), "--references", str(truth),
                 "--convention", "slowfast", "--empty-classes", "nan", "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["options"] == {"convention": "slowfast", "empty_classes": "nan"}
    assert report["scores"]["convention"] == "slowfast" and report["scores"]["mAP"] == pytest.approx(75.0)
    assert main(["score", "--metric", "multilabel_map", "--predictions", str(submission), "--references", str(truth),
                 "--convention", "activitynet"]) == 2
    assert "--convention activitynet does not apply to --metric multilabel_map" in capsys.readouterr().err
