"""The project's own CI regression gate: the tiny suite against results/baselines/tiny.json.

One task per family runs end to end (tiny subsets in the official formats, tiny random-weight
checkpoints) through the real CLI, then `vpbench check` compares every benchmark with the stored
baseline. A wiring bug drops a tiny probe to chance (tens of points); the tolerance only absorbs
float differences between machines, which can flip a clip or two of the 24 evaluated.
"""

import json
from pathlib import Path

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
