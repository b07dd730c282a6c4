"""`vpbench validate`: load and check every task and benchmark YAML (exit 2 on the first error)."""

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

    Console().print(f"[green]ok[/]: {len(registry.tasks)} tasks feeding {len(registry.benchmarks)} benchmarks")
    return 0
