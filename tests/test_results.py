"""Result records: complete, atomically written, read back; unknown schema versions are refused."""

import json

import pytest

from vpbench.errors import VpbenchError
from vpbench.registry import load_registry
from vpbench.results import RunRecord, build_result, load_results, write_result


def _record(**scores):
    return RunRecord(scores=scores, fingerprint={"frames": 16, "split_sha256": "abc"},
                     adapter={"type": "map", "variant": "map-12h"}, counts={"evaluated": 10, "skipped": {}},
                     timings_s={"extract": 1.0}, model={"name": "videoprism-b", "checkpoint_sha256": "f00"})


def test_result_round_trip(tmp_path):
    task = load_registry().task("msrvtt-retrieval")
    keys = {k: float(i) for i, k in enumerate(task.score_keys)}
    result = build_result(task, _record(**keys), seed=3, tiny=False)
    assert result["benchmarks"] == {"msrvtt-t2v": keys["t2v_R@1"], "msrvtt-v2t": keys["v2t_R@1"]}
    assert result["fingerprint"]["task_config_sha256"] == task.config_sha256()
    assert len(result["fingerprint_sha256"]) == 64 and result["provenance"]["vpbench_version"]
    path = write_result(tmp_path, result)
    assert path.name == "msrvtt-retrieval__videoprism-b__map-12h__seed3.json"
    (tmp_path / "predictions.json").write_text("[]")  # not a result: ignored
    [loaded] = load_results(tmp_path)
    assert loaded["scores"] == keys and loaded["_path"] == str(path)
    assert not list(tmp_path.glob(".*tmp"))


def test_missing_benchmark_score_is_an_error():
    task = load_registry().task("msrvtt-retrieval")
    with pytest.raises(VpbenchError, match=r"no score for benchmark\(s\) \['msrvtt-v2t'\]"):
        build_result(task, _record(**{"t2v_R@1": 1.0}), seed=0, tiny=False)


def test_future_schema_is_refused_not_skipped(tmp_path):
    (tmp_path / "r.json").write_text(json.dumps({"schema_version": 99, "task": "k400-probe", "benchmarks": {}}))
    with pytest.raises(VpbenchError, match=r"r.json: result schema_version 99"):
        load_results(tmp_path)


def test_result_carries_the_protocol_and_run_deviations_enter_the_fingerprint():
    task = load_registry().task("msrvtt-retrieval")
    keys = {k: float(i) for i, k in enumerate(task.score_keys)}
    clean = build_result(task, _record(**keys), seed=0, tiny=False)
    assert clean["protocol"]["variant"] is None
    assert clean["protocol"]["deviations"] == [{"id": d["id"], "text": d["text"]}
                                               for d in task.protocol_record()["deviations"]]
    record = _record(**keys)
    record.deviations = {"limit": "--limit 5: a subset"}
    limited = build_result(task, record, seed=0, tiny=False)
    assert {"id": "limit", "text": "--limit 5: a subset"} in limited["protocol"]["deviations"]
    assert "limit" in limited["fingerprint"]["protocol"]["deviations"]
    assert limited["fingerprint_sha256"] != clean["fingerprint_sha256"]


def test_a_limited_run_does_not_overwrite_the_full_run(tmp_path):
    task = load_registry().task("msrvtt-retrieval")
    keys = {k: float(i) for i, k in enumerate(task.score_keys)}
    full = write_result(tmp_path, build_result(task, _record(**keys), seed=0, tiny=False))
    record = _record(**keys)
    record.fingerprint["limit"] = 5
    limited = write_result(tmp_path, build_result(task, record, seed=0, tiny=False))
    assert limited.name == "msrvtt-retrieval+limit5__videoprism-b__map-12h__seed0.json"
    assert full.is_file() and limited != full


def _summary(result: dict) -> str:
    from rich.console import Console

    from vpbench.commands.run import _print_summary

    console = Console(record=True, width=200)
    _print_summary(console, load_registry().task("msrvtt-retrieval"), result, "r.json")
    return console.export_text()


def test_run_summary_puts_the_paper_number_only_beside_a_run_without_deviation():
    task = load_registry().task("msrvtt-retrieval")
    keys = {k: 40.0 + i for i, k in enumerate(task.score_keys)}
    clean = _summary(build_result(task, _record(**keys), seed=0, tiny=False))
    assert "this run beside the paper" in clean and "51.4" in clean and "50.1" in clean  # paper B, public B

    record = _record(**keys)
    record.deviations = {"limit": "--limit 5: a seeded random subset of each split"}
    limited = _summary(build_result(task, record, seed=0, tiny=False))
    assert "not the paper's protocol" in limited and "51.4" not in limited and "50.1" not in limited
    assert "- limit: --limit 5: a seeded random subset of each split" in limited
