"""The leaderboard as data: published rows, run columns, cells, protocol marks, group aggregates.

Renderers (``render.py``, ``plot.py``) only format what :func:`build_leaderboard` decides. The
rules that make a cell comparable live here and nowhere else:

- a run column is one (model, adapter variant, tiny or not, protocol variant); its cell for a
  benchmark is the mean over seeds of results that share one protocol fingerprint; a model name
  seen with two checkpoint hashes becomes two models, ``<model>@<hash prefix>``; a named protocol
  variant gets its own column, ``<model>:<adapter> (variant <name>)``;
- when the same column ran a task under two fingerprints (8 vs 16 frames, another split file,
  another AVA convention or class subset), the second protocol goes to its own column,
  ``<model>:<adapter> (protocol 2)``; the two are never averaged;
- when cells of one row come from different protocols, each carries a mark ``[p1]``, ``[p2]``
  and a footnote lists the fingerprint fields that differ;
- a cell is compared with a published number (Δ to the paper, to the released checkpoint, to
  the previous best) only when its results record a protocol with no variant and no deviation
  and it is not a tiny run. Every other cell carries a mark ``[d1]``, ``[d2]``... (one per
  variant and set of deviations) whose footnote lists the deviations; a result with no protocol
  record (written by an older vpbench) is marked ``[d?]``: its protocol is unknown.

It never rounds (renderers do) and never invents a reference number the YAML does not have.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

from vpbench.errors import VpbenchError
from vpbench.leaderboard.aggregate import group_mean
from vpbench.leaderboard.published import PublishedTable, delta, model_size
from vpbench.leaderboard.runs import (RunProtocol, RunRecord, SeedAggregate, aggregate_seeds, brief,
                                      drop_duplicate_seeds, load_run_records)

UNKNOWN_PROTOCOL_MARK = "d?"


@dataclass(frozen=True)
class RunColumn:
    id: str  # also its header: "<model>:<adapter>", " (variant V)", " (tiny)", " (protocol N)"
    model: str
    adapter: str
    tiny: bool
    size: str | None  # "b" / "l" / "g": which published numbers the run is compared with
    protocol: int  # 1 for the first protocol a (model, adapter) ran a task under, 2.. for others
    variant: str | None = None  # the named protocol variant its results ran (None: the task's default)


@dataclass(frozen=True)
class RunCell:
    result: SeedAggregate
    # Differences to published numbers; all None unless the cell is `comparable`.
    delta_paper: float | None  # run - the paper's number for this size (None also: the paper has none, tiny run)
    delta_public: float | None  # run - the released checkpoint's number for this size (same)
    delta_prev_best: float | None  # run - previous best (what the chart shows for a run; tiny runs too)
    protocol_mark: str | None  # "p1", "p2", ... when the row mixes protocols; else None
    deviation_mark: str | None = None  # "d1", "d2", ... ("d?": unknown protocol) unless comparable

    @property
    def protocol(self) -> RunProtocol | None:
        return self.result.protocol

    @property
    def comparable(self) -> bool:
        """The results ran the paper's protocol: no variant, no deviation, and a protocol record at all."""
        return self.result.protocol is not None and self.result.protocol.comparable


@dataclass(frozen=True)
class Leaderboard:
    published: PublishedTable
    columns: tuple[RunColumn, ...]
    cells: Mapping[tuple[str, str], RunCell]  # (benchmark id, column id) -> cell
    notes: tuple[str, ...]  # what was skipped or resolved while reading results
    protocol_notes: tuple[str, ...]  # footnotes explaining protocol marks
    deviation_notes: tuple[str, ...] = ()  # footnotes listing the deviations behind each deviation mark

    def cell(self, benchmark_id: str, column_id: str) -> RunCell | None:
        return self.cells.get((benchmark_id, column_id))

    def find_column(self, name: str) -> RunColumn:
        """A run column by exact id, or by a substring that matches exactly one column."""
        exact = [c for c in self.columns if c.id == name]
        matches = exact or [c for c in self.columns if name in c.id]
        if len(matches) == 1:
            return matches[0]
        known = ", ".join(c.id for c in self.columns) or "none (no results loaded)"
        what = "matches several" if matches else "matches no"
        raise VpbenchError(f"run '{name}' {what} run column; columns: {known}")

    def aggregates(self, group_id: str) -> dict[str, float | None]:
        """Version-1 group mean (see ``aggregate.py``) of every numeric column of one group."""
        rows = self.published.rows_of(group_id)
        group = next(g for g in self.published.groups if g.id == group_id)
        out: dict[str, float | None] = {}
        for key, _ in group.columns:
            out[key] = group_mean([row.paper_value(key) for row in rows])
        out["prev_best"] = group_mean([row.prev_best for row in rows])
        out["delta"] = group_mean([row.delta for row in rows])
        out["public_b"] = group_mean([row.public_b for row in rows])
        out["public_l"] = group_mean([row.public_l for row in rows])
        out["domain_expert"] = group_mean([row.domain_expert for row in rows])
        for column in self.columns:
            cells = [self.cell(row.id, column.id) for row in rows]
            out[column.id] = group_mean([cell.result.value if cell else None for cell in cells])
        return out


def build_leaderboard(published: PublishedTable, results_dir: str | Path | None = None) -> Leaderboard:
    """The published table, plus one column per (model, adapter) found under ``results_dir``."""
    if results_dir is None:
        return Leaderboard(published, (), {}, (), ())
    return leaderboard_from_records(published, load_run_records(results_dir))


def leaderboard_from_records(published: PublishedTable, records: Iterable[RunRecord]) -> Leaderboard:
    records, notes = drop_duplicate_seeds(records)
    known = {row.id for row in published.rows}
    unknown = sorted({b for r in records for b in r.benchmarks if b not in known})
    if unknown:
        notes.append(f"results give benchmark ids that benchmarks.yaml does not know, not shown: {', '.join(unknown)}")

    # One model name with two weight files (a re-export, a fine-tune) must not share a column.
    checkpoints: dict[str, set[str | None]] = {}
    for record in records:
        checkpoints.setdefault(record.model, set()).add(record.checkpoint_sha256)

    def model_label(record: RunRecord) -> str:
        if len(checkpoints[record.model]) == 1:
            return record.model
        return f"{record.model}@{(record.checkpoint_sha256 or 'unknown')[:8]}"

    def column_base(record: RunRecord) -> tuple[str, str, bool, str | None]:
        return model_label(record), record.adapter, record.tiny, record.protocol.variant if record.protocol else None

    # (model, adapter, tiny, variant) -> task -> fingerprints in order of first appearance (records sorted by path)
    protocols: dict[tuple[str, str, bool, str | None], dict[str, list[str]]] = {}
    for record in sorted(records, key=lambda r: str(r.path)):
        seen = protocols.setdefault(column_base(record), {}).setdefault(record.task, [])
        if record.fingerprint_sha256 not in seen:
            seen.append(record.fingerprint_sha256)

    members: dict[RunColumn, list[RunRecord]] = {}
    for record in records:
        base = column_base(record)
        protocol = protocols[base][record.task].index(record.fingerprint_sha256) + 1
        members.setdefault(_column(*base, protocol, videoprism=record.videoprism), []).append(record)
    columns = tuple(sorted(members, key=lambda c: (c.tiny, c.model, c.adapter, c.variant or "", c.protocol)))

    raw: dict[tuple[str, str], SeedAggregate] = {}
    for column in columns:
        for bench_id in sorted({b for r in members[column] for b in r.benchmarks if b in known}):
            raw[(bench_id, column.id)] = aggregate_seeds(
                [r for r in members[column] if bench_id in r.benchmarks], bench_id)

    marks, protocol_notes = _protocol_marks(published, columns, raw)
    deviation_marks, deviation_notes = _deviation_marks(published, columns, raw)
    cells = {}
    by_id = {column.id: column for column in columns}
    for (bench_id, column_id), result in raw.items():
        row, column = published.row(bench_id), by_id[column_id]
        # A run that is not the paper's experiment (a variant, a deviation, an unknown protocol) is
        # never shown as a difference to a published number; a tiny run scores synthetic videos
        # with random weights, so its gap to the paper or the released checkpoint means nothing.
        comparable = result.protocol is not None and result.protocol.comparable
        paper = row.paper_reference(column.size) if comparable and not column.tiny else None
        public = row.public_reference(column.size) if comparable and not column.tiny else None
        cells[(bench_id, column_id)] = RunCell(
            result=result,
            delta_paper=None if paper is None else delta(result.value, paper),
            delta_public=None if public is None else delta(result.value, public),
            delta_prev_best=delta(result.value, row.prev_best) if comparable else None,
            protocol_mark=marks.get((bench_id, column_id)),
            deviation_mark=deviation_marks.get((bench_id, column_id)))
    return Leaderboard(published, columns, cells, tuple(notes), tuple(protocol_notes), tuple(deviation_notes))


def _column(model: str, adapter: str, tiny: bool, variant: str | None, protocol: int, *,
            videoprism: bool = True) -> RunColumn:
    """A run column; only a VideoPrism encoder's column gets a size (another encoder's name may say
    "base" too, but the paper's B numbers are VideoPrism-B's)."""
    name = (f"{model}:{adapter}" + (f" (variant {variant})" if variant else "") + (" (tiny)" if tiny else "")
            + (f" (protocol {protocol})" if protocol > 1 else ""))
    size = model_size(model) if videoprism else None
    return RunColumn(id=name, model=model, adapter=adapter, tiny=tiny, size=size, protocol=protocol,
                     variant=variant)


def _deviation_marks(published: PublishedTable, columns: tuple[RunColumn, ...],
                     raw: Mapping[tuple[str, str], SeedAggregate]) -> tuple[dict[tuple[str, str], str], list[str]]:
    """Mark every cell that is not the paper's protocol; one mark and one footnote per distinct protocol.

    Marks are numbered in table order (groups, rows, then columns), so the same results always
    give the same marks; the footnote names the cells, the variant and every deviation's text.
    """
    marks: dict[tuple[str, str], str] = {}
    order: list[tuple | None] = []  # protocol keys in order of first appearance (None: unknown)
    texts: dict[tuple | None, RunProtocol | None] = {}
    owners: dict[tuple | None, dict[str, list[str]]] = {}  # key -> column id -> benchmark ids
    for row in published.rows:
        for column in columns:
            result = raw.get((row.id, column.id))
            if result is None or (result.protocol is not None and result.protocol.comparable):
                continue
            key = result.protocol.key if result.protocol else None
            if key not in texts:
                order.append(key)
                texts[key] = result.protocol
            owners.setdefault(key, {}).setdefault(column.id, []).append(row.id)
    numbered = iter(range(1, len(order) + 1))
    labels = {key: UNKNOWN_PROTOCOL_MARK if key is None else f"d{next(numbered)}" for key in order}
    notes = []
    for key in order:
        for column_id, bench_ids in owners[key].items():
            for bench_id in bench_ids:
                marks[(bench_id, column_id)] = labels[key]
        cells = "; ".join(f"{column_id}: {', '.join(bench_ids)}" for column_id, bench_ids in owners[key].items())
        protocol = texts[key]
        if protocol is None:
            what = ("the results record no protocol (written by a vpbench that did not record protocols): "
                    "unknown protocol")
        else:
            variant = f"variant '{protocol.variant}'; " if protocol.variant else ""
            what = variant + "deviations: " + "; ".join(f"{ident}: {text}" for ident, text in protocol.deviations)
        notes.append(f"[{labels[key]}] not the paper's protocol, so no Δ to published numbers ({cells}) - {what}")
    return marks, notes


def _protocol_marks(published: PublishedTable, columns: tuple[RunColumn, ...],
                    raw: Mapping[tuple[str, str], SeedAggregate]) -> tuple[dict[tuple[str, str], str], list[str]]:
    """Mark the cells of every row whose cells come from more than one protocol fingerprint."""
    marks: dict[tuple[str, str], str] = {}
    notes = []
    for row in published.rows:
        present = [(c.id, raw[(row.id, c.id)]) for c in columns if (row.id, c.id) in raw]
        order: list[str] = []
        prints: dict[str, dict[str, Any]] = {}
        for _, result in present:
            if result.fingerprint_sha256 not in order:
                order.append(result.fingerprint_sha256)
                prints[result.fingerprint_sha256] = result.fingerprint
        if len(order) < 2:
            continue
        fields = _differing_fields(list(prints.values()))
        described = []
        for index, sha in enumerate(order, start=1):
            owners = [cid for cid, result in present if result.fingerprint_sha256 == sha]
            for cid in owners:
                marks[(row.id, cid)] = f"p{index}"
            values = ", ".join(f"{key}={brief(prints[sha].get(key))}" for key in fields) or f"sha256 {sha[:12]}"
            described.append(f"[p{index}] {' / '.join(owners)}: {values}")
        notes.append(f"{row.id}: cells measured under different protocols, not comparable - " + "; ".join(described))
    return marks, notes


def _differing_fields(fingerprints: list[dict[str, Any]]) -> list[str]:
    keys = sorted({key for fp in fingerprints for key in fp})
    return [key for key in keys if len({repr(fp.get(key)) for fp in fingerprints}) > 1]
