"""A memory-mapped, sharded feature store: training features packed into a few large files.

The feature cache keeps one file per clip, which is right for extraction (resume, merge, prune)
and wrong for training at scale: an epoch over K400 opens 246,534 files in random order, and a
grid plus refit does it dozens of times. The store packs the rows a training run reads (one row =
one view of one item) into shard files of about ``shard_bytes`` each, in the order the run will
read them, so an epoch is sequential reads of large blocks:

* each shard is a ``.npy`` array ``[rows, *item_shape]`` (loaded with ``allow_pickle=False`` and
  memory-mapped), written to a temp file and renamed into place; bfloat16 rows are kept as their
  uint16 bit patterns (numpy has no bfloat16) and widened exactly to float32 on read;
* ``index.json`` is written last (atomically): the row ids, the shards with their SHA-256, the
  dtype and shape. A store without an index is unfinished and is rebuilt; a shard whose checksum,
  size or shape does not match its index is an error naming the file (:class:`StoreError`);
* :class:`StoreReader` reads whole blocks (``block_bytes``, consecutive rows of one shard) and
  keeps the last few in memory; :func:`window_order` orders an epoch's rows so that each block is
  read once: blocks in a seeded random order, rows shuffled within windows of ``window_blocks``
  blocks (a shuffle buffer, as tf.data's ``shuffle`` does). The reader counts the bytes it read.

This module knows nothing about tasks or heads: callers give it rows and ids.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np

from vpbench.atomic import atomic_write_json
from vpbench.errors import VpbenchError

STORE_FORMAT = 1
INDEX_FILE = "index.json"
DEFAULT_SHARD_BYTES = 1 << 30
DEFAULT_BLOCK_BYTES = 64 << 20
_NUMPY_DTYPES = {"float32": np.float32, "float16": np.float16, "bfloat16": np.uint16}


class StoreError(VpbenchError):
    """A store file that is missing, cut, or does not match its index."""


@dataclass(frozen=True)
class Shard:
    file: str
    rows: int
    sha256: str


@dataclass(frozen=True)
class FeatureStore:
    """An opened store: ``ids[r]`` names row ``r``; rows are numbered across shards in order."""

    root: Path
    dtype: str
    item_shape: tuple[int, ...]
    ids: list[str]
    shards: list[Shard]

    @property
    def row_bytes(self) -> int:
        return int(np.prod(self.item_shape)) * np.dtype(_NUMPY_DTYPES[self.dtype]).itemsize

    @property
    def nbytes(self) -> int:
        return self.row_bytes * len(self.ids)

    def shard_starts(self) -> list[int]:
        return list(np.cumsum([0] + [s.rows for s in self.shards])[:-1])


def build_store(root: str | os.PathLike, ids: Sequence[str], read: Callable[[str], np.ndarray], dtype: str,
                *, shard_bytes: int = DEFAULT_SHARD_BYTES) -> FeatureStore:
    """Write rows ``read(ids[0]), read(ids[1]), ...`` (each ``item_shape``, any float dtype holding
    values of ``dtype``) into shards under ``root`` and the index last. A kill leaves no index, so
    the next call starts again; what an earlier build left is overwritten."""
    if dtype not in _NUMPY_DTYPES:
        raise VpbenchError(f"store dtype {dtype!r}: expected one of {', '.join(_NUMPY_DTYPES)}")
    if not ids:
        raise VpbenchError("a feature store needs at least one row")
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    (root / INDEX_FILE).unlink(missing_ok=True)
    for leftover in root.glob(".*.tmp"):
        leftover.unlink()
    first = to_storage(np.asarray(read(ids[0])), dtype)
    item_shape = tuple(first.shape)
    rows_per_shard = max(1, shard_bytes // max(1, first.nbytes))
    shards = []
    for number, start in enumerate(range(0, len(ids), rows_per_shard)):
        chunk = ids[start:start + rows_per_shard]
        name = f"shard-{number:05d}.npy"
        tmp = root / f".{name}.tmp"
        array = np.lib.format.open_memmap(tmp, mode="w+", dtype=first.dtype, shape=(len(chunk), *item_shape))
        for row, item_id in enumerate(chunk):
            value = first if start + row == 0 else to_storage(np.asarray(read(item_id)), dtype)
            if value.shape != item_shape:
                raise VpbenchError(f"feature store row {item_id!r} has shape {list(value.shape)}, the others "
                                   f"{list(item_shape)}")
            array[row] = value
        array.flush()
        del array
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        shards.append(Shard(name, len(chunk), _file_sha256(tmp)))
        os.replace(tmp, root / name)
    atomic_write_json(root / INDEX_FILE, {
        "format": STORE_FORMAT, "dtype": dtype, "item_shape": list(item_shape), "ids": list(ids),
        "shards": [{"file": s.file, "rows": s.rows, "sha256": s.sha256} for s in shards]})
    return FeatureStore(root, dtype, item_shape, list(ids), shards)


def ensure_store(root: str | os.PathLike, ids: Sequence[str], read: Callable[[str], np.ndarray], dtype: str,
                 *, shard_bytes: int = DEFAULT_SHARD_BYTES) -> tuple[FeatureStore, str | None]:
    """The store at ``root`` holding rows ``ids``, built if it is missing, unfinished or damaged; and
    why it was (re)built (None when an intact one was found). Processes building the same store
    (ranks of one job, two runs) take turns on a lock file; the later one finds the store built."""
    import fcntl

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            store = open_store(root)
            reason = "not built yet" if store is None else None
        except StoreError as error:
            store, reason = None, str(error)
        if store is not None and (store.ids != list(ids) or store.dtype != dtype):
            store, reason = None, "it holds other rows"
        if store is None:
            store = build_store(root, ids, read, dtype, shard_bytes=shard_bytes)
        else:  # used now: `vpbench cache prune` deletes stores least recently used first
            try:
                os.utime(root / INDEX_FILE)
            except OSError:  # a read-only cache
                pass
        return store, reason


def open_store(root: str | os.PathLike, *, verify: bool = True) -> FeatureStore | None:
    """The store at ``root``, or None when it has no index (never built, or its build was killed).

    Every shard must exist with the rows, dtype and shape the index gives; ``verify`` also checks
    each shard's SHA-256 (one sequential read of the store, once per run rather than per epoch).
    """
    root = Path(root)
    index_path = root / INDEX_FILE
    if not index_path.exists():
        return None
    try:
        index = json.loads(index_path.read_text())
        store = FeatureStore(root, index["dtype"], tuple(index["item_shape"]), list(index["ids"]),
                             [Shard(s["file"], int(s["rows"]), s["sha256"]) for s in index["shards"]])
    except (ValueError, KeyError, TypeError) as error:
        raise StoreError(f"{index_path}: not a vpbench feature store index ({error})") from None
    if index.get("format") != STORE_FORMAT or store.dtype not in _NUMPY_DTYPES:
        raise StoreError(f"{index_path}: format {index.get('format')!r} / dtype {store.dtype!r}: expected format "
                         f"{STORE_FORMAT} and one of {', '.join(_NUMPY_DTYPES)}")
    if sum(s.rows for s in store.shards) != len(store.ids):
        raise StoreError(f"{index_path}: the shards hold {sum(s.rows for s in store.shards)} rows, the index "
                         f"names {len(store.ids)}")
    for shard in store.shards:
        array = _open_shard(root / shard.file)
        expected = (shard.rows, *store.item_shape)
        if array.shape != expected or array.dtype != np.dtype(_NUMPY_DTYPES[store.dtype]):
            raise StoreError(f"{root / shard.file}: holds {array.dtype} {list(array.shape)}, the index says "
                             f"{store.dtype} {list(expected)}")
        if verify and _file_sha256(root / shard.file) != shard.sha256:
            raise StoreError(f"{root / shard.file}: SHA-256 differs from the index (changed or damaged since it "
                             f"was written); delete {root} to rebuild it")
    return store


class StoreReader:
    """Rows of a store as float32; ``bytes_read`` / ``reads`` count the disk side, ``epoch_bytes``
    the bytes of each plan's block reads and ``scattered_bytes`` those of rows read alone.

    Rows of a :meth:`plan` (an epoch in :func:`window_order`) are read in whole blocks, and
    ``cache_blocks`` blocks stay in memory (least recently used dropped first), so an epoch reads
    every block it needs once. A row outside the plan (scoring held-out items after training) is
    read alone: a scattered read must not pull in a block it uses one row of.
    """

    def __init__(self, store: FeatureStore, *, block_bytes: int = DEFAULT_BLOCK_BYTES, cache_blocks: int = 16):
        self.store = store
        self.block_rows = max(1, block_bytes // max(1, store.row_bytes))
        self.cache_blocks = max(1, cache_blocks)
        self._shards = [_open_shard(store.root / s.file) for s in store.shards]
        self._starts = np.asarray(store.shard_starts() + [len(store.ids)])
        self._blocks: OrderedDict[tuple[int, int], np.ndarray] = OrderedDict()
        self._pending: dict[tuple[int, int], int] = {}  # planned block -> rows of the plan still to serve
        self.bytes_read = 0
        self.reads = 0
        self.epoch_bytes: list[int] = []
        self.scattered_bytes = 0

    def locate(self, rows: Sequence[int]) -> tuple[list[tuple[int, int]], np.ndarray]:
        """(shard, block within the shard) of each row, and each row's index within its shard."""
        rows = np.asarray(rows, dtype=np.int64).reshape(-1)
        shards = np.searchsorted(self._starts, rows, side="right") - 1
        local = rows - self._starts[shards]
        return list(zip(shards.tolist(), (local // self.block_rows).tolist())), local

    def plan(self, rows: Sequence[int]) -> None:
        """The rows the next reads will ask for (one epoch): their blocks are read whole."""
        self._pending = {}
        self.epoch_bytes.append(0)
        for key in self.locate(rows)[0]:
            self._pending[key] = self._pending.get(key, 0) + 1

    def rows(self, rows: Sequence[int]) -> np.ndarray:
        keys, local = self.locate(rows)
        out = np.empty((len(keys), *self.store.item_shape), dtype=np.float32)
        grouped: dict[tuple[int, int], list[int]] = {}
        for k, key in enumerate(keys):
            grouped.setdefault(key, []).append(k)
        for key, positions in grouped.items():
            if key in self._blocks:
                self._blocks.move_to_end(key)
                raw = self._blocks[key][local[positions] - key[1] * self.block_rows]
            elif key in self._pending:
                before = self.bytes_read
                raw = self._read_block(key)[local[positions] - key[1] * self.block_rows]
                self.epoch_bytes[-1] += self.bytes_read - before
            else:
                before = self.bytes_read
                raw = np.concatenate([self._read(key[0], int(local[k]), 1) for k in positions])
                self.scattered_bytes += self.bytes_read - before
            out[positions] = from_storage(raw, self.store.dtype)
            if key in self._pending:
                self._pending[key] -= len(positions)
                if self._pending[key] <= 0:
                    del self._pending[key]
        return out

    def _read_block(self, key: tuple[int, int]) -> np.ndarray:
        self._blocks[key] = self._read(key[0], key[1] * self.block_rows, self.block_rows)  # kept as stored
        while len(self._blocks) > self.cache_blocks:
            self._blocks.popitem(last=False)
        return self._blocks[key]

    def _read(self, shard: int, start: int, count: int) -> np.ndarray:
        raw = np.array(self._shards[shard][start:start + count])  # one sequential read
        self.bytes_read += raw.nbytes
        self.reads += 1
        return raw


def window_order(items: Sequence[int], rows: Sequence[int], reader: StoreReader, generator,
                 window_blocks: int) -> list[int]:
    """``items`` (item ``items[k]`` reads store row ``rows[k]``) in an order that reads each block once:
    blocks in a random order, items shuffled within each window of ``window_blocks`` blocks; the
    rows become the reader's :meth:`StoreReader.plan`.
    ``generator`` is a seeded ``torch.Generator``, so the order is reproducible."""
    import torch

    reader.plan(rows)
    by_block: dict[tuple[int, int], list[int]] = {}
    for item, key in zip(items, reader.locate(rows)[0]):
        by_block.setdefault(key, []).append(item)
    blocks = sorted(by_block)
    blocks = [blocks[k] for k in torch.randperm(len(blocks), generator=generator).tolist()]
    ordered: list[int] = []
    for start in range(0, len(blocks), window_blocks):
        window = [item for block in blocks[start:start + window_blocks] for item in by_block[block]]
        ordered.extend(window[k] for k in torch.randperm(len(window), generator=generator).tolist())
    return ordered


def to_storage(array: np.ndarray, dtype: str) -> np.ndarray:
    """``array`` in the store's numpy dtype; bfloat16 as its bit pattern (values already bfloat16,
    e.g. widened from a bfloat16 cache entry, convert exactly)."""
    if dtype == "bfloat16":
        return (np.ascontiguousarray(array, dtype=np.float32).view(np.uint32) >> 16).astype(np.uint16)
    return np.ascontiguousarray(array, dtype=_NUMPY_DTYPES[dtype])


def from_storage(raw: np.ndarray, dtype: str) -> np.ndarray:
    if dtype == "bfloat16":
        return (raw.astype(np.uint32) << 16).view(np.float32)
    return raw.astype(np.float32)


def store_digest(parts: Iterable) -> str:
    """A store's name: a digest of what its rows are (e.g. the cache keys of its entries, in order)."""
    return hashlib.sha256(json.dumps(list(parts), separators=(",", ":")).encode()).hexdigest()


def _open_shard(path: Path) -> np.ndarray:
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as error:
        raise StoreError(f"{path}: cannot read this feature store shard ({error})") from None


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 24), b""):
            digest.update(block)
    return digest.hexdigest()


class StoreTable:
    """A training table read from a store: position ``p`` of the original table is store row
    ``row_of[p]``; called with positions it returns float32 torch rows (as a
    :class:`~vpbench.families.common.FeatureTable` does)."""

    ORDER = ("blocks of {rows} consecutive store rows in a seeded random order, rows shuffled within windows of "
             "{window} blocks (a shuffle buffer); store rows: each epoch's views, videos in a seeded random order")

    def __init__(self, store: FeatureStore, row_of: np.ndarray, *, memory_bytes: int,
                 block_bytes: int = DEFAULT_BLOCK_BYTES) -> None:
        # Half the budget is one shuffle window, the other half the blocks of the window before it
        # (a batch can straddle two windows); a small budget gets smaller blocks, not more memory.
        block_bytes = min(block_bytes, max(store.row_bytes, memory_bytes // 4))
        self.window_blocks = max(1, memory_bytes // (2 * block_bytes))
        self.reader = StoreReader(store, block_bytes=block_bytes, cache_blocks=2 * self.window_blocks)
        self.row_of = np.asarray(row_of)
        self.item_shape = store.item_shape

    def __len__(self) -> int:
        return len(self.row_of)

    def order_record(self) -> str:
        """How an epoch's items are ordered (it changes the trained head, so results say it)."""
        return self.ORDER.format(rows=self.reader.block_rows, window=self.window_blocks)

    def read_record(self) -> dict:
        """What training read from the store, for the result."""
        store, reader = self.reader.store, self.reader
        return {"path": str(store.root), "rows": len(self), "bytes": store.nbytes, "shards": len(store.shards),
                "block_rows": reader.block_rows, "window_blocks": self.window_blocks, "epochs": len(reader.epoch_bytes),
                "bytes_read": reader.bytes_read, "reads": reader.reads,
                "bytes_read_per_epoch": {"min": min(reader.epoch_bytes, default=0),
                                         "max": max(reader.epoch_bytes, default=0)},
                "scattered_bytes_read": reader.scattered_bytes}

    def __call__(self, positions: Sequence[int]):
        import torch

        return torch.from_numpy(self.reader.rows([int(self.row_of[p]) for p in positions]))

    def epoch_order(self, items: Sequence[int], positions: Sequence[int], generator) -> list[int]:
        """:func:`window_order` of ``items`` whose rows are at table ``positions``."""
        return window_order(items, [int(self.row_of[p]) for p in positions], self.reader, generator,
                            self.window_blocks)
