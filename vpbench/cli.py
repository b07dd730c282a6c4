"""The ``vpbench`` command: one argparse front end over small command modules.

Each sub-command lives in ``vpbench/commands/<name>.py`` and exposes ``HELP`` (one line),
``add_arguments(parser)`` and ``run(args) -> int``. Modules are imported only when their
command runs, so ``vpbench list`` does not pay for torch. Errors a user can fix
(:class:`vpbench.errors.VpbenchError`) become one red line and exit code 2, never a traceback.

SIGTERM (what ``timeout``, SLURM and Kubernetes send) raises :class:`Terminated` in the main
thread, so a stopped command unwinds like an interrupted one: decoding workers are shut down,
temp files are removed, no result is written, and the exit code is 128 + the signal number
(143). A second SIGTERM ends the process at once.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import signal
import sys
import threading
from typing import Sequence

from vpbench.errors import VpbenchError

# name -> (module, one-line help). Order is the order of `vpbench --help`.
COMMANDS: dict[str, tuple[str, str]] = {
    "list": ("vpbench.commands.list_tasks", "list tasks and the benchmarks they feed"),
    "show": ("vpbench.commands.show", "show one task's resolved configuration"),
    "protocols": ("vpbench.commands.protocols", "per group: the paper's protocol, what you supply, the variants"),
    "run": ("vpbench.commands.run", "run tasks end to end and write result JSONs"),
    "extract": ("vpbench.commands.extract", "extract features (tokens or embeddings) for videos"),
    "cache": ("vpbench.commands.cache", "inspect or prune the feature cache"),
    "score": ("vpbench.commands.score", "score a prediction file with a benchmark metric"),
    "doctor": ("vpbench.commands.doctor", "check a task's assets, annotations and videos before a long run"),
    "download": ("vpbench.commands.download", "fetch the checkpoint, tokenizer and LM tasks need (online)"),
    "table": ("vpbench.commands.table", "leaderboard: runs beside the published numbers"),
    "check": ("vpbench.commands.check", "regression gate: compare results with a baseline"),
    "make-tiny": ("vpbench.commands.make_tiny", "write a tiny synthetic subset of a task in its official format"),
    "validate": ("vpbench.commands.validate", "validate every task and benchmark YAML"),
}


def build_parser(selected: str | None = None) -> argparse.ArgumentParser:
    """The parser; only the ``selected`` command's module is imported to add its arguments."""
    parser = argparse.ArgumentParser(
        prog="vpbench", description="Evaluate a frozen VideoPrism encoder on the 33 benchmarks of its paper.")
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module_name, help_text) in COMMANDS.items():
        command_parser = sub.add_parser(name, help=help_text, description=help_text)
        command_parser.set_defaults(_module=module_name)
        if name == selected:
            _module(module_name).add_arguments(command_parser)
    return parser


def _module(module_name: str):
    return importlib.import_module(module_name)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(next((a for a in argv if not a.startswith("-")), None))
    args = parser.parse_args(argv)
    if args.version:
        from vpbench import __version__

        print(__version__)
        return 0
    if args.command is None:
        parser.print_help()
        return 2
    try:
        with _sigterm_raises():
            return int(_module(args._module).run(args) or 0)
    except VpbenchError as error:
        from vpbench.console import print_error

        print_error("error:", error)
        return 2
    except KeyboardInterrupt:
        return 130
    except Terminated as stop:
        from vpbench.console import print_error

        print_error("stopped:", f"{signal.Signals(stop.signum).name} received; nothing more was written")
        return 128 + stop.signum


class Terminated(BaseException):
    """SIGTERM arrived: unwind (``finally`` blocks and context managers run), like KeyboardInterrupt."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"signal {signum}")
        self.signum = signum


@contextlib.contextmanager
def _sigterm_raises():
    """Turn SIGTERM into :class:`Terminated` while a command runs (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum, frame):
        signal.signal(signum, signal.SIG_DFL)  # a second one kills at once
        raise Terminated(signum)

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
