"""`vpbench show TASK`: one task's configuration after includes are resolved, and its protocol record.

``--json`` prints :meth:`TaskConfig.as_dict` (with ``protocol: {variant, sources, deviations}`` and
``variants``); the plain form prints the configuration as YAML, then the protocol record as
tables a person reads: where each choice comes from, how the default deviates from the paper,
and the named variants with the command that runs each.
"""

from __future__ import annotations

import argparse
import json

import yaml

from vpbench.registry import TaskConfig, load_registry

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
    from rich.syntax import Syntax

    from vpbench.leaderboard.render import stdout_console

    console = stdout_console()  # piped: one line per table row, so the text can be searched
    settings = {key: value for key, value in config.items() if key not in ("protocol", "variants")}
    console.print(Syntax(yaml.safe_dump(settings, sort_keys=False, width=100), "yaml", theme="ansi_dark"))
    for renderable in protocol_renderables(task):
        console.print(renderable)
    return 0


def protocol_renderables(task: TaskConfig) -> list:
    """The protocol record of ``task`` as rich tables (sources, deviations, variants)."""
    from rich.table import Table
    from rich.text import Text

    record = task.protocol_record()
    which = f"variant '{record['variant']}'" if record["variant"] else "default"
    sources = Table(title=f"{task.name} ({which}): where each protocol choice comes from", title_justify="left",
                    show_lines=True)
    sources.add_column("choice", no_wrap=True)
    sources.add_column("value and source")
    for entry in record["sources"]:
        sources.add_row(entry["choice"], entry["source"])
    out: list = [sources]
    if record["deviations"]:
        deviations = Table(title="Deviations from the paper's protocol: no Δ against the paper's number",
                           title_justify="left", title_style="bold yellow", show_lines=True)
        deviations.add_column("id", no_wrap=True)
        deviations.add_column("how this configuration differs")
        for entry in record["deviations"]:
            deviations.add_row(entry["id"], entry["text"])
        out.append(deviations)
    else:
        out.append(Text("No known deviation from the paper's protocol.", style="green"))
    if task.variants:
        variants = Table(title="Named variants (`vpbench run --task T --variant NAME`; never compared with the "
                               "paper)", title_justify="left", show_lines=True)
        for column in ("variant", "what it is", "deviations"):
            variants.add_column(column, no_wrap=column == "variant")
        for name, spec in task.variants.items():
            variants.add_row(name, spec["description"],
                             "\n".join(f"{key}: {text}" for key, text in spec["deviations"].items()))
        out.append(variants)
    return out
