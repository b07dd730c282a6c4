"""What each rank of test_streaming's data-parallel test runs: a module of its own, so a spawned rank imports
torch and the training loop, not the test suite."""

from __future__ import annotations

from pathlib import Path

import torch


def train_linear(rank: int | None, world: int, folder: Path):
    """A linear head trained 3 epochs on fixed data; ranks shard every batch and save their final weights.
    29 items in batches of 8: the last batch of 5 splits 3/2 over two ranks, so each rank's loss must
    count for its share of the batch, not half of it."""
    import torch.distributed as dist

    from vpbench.adapters.linear import LinearHead
    from vpbench.adapters.training import HParams, LoopSettings, train_heads

    torch.set_num_threads(1)
    if world > 1:
        dist.init_process_group("gloo", init_method=f"file://{folder / 'rendezvous'}", rank=rank, world_size=world)
    features = torch.randn(29, 6, generator=torch.Generator().manual_seed(0))
    labels = (features[:, 0] > 0).long()
    torch.manual_seed(0)
    head = LinearHead(6, 2, 0.0)
    settings = LoopSettings(epochs=3, batch_size=8, seed=1, progress=False, distributed=True)
    train_heads([head], [HParams(0.05, 0.0)], range(29), lambda batch: batch,
                lambda h, batch: torch.nn.functional.cross_entropy(h(features[batch]), labels[batch]), settings)
    weights = torch.cat([p.detach().flatten() for p in head.parameters()])
    if world > 1:
        from vpbench.families.streaming import StreamStats

        total = StreamStats(clips=rank + 1, video_bytes=100 * (rank + 1)).total()  # what each rank streamed, summed
        torch.save({"weights": weights, "streamed": [total.clips, total.video_bytes]}, folder / f"rank{rank}.pt")
        dist.destroy_process_group()
    return weights
