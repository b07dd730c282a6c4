"""`vpbench validate`: load and check every task and benchmark YAML (exit 2 on the first error).

Besides the schema, the registry refuses a task whose ``protocol.sources`` is empty and a variant
that names no deviation; a task that validates can therefore always say where its protocol comes
from and how it differs from the paper.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from vpbench.registry import benchmarks_file, load_registry_from, tasks_dir

HELP = "validate every task and benchmark YAML"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tasks-dir", type=Path, default=None, help="task folder (default: the installed one)")
    parser.add_argument("--benchmarks", type=Path, default=None, help="benchmarks.yaml to check")


def run(args: argparse.Namespace) -> int:
    registry = load_registry_from(args.tasks_dir or tasks_dir(), args.benchmarks or benchmarks_file())
    from rich.console import Console

    tasks = registry.tasks.values()
    deviating = sum(bool(task.protocol["deviations"]) for task in tasks)
    variants = sum(len(task.variants) for task in tasks)
    Console().print(f"[green]ok[/]: {len(registry.tasks)} tasks feeding {len(registry.benchmarks)} benchmarks; "
                    f"every task names its protocol sources; {deviating} default protocol(s) with known "
                    f"deviations; {variants} named variant(s)", highlight=False)
    return 0
