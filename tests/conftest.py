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


@pytest.fixture()
def set_result_protocol():
    """Rewrite a result JSON's protocol record as `vpbench run` would write it: the record, the
    fingerprint's variant and deviation ids, the fingerprint hash. ``deviations`` is None: the
    record is removed, as in results written before vpbench recorded protocols."""
    import json

    from vpbench.results import fingerprint_sha256

    def rewrite(path, variant=None, deviations=()):
        data = json.loads(path.read_text())
        if deviations is None:
            data.pop("protocol", None)
            data["fingerprint"].pop("protocol", None)
        else:
            data["protocol"] = {"variant": variant, "sources": data.get("protocol", {}).get("sources", []),
                                "deviations": [{"id": key, "text": text} for key, text in deviations]}
            data["fingerprint"]["protocol"] = {"variant": variant, "deviations": sorted(key for key, _ in deviations)}
        data["fingerprint_sha256"] = fingerprint_sha256(data["fingerprint"])
        path.write_text(json.dumps(data))
    return rewrite
