"""Text embeddings for the zero-shot families: tokenised and encoded in batches, cached on disk.

Prompts, captions and answer candidates repeat across runs (every K400 run embeds the same 400
prompts; every NExT-QA candidate set shares questions), so text embeddings get a cache like the
video features. An entry is keyed by the text tower's identity (the encoder card's identity for a
released video-text model, or the LiT tower file's sha256), the tokenizer file's sha256, the tokenizer settings (max length, BOS,
canonicalisation) and the exact text. This module must never return an embedding computed by
another tower, another vocabulary or another length, and never stores anything with pickle.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from vpbench.atomic import atomic_write
from vpbench.errors import VpbenchError

CACHE_FORMAT_VERSION = 1
DEFAULT_BATCH_SIZE = 256

EncodeFn = Callable[[np.ndarray, np.ndarray], np.ndarray]
"""``(token_ids [B, L] int32, paddings [B, L] float32) -> L2-normalised embeddings [B, D]``."""


@dataclass(frozen=True)
class TextTower:
    """A text encoder and what identifies it for the cache.

    ``identity`` must change whenever the weights change: the encoder card's identity (its
    weights' digest) for a released video-text tower, the saved tower file's sha256 for a LiT tower.
    """

    encode: EncodeFn
    identity: str
    kind: str
    """``released`` (the checkpoint's own text tower) or ``lit`` (trained here)."""


@dataclass
class TextEmbedder:
    """``embedder(texts) -> float32 [N, D]``: unique texts only are encoded, in batches, through the cache."""

    tower: TextTower
    tokenizer: object
    """A :class:`vpbench.models.Tokenizer` (``path``, ``max_length``, ``add_bos``, ``canonicalize``)."""
    cache_dir: Path | None = None
    batch_size: int = DEFAULT_BATCH_SIZE
    stats: dict[str, int] = field(default_factory=lambda: {"cached": 0, "computed": 0})
    _tokenizer_sha256: str | None = field(default=None, init=False, repr=False)

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        texts = [str(text) for text in texts]
        unique = list(dict.fromkeys(texts))
        keys = [text_key(text) for text in unique]
        store = _Store(self.cache_dir / "text_embeddings" / self.namespace()) if self.cache_dir else None
        found = store.lookup(keys) if store else {}
        todo = [i for i, key in enumerate(keys) if key not in found]
        computed: dict[str, np.ndarray] = {}
        for start in range(0, len(todo), self.batch_size):
            batch = [unique[i] for i in todo[start:start + self.batch_size]]
            token_ids, paddings = self.tokenizer(batch)
            embeddings = np.asarray(self.tower.encode(token_ids, paddings), dtype=np.float32)
            if embeddings.shape[0] != len(batch) or embeddings.ndim != 2:
                raise VpbenchError(f"text tower returned shape {embeddings.shape} for {len(batch)} texts; "
                                   "expected [texts, dim]")
            computed.update({keys[i]: row for i, row in zip(todo[start:start + self.batch_size], embeddings)})
        if store and computed:
            store.add(computed)
        self.stats["cached"] += len(unique) - len(todo)
        self.stats["computed"] += len(todo)
        by_key = {**found, **computed}
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        return np.stack([by_key[text_key(text)] for text in texts]).astype(np.float32, copy=False)

    def namespace(self) -> str:
        """Everything but the text that an embedding depends on, hashed."""
        if self._tokenizer_sha256 is None:
            from vpbench.models.checkpoint import sha256_file

            self._tokenizer_sha256 = sha256_file(self.tokenizer.path)
        settings = {
            "format": CACHE_FORMAT_VERSION, "tower": self.tower.identity, "tower_kind": self.tower.kind,
            "tokenizer_sha256": self._tokenizer_sha256, "max_length": self.tokenizer.max_length,
            "add_bos": bool(self.tokenizer.add_bos), "canonicalize": bool(self.tokenizer.canonicalize),
        }
        return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:32]


def text_key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class _Store:
    """A folder of immutable ``.npz`` shards (``keys`` as ASCII hex, ``embeddings`` float32).

    Each write adds a new shard named by its content, so concurrent runs never clobber each other
    and a killed run leaves either a complete shard or none (atomic rename).
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def lookup(self, keys: Sequence[str]) -> dict[str, np.ndarray]:
        wanted = set(keys)
        found: dict[str, np.ndarray] = {}
        if not self.folder.is_dir():
            return found
        for shard in sorted(self.folder.glob("*.npz")):
            try:
                with np.load(shard, allow_pickle=False) as archive:
                    shard_keys = archive["keys"].astype(str)
                    hits = [i for i, key in enumerate(shard_keys) if key in wanted and key not in found]
                    if hits:
                        rows = archive["embeddings"][hits]
                        found.update(zip(shard_keys[hits], rows))
            except (OSError, ValueError, KeyError) as error:
                raise VpbenchError(f"{shard}: unreadable text-embedding cache shard ({error}); delete it to "
                                   "recompute") from None
            if len(found) == len(wanted):
                break
        return found

    def add(self, entries: dict[str, np.ndarray]) -> Path:
        keys = sorted(entries)
        name = hashlib.sha256("".join(keys).encode()).hexdigest()[:24]
        embeddings = np.stack([entries[key] for key in keys]).astype(np.float32)
        return atomic_write(self.folder / f"{name}.npz",
                            lambda f: np.savez(f, keys=np.array(keys, dtype="S64"), embeddings=embeddings))
