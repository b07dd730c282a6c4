"""The published side of the leaderboard: benchmarks.yaml as typed rows, and the paper's verdicts.

The paper's comparison tables are regenerated from these rows alone, so every number shown
beside a run comes from ``benchmarks.yaml`` through :func:`vpbench.registry.load_benchmarks`;
this module only types them and computes what the paper states in prose (best VideoPrism number,
gap to the previous best, win / tie / loss, "state of the art on N of 33"). It must never hold a
published number itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from vpbench.errors import RegistryError
from vpbench.registry import Benchmark, benchmarks_file, load_benchmarks

# The two published VideoPrism columns of a group: VideoPrism-B and -g everywhere, except the
# captioning / QA group where the paper varies the language model under VideoPrism-B instead.
ENCODER_COLUMNS = (("paper_b", "VideoPrism-B"), ("paper_g", "VideoPrism-g"))
LM_COLUMNS = (("paper_b_1b", "B + PaLM-2 1B"), ("paper_b_8b", "B + PaLM-2 8B"))

# Numbers in benchmarks.yaml have one decimal; differences are rounded so that 91.5 - 91.5 is a
# tie and 87.2 - 82.8 prints as 4.4, not 4.400000000000006.
_DELTA_DECIMALS = 6


class Outcome(str, Enum):
    """The paper's verdict on one benchmark: best VideoPrism number against the previous best."""

    WIN = "win"
    TIE = "tie"
    LOSS = "loss"


def delta(value: float, reference: float) -> float:
    """``value - reference`` without binary floating-point residue."""
    return round(value - reference, _DELTA_DECIMALS)


def model_size(model_name: str) -> str | None:
    """The VideoPrism size a model name denotes: ``"b"``, ``"l"``, ``"g"`` or None if unknown.

    Runs are compared with the published number of the same size, so this reads the size from
    the known names (``videoprism-lvt-b``) and the Hugging Face ids (``videoprism-base-f16r288``);
    a custom checkpoint path with no size in its name gets no paper / public reference rather
    than a guessed one.
    """
    tokens = re.split(r"[-_/.]", model_name.lower())
    sizes = {"b": "b", "base": "b", "l": "l", "large": "l", "g": "g", "giant": "g"}
    found = {sizes[t] for t in tokens if t in sizes}
    return found.pop() if len(found) == 1 else None


@dataclass(frozen=True)
class PublishedRow:
    """One benchmark's published numbers (percent, CIDEr x100)."""

    id: str
    task: str
    group: str
    metric: str
    paper: tuple[tuple[str, float], ...]  # (benchmarks.yaml key, value) for the group's two columns
    prev_best: float
    prev_best_model: str
    prev_best_base: float | None
    public_b: float | None
    public_l: float | None
    domain_expert: float | None
    sota_flag: bool  # the paper's own claim (benchmarks.yaml `sota`, default true)
    note: str | None

    @property
    def best_videoprism(self) -> float:
        """The best VideoPrism number the paper reports for this benchmark (any size or LM)."""
        return max(value for _, value in self.paper)

    @property
    def delta(self) -> float:
        """Best VideoPrism number minus previous best: the quantity the blog's bar chart shows."""
        return delta(self.best_videoprism, self.prev_best)

    @property
    def outcome(self) -> Outcome:
        if self.delta > 0:
            return Outcome.WIN
        return Outcome.TIE if self.delta == 0 else Outcome.LOSS

    def paper_value(self, key: str) -> float | None:
        return dict(self.paper).get(key)

    def paper_reference(self, size: str | None) -> float | None:
        """The paper's number for a run of this encoder size (None: the paper has none).

        The paper reports B and g only. For captioning / QA it reports B with PaLM-2 1B and 8B;
        a run is compared with the 1B row, the smaller language model, because vpbench's decoder
        is not PaLM-2 and the 1B row is the paper's baseline configuration for that group.
        """
        if size == "b":
            return self.paper_value("paper_b") if self.paper_value("paper_b") is not None \
                else self.paper_value("paper_b_1b")
        if size == "g":
            return self.paper_value("paper_g")
        return None

    def public_reference(self, size: str | None) -> float | None:
        """The official README's number for the released checkpoint of this size."""
        return {"b": self.public_b, "l": self.public_l}.get(size or "")


@dataclass(frozen=True)
class PublishedGroup:
    id: str
    title: str
    columns: tuple[tuple[str, str], ...]  # (benchmarks.yaml key, header label) of the paper columns


@dataclass(frozen=True)
class SotaSummary:
    """The "state of the art on N of M" claim, recomputed from the numbers."""

    wins: tuple[str, ...]
    ties: tuple[str, ...]
    losses: tuple[str, ...]
    flag_disagreements: tuple[str, ...]  # ids whose computed verdict contradicts `sota:` in the YAML

    @property
    def total(self) -> int:
        return len(self.wins) + len(self.ties) + len(self.losses)

    def line(self) -> str:
        parts = [f"VideoPrism is state of the art on {len(self.wins)} of {self.total} benchmarks"]
        not_won = [f"tie: {', '.join(self.ties)}"] if self.ties else []
        not_won += [f"loss: {', '.join(self.losses)}"] if self.losses else []
        if not_won:
            parts.append(f" ({'; '.join(not_won)})")
        parts.append(" - computed from benchmarks.yaml: best VideoPrism number > previous best")
        if self.flag_disagreements:
            parts.append(f"; DISAGREES with the paper's sota flags on {', '.join(self.flag_disagreements)}")
        else:
            parts.append("; agrees with the paper's sota flags")
        return "".join(parts)


@dataclass(frozen=True)
class PublishedTable:
    groups: tuple[PublishedGroup, ...]
    rows: tuple[PublishedRow, ...]
    source: Path

    def rows_of(self, group_id: str) -> tuple[PublishedRow, ...]:
        return tuple(row for row in self.rows if row.group == group_id)

    def row(self, benchmark_id: str) -> PublishedRow | None:
        return next((row for row in self.rows if row.id == benchmark_id), None)

    def summary(self) -> SotaSummary:
        by_outcome = {outcome: tuple(r.id for r in self.rows if r.outcome is outcome) for outcome in Outcome}
        disagreements = tuple(r.id for r in self.rows if (r.outcome is Outcome.WIN) != r.sota_flag)
        return SotaSummary(by_outcome[Outcome.WIN], by_outcome[Outcome.TIE], by_outcome[Outcome.LOSS],
                           disagreements)


def load_published(path: str | Path | None = None) -> PublishedTable:
    """Read ``benchmarks.yaml`` (default: the registry's) through the registry's validating loader."""
    path = Path(path) if path is not None else benchmarks_file()
    benchmarks, groups = load_benchmarks(path)
    rows = tuple(_row(bench, path) for bench in benchmarks.values())
    typed_groups = []
    for group_id, spec in groups.items():
        members = [row for row in rows if row.group == group_id]
        if not members:
            raise RegistryError(f"{path}: group '{group_id}' has no benchmark")
        typed_groups.append(PublishedGroup(
            id=group_id, title=str(spec.get("title", group_id)), columns=_group_columns(group_id, members, path)))
    return PublishedTable(groups=tuple(typed_groups), rows=rows, source=path)


def _row(bench: Benchmark, path: Path) -> PublishedRow:
    published = bench.published
    paper_keys = [key for key, _ in (*ENCODER_COLUMNS, *LM_COLUMNS) if key in published]
    if not paper_keys:
        raise RegistryError(f"{path}: benchmark '{bench.id}' has no VideoPrism number "
                            f"(expected paper_b/paper_g or paper_b_1b/paper_b_8b)")
    return PublishedRow(
        id=bench.id, task=bench.task, group=bench.group, metric=bench.metric,
        paper=tuple((key, float(published[key])) for key in paper_keys),
        prev_best=float(published["prev_best"]), prev_best_model=published["prev_best_model"],
        prev_best_base=_number(published.get("prev_best_base")),
        public_b=_number(published.get("public_b")), public_l=_number(published.get("public_l")),
        domain_expert=_number(published.get("domain_expert")), sota_flag=bench.sota,
        note=published.get("note"))


def _group_columns(group_id: str, members: list[PublishedRow], path: Path) -> tuple[tuple[str, str], ...]:
    """A group's paper columns: encoder sizes, or language models when its rows carry those."""
    allowed = {tuple(key for key, _ in columns): columns for columns in (ENCODER_COLUMNS, LM_COLUMNS)}
    first = tuple(key for key, _ in members[0].paper)
    for row in members:
        keys = tuple(key for key, _ in row.paper)
        if keys not in allowed or keys != first:
            raise RegistryError(
                f"{path}: group '{group_id}': every benchmark must give the same paper columns, either "
                f"paper_b + paper_g or paper_b_1b + paper_b_8b; '{row.id}' gives {list(keys)}"
                f"{'' if keys == first else f' but {members[0].id!r} gives {list(first)}'}")
    return allowed[first]


def _number(value: object) -> float | None:
    return None if value is None else float(value)  # type: ignore[arg-type]
