"""Printing for people on stderr: one rich console, and error lines that show exactly what they say.

Rich reads ``[...]`` as markup, so an error about a ``[start, end]`` span would lose the span.
Everything that prints text vpbench did not write itself (error messages, paths, ids, details)
goes through :func:`plain` or :func:`print_error`, which escape markup; error lines are never
hard-wrapped, so a message can be searched and copied whole. This module never decides what is
an error: callers do.
"""

from __future__ import annotations

from typing import Any


def plain(value: Any) -> str:
    """``str(value)`` with rich markup escaped, safe to embed in a markup string."""
    from rich.markup import escape

    return escape(str(value))


def stderr_console():
    """A rich console on stderr that never hard-wraps a line."""
    from rich.console import Console

    return Console(stderr=True, soft_wrap=True)


def print_error(label: str, error: Any, console=None) -> None:
    """``<label in bold red> <error text>`` on one line; ``label`` is vpbench's own text (markup allowed)."""
    (console or stderr_console()).print(f"[bold red]{label}[/] {plain(error)}", markup=True, highlight=False,
                                        soft_wrap=True)
