"""The result record of one run: scores, the protocol fingerprint, provenance; written atomically.

One JSON per (task, model, adapter variant, seed). `vpbench table` and `vpbench check` only read
these files, so everything a reader needs to decide whether two numbers are comparable (the
fingerprint) or where a number came from (provenance) must be in the file itself.
"""

from __future__ import annotations

import hashlib
import json
import platform
import re
import subprocess
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any, Sequence

from vpbench.atomic import atomic_write_json
from vpbench.errors import VpbenchError
from vpbench.registry import TaskConfig
from vpbench.textio import read_text

SCHEMA_VERSION = 1
_PACKAGES = ("torch", "numpy", "scikit-learn", "decord", "pycocoevalcap", "nltk", "transformers")


@dataclass
class RunRecord:
    """What a family runner hands back; :func:`build_result` adds everything generic."""

    scores: dict[str, float]
    fingerprint: dict[str, Any]
    adapter: dict[str, Any]
    counts: dict[str, Any]
    timings_s: dict[str, float]
    model: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    deviations: dict[str, str] = field(default_factory=dict)
    """Deviations from the paper's protocol that this run made (id -> text), beyond the task's own."""


def build_result(task: TaskConfig, record: RunRecord, *, seed: int, tiny: bool) -> dict[str, Any]:
    missing = [b for b in task.benchmarks if _metric_of(task, b) not in record.scores]
    if missing:
        raise VpbenchError(f"task '{task.name}' produced no score for benchmark(s) {missing}")
    protocol = task.protocol_record()
    known = {entry["id"] for entry in protocol["deviations"]}
    protocol["deviations"] += [{"id": key, "text": text} for key, text in record.deviations.items() if key not in known]
    fingerprint = {"task_config_sha256": task.config_sha256(), **record.fingerprint,
                   "protocol": {"variant": protocol["variant"],
                                "deviations": sorted(entry["id"] for entry in protocol["deviations"])}}
    return {
        "schema_version": SCHEMA_VERSION,
        "task": task.name,
        "task_version": task.version,
        "family": task.family,
        "model": record.model,
        "adapter": record.adapter,
        "seed": seed,
        "tiny": tiny,
        "scores": record.scores,
        "benchmarks": {b: record.scores[_metric_of(task, b)] for b in task.benchmarks},
        "fingerprint": fingerprint,
        "fingerprint_sha256": fingerprint_sha256(fingerprint),
        "counts": record.counts,
        "timings_s": record.timings_s,
        "notes": record.notes,
        "protocol": protocol,
        **({"extra": record.extra} if record.extra else {}),
        "provenance": provenance(),
    }


def _metric_of(task: TaskConfig, benchmark_id: str) -> str:
    from vpbench.registry import load_registry

    return load_registry().benchmarks[benchmark_id].metric


def fingerprint_sha256(fingerprint: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(fingerprint, sort_keys=True, default=str).encode()).hexdigest()


def result_filename(result: dict[str, Any]) -> str:
    """``<task>[@<protocol variant>][+limit<N>][+<choice>...]__<model>__<adapter variant>__seed<k>.json``,
    unsafe characters replaced: a ``--limit`` run on a subset, or a run given an option that makes it
    another experiment (``+prompts-<digest>``, ``+lm-<digest>``...: the fingerprint's ``chosen``,
    :data:`vpbench.families.common.CHOSEN_OPTIONS`), never overwrites the result of the default run."""
    fingerprint = result.get("fingerprint") or {}
    task_part = run_label(result["task"], (result.get("protocol") or {}).get("variant"), fingerprint.get("limit"),
                          fingerprint.get("chosen", []))
    parts = [task_part, result["model"].get("name", "model"),
             result["adapter"].get("variant", "default"), f"seed{result['seed']}"]
    return "__".join(safe_name(p) for p in parts) + ".json"


def run_label(task: str, variant: str | None, limit: int | None, chosen: Sequence[str]) -> str:
    """``<task>[@<protocol variant>][+limit<N>][+<choice>...]``: the part of a run's file names (result
    JSON and prediction files alike) that sets it apart from the task's default run."""
    return (task + (f"@{variant}" if variant else "") + (f"+limit{limit}" if limit else "")
            + "".join(f"+{choice}" for choice in chosen))


def safe_name(text: Any) -> str:
    """``text`` with every character a file name should not carry replaced by ``-``."""
    return re.sub(r"[^A-Za-z0-9._@+-]+", "-", str(text))


def write_result(output_dir: str | Path, result: dict[str, Any]) -> Path:
    return atomic_write_json(Path(output_dir) / result_filename(result), result)


def load_results(directory: str | Path) -> list[dict[str, Any]]:
    """Every result JSON under ``directory`` (recursively), skipping files that are not results."""
    results = []
    for path in sorted(p for p in Path(directory).rglob("*.json") if p.is_file()):
        try:
            data = json.loads(read_text(path, what="a result JSON"))
        except json.JSONDecodeError as error:
            raise VpbenchError(f"{path}: line {error.lineno}: not valid JSON ({error.msg})") from None
        if not (isinstance(data, dict) and "schema_version" in data and "task" in data and "benchmarks" in data):
            continue  # predictions, tables, baselines: not result records
        if data["schema_version"] != SCHEMA_VERSION:
            raise VpbenchError(f"{path}: result schema_version {data['schema_version']!r}; this vpbench reads "
                               f"version {SCHEMA_VERSION} (upgrade vpbench, or re-run the task)")
        data["_path"] = str(path)
        results.append(data)
    return results


def provenance() -> dict[str, Any]:
    from vpbench import __version__

    packages = {}
    for name in _PACKAGES:
        try:
            packages[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            packages[name] = None
    return {
        "vpbench_version": __version__,
        "git_commit": _git_commit(),
        "packages": packages,
        "python": platform.python_version(),
        "device": _device(),
        "host": platform.node(),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def _git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True,
                             text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def _device() -> str:
    try:
        import torch
    except ImportError:
        return "cpu"
    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
