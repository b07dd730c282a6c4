"""Macro F1 over behaviours (CalMS21 task 1's official metric): hand-computed cases, scikit-learn, files."""

import numpy as np
import pytest

from vpbench import metrics
from vpbench.errors import PredictionFileError
from vpbench.metrics.f1 import macro_f1

NAMES = ["attack", "investigation", "mount", "other"]


def one_hot_scores(predicted, num_classes=4):
    scores = np.full((len(predicted), num_classes), 0.1)
    scores[np.arange(len(predicted)), predicted] = 0.9
    return scores


def test_hand_computed_excluding_other():
    labels = np.array([0, 0, 1, 2, 3, 3])
    predicted = np.array([0, 1, 1, 3, 3, 0])  # 'other' predicted for a mount frame: a miss for mount
    result = macro_f1(one_hot_scores(predicted), labels, exclude_classes=["other"], class_names=NAMES)
    # attack: TP 1, FP 1, FN 1 -> 1/2; investigation: TP 1, FP 1 -> 2/3; mount: FN 1 -> 0
    assert result["per_class_f1"] == pytest.approx({"0": 50.0, "1": 200 / 3, "2": 0.0})
    assert result["macro_F1"] == pytest.approx(100 * (1 / 2 + 2 / 3 + 0) / 3)
    assert result["classes_excluded"] == [3] and result["num_items"] == 6


def test_equals_scikit_learn_macro_f1_over_the_behaviours():
    from sklearn.metrics import f1_score

    rng = np.random.default_rng(3)
    labels = rng.integers(0, 4, 500)
    scores = rng.random((500, 4)) + 0.6 * np.eye(4)[labels]
    result = macro_f1(scores, labels, exclude_classes=[3])
    expected = f1_score(labels, scores.argmax(1), labels=[0, 1, 2], average="macro")
    assert result["macro_F1"] == pytest.approx(100 * expected, abs=1e-9)


def test_ties_and_absent_classes():
    # A tie goes to the lowest index (np.argmax), never to a better-scored class by chance.
    result = macro_f1(np.array([[0.5, 0.5, 0.1, 0.1]]), np.array([1]), classes=[0, 1])
    assert result["per_class_f1"] == {"0": 0.0, "1": 0.0}
    # A class neither labelled nor predicted has no F1: left out of the mean and named.
    result = macro_f1(one_hot_scores([0, 1]), np.array([0, 1]), exclude_classes=[3])
    assert result["macro_F1"] == pytest.approx(100.0) and result["classes_without_items"] == [2]
    with pytest.raises(ValueError, match="undefined"):
        macro_f1(one_hot_scores([3]), np.array([3]), classes=[0, 1, 2])


def test_files_and_cli(tmp_path, capsys):
    from vpbench.cli import main

    predictions = tmp_path / "scores.csv"
    predictions.write_text("id,attack,investigation,mount,other\nf1,0.9,0.1,0.1,0.1\nf2,0.1,0.9,0.1,0.1\n"
                           "f3,0.1,0.1,0.2,0.9\n")
    references = tmp_path / "labels.csv"
    references.write_text("id,label\nf1,attack\nf2,investigation\nf3,mount\n")
    result = metrics.score_files("macro_f1", predictions, references, exclude_classes=["other"])
    assert result["macro_F1"] == pytest.approx(100 * 2 / 3)
    assert main(["score", "--metric", "macro_f1", "--predictions", str(predictions), "--references", str(references),
                 "--exclude-classes", "other"]) == 0
    assert "macro_F1" in capsys.readouterr().out
    references.write_text("id,labels\nf1,attack;mount\nf2,investigation\nf3,mount\n")
    with pytest.raises(PredictionFileError, match="id 'f1' has 2 labels; macro_f1 needs exactly one"):
        metrics.score_files("macro_f1", predictions, references)
