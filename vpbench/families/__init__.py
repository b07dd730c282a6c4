"""Family runners: one module per task family, wiring reader → extraction → adapter → metric.

``vpbench/families/<family>.py`` exposes ``run(task, context) -> RunRecord``. This package holds
the run context shared by all families and the dispatch; the wiring itself lives in the modules.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from vpbench.plugins import named_module
from vpbench.registry import TaskConfig
from vpbench.results import RunRecord


@dataclass
class RunContext:
    """Everything a runner needs besides the task: where data, model and outputs are, and limits."""

    data_root: Path
    output_dir: Path
    model: str
    seed: int = 0
    limit: int | None = None
    tiny: bool = False
    user_files: dict[str, Path] = field(default_factory=dict)
    cache_dir: Path | None = None
    batch_size: int = 8
    workers: int = 2
    decoder: str = "decord"  # vpbench.video.readers.DEFAULT_DECODER
    """Video decoder backend (``--decoder``; :data:`vpbench.video.readers.DECODERS`)."""
    device: str = "cpu"
    strict: bool = False
    options: dict[str, str] = field(default_factory=dict)
    """Free-form ``--option KEY=VALUE`` settings a family documents (e.g. ``lm=PATH``)."""
    train_mode: str | None = None
    """``--train-mode``: ``cached`` or ``streaming`` forces how a probe head trains; None: by the feature budget."""
    feature_budget: int | None = None
    """``--feature-budget`` in bytes: above it a probe trains in streaming mode (None: the default budget)."""


def family_module(family: str):
    return named_module("vpbench.families", family,
                        f"the '{family}' task family is not implemented yet in this version of vpbench; "
                        f"no result was written")


def run_task(task: TaskConfig, context: RunContext) -> RunRecord:
    return family_module(task.family).run(task, context)
