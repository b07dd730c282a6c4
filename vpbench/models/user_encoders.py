"""Encoders a user plugs in without forking vpbench: by import path, by registered name, by entry point.

``--model`` (and :func:`vpbench.load_model`) takes, besides VideoPrism names, checkpoint files and
folders and ``hf:`` locations:

* ``package.module:factory[@ARG]``: the module is imported and ``factory()`` (or
  ``factory("ARG")``) is called;
* ``NAME[@ARG]``: a factory registered under ``NAME`` with :func:`register_encoder` by code
  imported before the run, or declared by an installed package as an entry point::

      [project.entry-points."vpbench.encoders"]
      my-encoder = "my_package.encoders:build"

The factory returns an object implementing :class:`vpbench.models.encoder.VideoEncoder`; it is
checked, put in eval mode and moved to the run's device. This module must never import a
module the user did not name.
"""

from __future__ import annotations

import importlib
import re
from importlib.metadata import entry_points
from typing import Any, Callable

from vpbench.errors import CheckpointError
from vpbench.models.encoder import check_encoder

ENTRY_POINT_GROUP = "vpbench.encoders"
_IMPORT_PATH = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*$")
_REGISTERED: dict[str, Callable[..., Any]] = {}


def register_encoder(name: str, factory: Callable[..., Any]) -> None:
    """Make ``--model NAME[@ARG]`` call ``factory()`` (or ``factory(ARG)``) for its encoder."""
    if not re.match(r"^[A-Za-z0-9][\w.-]*$", name):
        raise ValueError(f"encoder name {name!r}: letters, digits, '.', '-' and '_' only")
    _REGISTERED[name] = factory


def find(spec: str) -> tuple[Callable[..., Any], str | None] | None:
    """(factory, argument) for a user encoder spec, or None when ``spec`` names none."""
    name, at, argument = spec.partition("@")
    argument = argument if at else None
    if name in _REGISTERED:
        return _REGISTERED[name], argument
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        if entry.name == name:
            try:
                return entry.load(), argument
            except Exception as exc:  # the package's own import error, said with where it came from
                raise CheckpointError(f"--model {spec}: entry point {name} = {entry.value} "
                                      f"({ENTRY_POINT_GROUP}) failed to load: {exc!r}") from exc
    if _IMPORT_PATH.match(name):
        module_name, attribute = name.split(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            raise CheckpointError(f"--model {spec}: cannot import module {module_name!r} ({exc}); is it on "
                                  "PYTHONPATH or installed?") from None
        if not hasattr(module, attribute):
            raise CheckpointError(f"--model {spec}: module {module_name} has no {attribute!r}")
        return getattr(module, attribute), argument
    return None


def load(spec: str) -> Any:
    """The user encoder ``spec`` names, checked, in eval mode (None if it names none); the caller moves it."""
    found = find(spec)
    if found is None:
        return None
    factory, argument = found
    encoder = factory() if argument is None else factory(argument)
    check_encoder(encoder, f"--model {spec}")
    if hasattr(encoder, "eval"):
        encoder.eval()
    return encoder


def known() -> list[str]:
    """Registered and entry-point encoder names (for error messages)."""
    return sorted({*_REGISTERED, *(entry.name for entry in entry_points(group=ENTRY_POINT_GROUP))})
