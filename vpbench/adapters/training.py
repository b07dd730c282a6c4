"""Training light heads on cached frozen features: the hyper-parameter grid, honest selection, the loop.

Every adapter (linear, MAP, RoI, temporal) trains the same way, so the machinery lives here once:

* :func:`hp_grid` turns ``adapter.lr_grid`` / ``adapter.weight_decay_grid`` (or the single
  ``lr`` / ``weight_decay``) into the settings to try.
* :func:`fit_with_selection` trains one head per setting *together*, in one pass over the
  features (each batch is loaded once and fed to every head in turn), on the training split minus
  a seeded held-out part (``adapter.holdout_fraction``); scores every head on that held-out part;
  keeps the best; and (by default) refits the chosen setting on the whole training split. The
  evaluation split is never seen here: a runner hands this module training items only. The grid,
  the held-out scores and the rule are returned so the result can record them.
* :func:`train_heads` is the loop itself: AdamW, linear warm-up then cosine decay to zero, a
  seeded shuffle per epoch, one optimizer and schedule per head. ``schedule: cosine_from_start``
  is TF Model Garden's ``LinearWarmup(CosineDecay)`` that VideoGLUE trains with (the cosine runs
  over every step from step 0; warm-up ramps to its value), ``weight_decay_skips: [bias, norm]``
  VideoGLUE's ``exclude_from_weight_decay: [LayerNorm, layer_norm, bias]``. A head whose reference
  code trains otherwise may ask for ``optimizer: adam`` (L2 weight decay) and ``schedule: step``
  (the lr times ``step_gamma`` every ``step_epochs`` epochs), e.g. G-TAD's ActivityNet recipe.
* :class:`ViewSchedule` says which of an item's cached augmented views each epoch trains on.

Items are addressed by integer index; what an index means (a clip's tokens, a keyframe's boxes, a
video's snippets) is the caller's business: it passes ``load_batch(indices)`` and
``loss_fn(head, batch)``. This module must never look at evaluation data, pick a setting by an
evaluation-split score, or depend on any particular head type.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from vpbench.errors import RegistryError, VpbenchError


@dataclass(frozen=True)
class HParams:
    """One point of the grid: what differs between the heads trained together."""

    lr: float
    weight_decay: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


@dataclass(frozen=True)
class LoopSettings:
    """What every head of a grid shares: schedule length, batch size, seed, device."""

    epochs: int
    batch_size: int
    seed: int = 0
    optimizer: str = "adamw"
    schedule: str = "cosine"
    step_epochs: int = 1
    step_gamma: float = 0.1
    warmup_fraction: float = 0.05
    grad_clip: float | None = 1.0
    device: str = "cpu"
    progress: bool = True
    description: str = "adapter"
    weight_decay_skips: tuple[str, ...] = ()
    distributed: bool = False
    """Under torch.distributed: each rank loads its shard of every batch and the heads' gradients are
    averaged over ranks (data parallel). Off: every rank trains the whole batch alone."""


def hp_grid(adapter: dict[str, Any], where: str = "adapter") -> list[HParams]:
    """The settings to try: ``lr_grid`` x ``weight_decay_grid``, each falling back to ``lr`` / ``weight_decay``."""
    lrs = _number_list(adapter, "lr_grid", "lr", where)
    wds = _number_list(adapter, "weight_decay_grid", "weight_decay", where, default=0.0)
    return [HParams(float(lr), float(wd)) for lr in lrs for wd in wds]


def _number_list(adapter: dict[str, Any], grid_key: str, single_key: str, where: str,
                 default: float | None = None) -> list[float]:
    if grid_key in adapter:
        values = adapter[grid_key]
        if not isinstance(values, list) or not values or not all(_is_number(v) and v >= 0 for v in values):
            raise RegistryError(f"{where}.{grid_key} must be a non-empty list of non-negative numbers, got {values!r}")
        return list(values)
    if single_key in adapter:
        value = adapter[single_key]
        if not _is_number(value) or value < 0:
            raise RegistryError(f"{where}.{single_key} must be a non-negative number, got {value!r}")
        return [value]
    if default is None:
        raise RegistryError(f"{where}: needs '{grid_key}' (a list) or '{single_key}' (a number)")
    return [default]


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def read_int(adapter: dict[str, Any], key: str, default: int, where: str = "adapter") -> int:
    """A positive integer setting of an ``adapter:`` section; the error names the key."""
    value = adapter.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise RegistryError(f"{where}.{key} must be a positive integer, got {value!r}")
    return value


def read_bool(adapter: dict[str, Any], key: str, default: bool, where: str = "adapter") -> bool:
    value = adapter.get(key, default)
    if not isinstance(value, bool):
        raise RegistryError(f"{where}.{key} must be true or false, got {value!r}")
    return value


def read_number(adapter: dict[str, Any], key: str, default: float, where: str = "adapter",
                upper: float = math.inf) -> float:
    """A number in [0, upper) of an ``adapter:`` section; the error names the key."""
    value = adapter.get(key, default)
    if not _is_number(value) or not 0 <= value < upper:
        raise RegistryError(f"{where}.{key} must be a number in [0, {upper:g}), got {value!r}")
    return float(value)


def read_choice(adapter: dict[str, Any], key: str, default: str, choices: Sequence[str],
                where: str = "adapter") -> str:
    value = adapter.get(key, default)
    if value not in choices:
        raise RegistryError(f"{where}.{key} is {value!r}; expected one of {list(choices)}")
    return value


def mean_average_precision(truth: np.ndarray, scores: np.ndarray) -> float:
    """Macro AP over the classes that have a positive in ``truth`` [N, C]; NaN if none has.

    Only for choosing a grid point on held-out training items: reported numbers come from
    ``vpbench.metrics`` with the benchmark's own convention.
    """
    from sklearn.metrics import average_precision_score

    present = truth.sum(axis=0) > 0
    if truth.shape[0] == 0 or not present.any():
        return float("nan")
    return float(average_precision_score(truth[:, present], scores[:, present], average="macro"))


LOOP_KEYS = ("type", "optimizer", "schedule", "step_epochs", "step_gamma", "epochs", "batch_size", "lr", "lr_grid",
             "weight_decay", "weight_decay_grid", "weight_decay_skips", "warmup_fraction", "grad_clip",
             "holdout_fraction")
SCHEDULES = ("cosine", "cosine_from_start", "step")
DECAY_SKIPS = ("bias", "norm")
"""``adapter:`` keys every trained head reads (the loop, the grid, the selection)."""


def check_keys(adapter: dict[str, Any], head_keys: Sequence[str], where: str = "adapter") -> None:
    """Refuse a key no part of this adapter reads: a typo (``epoch``) must not silently do nothing."""
    allowed = set(LOOP_KEYS) | set(head_keys)
    unknown = sorted(set(adapter) - allowed)
    if unknown:
        raise RegistryError(f"{where}: unknown key(s) {unknown} for a '{adapter.get('type')}' adapter; "
                            f"allowed: {sorted(allowed)}")


def loop_settings(adapter: dict[str, Any], *, seed: int, device: str, description: str,
                  where: str = "adapter") -> LoopSettings:
    """Read the shared loop settings of an ``adapter:`` section, with errors naming the key.

    The loop is AdamW (or Adam) with warm-up + cosine decay (or step decay); anything else (a
    YAML asking for SGD) must fail, not run AdamW. ``schedule`` is one of :data:`SCHEDULES`.
    """
    optimizer = read_choice(adapter, "optimizer", "adamw", ("adamw", "adam"), where)
    schedule = read_choice(adapter, "schedule", "cosine", SCHEDULES, where)
    if schedule != "step" and ("step_epochs" in adapter or "step_gamma" in adapter):
        raise RegistryError(f"{where}: step_epochs/step_gamma only apply to schedule 'step'")
    skips = adapter.get("weight_decay_skips", [])
    if not isinstance(skips, list) or not set(skips) <= set(DECAY_SKIPS):
        raise RegistryError(f"{where}.weight_decay_skips must be a list drawn from {list(DECAY_SKIPS)}, "
                            f"got {skips!r}")
    for key in ("epochs", "batch_size"):
        if key not in adapter:
            raise RegistryError(f"{where}: missing required key '{key}'")
    warmup = read_number(adapter, "warmup_fraction", 0.05, where, upper=1.0)
    clip = adapter.get("grad_clip", 1.0)
    if clip is not None and (not _is_number(clip) or clip <= 0):
        raise RegistryError(f"{where}.grad_clip must be a positive number or null, got {clip!r}")
    return LoopSettings(epochs=read_int(adapter, "epochs", 1, where),
                        batch_size=read_int(adapter, "batch_size", 1, where), seed=seed,
                        optimizer=optimizer, schedule=schedule, step_epochs=read_int(adapter, "step_epochs", 1, where),
                        step_gamma=read_number(adapter, "step_gamma", 0.1, where, upper=1.0),
                        warmup_fraction=warmup, grad_clip=clip, device=device, description=description,
                        weight_decay_skips=tuple(sorted(set(skips))))


def loop_record(loop: LoopSettings, grid: Sequence[HParams]) -> dict[str, Any]:
    """How a head was trained, as every adapter's result records it: one wording for the shared loop."""
    decay = {"cosine": "cosine decay to 0",
             "cosine_from_start": "cosine decay to 0 over all steps from step 0 (TF Model Garden LinearWarmup(CosineDecay))",
             "step": f"lr x {loop.step_gamma:g} every {loop.step_epochs} epoch(s)"}[loop.schedule]
    return {
        "optimizer": loop.optimizer + (f" (no weight decay on {', '.join(loop.weight_decay_skips)})"
                                       if loop.weight_decay_skips else ""),
        "schedule": f"linear warm-up ({loop.warmup_fraction:g} of steps) + {decay}",
        "epochs": loop.epochs,
        "batch_size": loop.batch_size,
        "grad_clip": loop.grad_clip,
        "grid": [hp.as_dict() for hp in grid],
    }


def seeded(seed: int) -> torch.Generator:
    generator = torch.Generator()
    generator.manual_seed(int(seed))
    return generator


def cosine_lr_lambda(total_steps: int, warmup_steps: int, from_start: bool = False) -> Callable[[int], float]:
    """Multiplier of the base lr: linear warm-up from 0, then cosine decay to 0 at ``total_steps``.

    ``from_start``: the cosine is a function of the step from 0 over ``total_steps`` and the
    warm-up ramps linearly to its value at ``warmup_steps`` (TF Model Garden's ``LinearWarmup``
    around ``CosineDecay``); otherwise the cosine starts where the warm-up ends.
    """

    def cosine(progress: float) -> float:
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    def factor(step: int) -> float:
        if from_start:
            if warmup_steps and step < warmup_steps:
                return step / warmup_steps * cosine(warmup_steps / total_steps)
            return cosine(step / max(1, total_steps))
        if warmup_steps and step < warmup_steps:
            return (step + 1) / warmup_steps
        return cosine((step - warmup_steps) / max(1, total_steps - warmup_steps))

    return factor


def step_lr_lambda(steps_per_epoch: int, warmup_steps: int, step_epochs: int, gamma: float
                   ) -> Callable[[int], float]:
    """Multiplier of the base lr: linear warm-up from 0, then ``gamma`` per ``step_epochs`` epochs (StepLR)."""

    def factor(step: int) -> float:
        if warmup_steps and step < warmup_steps:
            return (step + 1) / warmup_steps
        return gamma ** ((step // steps_per_epoch) // step_epochs)

    return factor


def parameter_groups(head: nn.Module, weight_decay: float, skips: Sequence[str]) -> list[dict[str, Any]]:
    """AdamW parameter groups: ``weight_decay`` for every trainable parameter except biases (``bias``
    in ``skips``) and normalisation layers' scales and shifts (``norm``), which get none."""
    norm_params = {id(p) for module in head.modules()
                   if isinstance(module, (nn.LayerNorm, nn.GroupNorm, nn.modules.batchnorm._BatchNorm))
                   for p in module.parameters(recurse=False)}
    decayed, skipped = [], []
    for name, param in head.named_parameters():
        if not param.requires_grad:
            continue
        skip = ("bias" in skips and name.rsplit(".", 1)[-1] == "bias") or ("norm" in skips and id(param) in norm_params)
        (skipped if skip else decayed).append(param)
    groups = [{"params": decayed, "weight_decay": weight_decay}]
    if skipped:
        groups.append({"params": skipped, "weight_decay": 0.0})
    return groups


@dataclass(frozen=True)
class ViewSchedule:
    """Which of its ``views`` cached training views each item trains on in each epoch.

    Epoch ``e`` uses view ``(e + shift_i) mod views`` of item ``i``, with ``shift_i`` drawn once
    from the seed. So an epoch is still one pass over the items (VideoGLUE's epochs and steps
    keep their meaning: it draws one fresh augmented clip per video per epoch), every ``views``
    consecutive epochs visit every view of every item once, and a batch mixes views.
    """

    num_items: int
    views: int = 1
    seed: int = 0

    def at(self, epoch: int) -> np.ndarray:
        if self.views == 1:
            return np.zeros(self.num_items, dtype=np.int64)
        shift = np.random.default_rng([int(self.seed), 4099]).integers(self.views, size=self.num_items)
        return (epoch + shift) % self.views


def train_heads(
    heads: Sequence[nn.Module],
    hparams: Sequence[HParams],
    indices: Sequence[int],
    load_batch: Callable[[list[int]], Any],
    loss_fn: Callable[[nn.Module, Any], Tensor],
    settings: LoopSettings,
    on_epoch: Callable[[int], None] | None = None,
    prefetch: Callable[[list[list[int]]], None] | None = None,
    order: Callable[[list[int], torch.Generator], list[int]] | None = None,
) -> list[float]:
    """Train every head on ``indices`` in one pass per epoch; return each head's last-epoch mean loss.

    All heads see the same batches in the same order (one seeded shuffle per epoch), so a grid
    costs one feature read per batch, not one per head. Each head has its own AdamW and schedule.
    ``on_epoch(e)`` runs before epoch ``e``'s batches are loaded (e.g. to pick augmented views).
    ``order(indices, generator)`` returns the epoch's items in the order to train on them (a
    sharded store's windowed shuffle, so an epoch reads the store sequentially); default a
    seeded permutation. ``prefetch(batches)`` then gets the epoch's batches in the order they
    will be loaded, so a loader that decodes videos can start on them. With
    ``settings.distributed`` under torch.distributed, rank ``r`` of ``W`` loads items ``r::W`` of
    every batch and the gradients are averaged over ranks before each step, each rank's loss
    weighted by its share of the batch (every rank shuffles with the same seed).
    """
    if len(heads) != len(hparams):
        raise ValueError("one HParams per head is required")
    indices = list(indices)
    if not indices:
        raise ValueError("no training items")
    steps_per_epoch = math.ceil(len(indices) / settings.batch_size)
    total = steps_per_epoch * settings.epochs
    warmup = int(round(settings.warmup_fraction * total))
    optimizers, schedulers = [], []
    for head, hp in zip(heads, hparams):
        head.to(settings.device).train()
        kind = torch.optim.AdamW if settings.optimizer == "adamw" else torch.optim.Adam
        optimizer = kind(parameter_groups(head, hp.weight_decay, settings.weight_decay_skips), lr=hp.lr,
                         weight_decay=hp.weight_decay)
        optimizers.append(optimizer)
        factor = (step_lr_lambda(steps_per_epoch, warmup, settings.step_epochs, settings.step_gamma)
                  if settings.schedule == "step" else
                  cosine_lr_lambda(total, warmup, from_start=settings.schedule == "cosine_from_start"))
        schedulers.append(torch.optim.lr_scheduler.LambdaLR(optimizer, factor))
    generator = seeded(settings.seed)
    rank, world = _data_parallel(settings)
    last_losses = [math.nan] * len(heads)
    epochs = _progress(range(settings.epochs), settings, f"{settings.description} ({len(heads)} head(s))")
    for epoch in epochs:
        if on_epoch is not None:
            on_epoch(epoch)
        epoch_items = ([indices[i] for i in torch.randperm(len(indices), generator=generator).tolist()]
                       if order is None else order(indices, generator))
        whole = [epoch_items[start:start + settings.batch_size]
                 for start in range(0, len(epoch_items), settings.batch_size)]
        batches = [items[rank::world] for items in whole]
        if prefetch is not None:
            prefetch(batches)
        sums = [0.0] * len(heads)
        for local, items in zip(batches, whole):
            batch = load_batch(local) if local else None
            # This rank's share of the batch mean: averaged over ranks, the gradients are those of the
            # whole batch's mean loss even when a short last batch splits unevenly (1 when it splits evenly).
            share = len(local) * world / len(items)
            for k, (head, optimizer, scheduler) in enumerate(zip(heads, optimizers, schedulers)):
                optimizer.zero_grad(set_to_none=True)
                loss = loss_fn(head, batch) if local else _zero_loss(head)
                (loss if share == 1 else loss * share).backward()
                if world > 1:
                    _average_gradients(head, world)
                if settings.grad_clip is not None:
                    nn.utils.clip_grad_norm_(head.parameters(), settings.grad_clip)
                optimizer.step()
                scheduler.step()
                sums[k] += float(loss.detach())
        last_losses = [s / steps_per_epoch for s in sums]
    for head in heads:
        head.eval()
    return last_losses


def _data_parallel(settings: LoopSettings) -> tuple[int, int]:
    """(rank, world) this loop shards its batches over: (0, 1) unless distributed training is on."""
    if not settings.distributed:
        return 0, 1
    from vpbench.features.distributed import rank_and_world

    return rank_and_world()


def _zero_loss(head: nn.Module) -> Tensor:
    """A rank whose shard of a (last, short) batch is empty still joins the gradient all-reduce."""
    return sum(p.sum() * 0.0 for p in head.parameters() if p.requires_grad)


def _average_gradients(head: nn.Module, world: int) -> None:
    import torch.distributed as dist

    for param in head.parameters():
        if param.requires_grad:
            if param.grad is None:
                param.grad = torch.zeros_like(param)
            dist.all_reduce(param.grad)
            param.grad.div_(world)


def _progress(iterable, settings: LoopSettings, description: str):
    if not settings.progress:
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, desc=description, unit="epoch", leave=False)


def split_holdout(num_items: int, fraction: float, seed: int, strata: Sequence[Any] | None = None
                  ) -> tuple[list[int], list[int]]:
    """(fit, holdout) index lists: a seeded ``fraction`` of the training items held out for selection.

    ``max(1, round(fraction * N))`` items are held out. With ``strata`` (e.g. single-label class
    ids) they are drawn round-robin over the strata (first one random item of each stratum, then
    a second, ...), so the held-out part spans the classes even when each class has only a few
    items, and every stratum keeps at least one item to train on.
    """
    if not 0 < fraction < 1:
        raise RegistryError(f"adapter.holdout_fraction must be in (0, 1), got {fraction!r}")
    if num_items < 2:
        raise VpbenchError(f"choosing among the adapter's hyper-parameter settings needs at least 2 training "
                           f"items to hold one out, got {num_items}: give adapter.lr (one setting) or more data")
    rng = np.random.default_rng([int(seed), 7919])
    groups: dict[Any, list[int]] = {}
    for index in range(num_items):
        groups.setdefault(strata[index] if strata is not None else 0, []).append(index)
    candidates = []  # (round, random tie-break, item): round r is a stratum's r-th item
    for key in sorted(groups, key=repr):
        members = rng.permutation(groups[key])
        limit = len(members) - 1 if strata is not None else len(members)
        candidates.extend((rank, float(rng.random()), int(item)) for rank, item in enumerate(members[:limit]))
    size = min(max(1, int(round(fraction * num_items))), len(candidates), num_items - 1)
    held = {item for _, _, item in sorted(candidates)[:size]}
    return [i for i in range(num_items) if i not in held], sorted(held)


@dataclass
class Fitted:
    """A trained head and the record of how its setting was chosen."""

    head: nn.Module
    hparams: HParams
    selection: dict[str, Any]
    final_loss: float


def fit_with_selection(
    make_head: Callable[[], nn.Module],
    grid: Sequence[HParams],
    num_items: int,
    load_batch: Callable[[list[int]], Any],
    loss_fn: Callable[[nn.Module, Any], Tensor],
    score_fn: Callable[[nn.Module, list[int]], float],
    settings: LoopSettings,
    *,
    holdout_fraction: float,
    score_name: str,
    refit: bool = True,
    strata: Sequence[Any] | None = None,
    on_epoch: Callable[[int], None] | None = None,
    prefetch: Callable[[list[list[int]]], None] | None = None,
    order: Callable[[list[int], torch.Generator], list[int]] | None = None,
) -> Fitted:
    """Choose a grid point on a held-out part of the training items, then train the final head.

    ``make_head`` must build a fresh head; it is called under ``torch.manual_seed(settings.seed)``
    so every head of the grid (and the refit) starts from the same initial weights. ``score_fn(head,
    holdout_indices)`` returns a higher-is-better score. Ties go to the earlier grid point.
    ``on_epoch``, ``prefetch`` and ``order`` are handed to every :func:`train_heads` call.
    """
    grid = list(grid)
    if not grid:
        raise ValueError("empty hyper-parameter grid")

    def fresh() -> nn.Module:
        torch.manual_seed(settings.seed)
        return make_head()

    all_items = list(range(num_items))
    if len(grid) == 1:
        head = fresh()
        (loss,) = train_heads([head], grid, all_items, load_batch, loss_fn, settings, on_epoch, prefetch, order)
        return Fitted(head, grid[0], {"grid": [grid[0].as_dict()], "rule": "single setting: nothing to select",
                                      "selected": grid[0].as_dict()}, loss)
    fit_items, holdout_items = split_holdout(num_items, holdout_fraction, settings.seed, strata)
    heads = [fresh() for _ in grid]
    losses = train_heads(heads, grid, fit_items, load_batch, loss_fn,
                         replace(settings, description=f"{settings.description} grid"), on_epoch, prefetch, order)
    scores = []
    for head in heads:
        with torch.no_grad():
            scores.append(float(score_fn(head, holdout_items)))
    best = max(range(len(grid)), key=lambda k: (_finite(scores[k]), -k))
    selection = {
        "grid": [hp.as_dict() for hp in grid],
        "holdout_fraction": holdout_fraction,
        "fit_items": len(fit_items),
        "holdout_items": len(holdout_items),
        "holdout_scores": scores,
        "score": score_name,
        "rule": (f"max held-out {score_name} on a seeded {holdout_fraction:g} part of the TRAINING split; "
                 f"ties go to the earlier grid point; "
                 + ("the chosen setting is then retrained on the whole training split" if refit
                    else "the chosen head is kept as trained on the fit part")),
        "selected": grid[best].as_dict(),
    }
    if not refit:
        return Fitted(heads[best], grid[best], selection, losses[best])
    head = fresh()
    (loss,) = train_heads([head], [grid[best]], all_items, load_batch, loss_fn,
                          replace(settings, description=f"{settings.description} refit"), on_epoch, prefetch,
                          order)
    return Fitted(head, grid[best], selection, loss)


def _finite(value: float) -> float:
    return value if math.isfinite(value) else -math.inf
