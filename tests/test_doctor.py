"""`vpbench doctor`: counts, missing and undecodable videos, annotation errors, exit codes."""

from __future__ import annotations

import json
import shutil

import pytest

from vpbench.cli import main
from vpbench.registry import load_registry
from vpbench.tiny import EVAL_CLIPS, TRAIN_CLIPS, make_tiny


def doctor(capsys, *args: str) -> tuple[int, list[dict]]:
    code = main(["doctor", *args, "--json"])
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
    code, (report,) = doctor(capsys, "--task", "ssv2-temporal-zeroshot", "--data-root", str(tmp_path))
    assert code == 1 and "--user-file class_list=PATH" in report["problems"][0]["message"]
    code, (report,) = doctor(capsys, "--task", "ssv2-temporal-zeroshot", "--data-root", str(tmp_path),
                             "--user-file", f"class_list={tmp_path / 'ssv2' / 'user_files' / 'class_list'}")
    assert code == 0 and report["splits"][0]["classes"] == 3


def test_doctor_prints_a_summary_for_people(capsys, data_root):
    (next((data_root / "moments_in_time" / "validation").rglob("*.mp4"))).unlink()
    assert main(["doctor", "--task", "mit-probe", "--data-root", str(data_root)]) == 0
    out = capsys.readouterr().out
    assert "videos found" in out and "1 of 24 samples" in out and "ready to run" in out
