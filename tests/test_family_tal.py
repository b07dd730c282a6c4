"""The tal family end to end on tiny ActivityNet (`vpbench run --task activitynet-tal --tiny`): G-TAD proposals
fused with the user's video-level classifier scores (the paper's pipeline, recorded in the result), the
official ActivityNet detection JSON; without the scores file the default refuses and names the variant,
and the variant `own-classifier` runs with its deviation recorded."""

from __future__ import annotations

import json

import numpy as np
import pytest
from test_family_probe_common import run_tiny, tiny_task

from vpbench.cli import main
from vpbench.datasets import DatasetSplit, Sample
from vpbench.datasets.activitynet_json import read_video_scores
from vpbench.errors import AnnotationError, VpbenchError
from vpbench.families import RunContext, tal
from vpbench.families.common import LoadedSplit, RunLog
from vpbench.tiny import default_tiny_root, make_tiny, tiny_user_files

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_gtad_fuses_the_users_video_scores_and_writes_the_official_json(tmp_path, capsys):
    result = run_tiny("activitynet-tal", tmp_path, capsys)
    scores = result["scores"]
    assert scores["avg_mAP_iou_0.5_0.95"] >= 40 and scores["mAP@0.75"] >= 50, scores
    assert result["protocol"]["variant"] is None and result["protocol"]["deviations"] == []
    fusion = result["adapter"]["fusion"]
    assert fusion["video_scores"] == "user_file" and fusion["top_classes"] == 2
    assert result["adapter"]["video_classifier"]["file"] == "video_scores"
    assert len(result["adapter"]["video_classifier"]["sha256"]) == 64
    assert result["fingerprint"]["temporal_scale"] == 16 and result["fingerprint"]["snippet_s"] == 1.0
    assert result["counts"]["features"]["train"]["items"] == 10 * result["counts"]["samples"]["train"]  # 10 s videos

    task = tiny_task("activitynet-tal")
    root = default_tiny_root() / task.name
    class_names = ["Blue object moving", "Green object moving", "Red object moving", "Yellow object moving"]
    video_scores = read_video_scores(tiny_user_files(task, root)["video_scores"], class_names)
    files = result["extra"]["predictions"]
    detections = json.loads(open(files["detections"]).read())
    database = json.loads(open(files["groundtruth"]).read())["database"]
    assert detections["version"] == "VERSION 1.3" and set(detections["results"]) == set(database)
    for video, found in detections["results"].items():
        top_two = {class_names[k] for k in np.argsort(-video_scores[video])[:2]}
        assert {d["label"] for d in found} == top_two  # every proposal once per top-2 video class
        assert 0 < len(found) <= 2 * 100
        duration = database[video]["duration"]
        assert all(0 <= d["segment"][0] < d["segment"][1] <= duration + 1e-6 for d in found)


def test_without_the_scores_file_the_default_stops_and_names_the_variant(tmp_path):
    task = tiny_task("activitynet-tal")
    root = make_tiny(task, tmp_path / "data")
    context = RunContext(data_root=root, output_dir=tmp_path, model="tiny", user_files={})
    with pytest.raises(VpbenchError, match=r"--user-file video_scores=PATH .*`--variant own-classifier`"):
        tal.run(task, context)


def test_the_own_classifier_variant_is_named_and_records_its_deviation(tmp_path, capsys):
    code = main(["run", "--task", "activitynet-tal", "--tiny", "--variant", "own-classifier", "--output",
                 str(tmp_path), "--workers", "0", "--device", "cpu", "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err[-3000:]
    (path,) = json.loads(captured.out)["results"]
    result = json.loads(open(path).read())
    assert "@own-classifier" in path
    assert result["protocol"]["variant"] == "own-classifier"
    assert [d["id"] for d in result["protocol"]["deviations"]] == ["video_classifier"]
    assert result["adapter"]["fusion"]["video_scores"] == "own_classifier"
    assert result["adapter"]["video_classifier"]["type"] == "linear"
    assert result["scores"]["avg_mAP_iou_0.5_0.95"] >= 25, result["scores"]


def test_video_scores_file_errors_name_the_file_and_key(tmp_path):
    path = tmp_path / "scores.json"
    path.write_text(json.dumps({"results": {"v_abcdefghijk": [0.2, 0.8]}, "class": ["b", "a"]}))
    scores = read_video_scores(path, ["a", "b"])
    assert scores["abcdefghijk"].tolist() == [0.8, 0.2]  # v_ prefix dropped, reordered to the task's classes
    path.write_text(json.dumps({"results": {}, "class": ["a", "c"]}))
    with pytest.raises(AnnotationError, match=r"scores.json: key 'class' must list the task's 2 classes"):
        read_video_scores(path, ["a", "b"])
    path.write_text(json.dumps({"results": {"x": [0.1]}, "class": ["a", "b"]}))
    with pytest.raises(AnnotationError, match=r"results\['x'\] must be a list of 2 numbers"):
        read_video_scores(path, ["a", "b"])


def test_undecodable_snippets_reuse_the_previous_features_and_empty_videos_are_skipped(tmp_path, monkeypatch):
    videos = [Sample(sample_id=name, video_id=name, video_path=tmp_path / f"{name}.mp4", duration_s=1.9)
              for name in ("a", "b", "c")]
    videos.append(Sample(sample_id="d", video_id="d", video_path=tmp_path / "d.mp4", duration_s=None))
    decodable = {"a": [0, 1, 2, 3], "b": [1, 3], "c": []}  # b: first and third fail (e.g. a short file)

    class Extraction:
        features = {f"train/{v}#snippet{k:04d}": np.full((1, 2), 10 * i + k, np.float16)
                    for i, (v, ks) in enumerate(decodable.items()) for k in ks}

    captured = {}

    def fake_extract(log, context, task, model, items, spec, *, name, role=None, layout=None):
        captured["spans"] = {item.item_id: item.clip_span_s for item in items}
        return Extraction()

    monkeypatch.setattr(tal, "extract", fake_extract)
    task = tiny_task("activitynet-tal")
    context = RunContext(data_root=tmp_path, output_dir=tmp_path, model="tiny")
    log = RunLog(task, context)
    loaded = LoadedSplit("train", "training", DatasetSplit(task.name, "training", videos), videos, 4, 0, False)
    geometry = {"snippet_s": 0.5, "temporal_scale": 4}
    kept, features = tal._snippet_features(log, context, task, None, loaded, None, geometry)
    assert [v.sample_id for v in kept] == ["a", "b"]
    # 1.9 s in consecutive 0.5 s snippets: 4 snippets, the last one running past the end.
    assert [captured["spans"][f"train/a#snippet{k:04d}"] for k in range(4)] == [(0, 0.5), (0.5, 1.0), (1.0, 1.5),
                                                                                 (1.5, 2.0)]
    assert features[:, :, 0].tolist() == [[0, 1, 2, 3], [11, 11, 11, 13]]  # 4 snippets = the temporal scale
    assert log.counts["snippets_filled"] == 2
    assert log.counts["skipped"] == {"no_duration": 1, "no_decodable_snippet": 1}
    assert tal._covered_s(videos[0], geometry) == 2.0
