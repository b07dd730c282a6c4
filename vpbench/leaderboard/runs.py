"""Result JSONs as the leaderboard and the regression gate see them.

``vpbench run`` writes one JSON per (task, model, adapter, seed). This module reads them into
:class:`RunRecord` views, and folds the seeds of one (benchmark, model, adapter, protocol) into
one :class:`SeedAggregate`. The protocol fingerprint is the unit of comparability: records
with different ``fingerprint_sha256`` are never averaged together, whatever else they share.
Each record also carries the result's protocol record (:class:`RunProtocol`: variant and
deviations from the paper's protocol); a result written before vpbench recorded protocols has
none, and is treated as of unknown protocol (never compared with a published number).
It never writes results and never reads anything but JSON (no pickle).
"""

from __future__ import annotations

import json
import math
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from vpbench.errors import VpbenchError

class ResultFileError(VpbenchError):
    """A result JSON is malformed, or a set of results cannot be compared as asked."""


@dataclass(frozen=True)
class RunProtocol:
    """The protocol a result says it ran: its named variant and its deviations from the paper's protocol.

    Only a result whose protocol is neither a variant nor has any deviation (task-declared or
    made at run time, e.g. ``--limit``) is the paper's experiment, and only that one may be shown
    beside a published number as a difference.
    """

    variant: str | None
    deviations: tuple[tuple[str, str], ...]  # (id, text), in the result's order

    @property
    def comparable(self) -> bool:
        return self.variant is None and not self.deviations

    @property
    def key(self) -> tuple[str | None, tuple[str, ...]]:
        """What identifies a protocol (the fingerprint holds the same): variant and sorted deviation ids."""
        return self.variant, tuple(sorted(key for key, _ in self.deviations))


@dataclass(frozen=True)
class RunRecord:
    """The parts of one result JSON that the leaderboard and the regression gate use."""

    path: Path
    task: str
    model: str
    checkpoint_sha256: str | None
    adapter: str  # "type/variant", or "type" when the result names no variant
    seed: int
    tiny: bool
    benchmarks: dict[str, float]
    fingerprint: dict[str, Any]
    fingerprint_sha256: str
    created: str  # provenance.created (ISO time), used to pick the newest of duplicate runs
    protocol: RunProtocol | None = None  # None: the result has no protocol record (unknown protocol)
    backend: str | None = None  # the encoder's backend ("videoprism", "videomae", ...); None: written before encoders

    @property
    def videoprism(self) -> bool:
        """Whether the encoder is VideoPrism, whose published numbers the run may be compared with."""
        return self.backend in (None, "videoprism")


def load_run_records(results_dir: str | Path) -> list[RunRecord]:
    """Every result JSON under ``results_dir`` (recursively, via :func:`vpbench.results.load_results`).

    Files that are not results (a baseline, a prediction dump) are left out by the loader; a file
    that is taken as a result but lacks a field this module needs is an error naming the file.
    """
    from vpbench.results import load_results

    root = Path(results_dir)
    if not root.is_dir():
        raise ResultFileError(f"{root}: results directory not found (give --results DIR)")
    return [parse_result(data, Path(data.get("_path", root))) for data in load_results(root)]


def parse_result(data: dict[str, Any], path: Path) -> RunRecord:
    """Validate the fields of one result JSON (its schema version already checked by the loader)."""
    model = _require(data, "model", dict, path)
    adapter = _require(data, "adapter", dict, path)
    benchmarks = _require(data, "benchmarks", dict, path)
    for bench_id, value in benchmarks.items():
        if not _is_number(value):
            raise ResultFileError(f"{path}: key 'benchmarks.{bench_id}' must be a finite number, got {value!r}")
    variant = adapter.get("variant")
    adapter_type = _require(adapter, "type", str, path, prefix="adapter.")
    provenance = data.get("provenance") if isinstance(data.get("provenance"), dict) else {}
    return RunRecord(
        path=path,
        task=_require(data, "task", str, path),
        model=_require(model, "name", str, path, prefix="model."),
        checkpoint_sha256=model.get("checkpoint_sha256"),
        adapter=f"{adapter_type}/{variant}" if variant else adapter_type,
        seed=_require(data, "seed", int, path),
        tiny=bool(data.get("tiny", False)),
        benchmarks={str(k): float(v) for k, v in benchmarks.items()},
        fingerprint=_require(data, "fingerprint", dict, path),
        fingerprint_sha256=_require(data, "fingerprint_sha256", str, path),
        created=str(provenance.get("created", "")),
        protocol=parse_protocol(data, path),
        backend=model.get("backend"),
    )


def parse_protocol(data: dict[str, Any], path: Path) -> RunProtocol | None:
    """The result's ``protocol`` record, or None when it has none (written by an older vpbench)."""
    if "protocol" not in data:
        return None
    raw = data["protocol"]
    if not isinstance(raw, dict):
        raise ResultFileError(f"{path}: key 'protocol' must be a mapping with 'variant' and 'deviations', "
                              f"got {raw!r}")
    variant = raw.get("variant")
    if variant is not None and (not isinstance(variant, str) or not variant):
        raise ResultFileError(f"{path}: key 'protocol.variant' must be a variant name or null, got {variant!r}")
    entries = raw.get("deviations", [])
    if not isinstance(entries, list):
        raise ResultFileError(f"{path}: key 'protocol.deviations' must be a list of {{id, text}}, got {entries!r}")
    deviations = []
    for index, entry in enumerate(entries):
        if not (isinstance(entry, dict) and isinstance(entry.get("id"), str) and entry["id"]
                and isinstance(entry.get("text"), str)):
            raise ResultFileError(f"{path}: key 'protocol.deviations[{index}]' must be {{\"id\": str, "
                                  f"\"text\": str}}, got {entry!r}")
        deviations.append((entry["id"], entry["text"]))
    return RunProtocol(variant=variant, deviations=tuple(deviations))


@dataclass(frozen=True)
class SeedAggregate:
    """One benchmark value over the seeds of one (model, adapter, protocol)."""

    value: float  # mean over seeds
    std: float | None  # sample standard deviation; None for a single seed
    seeds: tuple[int, ...]
    fingerprint_sha256: str
    fingerprint: dict[str, Any]
    checkpoint_sha256: str | None
    files: tuple[str, ...]
    protocol: RunProtocol | None = None  # shared by the seeds (None: unknown, see RunRecord)


def aggregate_seeds(records: Iterable[RunRecord], benchmark_id: str) -> SeedAggregate:
    """Mean (and spread) of ``benchmark_id`` over records that share one protocol fingerprint.

    Callers group by fingerprint first; mixing fingerprints here is a programming error that
    would average incomparable numbers, so it raises rather than picks one.
    """
    records = sorted(records, key=lambda r: r.seed)
    fingerprints = {r.fingerprint_sha256 for r in records}
    if len(fingerprints) != 1:
        raise ResultFileError(f"cannot average '{benchmark_id}' over different protocol fingerprints: "
                              f"{', '.join(str(r.path) for r in records)}")
    if len({r.protocol.key if r.protocol else None for r in records}) != 1:
        raise ResultFileError(f"'{benchmark_id}': results with one protocol fingerprint name different variants or "
                              f"deviations (edited by hand?): {', '.join(str(r.path) for r in records)}")
    values = [r.benchmarks[benchmark_id] for r in records]
    return SeedAggregate(
        value=statistics.fmean(values),
        std=statistics.stdev(values) if len(values) > 1 else None,
        seeds=tuple(r.seed for r in records),
        fingerprint_sha256=records[0].fingerprint_sha256,
        fingerprint=records[0].fingerprint,
        checkpoint_sha256=records[0].checkpoint_sha256,
        files=tuple(str(r.path) for r in records),
        protocol=records[0].protocol,
    )


def drop_duplicate_seeds(records: Iterable[RunRecord]) -> tuple[list[RunRecord], list[str]]:
    """Keep the newest record of each (task, model, adapter, seed, fingerprint); say what was dropped.

    The same seed run twice (say into two run directories) must count once in a mean over seeds.
    """
    newest: dict[tuple, RunRecord] = {}
    notes = []
    for record in records:
        key = (record.task, record.model, record.adapter, record.seed, record.fingerprint_sha256)
        kept = newest.get(key)
        if kept is None:
            newest[key] = record
            continue
        winner, loser = (record, kept) if (record.created, str(record.path)) > (kept.created, str(kept.path)) \
            else (kept, record)
        newest[key] = winner
        notes.append(f"{loser.path} repeats seed {record.seed} of {record.task} / {record.model} / "
                     f"{record.adapter}; using the newer {winner.path}")
    return list(newest.values()), notes


def fingerprint_differences(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """``field: a -> b`` for each top-level fingerprint field that differs, for error messages."""
    out = []
    for key in sorted(set(a) | set(b)):
        if a.get(key, "<absent>") != b.get(key, "<absent>"):
            out.append(f"{key}: {brief(a.get(key, '<absent>'))} -> {brief(b.get(key, '<absent>'))}")
    return out


def brief(value: Any) -> str:
    """A fingerprint value short enough for a message: hashes and long lists cut to 12 characters."""
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return text[:12] + "..." if len(text) > 24 else text


def _require(data: dict[str, Any], key: str, kind: type, path: Path, prefix: str = "") -> Any:
    if key not in data:
        raise ResultFileError(f"{path}: missing required key '{prefix}{key}'")
    value = data[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ResultFileError(f"{path}: key '{prefix}{key}' must be {kind.__name__}, got {value!r}")
    return value


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
