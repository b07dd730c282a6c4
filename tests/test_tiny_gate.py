"""The project's own CI regression gate: the tiny suite against results/baselines/tiny.json.

One task per family runs end to end (tiny subsets in the official formats, tiny checkpoints: the
random ``tiny`` encoder, and ``tiny-lvt`` trained here for the zero-shot families) through the real
CLI, then `vpbench check` compares every benchmark with the stored baseline. A wiring bug drops a
tiny score towards chance; the tolerance only absorbs float differences between machines, which
can flip a clip or two of the 24 evaluated. The gate can only catch such a bug if every baseline
stands more than the tolerance above chance: the negative control of each family
(``--option shuffle_train_labels=true``) must fall below it.
"""

import json
from pathlib import Path

import pytest

from vpbench.cli import main

ROOT = Path(__file__).resolve().parent.parent
BASELINE = ROOT / "results" / "baselines" / "tiny.json"
TOLERANCE_POINTS = "10"


def _gate_tasks() -> list[str]:
    entries = json.loads(BASELINE.read_text())["entries"]
    return sorted({entry["task"] for entry in entries})


def test_baseline_covers_every_family():
    from vpbench.registry import FAMILIES, load_registry

    registry = load_registry()
    covered = {registry.task(name).family for name in _gate_tasks()}
    assert covered == set(FAMILIES)


def test_tiny_suite_passes_the_regression_gate(tmp_path, capsys):
    assert main(["run", "--task", ",".join(_gate_tasks()), "--tiny", "--output", str(tmp_path)]) == 0
    code = main(["check", "--baseline", str(BASELINE), "--results", str(tmp_path),
                 "--tolerance", TOLERANCE_POINTS])
    assert code == 0, capsys.readouterr().out


def test_checkpoints_trained_here_are_gated_by_their_recipe():
    """tiny-lvt's bytes depend on the machine's float kernels; its baseline entries name the recipe
    (in the fingerprint) instead of a checkpoint hash, so another machine is not a protocol change."""
    entries = json.loads(BASELINE.read_text())["entries"]
    trained = [entry for entry in entries if entry["model"] == "tiny-lvt"]
    assert trained and all(entry["checkpoint_sha256"] is None for entry in trained)
    assert all(entry["fingerprint"]["model_recipe"] == "tiny-lvt/v1" for entry in trained)
    assert all(entry["checkpoint_sha256"] for entry in entries if entry["model"] == "tiny")


@pytest.mark.usefixtures("one_torch_thread")
def test_every_familys_control_falls_below_the_gate(tmp_path):
    """The shuffled-labels control of each gate task scores more than the tolerance below its
    baseline, so a wiring break that makes a family's score meaningless would fail `vpbench check`."""
    from vpbench.leaderboard.check import read_baseline
    from vpbench.results import load_results

    assert main(["run", "--task", ",".join(_gate_tasks()), "--tiny", "--output", str(tmp_path),
                 "--option", "shuffle_train_labels=true"]) == 0
    controls = {(result["task"], benchmark): (value, result)
                for result in load_results(tmp_path) for benchmark, value in result["benchmarks"].items()}
    for entry in read_baseline(BASELINE):
        value, result = controls[(entry.task, entry.benchmark)]
        assert result["fingerprint"].get("shuffled_train_labels") is True, (entry.task, result["fingerprint"])
        assert any("CONTROL RUN" in note for note in result["notes"]), entry.task
        assert value < entry.value - float(TOLERANCE_POINTS), (entry.benchmark, value, entry.value)
