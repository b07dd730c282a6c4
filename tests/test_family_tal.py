"""The tal family end to end on tiny ActivityNet (`vpbench run --task activitynet-tal --tiny`): the temporal
head on per-snippet features finds when and what far above the label-permutation control, and writes the
official ActivityNet detection JSON."""

from __future__ import annotations

import json

import numpy as np
from test_family_probe_common import run_tiny, tiny_task

from vpbench.datasets import DatasetSplit, Sample
from vpbench.families import RunContext, tal
from vpbench.families.common import LoadedSplit, RunLog


def test_temporal_head_beats_the_control_and_writes_the_official_json(tmp_path, capsys):
    result = run_tiny("activitynet-tal", tmp_path, capsys)
    scores = result["scores"]
    assert scores["avg_mAP_iou_0.5_0.95"] >= 35 and scores["mAP@0.5"] >= 60, scores
    assert result["benchmarks"] == {"activitynet-tal": scores["avg_mAP_iou_0.5_0.95"]}
    assert result["fingerprint"]["snippets"] == 16 and result["adapter"]["nms"]["method"] == "soft"
    assert result["counts"]["features"]["train"]["items"] == 16 * result["counts"]["samples"]["train"]

    files = result["extra"]["predictions"]
    with open(files["detections"]) as f:
        detections = json.load(f)
    with open(files["groundtruth"]) as f:
        database = json.load(f)["database"]
    assert detections["version"] == "VERSION 1.3" and set(detections["results"]) == set(database)
    for video, found in detections["results"].items():
        assert 0 < len(found) <= result["adapter"]["nms"]["max_detections"]
        duration = database[video]["duration"]
        assert all(0 <= d["segment"][0] < d["segment"][1] <= duration + 1e-6 for d in found)
        assert [d["score"] for d in found] == sorted((d["score"] for d in found), reverse=True)

    control = run_tiny("activitynet-tal", tmp_path, capsys, "shuffle_train_labels=true")
    assert control["scores"]["avg_mAP_iou_0.5_0.95"] <= scores["avg_mAP_iou_0.5_0.95"] - 20, control["scores"]
    assert control["counts"]["features"]["train"]["cache_misses"] == 0


def test_undecodable_snippets_reuse_the_previous_features_and_empty_videos_are_skipped(tmp_path, monkeypatch):
    videos = [Sample(sample_id=name, video_id=name, video_path=tmp_path / f"{name}.mp4", duration_s=8.0)
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
    kept, features = tal._snippet_features(log, context, task, None, loaded, None, snippets=4)
    assert [v.sample_id for v in kept] == ["a", "b"]
    assert captured["spans"]["train/a#snippet0001"] == (2.0, 4.0)  # the video cut in 4 equal spans
    assert features[:, :, 0].tolist() == [[0, 1, 2, 3], [11, 11, 11, 13]]
    assert log.counts["snippets_filled"] == 2
    assert log.counts["skipped"] == {"no_duration": 1, "no_decodable_snippet": 1}
