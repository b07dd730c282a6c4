"""Does the sharded store make a training epoch cheaper than reading the feature cache?

Writes ``--items`` synthetic cache entries (one view each, ``--shape`` in ``--dtype``, through
:class:`~vpbench.features.FeatureCache`, checksums and all), packs them into a store
(:mod:`vpbench.features.store`), then times one epoch of training reads both ways, in
``--batch``-sized batches:

* ``cache``: what a table too large for memory did before the store: every item's entry file read
  in a random order (opened, parsed, checksum verified: ``FeatureCache.read``);
* ``store``: the epoch's rows planned with :func:`~vpbench.features.store.window_order` and read
  with :class:`~vpbench.features.store.StoreReader` (whole blocks, each once).

Each epoch runs twice per repeat, the two paths interleaved: ``warm`` (files in the page cache)
and ``cold``, after asking the kernel to drop the files' cached pages (``posix_fadvise
DONTNEED``; a file system that ignores the advice makes cold measure the same as warm). Each
figure is the median of ``--repeats``, with its spread (min to max). The last line is
``store_epoch_speedup: <x>``, the cold cache epoch time over the cold store epoch time (medians).

    python perf/store.py                          # 4,000 items of 16 x 768 float16 (frame_pooled, Base)
    python perf/store.py --items 500 --shape 4096x768   # tokens layout, 3 GB
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from vpbench.features import FeatureCache
from vpbench.features.store import StoreReader, build_store, open_store, window_order


def write_cache(cache: FeatureCache, items: int, shape: tuple[int, ...], dtype: str) -> list[tuple[Path, str]]:
    generator = torch.Generator().manual_seed(0)
    entries = []
    for index in range(items):
        key = f"{index:064x}"
        path = cache.entry_path("perf" * 16, key)
        path.parent.mkdir(parents=True, exist_ok=True)
        features = torch.randn((1, *shape), generator=generator).to(getattr(torch, dtype))
        cache.write(path, key, features, {"item": {"path": f"video{index}.mp4"}, "info": {}})
        entries.append((path, key))
    return entries


def drop_pages(paths: list[Path]) -> None:
    for path in paths:
        descriptor = os.open(path, os.O_RDONLY)
        try:
            os.fdatasync(descriptor)
            os.posix_fadvise(descriptor, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(descriptor)


def cache_epoch(cache: FeatureCache, entries: list[tuple[Path, str]], batch: int, seed: int) -> float:
    order = torch.randperm(len(entries), generator=torch.Generator().manual_seed(seed)).tolist()
    start = time.perf_counter()
    for first in range(0, len(order), batch):
        np.stack([cache.read(*entries[i]) for i in order[first:first + batch]])
    return time.perf_counter() - start


def store_epoch(store, batch: int, seed: int, block_bytes: int, window_blocks: int) -> tuple[float, int, int]:
    reader = StoreReader(store, block_bytes=block_bytes, cache_blocks=2 * window_blocks)
    rows = list(range(len(store.ids)))
    start = time.perf_counter()
    order = window_order(rows, rows, reader, torch.Generator().manual_seed(seed), window_blocks)
    for first in range(0, len(order), batch):
        reader.rows(order[first:first + batch])
    return time.perf_counter() - start, reader.bytes_read, reader.reads


def spread(values: list[float]) -> str:
    return f"median {statistics.median(values):.3f} s (min {min(values):.3f}, max {max(values):.3f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=4000)
    parser.add_argument("--shape", default="16x768", help="one view's shape, e.g. 16x768 or 4096x768")
    parser.add_argument("--dtype", default="float16", choices=["float32", "float16", "bfloat16"])
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--block-mb", type=int, default=64)
    parser.add_argument("--window-blocks", type=int, default=8)
    args = parser.parse_args()
    torch.set_num_threads(1)
    shape = tuple(int(x) for x in args.shape.split("x"))
    with tempfile.TemporaryDirectory(prefix="vpbench-perf-store-") as folder:
        cache = FeatureCache(Path(folder) / "cache")
        started = time.perf_counter()
        entries = write_cache(cache, args.items, shape, args.dtype)
        written = time.perf_counter() - started
        started = time.perf_counter()
        build_store(Path(folder) / "store", [key for _, key in entries],
                    lambda key: cache.read(entries[int(key, 16)][0], key)[0], args.dtype)
        built = time.perf_counter() - started
        store = open_store(Path(folder) / "store")
        cache_bytes = sum(path.stat().st_size for path, _ in entries)
        shard_paths = [store.root / shard.file for shard in store.shards]
        print(f"{args.items} items of {list(shape)} {args.dtype}: cache {len(entries)} files, "
              f"{cache_bytes / 1e6:.1f} MB "
              f"(written in {written:.1f} s); store {len(store.shards)} shard(s), {store.nbytes / 1e6:.1f} MB "
              f"(built in {built:.1f} s); batch {args.batch}, blocks {args.block_mb} MiB, window {args.window_blocks} "
              f"blocks; one torch thread")
        times: dict[str, list[float]] = {f"{path} {state}": [] for path in ("cache", "store")
                                         for state in ("warm", "cold")}
        reads = (0, 0)
        for repeat in range(args.repeats):
            for state in ("cold", "warm"):
                if state == "cold":
                    drop_pages([path for path, _ in entries])
                times[f"cache {state}"].append(cache_epoch(cache, entries, args.batch, repeat))
                if state == "cold":
                    drop_pages(shard_paths)
                elapsed, bytes_read, count = store_epoch(store, args.batch, repeat, args.block_mb << 20,
                                                         args.window_blocks)
                times[f"store {state}"].append(elapsed)
                reads = (bytes_read, count)
        for name, values in times.items():
            per_s = args.items / statistics.median(values)
            print(f"{name:11s} epoch: {spread(values)}, {per_s:,.0f} items/s")
        print(f"bytes read per epoch: cache {cache_bytes / 1e6:.1f} MB in {len(entries)} files; store "
              f"{reads[0] / 1e6:.1f} MB in {reads[1]} block reads")
        for state in ("warm", "cold"):
            ratio = statistics.median(times[f"cache {state}"]) / statistics.median(times[f"store {state}"])
            print(f"store speedup ({state}): {ratio:.2f}x")
        speedup = statistics.median(times["cache cold"]) / statistics.median(times["store cold"])
        print(f"store_epoch_speedup: {speedup:.2f}")


if __name__ == "__main__":
    main()
