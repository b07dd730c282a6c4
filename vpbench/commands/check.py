"""`vpbench check`: the CI regression gate over a results folder and a stored baseline.

``--baseline FILE`` compares and exits 0 (no drop beyond tolerance), 1 (a benchmark regressed)
or 2 (unusable input: a baseline benchmark has no current result, or its protocol fingerprint or
checkpoint changed). ``--write-baseline FILE`` records the current results as the new baseline.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from vpbench.console import plain
from vpbench.errors import VpbenchError

HELP = "regression gate: compare results with a baseline"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--baseline", type=Path, metavar="FILE", help="baseline JSON to compare the results with")
    mode.add_argument("--write-baseline", type=Path, metavar="FILE",
                      help="write the current results as a baseline JSON (atomically) and exit")
    parser.add_argument("--results", type=Path, default=Path("results"), metavar="DIR",
                        help="folder of result JSONs, searched recursively (default: ./results)")
    parser.add_argument("--tolerance", type=float, default=0.0, metavar="POINTS",
                        help="allowed drop in points for every benchmark (default: 0, any drop fails)")
    parser.add_argument("--metric-tolerance", action="append", default=[], metavar="KEY=TOL",
                        help="allowed drop for one metric key (top1=2.0) or benchmark id (k400=1); "
                             "repeat or comma-separate")
    parser.add_argument("--benchmarks", type=Path, default=None, metavar="FILE",
                        help="benchmarks.yaml to read metric keys from (default: the registry's)")
    parser.add_argument("--format", choices=("rich", "json"), default="rich",
                        help="rich table for people (default) or JSON for machines")


def run(args: argparse.Namespace) -> int:
    from vpbench.leaderboard.check import compare, entries_from_records, parse_tolerances, read_baseline, \
        write_baseline
    from vpbench.leaderboard.published import load_published
    from vpbench.leaderboard.runs import load_run_records

    tolerances = parse_tolerances(args.tolerance, args.metric_tolerance)
    records = load_run_records(args.results)
    if not records:
        raise VpbenchError(f"{args.results}: no result JSONs found")
    current = entries_from_records(records, load_published(args.benchmarks))

    from rich.console import Console

    if args.write_baseline:
        path = write_baseline(args.write_baseline, current)
        Console(stderr=True).print(f"wrote baseline {path} ({len(current)} entries)", highlight=False)
        return 0
    report = compare(read_baseline(args.baseline), current, tolerances)
    if args.format == "json":
        print(json.dumps(report.to_dict(), indent=2))
    else:
        from vpbench.leaderboard.render import stdout_console

        _print_report(stdout_console(), report, args.baseline)
    return report.exit_code


def _print_report(console, report, baseline_path: Path) -> None:
    from rich.table import Table

    from vpbench.leaderboard.check import Status

    colours = {Status.IMPROVED: "green", Status.WITHIN: "yellow", Status.REGRESSED: "bold red",
               Status.MISSING: "bold magenta", Status.PROTOCOL: "bold magenta", Status.NEW: "cyan"}
    moved = [row for row in report.rows if row.moved]
    table = Table(title=f"vpbench check against {baseline_path}", title_justify="left")
    for header in ("benchmark", "model:adapter", "baseline", "current", "Δ", "tolerance", "status", "detail"):
        table.add_column(header, justify="right" if header in ("baseline", "current", "Δ", "tolerance") else "left")
    for row in moved:
        table.add_row(row.benchmark, f"{row.model}:{row.adapter}", _fmt(row.baseline), _fmt(row.current),
                      _fmt(row.delta, signed=True), _fmt(row.tolerance),
                      f"[{colours.get(row.status, '')}]{row.status.value}[/]", plain(row.detail))
    if moved:
        console.print(table)
    counts = [f"{report.count(s)} {s.value}" for s in Status if report.count(s)]
    console.print(f"{len(report.rows)} entries: {', '.join(counts) or 'none'}", highlight=False)
    for row in report.rows:
        if row.status is Status.REGRESSED:
            console.print(f"[bold red]REGRESSION[/] {plain(row.name)}: {row.baseline:.4g} -> {row.current:.4g} "
                          f"({row.delta:+.4g} points, tolerance {row.tolerance:g})", highlight=False)
        elif row.status.unusable:
            console.print(f"[bold magenta]UNUSABLE[/] {plain(row.name)}: {row.status.value}: {plain(row.detail)}",
                          highlight=False)
    verdict = {0: "[green]PASS[/]", 1: "[bold red]FAIL: regression beyond tolerance[/]",
               2: "[bold magenta]ERROR: results cannot be compared with the baseline[/]"}[report.exit_code]
    console.print(verdict)


def _fmt(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "—"
    return f"{value:+.2f}" if signed else f"{value:.2f}"
