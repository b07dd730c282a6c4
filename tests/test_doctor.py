"""`vpbench doctor`: assets with their sources, counts, missing and undecodable videos, annotation
errors, exit codes. Data checks name a tiny checkpoint (`--model tiny`), so that the offline test
machine has every asset and the verdict is about the data."""

from __future__ import annotations

import json
import shutil

import pytest

from vpbench.cli import main
from vpbench.registry import load_registry
from vpbench.tiny import EVAL_CLIPS, TRAIN_CLIPS, make_tiny


def doctor(capsys, *args: str, model: str = "tiny") -> tuple[int, list[dict]]:
    code = main(["doctor", *args, *([] if "--tiny" in args else ["--model", model]), "--json"])
    out = capsys.readouterr().out
    return code, json.loads(out) if out.strip() else []


@pytest.fixture(scope="module")
def mit_root(tmp_path_factory):
    """A pristine tiny Moments in Time data root; tests copy it before damaging it."""
    root = tmp_path_factory.mktemp("doctor")
    make_tiny(load_registry().task("mit-probe").for_tiny(), root)
    return root


@pytest.fixture
def data_root(mit_root, tmp_path):
    shutil.copytree(mit_root / "moments_in_time", tmp_path / "moments_in_time")
    return tmp_path


def test_doctor_on_the_tiny_subset(capsys):
    code, (report,) = doctor(capsys, "--task", "mit-probe", "--tiny", "--decode", "3")
    assert code == 0 and report["can_run"] and report["problems"] == []
    train, val = report["splits"]
    assert (train["split"], train["samples"], train["videos_found"], train["decoded"]) == ("train", TRAIN_CLIPS,
                                                                                          TRAIN_CLIPS, 3)
    assert (val["samples"], val["missing"], val["classes"], val["official"]) == (EVAL_CLIPS, 0, 4, None)


def test_doctor_reports_missing_videos_and_official_counts(capsys, data_root):
    videos = sorted((data_root / "moments_in_time" / "validation").rglob("*.mp4"))
    for path in videos[:5]:
        path.unlink()
    code, (report,) = doctor(capsys, "--task", "mit-probe", "--data-root", str(data_root))
    assert code == 0 and report["can_run"]
    val = report["splits"][1]
    assert (val["samples"], val["videos_found"], val["missing"]) == (EVAL_CLIPS, EVAL_CLIPS - 5, 5)
    assert set(val["missing_examples"]) == {str(p) for p in videos[:5]}
    messages = [p["message"] for p in report["problems"] if p["split"] == "val"]
    assert any("5 of 24 samples (20.8%) have no video on disk (5 files missing)" in m for m in messages)
    assert any("the official split has 33900" in m for m in messages)  # the real task compares with the paper's split


def test_doctor_fails_when_no_video_of_a_split_exists(capsys, data_root):
    shutil.rmtree(data_root / "moments_in_time" / "validation")
    code, (report,) = doctor(capsys, "--task", "mit-probe", "--data-root", str(data_root))
    assert code == 1 and not report["can_run"]
    assert any(p["severity"] == "error" and "no video of the 24 samples is on disk (24 files" in p["message"]
               for p in report["problems"])


def test_doctor_fails_on_an_annotation_error(capsys, data_root):
    path = data_root / "moments_in_time" / "moments_categories.txt"
    path.write_text(path.read_text().replace("red,", "red;"))
    code, (report,) = doctor(capsys, "--task", "mit-probe", "--data-root", str(data_root))
    assert code == 1
    assert all(p["severity"] == "error" and "moments_categories.txt: line" in p["message"] for p in report["problems"])
    assert len(report["problems"]) == 2  # both splits, each naming the file and line


def test_doctor_decodes_and_reports_corrupt_videos(capsys, data_root):
    videos = sorted((data_root / "moments_in_time" / "training").rglob("*.mp4"))
    for path in videos:
        path.write_bytes(b"not a video")
    code, (report,) = doctor(capsys, "--task", "mit-probe", "--data-root", str(data_root), "--decode", "4")
    train, val = report["splits"]
    assert code == 1 and train["decoded"] == 0 and len(train["decode_failures"]) == 4 and val["decoded"] == 4
    assert any(p["severity"] == "error" and "4 of 4 sampled videos failed to decode" in p["message"]
               for p in report["problems"])


def test_doctor_needs_the_user_file_of_a_subset_task(capsys, tmp_path):
    make_tiny(load_registry().task("ssv2-probe").for_tiny(), tmp_path)
    code, (report,) = doctor(capsys, "--task", "ssv2-temporal-zeroshot", "--data-root", str(tmp_path),
                             model="tiny-lvt")
    assert code == 1 and "--user-file class_list=PATH" in report["problems"][0]["message"]
    class_list = next(a for a in report["assets"] if a["key"] == "class_list")
    assert not class_list["present"] and class_list["without"] == "refuse"
    assert "Sevilla-Lara et al., WACV 2021" in class_list["sources"][0]
    assert any("user_file 'class_list' is missing (get it: from the authors of 'Only Time Can Tell'" in p["message"]
               and "the run would refuse" in p["message"] for p in report["problems"])
    code, (report,) = doctor(capsys, "--task", "ssv2-temporal-zeroshot", "--data-root", str(tmp_path),
                             "--user-file", f"class_list={tmp_path / 'ssv2' / 'user_files' / 'class_list'}",
                             model="tiny-lvt")
    assert code == 0 and report["splits"][0]["classes"] == 3
    assert all(a["present"] for a in report["assets"])


def test_doctor_prints_a_summary_for_people(capsys, data_root):
    (next((data_root / "moments_in_time" / "validation").rglob("*.mp4"))).unlink()
    assert main(["doctor", "--task", "mit-probe", "--data-root", str(data_root), "--model", "tiny"]) == 0
    out = capsys.readouterr().out
    assert "videos found" in out and "1 of 24 samples" in out and "ready to run" in out
    assert "mit-probe: assets" in out and "present" in out


def test_doctor_json_lists_the_assets_of_every_task_with_their_sources(capsys, monkeypatch, tmp_path):
    """No data root and nothing cached: every task still lists what it needs and where it comes from."""
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setenv("KAGGLEHUB_CACHE", str(tmp_path / "kaggle"))
    monkeypatch.delenv("VPBENCH_SPM_MODEL", raising=False)
    code = main(["doctor", "--task", "all", "--json"])
    reports = {r["task"]: r for r in json.loads(capsys.readouterr().out)}
    registry = load_registry()
    assert code == 1 and set(reports) == set(registry.tasks)
    for name, report in reports.items():
        task = registry.task(name)
        kinds = [a["kind"] for a in report["assets"]]
        assert kinds[0] == "checkpoint" and all(a["sources"] and all(a["sources"]) for a in report["assets"])
        assert ("tokenizer" in kinds) == (task.family in ("retrieval", "zeroshot_classification", "multiple_choice"))
        assert ("lm" in kinds) == (task.family in ("captioning", "qa"))
        assert {a["key"] for a in report["assets"] if a["kind"] in ("user_file", "detections")} == set(
            task.dataset.get("user_files", {}))
        assert all(a["present"] is False for a in report["assets"])  # nothing is cached here
    checkpoint = reports["k400-probe"]["assets"][0]
    assert checkpoint["key"] == "videoprism-b" and checkpoint["without"] == "refuse (offline)"
    assert checkpoint["sources"] == [
        "hf://google/videoprism-base-f16r288/flax_base_f16r288_repeated.npz (official .npz)",
        "hf:google/videoprism-base-f16r288@2be2ef51d0d611d0fadf21a6d1470a4ad4af9249 (the same weights in the "
        "transformers port's format)"]
    tokenizer = next(a for a in reports["msrvtt-retrieval"]["assets"] if a["kind"] == "tokenizer")
    assert tokenizer["key"] == "c4_en" and tokenizer["sources"][0].startswith("kaggle://keras/videoprism/keras/")
    detections = next(a for a in reports["ava-stal"]["assets"] if a["kind"] == "detections")
    assert "ava_val_predicted_boxes.csv" in detections["sources"][0] and detections["without"].startswith("fallback:")
    assert "not public" in next(a for a in reports["ava-kinetics-stal"]["assets"]
                                if a["kind"] == "detections")["sources"][0]
    atp = next(a for a in reports["nextqa-atp-hard-zeroshot"]["assets"] if a["key"] == "atp_hard_ids")
    assert atp["sources"][0].startswith("from the authors of ATP") and atp["without"] == "refuse"
    lm = next(a for a in reports["msrvtt-captioning"]["assets"] if a["kind"] == "lm")
    assert lm["key"] == "Qwen/Qwen2.5-1.5B" and lm["sources"] == ["hf://Qwen/Qwen2.5-1.5B (Hugging Face hub)"]
    assert any("user_file 'atp_hard_ids' is missing" in p["message"] and p["severity"] == "error"
               for p in reports["nextqa-atp-hard-zeroshot"]["problems"])
