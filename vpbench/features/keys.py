"""Feature cache keys: a digest of everything that can change a feature.

A key covers the model weights, the full :class:`SamplingSpec` (with its augmentation settings
and seed, for augmented training views), the token layout and its options, the storage dtype,
the decoder backend (``--decoder``: its libraries and their versions), the pixel pipeline version, the video's identity (resolved
path + size + mtime, or a content hash), the item's clip span and, for an augmented view, its
stream key and view index: every augmented view is an entry of its own, so asking for more
views later computes only the new ones.
Change any of them and the key changes, so a stale feature can never be found. This module
must never leave a setting that changes features out of :meth:`FeatureSettings.describe`.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from vpbench.features.items import WorkItem
from vpbench.video import PIXELS_VERSION, SamplingSpec, decoder_versions
from vpbench.video.readers import frame_files

# Bump when the meaning of a key or the entry file format changes.
KEY_FORMAT = 1

Identity = Literal["stat", "content"]


@dataclass(frozen=True)
class FeatureSettings:
    """The settings shared by every item of one extraction (one cache group)."""

    model: str
    spec: SamplingSpec
    layout: str
    dtype: str
    encode_kwargs: tuple[tuple[str, Any], ...] = ()
    identity: Identity = "stat"
    decoders: tuple[tuple[str, str], ...] = field(default_factory=lambda: tuple(sorted(decoder_versions().items())))

    def describe(self) -> dict:
        return {
            "key_format": KEY_FORMAT,
            "model": self.model,
            "spec": self.spec.as_dict(),
            "layout": self.layout,
            "dtype": self.dtype,
            "encode_kwargs": dict(self.encode_kwargs),
            "identity": self.identity,
            "decoders": dict(self.decoders),
            "pixels_version": PIXELS_VERSION,
        }

    def digest(self) -> str:
        return _digest(self.describe())


def item_key(settings_digest: str, video_identity: dict, item: WorkItem) -> str:
    """The cache key of one item's features (the item id is not part of it: two ids naming the
    same clip share one entry; an augmented view is keyed by its stream and index instead)."""
    return _digest({"settings": settings_digest, "video": video_identity, "span": item.span_key()})


def video_identity(path: str | os.PathLike, mode: Identity = "stat") -> dict | None:
    """Who the video is, or None when the path does not exist (the decoder then reports it).

    ``stat``: resolved path, size and mtime in ns (a frame folder: of each frame file).
    ``content``: SHA-256 of the bytes (frame folder: of names and bytes), so the cache survives
    moving the data set, at the cost of reading every file once per run.
    """
    path = Path(path)
    if not path.exists():
        return None
    files = frame_files(path) if path.is_dir() else [path]
    if mode == "stat":
        listing = [(f.name, s.st_size, s.st_mtime_ns) for f, s in ((f, f.stat()) for f in files)]
        return {"path": str(path.resolve()), "files": _digest(listing)}
    if mode == "content":
        digest = hashlib.sha256()
        for file in files:
            digest.update(file.name.encode() if path.is_dir() else b"")
            with open(file, "rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
        return {"content_sha256": digest.hexdigest()}
    raise ValueError(f"identity={mode!r}: expected 'stat' or 'content'")


def model_fingerprint(model) -> str:
    """What identifies the model in a key: a vpbench encoder's ``card.identity`` (weights, precision
    and its preprocessing), else a hash of any torch module's class, config, precision and weights
    (:func:`vpbench.models.encoder.weights_fingerprint`)."""
    from vpbench.models.encoder import weights_fingerprint

    card = getattr(model, "card", None)
    return card.identity if card is not None else weights_fingerprint(model)


def _digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
