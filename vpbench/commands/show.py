"""`vpbench show TASK`: one task's configuration after includes are resolved."""

from __future__ import annotations

import argparse
import json

import yaml

from vpbench.registry import load_registry

HELP = "show one task's resolved configuration"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("task", help="task name (see `vpbench list`)")
    parser.add_argument("--tiny", action="store_true", help="show the configuration `run --tiny` uses")
    parser.add_argument("--variant", default=None, help="show the configuration of this named variant")
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def run(args: argparse.Namespace) -> int:
    task = load_registry().task(args.task).with_variant(args.variant)
    if args.tiny:
        task = task.for_tiny()
    config = task.as_dict()
    if args.json:
        print(json.dumps(config, indent=2))
        return 0
    from rich.console import Console
    from rich.syntax import Syntax

    Console().print(Syntax(yaml.safe_dump(config, sort_keys=False, width=100), "yaml", theme="ansi_dark"))
    return 0
