"""On-disk feature cache: one safetensors file per (settings, clip), written atomically.

Layout under the root (``$VPBENCH_CACHE/features``, else ``~/.cache/vpbench/features``)::

    v1/<settings digest[:20]>/settings.json        what every entry below was computed with
    v1/<settings digest[:20]>/<key[:2]>/<key>.safetensors

One file per clip makes every write independent: a temp file renamed into place
(:mod:`vpbench.atomic`), so a run killed at any moment leaves only complete entries, two
processes writing the same entry both write identical bytes, and merging the caches of
several machines is copying directories. An entry's bytes depend only on its key, which is
what makes a sharded run's cache equal a single process's bit for bit.

Integrity: every entry carries a checksum (:func:`entry_checksum`, the ``vpbench_sha256`` field
of the JSON record in the safetensors metadata): SHA-256 over the rest of that record (key, item,
sampling info, as canonical JSON), the tensor's dtype and shape, and its raw bytes. (One metadata
key only: safetensors writes several in no fixed order, which would break identical bytes.) The checksum belongs to one record, not to
the file, so a store that packs many records into one shard keeps it unchanged per record.
:meth:`FeatureCache.read` verifies it on every read; an entry that fails (flipped bits, a cut
file, no checksum, an unreadable file, another key) raises :class:`CacheEntryError` with a
``reason``, which the extractor counts and answers by recomputing the entry.

This module never uses pickle, and never returns an entry whose checksum or stored key differs
from what was asked for.
"""

from __future__ import annotations

import hashlib
import json
import os
import queue
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vpbench.atomic import atomic_write_bytes, atomic_write_json
from vpbench.errors import VpbenchError
from vpbench.features.keys import KEY_FORMAT, FeatureSettings

_ENTRY_SUFFIX = ".safetensors"
STORES_FOLDER = "stores"
_CHECKSUM = "vpbench_sha256"
# Storage dtype -> its name in a safetensors header (what a record's checksum covers).
_SAFETENSORS_DTYPES = {"float32": "F32", "float16": "F16", "bfloat16": "BF16"}
_GROUP_PREFIX_CHARS = 20
# A temp file older than this belongs to a writer that died (a live write takes seconds).
STALE_TEMP_S = 3600.0
STORAGE_DTYPES = ("float32", "float16", "bfloat16")


def default_cache_dir() -> Path:
    """``$VPBENCH_CACHE/features``, else ``~/.cache/vpbench/features`` (``$VPBENCH_CACHE`` is
    the root of every vpbench cache: checkpoints and tiny subsets live beside the features)."""
    root = os.environ.get("VPBENCH_CACHE")
    return (Path(root).expanduser() if root else Path.home() / ".cache" / "vpbench") / "features"


@dataclass(frozen=True)
class GroupInfo:
    """One settings group as ``vpbench cache info`` shows it."""

    digest: str
    path: Path
    settings: dict
    entries: int
    bytes: int
    last_used: float | None


@dataclass(frozen=True)
class StoreInfo:
    """One training feature store (:mod:`vpbench.features.store`) under the cache's ``stores/``."""

    path: Path
    files: int
    bytes: int
    last_used: float  # its index's mtime: set when built and when a run reuses it


@dataclass(frozen=True)
class PruneReport:
    files: int
    bytes: int
    groups_removed: int
    stores_removed: int = 0


class FeatureCache:
    def __init__(self, root: str | os.PathLike | None = None) -> None:
        self.root = Path(root) if root is not None else default_cache_dir()
        self.base = self.root / f"v{KEY_FORMAT}"

    def group_dir(self, settings_digest: str) -> Path:
        return self.base / settings_digest[:_GROUP_PREFIX_CHARS]

    def prepare(self, settings: FeatureSettings) -> Path:
        """Create the group directory and its settings.json (identical bytes from any writer)."""
        group = self.group_dir(settings.digest())
        description = {"digest": settings.digest(), **settings.describe()}
        target = group / "settings.json"
        if not target.exists():
            atomic_write_json(target, description)
        return group

    def entry_path(self, settings_digest: str, key: str) -> Path:
        return self.group_dir(settings_digest) / key[:2] / f"{key}{_ENTRY_SUFFIX}"

    def write(self, path: Path, key: str, features, metadata: dict) -> None:
        """Store ``features`` (a torch tensor in its storage dtype) with ``metadata`` at ``path``."""
        import torch
        from safetensors.torch import save

        record = {"key": key, **metadata}
        tensor = features.contiguous()
        raw = tensor.reshape(-1).view(torch.uint8).numpy()  # the bytes safetensors stores (little-endian)
        dtype = _SAFETENSORS_DTYPES[str(tensor.dtype).removeprefix("torch.")]
        record[_CHECKSUM] = entry_checksum(_canonical(record), dtype, list(tensor.shape), raw)
        try:
            _write_entry(path, save({"features": tensor}, metadata={"vpbench": _canonical(record)}))
        except OSError as error:
            raise VpbenchError(f"cannot write feature cache entry {path} ({error.strerror or error}); check that "
                               "the cache folder is writable and has space") from None

    def read(self, path: Path, key: str) -> np.ndarray:
        """The stored features, checksum and key verified; bfloat16 entries come back as float32
        (exactly: numpy has no bf16). A bad entry raises :class:`CacheEntryError`."""
        import torch

        tensor = self._load(path, key)
        if tensor.dtype == torch.bfloat16:
            tensor = tensor.float()
        return tensor.numpy()

    def verify(self, path: Path, key: str) -> tuple[int, ...]:
        """The shape of a good entry; checks everything :meth:`read` checks, without converting it."""
        return tuple(self._load(path, key).shape)

    def _load(self, path: Path, key: str):
        from safetensors import SafetensorError
        from safetensors.torch import load

        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise CacheEntryError(
                path, "missing", "missing (pruned, or written on another node: merge the cache directories of all "
                "nodes, see vpbench/features/README.md)") from None
        except OSError as error:
            raise CacheEntryError(path, "unreadable", f"unreadable ({error.strerror or error})") from None
        try:
            record, dtype, shape, raw = _parse_entry(data)
        except (ValueError, KeyError, TypeError) as error:
            raise CacheEntryError(path, "corrupt", f"corrupt (not a vpbench safetensors entry: {error})") from None
        stored_checksum = record.pop(_CHECKSUM, None)
        if not stored_checksum:
            raise CacheEntryError(path, "no_checksum", "has no checksum (written by an older vpbench)")
        if entry_checksum(_canonical(record), dtype, shape, raw) != stored_checksum:
            raise CacheEntryError(path, "checksum", "fails its checksum (its bytes changed after it was written)")
        if record.get("key") != key:
            raise CacheEntryError(path, "key", f"holds key {record.get('key')}, expected {key} "
                                  "(renamed or copied by hand?)")
        try:
            return load(data)["features"]
        except (SafetensorError, KeyError) as error:
            raise CacheEntryError(path, "corrupt", f"corrupt ({error})") from None

    @staticmethod
    def touch(path: Path) -> None:
        """Mark an entry as used now, for ``prune --older-than`` (read-only caches are fine)."""
        try:
            os.utime(path)
        except OSError:
            pass

    def groups(self) -> list[GroupInfo]:
        infos = []
        for group in sorted(p for p in self.base.glob("*") if p.is_dir()) if self.base.exists() else []:
            entries = list(group.glob(f"*/*{_ENTRY_SUFFIX}"))
            stats = [e.stat() for e in entries]
            try:
                settings = json.loads((group / "settings.json").read_text())
            except (OSError, ValueError):
                settings = {}
            infos.append(
                GroupInfo(
                    digest=settings.get("digest", group.name),
                    path=group,
                    settings=settings,
                    entries=len(entries),
                    bytes=sum(s.st_size for s in stats),
                    last_used=max((s.st_mtime for s in stats), default=None),
                )
            )
        return infos

    def stores(self) -> list[StoreInfo]:
        """The training feature stores built from this cache's entries (``<root>/stores``): data
        derived from the entries, which a run rebuilds when its store is gone."""
        root = self.root / STORES_FOLDER
        infos = []
        for folder in sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []:
            stats = [f.stat() for f in folder.iterdir() if f.is_file()]
            index = folder / "index.json"
            last_used = index.stat().st_mtime if index.is_file() else max((s.st_mtime for s in stats), default=0.0)
            infos.append(StoreInfo(folder, len(stats), sum(s.st_size for s in stats), last_used))
        return infos

    def prune(
        self,
        *,
        older_than_s: float | None = None,
        max_bytes: int | None = None,
        digest_prefixes: tuple[str, ...] = (),
        everything: bool = False,
        dry_run: bool = False,
        now: float | None = None,
    ) -> PruneReport:
        """Delete entries: all, by group, unused for ``older_than_s``, then least recently used
        until the cache holds at most ``max_bytes``. Stale temp files of dead writers always go.

        Training stores count as one unit each (all their files, last used when a run last opened
        them): ``everything`` and ``older_than_s`` delete them, and ``max_bytes`` counts them with
        the entries, least recently used first; a group prefix does not select them."""
        if any(not prefix for prefix in digest_prefixes):
            raise VpbenchError("prune: an empty group digest prefix would select every group")
        if (older_than_s is not None and not older_than_s >= 0) or (max_bytes is not None and not max_bytes >= 0):
            raise VpbenchError(f"prune: older_than_s={older_than_s} and max_bytes={max_bytes} must be >= 0")
        now = time.time() if now is None else now
        doomed: list[tuple[Path, int]] = []
        doomed_stores: list[StoreInfo] = []
        kept: list[tuple[float, Path | StoreInfo, int]] = []
        for store in self.stores():
            if everything or (older_than_s is not None and now - store.last_used > older_than_s):
                doomed_stores.append(store)
            else:
                kept.append((store.last_used, store, store.bytes))
        for group in self.groups():
            selected = everything or any(group.digest.startswith(p) for p in digest_prefixes)
            for entry in group.path.glob(f"*/*{_ENTRY_SUFFIX}"):
                stat = entry.stat()
                if selected or (older_than_s is not None and now - stat.st_mtime > older_than_s):
                    doomed.append((entry, stat.st_size))
                else:
                    kept.append((stat.st_mtime, entry, stat.st_size))
        if max_bytes is not None:
            total = sum(size for _, _, size in kept)
            for _, entry, size in sorted(kept, key=lambda k: k[0]):
                if total <= max_bytes:
                    break
                if isinstance(entry, StoreInfo):
                    doomed_stores.append(entry)
                else:
                    doomed.append((entry, size))
                total -= size
        if self.base.exists():
            for temp in self.base.glob("**/.*.tmp"):
                stat = temp.stat()
                if now - stat.st_mtime > STALE_TEMP_S:
                    doomed.append((temp, stat.st_size))
        groups_removed = 0
        if not dry_run:
            for path, _ in doomed:
                path.unlink(missing_ok=True)
            groups_removed = sum(_remove_if_empty(group) for group in {p.parent.parent for p, _ in doomed})
            for store in doomed_stores:  # a run reading it keeps its open shards until it ends (POSIX unlink)
                shutil.rmtree(store.path, ignore_errors=True)
        return PruneReport(files=len(doomed) + sum(s.files for s in doomed_stores),
                           bytes=sum(size for _, size in doomed) + sum(s.bytes for s in doomed_stores),
                           groups_removed=groups_removed, stores_removed=len(doomed_stores))


def _remove_if_empty(group: Path) -> bool:
    """Drop a group whose entries were all pruned (its shard folders and settings.json too).

    A writer may be filling the group at the same moment; then a folder is not empty any more
    and the group simply stays.
    """
    if not group.is_dir() or group.parent.name != f"v{KEY_FORMAT}":
        return False
    try:
        return _remove_group(group)
    except OSError:
        return False


def _remove_group(group: Path) -> bool:
    for shard in [p for p in group.iterdir() if p.is_dir()]:
        if not any(shard.iterdir()):
            shard.rmdir()
    if any(p.is_dir() for p in group.iterdir()):
        return False  # entries, or a live writer's temp file, remain
    for leftover in group.iterdir():
        leftover.unlink()
    group.rmdir()
    return True


def _write_entry(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically, with no named file while the bytes are written.

    The bytes go to an anonymous file (``O_TMPFILE``) in the entry's folder, are fsynced, and only
    then get a name, which is renamed over ``path``: a process killed while writing (SIGKILL lands
    mid-write often now that writes overlap encoding) leaves nothing behind, not even a temp file.
    Where ``O_TMPFILE`` or ``/proc`` is missing this falls back to :func:`atomic_write_bytes`.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path.parent, os.O_TMPFILE | os.O_WRONLY, 0o666)  # the umask applies, as for open()
    except (AttributeError, OSError):
        atomic_write_bytes(path, data)
        return
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
        named = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        folder = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            # linkat(AT_SYMLINK_FOLLOW) through /proc: os.link takes that path only with a dir fd.
            os.link(f"/proc/self/fd/{fd}", named.name, dst_dir_fd=folder, follow_symlinks=True)
        except OSError:
            atomic_write_bytes(path, data)
            return
        finally:
            os.close(folder)
        os.replace(named, path)
    finally:
        os.close(fd)


class CacheWriter:
    """Writes finished entries on a background thread, so the encoder never waits on the disk.

    ``put`` hands over a batch (the entries one encoder call finished) and returns at once unless
    ``depth`` batches are already waiting (a bounded queue: memory stays bounded when the disk is
    slower than the encoder; the time blocked is ``wait_s``). Each entry is still written
    atomically with its own fsync (:meth:`FeatureCache.write`), so a killed run leaves only
    complete entries and a resume finds exactly the ones written. A write error is raised in the
    caller's thread by the next ``put`` or by ``close``; batches queued behind it are dropped.
    ``close`` writes every batch already handed over before it returns.
    """

    def __init__(self, cache: FeatureCache, depth: int = 4) -> None:
        self.cache = cache
        self.write_s = 0.0  # time the writer thread spent writing
        self.wait_s = 0.0  # time the caller spent blocked on a full queue
        self.entries = 0
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._loop, name="vpbench-cache-writer", daemon=True)
        self._thread.start()

    def put(self, batch: list[tuple[Path, str, object, dict]]) -> None:
        """Queue ``(path, key, features, metadata)`` entries for writing."""
        self._raise_failure()
        start = time.perf_counter()
        self._queue.put(batch)
        self.wait_s += time.perf_counter() - start

    def close(self) -> None:
        """Write what was queued, stop the thread, raise a write error if one happened."""
        start = time.perf_counter()
        self._queue.put(None)
        self._thread.join()
        self.wait_s += time.perf_counter() - start
        self._raise_failure()

    def _raise_failure(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def _loop(self) -> None:
        while (batch := self._queue.get()) is not None:
            if self._error is not None:
                continue  # keep draining so a blocked put returns and sees the error
            start = time.perf_counter()
            try:
                for path, key, features, metadata in batch:
                    self.cache.write(path, key, features, metadata)
                    self.entries += 1
            except BaseException as error:  # re-raised in the caller's thread
                self._error = error
            self.write_s += time.perf_counter() - start


class CacheEntryError(VpbenchError):
    """A cache entry that cannot be trusted; ``reason`` is one of missing, unreadable, corrupt,
    no_checksum, checksum, key, shape (what the extractor counts when it recomputes one)."""

    def __init__(self, path: Path, reason: str, problem: str) -> None:
        super().__init__(f"feature cache entry {path} {problem}")
        self.path = path
        self.reason = reason


def entry_checksum(record: str, dtype: str, shape: list[int], raw) -> str:
    """SHA-256 of one cache record: its JSON text (without the checksum), the tensor's dtype,
    shape and raw bytes."""
    digest = hashlib.sha256(b"vpbench-feature-record-v1\0")
    digest.update(record.encode())
    digest.update(f"\0{dtype}\0{json.dumps(list(shape))}\0".encode())
    digest.update(raw)
    return digest.hexdigest()


def _parse_entry(data: bytes) -> tuple[dict, str, list[int], memoryview]:
    """(vpbench record, dtype, shape, raw tensor bytes) of an entry's bytes."""
    size = int.from_bytes(data[:8], "little")
    if len(data) < 8 + size:
        raise ValueError(f"header of {size} bytes, file of {len(data)}")
    record = json.loads(json.loads(data[8:8 + size])["__metadata__"]["vpbench"])
    if not isinstance(record, dict):
        raise ValueError("the vpbench metadata is not a JSON object")
    return (record, *_tensor_record(data))


def _canonical(record: dict) -> str:
    """The one JSON text of a record (what its checksum covers; a parsed record re-dumps to it)."""
    return json.dumps(record, sort_keys=True, separators=(",", ":"))


def _tensor_record(data: bytes) -> tuple[str, list[int], memoryview]:
    """(dtype, shape, raw bytes, not copied) of the ``features`` tensor of a safetensors blob."""
    size = int.from_bytes(data[:8], "little")
    info = json.loads(data[8:8 + size])["features"]
    start, end = (8 + size + int(offset) for offset in info["data_offsets"])
    if not 8 + size <= start <= end <= len(data):
        raise ValueError(f"tensor bytes {start}..{end} outside a file of {len(data)}")
    return str(info["dtype"]), [int(n) for n in info["shape"]], memoryview(data)[start:end]


def read_metadata(path: Path, data: bytes | None = None) -> dict:
    """The JSON metadata of an entry (key, item, sampling info) without loading the tensor."""
    if data is None:
        with open(path, "rb") as handle:
            size = int.from_bytes(handle.read(8), "little")
            header = handle.read(size)
    else:
        size = int.from_bytes(data[:8], "little")
        header = data[8 : 8 + size]
    try:
        return json.loads(json.loads(header)["__metadata__"]["vpbench"])
    except (ValueError, KeyError, TypeError) as error:
        raise VpbenchError(f"feature cache entry {path} has no vpbench metadata ({error})") from None
