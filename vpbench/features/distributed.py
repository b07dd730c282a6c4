"""Sharding an extraction across torch.distributed ranks (torchrun, any launcher that sets the
standard RANK / WORLD_SIZE / MASTER_ADDR / MASTER_PORT environment).

Rank ``r`` of ``W`` takes items ``r, r + W, r + 2W, ...`` of the list every rank was given:
deterministic, balanced, and independent of what the cache already holds, so each rank only
ever needs its own cache entries (no shared filesystem assumed). This module must never assume
a scheduler (SLURM, Kubernetes): it reads only torch.distributed's own variables.
"""

from __future__ import annotations

import os
from typing import Any, Sequence, TypeVar

T = TypeVar("T")


def rank_and_world() -> tuple[int, int]:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def shard(items: Sequence[T], rank: int, world: int) -> list[T]:
    return list(items[rank::world])


def all_gather(obj: Any) -> list[Any]:
    """Every rank's ``obj``, in rank order (just ``[obj]`` without a process group)."""
    import torch.distributed as dist

    rank, world = rank_and_world()
    if world == 1:
        return [obj]
    gathered: list[Any] = [None] * world
    dist.all_gather_object(gathered, obj)
    return gathered


def init_from_env(device: str = "auto") -> str:
    """Join the process group a launcher described in the environment; return the device to use.

    Without ``WORLD_SIZE > 1`` nothing is initialised. NCCL is used when the ranks run on CUDA
    devices (one per local rank), gloo otherwise.
    """
    import torch
    import torch.distributed as dist

    world = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device == "auto":
        device = f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu"
    elif device == "cuda" and world > 1:
        device = f"cuda:{local_rank}"
    if world > 1 and not dist.is_initialized():
        if device.startswith("cuda"):
            torch.cuda.set_device(torch.device(device))
            dist.init_process_group("nccl")
        else:
            dist.init_process_group("gloo")
    return device


def finish(ok: bool = True) -> None:
    """Leave the process group; after a failure without the barrier, which the other ranks
    would never reach (torchrun then stops them)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        if ok:
            dist.barrier()
        dist.destroy_process_group()
