"""`vpbench protocols`: per benchmark group, the paper's protocol, what a user supplies, the variants.

Generated from the tasks' ``protocol:`` records (:mod:`vpbench.protocol_doc`); ``--markdown``
prints the text README.md embeds between its ``protocols`` markers, and ``--update-readme FILE``
rewrites that part of FILE in place (after a task file changed).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from vpbench.errors import VpbenchError

HELP = "per group: the paper's protocol, what you supply, the variants (from the task records)"
START, END = "<!-- protocols:start", "<!-- protocols:end -->"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    output = parser.add_mutually_exclusive_group()
    output.add_argument("--markdown", action="store_true", help="raw markdown (what README.md embeds)")
    output.add_argument("--update-readme", type=Path, default=None, metavar="FILE",
                        help=f"replace the text between FILE's '{START} ...' and '{END}' markers")


def run(args: argparse.Namespace) -> int:
    from vpbench.protocol_doc import protocols_markdown

    text = protocols_markdown()
    if args.update_readme:
        from rich.console import Console

        path = update_between_markers(args.update_readme, text)
        Console(stderr=True).print(f"wrote {path}", highlight=False)
        return 0
    if args.markdown:
        print(text, end="")
        return 0
    from rich.console import Console
    from rich.markdown import Markdown

    for tag in ("<details><summary>", "</summary>", "</details>"):
        text = text.replace(tag, "")
    Console().print(Markdown(text))
    return 0


def update_between_markers(path: Path, text: str) -> Path:
    """``path`` with the generated block replaced (atomically); the marker lines themselves stay."""
    from vpbench.atomic import atomic_write_text

    try:
        document = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise VpbenchError(f"{path}: file not found") from None
    if START not in document or END not in document:
        raise VpbenchError(f"{path}: no '{START} ...' / '{END}' markers to write between")
    start = document.index("\n", document.index(START)) + 1
    end = document.index(END)
    return atomic_write_text(path, document[:start] + "\n" + text + "\n" + document[end:])
