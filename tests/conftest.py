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
