"""`vpbench score`: table, JSON output, option checks, and one-line errors for bad files."""

import json
from pathlib import Path

import pytest

from vpbench import metrics
from vpbench.cli import main

FIXTURES = Path(__file__).parent / "fixtures" / "metrics"


def test_score_ava_writes_json_and_table(tmp_path, capsys):
    out = tmp_path / "result.json"
    code = main(["score", "--metric", "ava_frame_map", "--predictions", str(FIXTURES / "ava" / "detections.csv"),
                 "--references", str(FIXTURES / "ava" / "groundtruth.csv"),
                 "--label-map", str(FIXTURES / "ava" / "ava_action_list_v2.1_for_activitynet_2018.pbtxt"),
                 "--convention", "slowfast", "--excluded", str(FIXTURES / "ava" / "excluded.csv"), "--json", str(out)])
    assert code == 0
    report = json.loads(out.read_text())
    expected = json.loads((FIXTURES / "ava" / "expected_official.json").read_text())["slowfast_excluded"]
    assert report["scores"]["frame_mAP_iou_0.5"] == pytest.approx(100 * expected["PascalBoxes_Precision/mAP@0.5IOU"])
    assert report["headline"] == "frame_mAP_iou_0.5" and report["options"]["convention"] == "slowfast"
    table = capsys.readouterr().out
    assert "frame_mAP_iou_0.5" in table and f"{report['scores']['frame_mAP_iou_0.5']:.2f}" in table


def test_score_same_numbers_as_the_library(tmp_path, capsys):
    predictions, references = FIXTURES / "tal" / "predictions.json", FIXTURES / "tal" / "groundtruth.json"
    out = tmp_path / "tal.json"
    assert main(["score", "--metric", "activitynet_tal", "--predictions", str(predictions), "--references", str(references),
                 "--json", str(out)]) == 0
    assert json.loads(out.read_text())["scores"] == json.loads(json.dumps(metrics.score_files("activitynet_tal", predictions, references)))


def test_option_for_another_metric_is_refused(capsys):
    code = main(["score", "--metric", "activitynet_tal", "--predictions", "p.json", "--references", "r.json", "--v2t", "any_caption"])
    assert code == 2
    assert "--v2t does not apply to --metric activitynet_tal" in capsys.readouterr().err


def test_bad_file_is_one_error_line(tmp_path, capsys):
    bad = tmp_path / "det.csv"
    bad.write_text("vid,0902,0.1,0.1,0.5,0.5,12,0.9\nvid,0902,0.1,0.1,0.5,0.5,12\n")
    code = main(["score", "--metric", "ava_frame_map", "--predictions", str(bad),
                 "--references", str(FIXTURES / "ava" / "groundtruth.csv"),
                 "--label-map", str(FIXTURES / "ava" / "ava_action_list_v2.1_for_activitynet_2018.pbtxt")])
    assert code == 2
    err = capsys.readouterr().err
    assert "error:" in err and str(bad) in err and "line 2" in err and "Traceback" not in err


def test_registry_is_complete():
    for name, spec in metrics.METRICS.items():
        assert callable(metrics.function(name)), name
        assert spec.headline and spec.predictions_format and spec.references_format
    with pytest.raises(KeyError, match="unknown metric 'nope'"):
        metrics.get("nope")


def test_multilabel_map_excludes_a_named_class(tmp_path):
    (tmp_path / "scores.csv").write_text("id,attack,mount,other\na,0.9,0.1,0.2\nb,0.2,0.8,0.9\nc,0.4,0.3,0.6\n")
    (tmp_path / "labels.csv").write_text("id,labels\na,attack\nb,mount\nc,other\n")
    out = tmp_path / "r.json"
    args = ["score", "--metric", "multilabel_map", "--predictions", str(tmp_path / "scores.csv"),
            "--references", str(tmp_path / "labels.csv"), "--json", str(out)]
    assert main(args) == 0
    assert json.loads(out.read_text())["scores"]["mAP"] == pytest.approx(100 * (1 + 1 + 0.5) / 3)
    assert main(args + ["--exclude-classes", "other"]) == 0
    scores = json.loads(out.read_text())["scores"]
    assert scores["mAP"] == pytest.approx(100.0) and scores["num_classes_evaluated"] == 2
