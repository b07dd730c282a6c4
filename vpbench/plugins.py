"""Name → module dispatch for readers, tiny writers and family runners.

A YAML value (``dataset.format``, ``family``) names a module you can open:
``vpbench/<package>/<name>.py``. A missing module is a clear "not implemented" error, never an
ImportError traceback; an import failure *inside* an existing module still surfaces as itself.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from vpbench.errors import NotImplementedYetError


def named_module(package: str, name: str, missing_message: str) -> ModuleType:
    """Import ``<package>.<name>``; ``missing_message`` is the error when no such module exists."""
    module_name = f"{package}.{name}"
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name != module_name:
            raise
        raise NotImplementedYetError(missing_message) from None
