"""`vpbench make-tiny --task T --out DIR`: write a task's tiny subset in its official format."""

from __future__ import annotations

import argparse
from pathlib import Path

from vpbench.registry import load_registry
from vpbench.tiny import make_tiny

HELP = "write a tiny synthetic subset of a task in its official format"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--task", required=True, help="task name, or several separated by commas")
    parser.add_argument("--out", required=True, type=Path, help="data root to write into")
    parser.add_argument("--seed", type=int, default=0)


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from vpbench.console import plain

    console = Console()
    for task in load_registry().resolve(args.task):
        make_tiny(task, args.out, seed=args.seed)
        console.print(f"[green]wrote[/] {task.name}: {plain(args.out / task.dataset['root'])}")
    return 0
