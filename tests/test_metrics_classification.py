"""Top-k, macro and multiple-choice accuracy: hand-computed cases, scikit-learn, and the file wrapper."""

import re

import numpy as np
import pytest
from sklearn.metrics import balanced_accuracy_score, top_k_accuracy_score

from vpbench import metrics
from vpbench.errors import PredictionFileError
from vpbench.metrics.classification import macro_accuracy, topk_accuracy, true_class_rank


def test_hand_computed_topk():
    scores = np.array([[0.1, 0.7, 0.2],   # label 1: rank 0
                       [0.5, 0.3, 0.2],   # label 2: rank 2
                       [0.3, 0.3, 0.4]])  # label 0: ties with class 1 -> pessimistic rank 2
    labels = np.array([1, 2, 0])
    assert true_class_rank(scores, labels).tolist() == [0, 2, 2]
    result = topk_accuracy(scores, labels, ks=(1, 2, 3, 5))
    assert result == {"top1": pytest.approx(100 / 3), "top2": pytest.approx(100 / 3), "top3": 100.0}  # top5 > C skipped


def test_ties_never_help():
    scores = np.zeros((4, 10))
    labels = np.array([0, 3, 5, 9])
    assert topk_accuracy(scores, labels)["top1"] == 0.0
    assert topk_accuracy(scores, labels)["top5"] == 0.0
    assert macro_accuracy(scores, labels)["macro_accuracy"] == 0.0


def test_topk_matches_sklearn_on_tie_free_scores():
    rng = np.random.default_rng(0)
    scores = rng.normal(size=(500, 20))
    labels = rng.integers(0, 20, size=500)
    result = topk_accuracy(scores, labels)
    for k in (1, 5):
        assert result[f"top{k}"] == pytest.approx(100 * top_k_accuracy_score(labels, scores, k=k, labels=np.arange(20)))


@pytest.mark.filterwarnings("ignore:y_pred contains classes not in y_true")
def test_macro_averages_over_classes_present_in_labels():
    # Class 3 never occurs in the labels but is predicted once: 'present' ignores it, 'union' counts it as 0.
    scores = np.eye(4)[[0, 0, 1, 3, 2, 2]] + 0.01 * np.arange(4)
    labels = np.array([0, 0, 1, 1, 2, 0])  # per class: 0 -> 2/3, 1 -> 1/2, 2 -> 1/1
    present = macro_accuracy(scores, labels)
    assert present["macro_accuracy"] == pytest.approx(100 * (2 / 3 + 1 / 2 + 1) / 3)
    assert present["macro_num_classes"] == 3
    union = macro_accuracy(scores, labels, classes="union")
    assert union["macro_accuracy"] == pytest.approx(100 * (2 / 3 + 1 / 2 + 1 + 0) / 4)
    assert union["macro_num_classes"] == 4
    assert present["macro_accuracy"] == pytest.approx(100 * balanced_accuracy_score(labels, scores.argmax(1)))


def test_multiple_choice_and_registry():
    scores = np.array([[0.1, 0.9, 0.0, 0.2, 0.3], [0.5, 0.1, 0.2, 0.3, 0.4]])
    result = metrics.compute("multiple_choice", scores, np.array([1, 2]))
    assert result == {"mc_accuracy": 50.0, "num_items": 2}


def _write(path, text):
    path.write_text(text)
    return path


def test_score_file_round_trip(tmp_path):
    predictions = _write(tmp_path / "scores.csv", "id,walk,run,graze\nb,0.1,0.2,0.7\na,0.9,0.05,0.05\nc,0.2,0.5,0.3\n")
    references = _write(tmp_path / "labels.csv", "id,label\na,walk\nb,2\nc,walk\n")
    result = metrics.score_files("classification", predictions, references)
    assert result["top1"] == pytest.approx(200 / 3)
    assert result["macro_accuracy"] == pytest.approx(100 * (1 / 2 + 1) / 2)
    # whitespace-separated, no header (the Charades submission layout) works too
    spaced = _write(tmp_path / "scores.txt", "a 0.9 0.05 0.05\nb 0.1 0.2 0.7\nc 0.2 0.5 0.3\n")
    references = _write(tmp_path / "labels_idx.csv", "id,label\na,0\nb,2\nc,0\n")
    assert metrics.score_files("classification", spaced, references)["top1"] == pytest.approx(200 / 3)


@pytest.mark.parametrize("scores_text, labels_text, message", [
    ("a 0.1 0.9\nb 0.5 nan\n", "id,label\na,1\nb,0\n", "line 2: score 1 is 'nan'"),
    ("a 0.1 0.9\nb 0.5\n", "id,label\na,1\nb,0\n", "line 2: 1 scores; expected 2"),
    ("a 0.1 0.9\n", "id,label\na,1\nb,0\n", "no prediction for 1 id(s)"),
    ("a 0.1 0.9\nz 0.1 0.9\nb 1 0\n", "id,label\na,1\nb,0\n", "are not in"),
    ("a 0.1 0.9\nb 0.5 0.4\n", "id,label\na,1\nb,7\n", "line 3: class 7 is outside"),
    ("a 0.1 0.9\nb 0.5 0.4\n", "id,label\na,1\nb,jump\n", "line 3: label 'jump'"),
    ("a 0.1 0.9\nb 0.5 0.4\n", "video,label\na,1\n", "no 'id' column"),
    ("a 0.1 0.9\na 0.5 0.4\n", "id,label\na,1\n", "appears more than once"),
])
def test_bad_files_name_file_row_and_problem(tmp_path, scores_text, labels_text, message):
    predictions = _write(tmp_path / "p.txt", scores_text)
    references = _write(tmp_path / "r.csv", labels_text)
    with pytest.raises(PredictionFileError, match=re.escape(message)) as error:
        metrics.score_files("classification", predictions, references)
    assert str(tmp_path) in str(error.value)
