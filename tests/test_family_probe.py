"""The probe family end to end on tiny subsets (`vpbench run --task T --tiny`): labels are a function of the
pixels, so a trained head must beat chance clearly, the label-permutation control must not, a second run
must come from the feature cache, and the written files must re-score to the same number."""

from __future__ import annotations

from pathlib import Path

from test_family_probe_common import run_tiny

from vpbench import metrics


def test_single_label_probe_beats_chance_and_the_shuffled_control_does_not(tmp_path, capsys):
    result = run_tiny("diving48-probe", tmp_path, capsys)
    classes = result["fingerprint"]["class_subset"]["num_classes"]
    chance = 100.0 / classes
    assert classes == 4 and result["counts"]["evaluated"] == 24 and result["counts"]["train_items"] == 48
    assert result["scores"]["top1"] >= chance + 35, result["scores"]
    assert result["benchmarks"] == {"diving48": result["scores"]["top1"]}

    # Protocol fingerprint and honest selection are in the file.
    fingerprint = result["fingerprint"]
    assert len(fingerprint["splits"]["train"]["sha256"]) == 64 and fingerprint["splits"]["eval"]["name"] == "test"
    assert fingerprint["views"]["temporal"] == 2 and fingerprint["resolution"] == 32 and fingerprint["frames"] == 8
    # Trained on 2 augmented views per video (VideoGLUE's random clip, crop and flip), each cached apart.
    train_views = fingerprint["views"]["train"]
    assert train_views["views"] == 2 and train_views["kind"] == "augmented" and train_views["augment"]["flip"]
    assert result["counts"]["features"]["train"]["items"] == 2 * 48 and result["counts"]["train_views"] == 2
    assert "cached-train-views" in {d["id"] for d in result["protocol"]["deviations"]}
    assert {"train_augmentation", "test_views", "epochs"} <= {s["choice"] for s in result["protocol"]["sources"]}
    assert fingerprint["adapter"]["variant"] == "map" and len(fingerprint["adapter"]["grid"]) == 2
    assert "TRAINING split" in result["adapter"]["selection"]["rule"]
    assert result["adapter"]["selection"]["holdout_items"] + result["adapter"]["selection"]["fit_items"] == 48
    assert {"read", "extract", "adapter", "score"} <= set(result["timings_s"])

    # The files the run wrote re-score to the same number with the scorer `vpbench score` uses.
    files = result["extra"]["predictions"]
    rescored = metrics.score_files("classification", files["scores"], files["references"])
    assert rescored["top1"] == result["scores"]["top1"]

    control = run_tiny("diving48-probe", tmp_path, capsys, "shuffle_train_labels=true")
    assert control["adapter"]["variant"] == "map-shuffled-labels" and control["fingerprint"]["shuffled_train_labels"]
    assert any("CONTROL RUN" in note for note in control["notes"])
    assert control["scores"]["top1"] <= chance + 20, control["scores"]
    # Same task, same features: the second run reads every clip from the cache and encodes nothing.
    for split, views in (("train", 2), ("eval", 1)):
        books = control["counts"]["features"][split]
        assert books["cache_misses"] == 0 and books["cache_hits"] == views * control["counts"]["samples"][split]
        assert control["timings_s"][f"extract_{split}_encode"] == 0.0
    assert Path(files["scores"]).is_file()


def test_multilabel_science_probe_beats_the_control_and_reruns_identically(tmp_path, capsys):
    first = run_tiny("flyvsfly", tmp_path, capsys)
    assert first["adapter"]["multilabel"] and first["adapter"]["loss"].startswith("sigmoid")
    assert first["adapter"]["selection"]["rule"].startswith("single setting")
    assert first["scores"]["mAP"] >= 75, first["scores"]
    assert first["fingerprint"]["class_subset"]["metric_excludes"] == ["background"]
    classes = first["fingerprint"]["class_subset"]["num_classes"]
    assert first["extra"]["metric"]["multilabel_map"]["num_classes_evaluated"] == classes - 1

    again = run_tiny("flyvsfly", tmp_path, capsys)  # same seed: same numbers, all features from the cache
    assert again["scores"] == first["scores"]
    assert again["counts"]["features"]["train"]["cache_misses"] == 0
    assert again["counts"]["features"]["train"]["cache_hits"] == first["counts"]["samples"]["train"]

    control = run_tiny("flyvsfly", tmp_path, capsys, "shuffle_train_labels=true")
    assert control["scores"]["mAP"] <= first["scores"]["mAP"] - 25, (control["scores"], first["scores"])
