"""Cached or streaming training of a probe head: what a cached run would store, and which mode a run takes.

A cached run (the default on small sets) stores every training view and every evaluation view as
features in the cache and trains the head from there. At the size of the paper's benchmarks that
cache is terabytes (k400-probe at 16x288^2 on VideoPrism-B: 4,096 float16 tokens of 768 = 6.3 MB a
view, ~3 TB for 4 train views and 12 eval views), so a run estimates it first: items x views x
bytes per view, for the task's ``features:`` layout and dtype and the encoder's token grid. When
the estimate is above the feature budget (``--feature-budget``, default :data:`DEFAULT_BUDGET`)
the run trains in streaming mode (:mod:`vpbench.families.streaming`: decode -> augment -> encode ->
head step every epoch, nothing cached); ``--train-mode`` forces either mode. The choice, the
estimate and the budget are recorded in the result, so a reader knows which way a head was trained.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from vpbench.errors import RegistryError, VpbenchError
from vpbench.registry import TaskConfig

MODES = ("cached", "streaming")
DEFAULT_BUDGET = 500 * 10 ** 9
"""500 GB: a cache a workstation disk holds; above it a run streams unless told otherwise."""


@dataclass(frozen=True)
class SplitEstimate:
    """The cached features of one split: ``items`` x ``views`` entries of ``bytes_per_view``."""

    role: str
    items: int
    views: int
    bytes_per_view: int

    @property
    def bytes(self) -> int:
        return self.items * self.views * self.bytes_per_view

    def as_dict(self) -> dict[str, Any]:
        return {"role": self.role, "items": self.items, "views": self.views, "bytes_per_view": self.bytes_per_view,
                "bytes": self.bytes}


@dataclass(frozen=True)
class CacheEstimate:
    """What a cached run of a task would store (payload only: entries' headers are a few hundred bytes)."""

    layout: str
    dtype: str
    view_shape: tuple[int, ...]
    splits: tuple[SplitEstimate, ...]

    @property
    def bytes(self) -> int:
        return sum(split.bytes for split in self.splits)

    def as_dict(self) -> dict[str, Any]:
        return {"layout": self.layout, "dtype": self.dtype, "view_shape": list(self.view_shape),
                "splits": [split.as_dict() for split in self.splits], "bytes": self.bytes,
                "readable": format_bytes(self.bytes)}


def zoo_card(name: str) -> Any | None:
    """The card geometry of a known VideoPrism name, without loading its weights (None for anything else)."""
    from vpbench.models.encoder import EncoderCard
    from vpbench.models.videoprism import PREPROCESSING
    from vpbench.models.zoo import MODELS, get_entry

    if name not in MODELS and not any(entry.hub_repo == name for entry in MODELS.values()):
        return None
    config = get_entry(name).config
    return EncoderCard(backend="videoprism", embed_dim=config.model_dim, patch_px=config.patch_size,
                       preprocessing=PREPROCESSING)


def estimate_cache(task: TaskConfig, items: Mapping[str, int], card: Any) -> CacheEstimate:
    """The cache a cached run of ``task`` needs: ``items`` per split role (``train``, ``eval``)."""
    from vpbench.families import train_views
    from vpbench.families.common import sampling_spec
    from vpbench.features.layouts import view_bytes, view_shape

    layout = task.features.get("layout", "tokens")
    dtype = task.features.get("dtype", "float32")
    grid = card.token_grid(*card.preprocessing.input_shape(sampling_spec(task, views=False)))
    try:
        shape, per_view = view_shape(layout, grid, card.embed_dim), view_bytes(layout, dtype, grid, card.embed_dim)
    except RegistryError as error:
        raise RegistryError(f"{task.source}: {error}") from None
    views = {"train": max(train_views.view_count(task), 1),
             "eval": int(task.sampling["temporal_views"]) * int(task.sampling["spatial_views"])}
    splits = tuple(SplitEstimate(role, int(items[role]), views[role], per_view) for role in ("train", "eval")
                   if role in items)
    return CacheEstimate(layout, dtype, shape, splits)


@dataclass(frozen=True)
class TrainMode:
    """How this run trains its head, and why."""

    mode: str
    reason: str
    estimate: CacheEstimate
    budget_bytes: int

    @property
    def streaming(self) -> bool:
        return self.mode == "streaming"

    def record(self) -> dict[str, Any]:
        return {"mode": self.mode, "reason": self.reason, "budget_bytes": self.budget_bytes,
                "cache_estimate": self.estimate.as_dict()}


def choose(requested: str | None, estimate: CacheEstimate, budget_bytes: int | None) -> TrainMode:
    """``requested`` (``--train-mode``) if given, else streaming when the estimate is above the budget."""
    budget = DEFAULT_BUDGET if budget_bytes is None else int(budget_bytes)
    size = f"a cached run needs ~{format_bytes(estimate.bytes)}, the feature budget is {format_bytes(budget)}"
    if requested is not None:
        if requested not in MODES:
            raise VpbenchError(f"--train-mode {requested!r}: expected one of {', '.join(MODES)}")
        return TrainMode(requested, f"--train-mode {requested} ({size})", estimate, budget)
    if estimate.bytes > budget:
        return TrainMode("streaming", f"{size}: above it, so the head trains with the encoder in the loop",
                         estimate, budget)
    return TrainMode("cached", f"{size}: within it, so features are cached", estimate, budget)


def format_bytes(count: float) -> str:
    """Decimal units, as disks are sold and ``--feature-budget`` reads them: 6.29 MB, 3.05 TB."""
    units = ("B", "kB", "MB", "GB", "TB", "PB")
    step = 0
    while abs(count) >= 1000 and step < len(units) - 1:
        count, step = count / 1000, step + 1
    return f"{count:.0f} B" if step == 0 else f"{count:.3g} {units[step]}"
