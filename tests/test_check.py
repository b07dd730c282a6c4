"""`vpbench check`: the regression gate passes an improved run (0), fails a regressed one (1, naming the
benchmark and the drop) and refuses a run whose protocol or coverage changed (2), naming a changed
variant and each deviation that appeared or disappeared."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from vpbench.cli import main
from vpbench.errors import VpbenchError
from vpbench.leaderboard.check import (BaselineEntry, Status, Tolerances, compare, parse_tolerances,
                                       read_baseline)
from vpbench.leaderboard.runs import RunProtocol
from vpbench.results import fingerprint_sha256

FIXTURES = Path(__file__).parent / "fixtures" / "leaderboard" / "results" / "run-a"
K400 = "k400-probe__videoprism-b__map__seed{}.json"
MSRVTT = "msrvtt-retrieval__videoprism-lvt-b__released-text-tower__seed0.json"


@pytest.fixture()
def setup(tmp_path):
    """A results folder (k400 seeds 0+1, MSR-VTT) and a baseline written from it by the CLI."""
    results = tmp_path / "results"
    shutil.copytree(FIXTURES, results)
    baseline = tmp_path / "baseline.json"
    assert main(["check", "--write-baseline", str(baseline), "--results", str(results)]) == 0
    return results, baseline


def _err(capsys) -> str:
    """stderr with rich's line wrapping undone (the CLI wraps error lines at 80 columns when piped)."""
    return capsys.readouterr().err.replace("\n", "")


def _edit(path: Path, edit) -> None:
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))


def _shift(results: Path, name: str, bench: str, amount: float) -> None:
    def edit(data):
        data["benchmarks"][bench] += amount
    _edit(results / name, edit)


def test_written_baseline_holds_seed_means_with_fingerprints(setup):
    results, baseline = setup
    document = json.loads(baseline.read_text())
    assert document["kind"] == "vpbench-baseline" and document["schema_version"] == 1
    entries = {entry.benchmark: entry for entry in read_baseline(baseline)}
    assert set(entries) == {"k400", "msrvtt-t2v", "msrvtt-v2t"}
    k400 = entries["k400"]
    assert k400.value == pytest.approx((82.5 + 83.1) / 2) and k400.seeds == (0, 1)
    assert (k400.task, k400.metric, k400.model, k400.adapter) == ("k400-probe", "top1", "videoprism-b", "attentive/map")
    seed0 = json.loads((results / K400.format(0)).read_text())
    assert k400.fingerprint_sha256 == seed0["fingerprint_sha256"] and k400.fingerprint["frames"] == 16
    assert not list(baseline.parent.glob(".baseline.json.*.tmp"))  # atomic write leaves no temp file


def test_unchanged_results_pass(setup, capsys):
    results, baseline = setup
    assert main(["check", "--baseline", str(baseline), "--results", str(results)]) == 0
    out = capsys.readouterr().out
    assert "3 entries: 3 unchanged" in out and "PASS" in out


def test_improved_run_passes_and_shows_what_moved(setup, capsys):
    results, baseline = setup
    _shift(results, MSRVTT, "msrvtt-t2v", +1.5)
    assert main(["check", "--baseline", str(baseline), "--results", str(results)]) == 0
    out = capsys.readouterr().out
    assert "msrvtt-t2v" in out and "+1.50" in out and "improved" in out and "PASS" in out
    assert "k400 " not in out.split("entries:")[0]  # unchanged rows are not listed as moved


def test_regressed_run_fails_naming_the_benchmark_and_the_drop(setup, capsys):
    results, baseline = setup
    _shift(results, K400.format(0), "k400", -3.0)
    _shift(results, K400.format(1), "k400", -3.0)
    assert main(["check", "--baseline", str(baseline), "--results", str(results), "--tolerance", "0.5"]) == 1
    out = capsys.readouterr().out
    assert "REGRESSION k400 (videoprism-b:attentive/map): 82.8 -> 79.8 (-3 points, tolerance 0.5)" in out
    assert "FAIL" in out


def test_per_metric_and_per_benchmark_tolerances(setup, capsys):
    results, baseline = setup
    _shift(results, K400.format(0), "k400", -3.0)
    _shift(results, K400.format(1), "k400", -3.0)
    base = ["check", "--baseline", str(baseline), "--results", str(results)]
    assert main([*base, "--metric-tolerance", "top1=3.05"]) == 0
    assert "within tolerance" in capsys.readouterr().out
    assert main([*base, "--metric-tolerance", "top1=2.95"]) == 1  # the drop is exactly 3.0 points
    assert main([*base, "--tolerance", "3.0"]) == 0  # a drop equal to the tolerance passes
    assert main([*base, "--metric-tolerance", "t2v_R@1=9"]) == 1  # another metric's tolerance does not apply
    assert main([*base, "--metric-tolerance", "top1=3.5,k400=1"]) == 1  # a benchmark id beats its metric
    capsys.readouterr()


def test_mismatched_protocol_is_unusable_input(setup, capsys):
    results, baseline = setup

    def eight_frames(data):
        data["fingerprint"]["frames"] = 8
        data["fingerprint_sha256"] = fingerprint_sha256(data["fingerprint"])
    for seed in (0, 1):
        _edit(results / K400.format(seed), eight_frames)
    _shift(results, K400.format(0), "k400", +5.0)  # even a better number is not comparable
    assert main(["check", "--baseline", str(baseline), "--results", str(results)]) == 2
    out = capsys.readouterr().out
    assert "UNUSABLE k400 (videoprism-b:attentive/map): protocol changed: protocol fingerprint differs " \
           "(frames: 16 -> 8)" in out
    assert "ERROR" in out


def test_changed_checkpoint_is_unusable_input(setup, capsys):
    results, baseline = setup

    def other_weights(data):
        data["model"]["checkpoint_sha256"] = "beef" * 16
    _edit(results / MSRVTT, other_weights)
    assert main(["check", "--baseline", str(baseline), "--results", str(results)]) == 2
    assert "checkpoint differs" in capsys.readouterr().out


def test_missing_benchmark_is_unusable_input_and_a_new_one_is_not_gated(setup, capsys):
    results, baseline = setup
    (results / MSRVTT).unlink()
    assert main(["check", "--baseline", str(baseline), "--results", str(results), "--format", "json"]) == 2
    report = json.loads(capsys.readouterr().out)
    assert report["exit_code"] == 2
    missing = {row["benchmark"] for row in report["rows"] if row["status"] == "missing"}
    assert missing == {"msrvtt-t2v", "msrvtt-v2t"}

    entry = read_baseline(baseline)[0]
    extra = BaselineEntry(**{**entry.__dict__, "benchmark": "mit"})
    report = compare([entry], [entry, extra], Tolerances())
    assert report.exit_code == 0 and [row.status for row in report.rows] == [Status.UNCHANGED, Status.NEW]


def test_regression_and_unusable_together_exit_2(setup):
    results, baseline = setup
    _shift(results, K400.format(0), "k400", -10.0)
    (results / MSRVTT).unlink()
    assert main(["check", "--baseline", str(baseline), "--results", str(results)]) == 2


def test_two_protocols_in_one_results_folder_cannot_be_gated(setup, capsys):
    results, baseline = setup

    def eight_frames(data):
        data["fingerprint"]["frames"] = 8
        data["fingerprint_sha256"] = fingerprint_sha256(data["fingerprint"])
    _edit(results / K400.format(1), eight_frames)
    assert main(["check", "--baseline", str(baseline), "--results", str(results)]) == 2
    assert "different protocol fingerprints or checkpoints in one results folder" in _err(capsys)


@pytest.mark.parametrize("content, message", [
    ("{not json", "not valid JSON"),
    ('{"kind": "something-else"}', "not a vpbench baseline"),
    ('{"kind": "vpbench-baseline", "schema_version": 7, "entries": []}', "schema_version' is 7"),
    ('{"kind": "vpbench-baseline", "schema_version": 1, "entries": [{"benchmark": "k400"}]}',
     "entries\\[0\\]: missing required key 'task'"),
])
def test_malformed_baseline_is_named(tmp_path, setup, capsys, content, message):
    results, _ = setup
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    assert main(["check", "--baseline", str(bad), "--results", str(results)]) == 2
    err = _err(capsys)
    assert str(bad) in err
    assert re.search(message, err)


def test_missing_baseline_and_results(tmp_path, setup, capsys):
    results, baseline = setup
    assert main(["check", "--baseline", str(tmp_path / "none.json"), "--results", str(results)]) == 2
    assert "baseline file not found" in _err(capsys)
    assert main(["check", "--baseline", str(baseline), "--results", str(tmp_path / "nowhere")]) == 2
    assert "results directory not found" in _err(capsys)
    (tmp_path / "empty").mkdir()
    assert main(["check", "--baseline", str(baseline), "--results", str(tmp_path / "empty")]) == 2
    assert "no result JSONs found" in _err(capsys)


@pytest.mark.parametrize("spec", ["top1", "top1=", "=2", "top1=-1", "top1=abc", "top1=nan"])
def test_bad_tolerance_specs_are_rejected(spec):
    with pytest.raises(VpbenchError, match="KEY=TOLERANCE"):
        parse_tolerances(0.0, [spec])


def test_tolerance_lookup():
    tolerances = parse_tolerances(0.25, ["top1=2", "mAP=1,k400=0.5"])
    entry = BaselineEntry("k400", "k400-probe", "top1", "m", "a", 1.0, (0,), False, "x", {}, None)
    assert tolerances.for_entry(entry) == 0.5
    assert tolerances.for_entry(BaselineEntry(**{**entry.__dict__, "benchmark": "mit"})) == 2.0
    assert tolerances.for_entry(BaselineEntry(**{**entry.__dict__, "benchmark": "x", "metric": "WUPS"})) == 0.25
    with pytest.raises(VpbenchError, match="non-negative"):
        parse_tolerances(-1.0, [])


# ---------------------------------------------------------------- protocol records

LIMIT = ("limit", "--limit 5: a seeded random subset of each split")


def test_the_baseline_stores_each_entry_protocol(setup):
    _, baseline = setup
    entries = {entry.benchmark: entry for entry in read_baseline(baseline)}
    assert entries["k400"].protocol == RunProtocol(variant=None, deviations=())
    raw = json.loads(baseline.read_text())["entries"][0]
    assert raw["protocol"] == {"variant": None, "deviations": []}


def test_a_variant_change_is_unusable_input_naming_the_variant(setup, capsys, set_result_protocol):
    results, baseline = setup
    for seed in (0, 1):
        set_result_protocol(results / K400.format(seed), variant="augmented",
                            deviations=[("augmented", "two augmented training views")])
    assert main(["check", "--baseline", str(baseline), "--results", str(results)]) == 2
    out = capsys.readouterr().out
    assert "UNUSABLE k400 (videoprism-b:attentive/map): protocol changed: protocol record changed: variant " \
           "default -> augmented; deviation 'augmented' appeared (two augmented training views)" in out
    assert "protocol: " not in out  # the fingerprint's protocol field is said in words, not dumped


def test_a_deviation_that_appears_or_disappears_is_named(tmp_path, setup, capsys, set_result_protocol):
    results, baseline = setup
    set_result_protocol(results / MSRVTT, deviations=[LIMIT])
    assert main(["check", "--baseline", str(baseline), "--results", str(results), "--format", "json"]) == 2
    rows = {row["benchmark"]: row for row in json.loads(capsys.readouterr().out)["rows"]}
    assert rows["msrvtt-t2v"]["status"] == "protocol changed"
    assert rows["msrvtt-t2v"]["detail"] == "protocol record changed: deviation 'limit' appeared (--limit 5: a " \
                                           "seeded random subset of each split)"
    assert rows["k400"]["status"] == "unchanged"

    limited = tmp_path / "limited.json"  # the other way round: the baseline had the deviation
    assert main(["check", "--write-baseline", str(limited), "--results", str(results)]) == 0
    set_result_protocol(results / MSRVTT, deviations=[])
    assert main(["check", "--baseline", str(limited), "--results", str(results)]) == 2
    assert "deviation 'limit' disappeared (--limit 5: a seeded random subset of each split)" in capsys.readouterr().out


def test_a_baseline_from_results_without_protocol_records(tmp_path, setup, capsys, set_result_protocol):
    results, _ = setup
    old = tmp_path / "old-results"
    shutil.copytree(results, old)
    for path in old.glob("*.json"):
        set_result_protocol(path, deviations=None)
    baseline = tmp_path / "old-baseline.json"
    assert main(["check", "--write-baseline", str(baseline), "--results", str(old)]) == 0
    assert main(["check", "--baseline", str(baseline), "--results", str(old)]) == 0  # old against old: fine
    assert main(["check", "--baseline", str(baseline), "--results", str(results)]) == 2
    assert "the baseline records no protocol" in capsys.readouterr().out
