"""Argument types that refuse values a command would otherwise misread.

``--frames 0`` once fell back to the default and ``--older-than -5`` deleted every cache entry:
numeric options are checked when parsed, so a bad value stops the command with argparse's usage
error (exit code 2) naming the option and what it accepts, before any work or deletion starts.
"""

from __future__ import annotations

import argparse
import math
from typing import Callable


def integer(minimum: int) -> Callable[[str], int]:
    """An ``int`` option type accepting values ``>= minimum``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {value}")
        return value

    parse.__name__ = f"integer >= {minimum}"
    return parse


def number(minimum: float, *, inclusive: bool = True) -> Callable[[str], float]:
    """A finite ``float`` option type accepting values ``>= minimum`` (``> minimum`` if not ``inclusive``)."""
    relation = ">=" if inclusive else ">"

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or value < minimum or (not inclusive and value == minimum):
            raise argparse.ArgumentTypeError(f"expected a finite number {relation} {minimum:g}, got {text!r}")
        return value

    parse.__name__ = f"number {relation} {minimum:g}"
    return parse
