"""On-disk feature cache: one safetensors file per (settings, clip), written atomically.

Layout under the root (``$VPBENCH_CACHE/features``, else ``~/.cache/vpbench/features``)::

    v1/<settings digest[:20]>/settings.json        what every entry below was computed with
    v1/<settings digest[:20]>/<key[:2]>/<key>.safetensors

One file per clip makes every write independent: a temp file renamed into place
(:mod:`vpbench.atomic`), so a run killed at any moment leaves only complete entries, two
processes writing the same entry both write identical bytes, and merging the caches of
several machines is copying directories. An entry's bytes depend only on its key, which is
what makes a sharded run's cache equal a single process's bit for bit.

This module never uses pickle, and never returns an entry whose stored key differs from the
one asked for.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vpbench.atomic import atomic_write_bytes, atomic_write_json
from vpbench.errors import VpbenchError
from vpbench.features.keys import KEY_FORMAT, FeatureSettings

_ENTRY_SUFFIX = ".safetensors"
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
class PruneReport:
    files: int
    bytes: int
    groups_removed: int


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
        from safetensors.torch import save

        header = json.dumps({"key": key, **metadata}, sort_keys=True, separators=(",", ":"))
        atomic_write_bytes(path, save({"features": features.contiguous()}, metadata={"vpbench": header}))

    def read(self, path: Path, key: str) -> np.ndarray:
        """The stored features; bfloat16 entries come back as float32 (exactly: numpy has no bf16)."""
        import torch
        from safetensors import SafetensorError
        from safetensors.torch import load

        try:
            data = path.read_bytes()
            tensor = load(data)["features"]
        except FileNotFoundError:
            raise VpbenchError(
                f"feature cache entry {path} is missing (pruned, or written on another node: merge the "
                "cache directories of all nodes, see vpbench/features/README.md)"
            ) from None
        except (SafetensorError, KeyError) as error:
            raise VpbenchError(f"feature cache entry {path} is corrupt ({error}); delete it and extract again") from None
        stored = read_metadata(path, data).get("key")
        if stored != key:
            raise VpbenchError(f"feature cache entry {path} holds key {stored}, expected {key} (renamed by hand?)")
        if tensor.dtype == torch.bfloat16:
            tensor = tensor.float()
        return tensor.numpy()

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
        until the cache holds at most ``max_bytes``. Stale temp files of dead writers always go."""
        now = time.time() if now is None else now
        doomed: list[tuple[Path, int]] = []
        kept: list[tuple[float, Path, int]] = []
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
        return PruneReport(files=len(doomed), bytes=sum(size for _, size in doomed), groups_removed=groups_removed)


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
