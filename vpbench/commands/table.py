"""`vpbench table`: the paper's comparison tables from benchmarks.yaml, with runs beside them.

Without results it regenerates the published tables (and the "state of the art on N of 33"
count) from ``benchmarks.yaml`` alone; with ``--results DIR`` every (model, adapter) found there
becomes a column. ``--plot`` draws the blog's gain-over-previous-best chart.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vpbench.errors import VpbenchError

HELP = "leaderboard: runs beside the published numbers"
DEFAULT_RESULTS = Path("results")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from vpbench.leaderboard.render import FORMATS

    parser.add_argument("--results", type=Path, default=None, metavar="DIR",
                        help=f"folder of result JSONs, searched recursively (default: ./{DEFAULT_RESULTS} if present)")
    parser.add_argument("--published-only", action="store_true",
                        help="only the published numbers (what the README embeds), ignore results")
    parser.add_argument("--benchmarks", type=Path, default=None, metavar="FILE",
                        help="benchmarks.yaml to read (default: the registry's)")
    parser.add_argument("--format", choices=FORMATS, default="rich", help="output format (default: rich)")
    parser.add_argument("--output", type=Path, default=None, metavar="FILE",
                        help="write the table to FILE instead of stdout")
    parser.add_argument("--plot", type=Path, default=None, metavar="FILE.png",
                        help="also draw the gain-over-previous-best chart to FILE.png")
    parser.add_argument("--plot-run", default=None, metavar="COLUMN",
                        help="run column to draw beside the paper's bars (its name, or a unique part of it)")


def run(args: argparse.Namespace) -> int:
    from vpbench.atomic import atomic_write_text
    from vpbench.leaderboard.published import load_published
    from vpbench.leaderboard.render import RENDERERS, rich_renderables, stdout_console
    from vpbench.leaderboard.tables import build_leaderboard

    if args.plot_run and not args.plot:
        raise VpbenchError("--plot-run needs --plot FILE.png")
    if args.published_only and args.results is not None:
        raise VpbenchError("--published-only and --results contradict each other; give one")
    results = None
    if not args.published_only:
        results = args.results if args.results is not None else (DEFAULT_RESULTS if DEFAULT_RESULTS.is_dir() else None)
    board = build_leaderboard(load_published(args.benchmarks), results)

    from rich.console import Console

    status = Console(stderr=True)
    if args.plot:
        from vpbench.leaderboard.plot import plot_gains

        run_column = board.find_column(args.plot_run) if args.plot_run else None
        status.print(f"wrote {plot_gains(board, args.plot, run_column)}", highlight=False)
    if args.output:
        status.print(f"wrote {atomic_write_text(args.output, RENDERERS[args.format](board))}", highlight=False)
    elif args.format == "rich":
        console = stdout_console()
        for renderable in rich_renderables(board):
            console.print(renderable)
    else:
        sys.stdout.write(RENDERERS[args.format](board))
    return 0
