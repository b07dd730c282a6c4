"""The regression gate: current results against a stored baseline, per benchmark, with tolerances.

CI runs the tiny suite and calls ``vpbench check --baseline FILE``. A baseline holds, per
(benchmark, model, adapter variant), the seed-mean value together with the protocol
fingerprint and checkpoint hash it was measured under. The verdict per entry is:

- ``regressed``: current < baseline - tolerance (every benchmark metric is higher-is-better);
- ``missing`` / ``protocol changed``: the comparison is not possible (no current value, or a
  different fingerprint or checkpoint); such input is unusable, not a pass. The fingerprint holds
  the protocol variant and deviation ids, so a run of another variant, or one that gained or lost
  a deviation (``--limit``, a fallback for a missing user file), is "protocol changed", and the
  detail names the variant change and each deviation that appeared or disappeared. A checkpoint
  vpbench trains at first use (``zoo.trained_here``) is compared by the recipe its fingerprint
  names, not by its bytes, which vary with the machine's float kernels;
- otherwise ``improved`` / ``unchanged`` / ``within tolerance``; an entry only in the current
  results is ``new`` and does not fail the gate.

Exit codes (:attr:`CheckReport.exit_code`): 2 if any entry is unusable, else 1 if any
regressed, else 0. This module must never rewrite a baseline on its own: only
:func:`write_baseline`, which the user calls explicitly, writes one (atomically).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from enum import Enum
from pathlib import Path
from typing import Any, Iterable

from vpbench.atomic import atomic_write_json
from vpbench.errors import VpbenchError
from vpbench.leaderboard.published import PublishedTable, delta
from vpbench.leaderboard.runs import (ResultFileError, RunProtocol, RunRecord, aggregate_seeds, drop_duplicate_seeds,
                                      fingerprint_differences, parse_protocol)
from vpbench.models.zoo import trained_here

BASELINE_KIND = "vpbench-baseline"
BASELINE_SCHEMA_VERSION = 1
# Float noise allowance: a value equal to the baseline after a JSON round trip is "unchanged".
_EPSILON = 1e-9


class BaselineError(VpbenchError):
    """A baseline file is missing, malformed, or cannot be built from the given results."""


@dataclass(frozen=True)
class BaselineEntry:
    benchmark: str
    task: str
    metric: str | None  # the benchmark's metric key (None for a benchmark benchmarks.yaml lacks)
    model: str
    adapter: str
    value: float  # mean over seeds
    seeds: tuple[int, ...]
    tiny: bool
    fingerprint_sha256: str
    fingerprint: dict[str, Any]
    checkpoint_sha256: str | None
    protocol: RunProtocol | None = None  # the results' protocol record (None: none recorded)

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.benchmark, self.model, self.adapter)

    @property
    def name(self) -> str:
        return f"{self.benchmark} ({self.model}:{self.adapter})"


def entries_from_records(records: Iterable[RunRecord], published: PublishedTable) -> list[BaselineEntry]:
    """One entry per (benchmark, model, adapter): the mean over seeds of one protocol.

    Two protocols or checkpoints for the same key in one results folder cannot be gated (which
    one is "the" current value?), so that is an error naming the files.
    """
    records, _ = drop_duplicate_seeds(records)
    groups: dict[tuple[str, str, str], list[RunRecord]] = {}
    for record in records:
        for bench_id in record.benchmarks:
            groups.setdefault((bench_id, record.model, record.adapter), []).append(record)
    entries = []
    for (bench_id, model, adapter), members in sorted(groups.items()):
        if len({r.fingerprint_sha256 for r in members}) > 1 or len({r.checkpoint_sha256 for r in members}) > 1:
            files = ", ".join(str(r.path) for r in members)
            raise BaselineError(f"{bench_id} ({model}:{adapter}) has results under different protocol "
                                f"fingerprints or checkpoints in one results folder ({files}); keep one "
                                f"protocol and one checkpoint per folder")
        result = aggregate_seeds(members, bench_id)
        row = published.row(bench_id)
        entries.append(BaselineEntry(
            benchmark=bench_id, task=members[0].task, metric=row.metric if row else None, model=model,
            adapter=adapter, value=result.value, seeds=result.seeds, tiny=all(r.tiny for r in members),
            fingerprint_sha256=result.fingerprint_sha256, fingerprint=result.fingerprint,
            checkpoint_sha256=None if trained_here(model) else result.checkpoint_sha256, protocol=result.protocol))
    return entries


def write_baseline(path: str | Path, entries: list[BaselineEntry]) -> Path:
    """Write a baseline file atomically: a killed CI job never leaves half a baseline."""
    from vpbench import __version__

    if not entries:
        raise BaselineError(f"{path}: refusing to write an empty baseline (no results found)")
    document = {
        "kind": BASELINE_KIND, "schema_version": BASELINE_SCHEMA_VERSION,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"), "vpbench_version": __version__,
        "entries": [{**asdict(entry), "seeds": list(entry.seeds), "protocol": _protocol_json(entry.protocol)}
                    for entry in entries],
    }
    return atomic_write_json(path, document)


def _protocol_json(protocol: RunProtocol | None) -> dict[str, Any] | None:
    """The result files' shape: ``{variant, deviations: [{id, text}]}``."""
    if protocol is None:
        return None
    return {"variant": protocol.variant, "deviations": [{"id": i, "text": t} for i, t in protocol.deviations]}


_ENTRY_FIELDS: dict[str, tuple[type | tuple[type, ...], bool]] = {
    "benchmark": (str, True), "task": (str, True), "metric": ((str, type(None)), False), "model": (str, True),
    "adapter": (str, True), "value": ((int, float), True), "seeds": (list, True), "tiny": (bool, False),
    "fingerprint_sha256": (str, True), "fingerprint": (dict, False), "checkpoint_sha256": ((str, type(None)), False),
    "protocol": ((dict, type(None)), False),
}


def read_baseline(path: str | Path) -> list[BaselineEntry]:
    path = Path(path)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BaselineError(f"{path}: baseline file not found (write one with --write-baseline)") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise BaselineError(f"{path}: not valid JSON ({error})") from None
    if not isinstance(document, dict) or document.get("kind") != BASELINE_KIND:
        raise BaselineError(f"{path}: not a vpbench baseline (expected key 'kind': '{BASELINE_KIND}')")
    if document.get("schema_version") != BASELINE_SCHEMA_VERSION:
        raise BaselineError(f"{path}: key 'schema_version' is {document.get('schema_version')!r}; "
                            f"this vpbench reads version {BASELINE_SCHEMA_VERSION}")
    raw_entries = document.get("entries")
    if not isinstance(raw_entries, list) or not raw_entries:
        raise BaselineError(f"{path}: key 'entries' must be a non-empty list")
    entries, seen = [], set()
    for index, raw in enumerate(raw_entries):
        where = f"{path}: entries[{index}]"
        if not isinstance(raw, dict):
            raise BaselineError(f"{where}: expected a mapping")
        for key, (kind, required) in _ENTRY_FIELDS.items():
            if key not in raw:
                if required:
                    raise BaselineError(f"{where}: missing required key '{key}'")
                continue
            value = raw[key]
            bad_number = key == "value" and (isinstance(value, bool) or not math.isfinite(value))
            if not isinstance(value, kind) or bad_number:
                raise BaselineError(f"{where}: key '{key}' has an invalid value {value!r}")
        unknown = sorted(set(raw) - set(_ENTRY_FIELDS))
        if unknown:
            raise BaselineError(f"{where}: unknown key(s) {unknown}; allowed: {sorted(_ENTRY_FIELDS)}")
        try:
            protocol = parse_protocol({"protocol": raw["protocol"]}, Path(where)) if raw.get("protocol") else None
        except ResultFileError as error:
            raise BaselineError(str(error)) from None
        entry = BaselineEntry(
            benchmark=raw["benchmark"], task=raw["task"], metric=raw.get("metric"), model=raw["model"],
            adapter=raw["adapter"], value=float(raw["value"]), seeds=tuple(raw["seeds"]), tiny=raw.get("tiny", False),
            fingerprint_sha256=raw["fingerprint_sha256"], fingerprint=raw.get("fingerprint", {}),
            checkpoint_sha256=raw.get("checkpoint_sha256"), protocol=protocol)
        if entry.key in seen:
            raise BaselineError(f"{where}: duplicate entry for {entry.name}")
        seen.add(entry.key)
        entries.append(entry)
    return entries


@dataclass(frozen=True)
class Tolerances:
    """Absolute tolerances in the metric's units (points). A benchmark id beats a metric key."""

    default: float = 0.0
    by_key: tuple[tuple[str, float], ...] = ()

    def for_entry(self, entry: BaselineEntry) -> float:
        table = dict(self.by_key)
        if entry.benchmark in table:
            return table[entry.benchmark]
        if entry.metric is not None and entry.metric in table:
            return table[entry.metric]
        return self.default


def parse_tolerances(default: float, specs: Iterable[str]) -> Tolerances:
    """``["top1=2.0", "mAP=1,k400=0.5"]`` -> Tolerances; each key is a metric key or a benchmark id."""
    if not math.isfinite(default) or default < 0:
        raise VpbenchError(f"--tolerance must be a non-negative number, got {default}")
    pairs = []
    for spec in specs:
        for item in filter(None, (part.strip() for part in spec.split(","))):
            key, sep, value = item.partition("=")
            try:
                tolerance = float(value)
            except ValueError:
                tolerance = float("nan")
            if not sep or not key or not math.isfinite(tolerance) or tolerance < 0:
                raise VpbenchError(f"--metric-tolerance '{item}': expected KEY=TOLERANCE with a non-negative "
                                   f"number, e.g. top1=2.0")
            pairs.append((key, tolerance))
    return Tolerances(default, tuple(pairs))


class Status(str, Enum):
    IMPROVED = "improved"
    UNCHANGED = "unchanged"
    WITHIN = "within tolerance"
    REGRESSED = "regressed"
    MISSING = "missing"
    PROTOCOL = "protocol changed"
    NEW = "new"

    @property
    def unusable(self) -> bool:
        return self in (Status.MISSING, Status.PROTOCOL)


@dataclass(frozen=True)
class CheckRow:
    name: str
    benchmark: str
    model: str
    adapter: str
    baseline: float | None
    current: float | None
    delta: float | None
    tolerance: float | None
    status: Status
    detail: str

    @property
    def moved(self) -> bool:
        return self.status is not Status.UNCHANGED


@dataclass(frozen=True)
class CheckReport:
    rows: tuple[CheckRow, ...]

    @property
    def exit_code(self) -> int:
        if any(row.status.unusable for row in self.rows):
            return 2
        return 1 if any(row.status is Status.REGRESSED for row in self.rows) else 0

    def count(self, status: Status) -> int:
        return sum(row.status is status for row in self.rows)

    def to_dict(self) -> dict[str, Any]:
        return {"exit_code": self.exit_code,
                "rows": [{**asdict(row), "status": row.status.value} for row in self.rows]}


def compare(baseline: list[BaselineEntry], current: list[BaselineEntry], tolerances: Tolerances) -> CheckReport:
    now = {entry.key: entry for entry in current}
    rows = []
    for base in baseline:
        tolerance = tolerances.for_entry(base)
        found = now.pop(base.key, None)
        if found is None:
            rows.append(CheckRow(base.name, base.benchmark, base.model, base.adapter, base.value, None, None,
                                 tolerance, Status.MISSING, "no current result for this benchmark, model and adapter"))
            continue
        change = delta(found.value, base.value)
        problems = _protocol_problems(base, found)
        if problems:
            status, detail = Status.PROTOCOL, "; ".join(problems)
        elif change < -(tolerance + _EPSILON):
            status, detail = Status.REGRESSED, f"dropped {-change:.4g} points, more than the tolerance {tolerance:g}"
        elif change < -_EPSILON:
            status, detail = Status.WITHIN, f"dropped {-change:.4g} points, within the tolerance {tolerance:g}"
        elif change > _EPSILON:
            status, detail = Status.IMPROVED, f"rose {change:.4g} points"
        else:
            status, detail = Status.UNCHANGED, ""
        rows.append(CheckRow(base.name, base.benchmark, base.model, base.adapter, base.value, found.value, change,
                             tolerance, status, detail))
    for extra in now.values():
        rows.append(CheckRow(extra.name, extra.benchmark, extra.model, extra.adapter, None, extra.value, None,
                             None, Status.NEW, "not in the baseline (not gated)"))
    return CheckReport(tuple(rows))


def _protocol_problems(base: BaselineEntry, found: BaselineEntry) -> list[str]:
    problems = []
    if base.fingerprint_sha256 != found.fingerprint_sha256:
        changes = protocol_changes(base, found)
        if changes:
            problems.append("protocol record changed: " + "; ".join(changes))
        # The fingerprint's `protocol` field is what `changes` just described in words.
        fields = [field for field in fingerprint_differences(base.fingerprint, found.fingerprint)
                  if not field.startswith("protocol: ")] if base.fingerprint else []
        if fields or not changes:
            what = ", ".join(fields) or f"{base.fingerprint_sha256[:12]} -> {found.fingerprint_sha256[:12]}"
            problems.append(f"protocol fingerprint differs ({what})")
    if base.checkpoint_sha256 and found.checkpoint_sha256 and base.checkpoint_sha256 != found.checkpoint_sha256:
        problems.append(f"checkpoint differs ({base.checkpoint_sha256[:12]} -> {found.checkpoint_sha256[:12]})")
    return problems


def protocol_changes(base: BaselineEntry, found: BaselineEntry) -> list[str]:
    """In words: the variant change and each deviation that appeared or disappeared (empty: none).

    Read from the entries' protocol records, or, for a baseline written before those were stored
    in it, from the ids its fingerprint holds; an entry with neither has an unknown protocol.
    """
    before, after = _protocol_summary(base), _protocol_summary(found)
    if before == after:
        return []
    if before is None or after is None:
        side = "the baseline records" if before is None else "the current results record"
        return [f"{side} no protocol (written by a vpbench that did not record protocols), so the "
                f"two protocols cannot be shown to be the same"]
    changes = []
    if before[0] != after[0]:
        changes.append(f"variant {before[0] or 'default'} -> {after[0] or 'default'}")
    for ident in (ident for ident in after[1] if ident not in before[1]):
        changes.append(f"deviation '{ident}' appeared" + (f" ({after[1][ident]})" if after[1][ident] else ""))
    for ident in (ident for ident in before[1] if ident not in after[1]):
        changes.append(f"deviation '{ident}' disappeared" + (f" ({before[1][ident]})" if before[1][ident] else ""))
    return changes


def _protocol_summary(entry: BaselineEntry) -> tuple[str | None, dict[str, str]] | None:
    """(variant, {deviation id: text, or '' when only the id is known}); None when unknown."""
    if entry.protocol is not None:
        return entry.protocol.variant, dict(entry.protocol.deviations)
    recorded = entry.fingerprint.get("protocol")
    if isinstance(recorded, dict):
        return recorded.get("variant"), {str(ident): "" for ident in recorded.get("deviations", [])}
    return None
