"""The wiring every family shares (vpbench.families.common), and the helper the family tests use to run a
task end to end on its tiny subset through `vpbench run --tiny`."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from vpbench.datasets import Sample
from vpbench.errors import RegistryError, VpbenchError
from vpbench.families import RunContext
from vpbench.families.common import (FeatureTable, RunLog, limit_samples, pick_scores, read_splits, sampling_spec,
                                     score_metrics, shuffle_requested)
from vpbench.registry import load_registry
from vpbench.tiny import make_tiny


def run_tiny(task: str, output: Path, capsys, *options: str, model: str | None = None, args: tuple[str, ...] = ()
             ) -> dict:
    """`vpbench run --task TASK --tiny [--model MODEL] [ARGS]` in-process (one torch thread, no decode workers);
    the result JSON."""
    from vpbench.cli import main

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny matmuls: one thread beats two contended ones
    try:
        argv = ["run", "--task", task, "--tiny", "--output", str(output), "--workers", "0", "--device", "cpu",
                "--json", *(arg for option in options for arg in ("--option", option)),
                *(("--model", model) if model else ()), *args]
        capsys.readouterr()
        code = main(argv)
        captured = capsys.readouterr()
    finally:
        torch.set_num_threads(threads)
    assert code == 0, captured.err[-3000:]
    (path,) = json.loads(captured.out)["results"]
    return json.loads(Path(path).read_text())


def tiny_task(name: str):
    return load_registry().task(name).for_tiny()


# ----------------------------------------------------------------------------------- unit pieces


def test_limit_is_a_seeded_subset_in_reader_order():
    samples = [Sample(sample_id=f"s{i}", video_id=f"v{i}", video_path=Path(f"/v{i}.mp4")) for i in range(100)]
    first = limit_samples(samples, 10, seed=0)
    assert len(first) == 10 and first == sorted(first, key=lambda s: int(s.sample_id[1:]))
    assert first != samples[:10]  # not "the first N rows": official files are often sorted by class
    assert limit_samples(samples, 10, seed=0) == first and limit_samples(samples, 10, seed=1) != first
    assert limit_samples(samples, None, seed=0) == samples and limit_samples(samples, 500, seed=0) == samples


def test_pick_scores_rules(tmp_path):
    task = tiny_task("activitynet-tal")
    log = RunLog(task, RunContext(data_root=tmp_path, output_dir=tmp_path, model="tiny"))
    metric = {"name": "activitynet_tal", "keys": ["avg_mAP_iou_0.5_0.95", "mAP@0.5", "mAP@0.75"]}
    result = {"avg_mAP_iou_0.5_0.95": 12.5, "mAP@0.5": 30.0, "mAP@0.75": 10.0, "convention": "x"}
    assert pick_scores(task, metric, result, log) == {"avg_mAP_iou_0.5_0.95": 12.5, "mAP@0.5": 30.0, "mAP@0.75": 10.0}
    # Keys match exactly: a threshold written with other digits is a different key.
    result = {"avg_mAP_iou_0.5_0.95": 12.5, "mAP@0.50": 30.0, "mAP@0.75": 10.0}
    assert pick_scores(task, metric, result, log) == {"avg_mAP_iou_0.5_0.95": 12.5, "mAP@0.75": 10.0}
    assert "score 'mAP@0.5' left out: metric 'activitynet_tal' did not produce it on this data" in log.notes
    # A single declared key takes the scorer's headline (ChimpACT's mAP is the AVA frame-mAP).
    chimp = tiny_task("chimpact")
    assert pick_scores(chimp, {"name": "ava_frame_map", "keys": ["mAP"]}, {"frame_mAP_iou_0.5": 40.0}, log,
                       headline="frame_mAP_iou_0.5") == {"mAP": 40.0}
    # A key no benchmark reads may be absent (top-5 of 4 classes); one a benchmark reads may not.
    probe = tiny_task("diving48-probe")
    metric = {"name": "classification", "keys": ["top1", "top5"]}
    assert pick_scores(probe, metric, {"top1": 50.0}, log) == {"top1": 50.0}
    with pytest.raises(VpbenchError, match="produced no 'top1'"):
        pick_scores(probe, metric, {"top5": 50.0}, log)


def test_score_metrics_scores_each_entry_and_refuses_a_metric_the_family_cannot_read(tmp_path):
    predictions = tmp_path / "scores.csv"
    predictions.write_text("id,walk,run,graze\nb,0.1,0.2,0.7\na,0.9,0.05,0.05\nc,0.2,0.5,0.3\n")
    references = tmp_path / "labels.csv"
    references.write_text("id,label\na,walk\nb,2\nc,walk\n")
    context = RunContext(data_root=tmp_path, output_dir=tmp_path, model="tiny")
    task = dataclasses.replace(tiny_task("diving48-probe"), metrics=[{"name": "classification", "keys": ["top1"]}])
    log = RunLog(task, context)
    asked = []
    scores, details = score_metrics(task, predictions, references, log, family="a probe",
                                    scorable=("classification",),
                                    options=lambda metric: asked.append(metric["name"]) or {"classes": "present"})
    assert scores == {"top1": pytest.approx(200 / 3)}
    assert details["classification"]["macro_accuracy"] == pytest.approx(75.0)
    assert asked == ["classification"] and "score" in log.timings_s
    wrong = dataclasses.replace(task, metrics=[{"name": "retrieval", "keys": ["t2v_R@1"]}])
    with pytest.raises(RegistryError, match=r"metric 'retrieval' cannot score a probe; expected classification$"):
        score_metrics(wrong, predictions, references, RunLog(wrong, context), family="a probe",
                      scorable=("classification",))


def test_run_log_books_extraction_and_skips(tmp_path):
    log = RunLog(tiny_task("kabr"), RunContext(data_root=tmp_path, output_dir=tmp_path, model="tiny"))

    class Result:  # the fields of vpbench.features.ExtractionResult the log reads
        features = {"a": 1, "b": 2}
        skipped = []
        skipped_counts = {"corrupt": 2}
        cache_hits, cache_misses = 1, 3
        settings = {"digest": "abc"}
        timings = {"wall_s": 1.5, "encode_s": 1.0}
        recomputed, recomputed_counts = ["entry"], {"checksum": 1}

    log.add_extraction("train", Result(), role="train")
    log.skip("eval", "no_label", 3)
    with log.stage("adapter"):
        pass
    assert log.counts["features"]["train"] == {"items": 2, "cache_hits": 1, "cache_misses": 3,
                                               "cache_recomputed": 1, "settings_digest": "abc"}
    assert any("1 bad feature cache entries were recomputed (checksum: 1)" in note for note in log.notes)
    assert log.counts["skipped"] == {"video_corrupt": 2, "no_label": 3}
    assert log.counts["skipped_by_split"] == {"train": {"video_corrupt": 2}, "eval": {"no_label": 3}}
    assert log.timings_s["extract"] == 1.5 and log.timings_s["extract_train_encode"] == 1.0
    assert "adapter" in log.timings_s


@pytest.mark.parametrize("memory_bytes", [1 << 30, 0])
def test_feature_table_in_memory_or_lazy_gives_the_same_tensors(memory_bytes):
    rng = np.random.default_rng(0)
    features = {f"id{i}": rng.normal(size=(2, 3, 4)).astype(np.float16) for i in range(5)}
    ids = ["id3", "id0", "id4"]
    views = FeatureTable(features, ids, memory_bytes=memory_bytes)
    first_view = FeatureTable(features, ids, view=0, memory_bytes=memory_bytes)
    assert (views._memory is None) == (memory_bytes == 0)
    assert views([2, 0]).dtype == torch.float32 and tuple(views([2, 0]).shape) == (2, 2, 3, 4)
    assert torch.equal(first_view([1])[0], torch.from_numpy(features["id0"][0].astype(np.float32)))
    assert first_view.item_shape == (3, 4) and views.item_shape == (2, 3, 4)


def test_shuffle_option_parsing(tmp_path):
    context = RunContext(data_root=tmp_path, output_dir=tmp_path, model="tiny")
    assert not shuffle_requested(context)
    context.options["shuffle_train_labels"] = "true"
    assert shuffle_requested(context)
    context.options["shuffle_train_labels"] = "maybe"
    with pytest.raises(VpbenchError, match="shuffle_train_labels"):
        shuffle_requested(context)


def test_sampling_spec_train_view_and_squash():
    task = tiny_task("k400-probe")
    spec = sampling_spec(task)
    assert (spec.frames, spec.resolution, spec.temporal_views, spec.spatial_views) == (8, 32, 2, 1)
    assert sampling_spec(task, views=False).num_views == 1
    assert sampling_spec(tiny_task("ava-stal"), views=False, resize="squash").resize == "squash"
    assert sampling_spec(tiny_task("kabr")).stride == 5


def test_read_splits_counts_missing_videos_and_applies_the_limit(tmp_path):
    task = tiny_task("mit-probe")
    root = make_tiny(task, Path(os.environ["VPBENCH_TEST_CACHE"]) / "tiny")
    copy = tmp_path / "data"
    import shutil

    shutil.copytree(root / task.dataset["root"], copy / task.dataset["root"])
    victim = next((copy / task.dataset["root"] / "validation").rglob("*.mp4"))
    victim.unlink()
    context = RunContext(data_root=copy, output_dir=tmp_path, model="tiny", limit=10)
    log = RunLog(task, context)
    splits = read_splits(task, context, log)
    assert len(splits["train"].samples) == 10 and len(splits["eval"].samples) == 10
    assert splits["eval"].without_video == 1 and log.counts["skipped_by_split"] == {"eval": {"missing_video": 1}}
    assert all(s.video_path is not None for s in splits["eval"].samples)
    assert len(log.fingerprint["splits"]["eval"]["sha256"]) == 64
    assert any("--limit 10" in note for note in log.notes)
    with pytest.raises(VpbenchError, match="missing"):
        read_splits(task, RunContext(data_root=copy, output_dir=tmp_path, model="tiny", strict=True),
                    RunLog(task, context))
