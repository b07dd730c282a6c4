"""Name → module dispatch: a missing module is a clear 'not implemented' error; a broken one is not hidden."""

import sys

import pytest

from vpbench.errors import NotImplementedYetError
from vpbench.plugins import named_module


def test_missing_module_is_not_implemented():
    with pytest.raises(NotImplementedYetError, match="no reader for 'nope'"):
        named_module("vpbench.datasets", "nope", "no reader for 'nope'")


def test_import_error_inside_a_module_surfaces(tmp_path, monkeypatch):
    package = tmp_path / "vpb_plugin_test"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "broken.py").write_text("import a_module_that_does_not_exist\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ModuleNotFoundError, match="a_module_that_does_not_exist"):
        named_module("vpb_plugin_test", "broken", "unused")
    sys.modules.pop("vpb_plugin_test", None)
