"""Test-wide settings: offline hubs, and a private cache so tests never touch a user's cache."""

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    """Every test session gets one fresh VPBENCH_CACHE (tiny subsets, features, checkpoints)."""
    if "VPBENCH_TEST_CACHE" not in os.environ:
        os.environ["VPBENCH_TEST_CACHE"] = str(tmp_path_factory.getbasetemp() / "vpbench-cache")
    monkeypatch.setenv("VPBENCH_CACHE", os.environ["VPBENCH_TEST_CACHE"])


@pytest.fixture(scope="module")
def one_torch_thread():
    """Two shared cores: OpenMP threads spinning against other processes make tiny models ~10x slower.

    A module opts in with ``pytestmark = pytest.mark.usefixtures("one_torch_thread")``.
    """
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
