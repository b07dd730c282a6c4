"""`vpbench list`: the 30 tasks, the benchmarks each feeds, and the published numbers."""

from __future__ import annotations

import argparse
import json

from vpbench.registry import load_registry

HELP = "list tasks and the benchmarks they feed"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def rows() -> list[dict]:
    """Per task: its benchmarks, their published numbers, and how a previous-best row can be re-run."""
    from dataclasses import asdict

    from vpbench.registry import load_previous_best

    registry = load_registry()
    previous = load_previous_best()
    out = []
    for task in registry.tasks.values():
        benches = [registry.benchmarks[b] for b in task.benchmarks]
        out.append({
            "task": task.name, "family": task.family, "dataset": task.dataset["name"],
            "benchmarks": [{"id": b.id, "metric": b.metric, **b.published,
                            "prev_best_rerun": asdict(previous[b.published["prev_best_model"]])} for b in benches],
        })
    return out


def run(args: argparse.Namespace) -> int:
    data = rows()
    if args.json:
        print(json.dumps({"tasks": data, "num_tasks": len(data),
                          "num_benchmarks": sum(len(r["benchmarks"]) for r in data)}, indent=2))
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"vpbench: {len(data)} tasks, {sum(len(r['benchmarks']) for r in data)} benchmarks")
    for column in ("task", "family", "benchmark", "metric", "paper B", "paper g", "prev. best"):
        table.add_column(column, justify="right" if column.startswith(("paper", "prev")) else "left",
                         no_wrap=column in ("task", "benchmark"))
    for row in data:
        for index, bench in enumerate(row["benchmarks"]):
            b_value = bench.get("paper_b", bench.get("paper_b_1b"))
            g_value = bench.get("paper_g", bench.get("paper_b_8b"))
            table.add_row(row["task"] if index == 0 else "", row["family"] if index == 0 else "", bench["id"],
                          bench["metric"], _fmt(b_value), _fmt(g_value),
                          f"{_fmt(bench['prev_best'])} ({bench['prev_best_model']})")
    table.caption = "captioning/QA: 'paper B' = VideoPrism-B + PaLM-2 1B, 'paper g' column = + PaLM-2 8B"
    Console().print(table)
    return 0


def _fmt(value) -> str:
    return "" if value is None else f"{value:.1f}"
