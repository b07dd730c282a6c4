"""Batched feature extraction: decode in parallel, encode in fixed-shape batches, cache per clip.

``extract_features`` is what family runners call. Its guarantees:

* Resume: every finished clip is a complete cache entry, so a run killed at any moment
  (SIGKILL included) redoes only the missing clips when started again.
* Bit-identical results whatever the sharding, resume point or item order: every encoder call
  sees the same batch shape (the last batch is padded with blank clips), and a clip's output
  depends only on its own row. Batch size is therefore not part of the cache key, but runs
  meant to match bit for bit must use the same one.
* Bad videos are skipped with a reason and counted; ``strict=True`` makes the first one fatal.
* The encoder never waits on the disk: finished entries go to a writer thread
  (:class:`~vpbench.features.cache.CacheWriter`, a bounded queue) while the next batch encodes;
  ``timings.write_wait_s`` is the time it did wait (a full queue). A write error stops the run.
* A cache entry is used only after it is read back and verified (checksum, key, shape; see
  :mod:`vpbench.features.cache`): a bad one is recomputed and counted (``recomputed``), never
  trusted and never fatal. Verifying reads every hit once more than the adapter will; that is
  the price of never training on flipped bits.

It must never keep every feature in memory: results are read back lazily from the cache.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator, Mapping

import numpy as np

from vpbench.errors import VpbenchError
from vpbench.features import distributed
from vpbench.features.cache import CacheEntryError, CacheWriter, FeatureCache, read_metadata
from vpbench.features.encode import ClipEncoder, decode_spec
from vpbench.features.items import WorkItem, check_unique
from vpbench.features.keys import FeatureSettings, Identity, item_key, model_fingerprint, video_identity
from vpbench.features.loader import DecodeDataset, Decoded, make_loader, worker_nice
from vpbench.video import SamplingSpec, VideoDecodeFailure
from vpbench.video import decoder_versions
from vpbench.video.readers import DEFAULT_DECODER, MISSING


RECOMPUTED_LISTED = 50
"""Recomputed cache entries listed by id in ``to_json`` (all of them are counted)."""


@dataclass(frozen=True)
class SkippedItem:
    item_id: str
    path: str
    reason: str
    detail: str


class FeatureMap(Mapping[str, np.ndarray]):
    """item id -> features ``[V, ...]``, read from the cache on access (nothing held in memory)."""

    def __init__(self, cache: FeatureCache, entries: dict[str, tuple[Any, str]]) -> None:
        self._cache = cache
        self._entries = entries  # item id -> (entry path, key)

    def __getitem__(self, item_id: str) -> np.ndarray:
        path, key = self._entries[item_id]
        try:
            return self._cache.read(path, key)
        except CacheEntryError as error:
            raise CacheEntryError(error.path, error.reason, f"changed after this run verified it: {error}; "
                                  "run again to recompute it") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def entry_key(self, item_id: str) -> str:
        """The cache key of the item's entry (what its features are: settings, video, span)."""
        return self._entries[item_id][1]

    def info(self, item_id: str) -> dict:
        """How the item was sampled: frame indices per temporal view, padded frames, clip."""
        path, _ = self._entries[item_id]
        return read_metadata(path)["info"]


@dataclass
class ExtractionResult:
    features: FeatureMap
    skipped: list[SkippedItem]
    cache_hits: int
    cache_misses: int
    settings: dict
    timings: dict[str, float] = field(default_factory=dict)
    recomputed: list[SkippedItem] = field(default_factory=list)
    """Cache entries found bad (``path`` is the entry, ``reason`` why) and computed again."""

    @property
    def skipped_counts(self) -> dict[str, int]:
        return dict(sorted(Counter(s.reason for s in self.skipped).items()))

    @property
    def recomputed_counts(self) -> dict[str, int]:
        return dict(sorted(Counter(s.reason for s in self.recomputed).items()))

    def to_json(self) -> dict:
        """The part of a result JSON that describes extraction (counts, skips, timings)."""
        return {
            "items": len(self.features) + len(self.skipped),
            "extracted": len(self.features),
            "cache_hits": self.cache_hits,
            "cache_misses": self.cache_misses,
            "skipped": len(self.skipped),
            "skipped_by_reason": self.skipped_counts,
            "skipped_items": [s.__dict__ for s in self.skipped],
            "cache_recomputed": len(self.recomputed),
            "cache_recomputed_by_reason": self.recomputed_counts,
            "cache_recomputed_items": [s.__dict__ for s in self.recomputed[:RECOMPUTED_LISTED]],
            "settings": self.settings,
            "timings": self.timings,
        }


def extract_features(
    model,
    items: Iterable[WorkItem],
    spec: SamplingSpec,
    layout: str = "tokens",
    cache: FeatureCache | None = None,
    *,
    batch_size: int = 8,
    workers: int = 0,
    strict: bool = False,
    progress: bool = False,
    dtype: str = "float32",
    timeout_s: float | None = 120.0,
    identity: Identity = "stat",
    model_key: str | None = None,
    encode_kwargs: Mapping[str, Any] | None = None,
    decoder: str = DEFAULT_DECODER,
) -> ExtractionResult:
    """Features for every item, computing only what the cache does not hold.

    ``model`` is a :class:`vpbench.models.encoder.VideoEncoder`; ``spec`` is the task's request,
    which the encoder's preprocessing adapts (frame count, decode size). ``batch_size`` counts
    clips (views) per encoder call; ``workers`` decoding processes run ahead of the encoder.
    ``model_key`` replaces the encoder's identity in the cache key (it must then cover the
    weights and the pixel normalisation). ``encode_kwargs`` go to the encoder's ``video_tokens`` /
    ``video_embedding`` (e.g. a layer choice) and are part of the key. ``decoder`` names the
    video backend (:data:`vpbench.video.readers.DECODERS`); it and its libraries' versions are
    part of the key. Under
    torch.distributed each rank extracts its shard; every rank gets the merged result.

    Decoding workers start from a fork server (see :mod:`vpbench.features.loader`), which
    re-imports the calling script, so a script calling this with ``workers > 0`` needs the
    usual ``if __name__ == "__main__":`` guard. A CPU encoder runs on the cores the workers
    leave free (:func:`encoder_cpu_threads`) for the duration of the call.
    """
    started = time.perf_counter()
    items = check_unique(items)
    mismatched = next((item for item in items if (item.augment is None) != (spec.augment is None)), None)
    if mismatched is not None:
        raise VpbenchError(f"work item {mismatched.item_id!r}: augmented views need a SamplingSpec with "
                           f"'augment' and items naming their view (spec.augment={spec.augment!r}, "
                           f"item.augment={mismatched.augment!r})")
    if batch_size < 1 or workers < 0:
        raise VpbenchError(f"batch_size={batch_size} must be >= 1 and workers={workers} >= 0")
    if identity not in ("stat", "content"):
        raise VpbenchError(f"identity={identity!r}: expected 'stat' (path, size, mtime) or 'content' (hash)")
    cache = cache if cache is not None else FeatureCache()
    spec = decode_spec(model, spec)  # the encoder's own frame count and sizes (its card's preprocessing)
    encoder = ClipEncoder(model, layout, dtype, spec.frames, encode_kwargs)
    settings = FeatureSettings(
        model=model_key or model_fingerprint(model),
        spec=spec,
        layout=layout,
        dtype=dtype,
        encode_kwargs=tuple(sorted((encode_kwargs or {}).items())),
        identity=identity,
        decoders=tuple(sorted(decoder_versions(decoder).items())),  # refuses an unknown decoder
    )
    digest = settings.digest()
    cache.prepare(settings)
    rank, world = distributed.rank_and_world()

    entries: dict[str, tuple[Any, str]] = {}
    missing: list[SkippedItem] = []
    found: dict[str, tuple[int, ...]] = {}  # item id -> shape of its verified cache entry
    recomputed: list[SkippedItem] = []
    mine = distributed.shard(items, rank, world)
    for item in mine:
        identity_of_video = video_identity(item.path, identity)
        if identity_of_video is None:
            failure = VideoDecodeFailure(item.path, MISSING, "no such file or directory")
            if strict:
                raise failure
            missing.append(SkippedItem(item.item_id, item.path, failure.reason, failure.detail))
            continue
        key = item_key(digest, identity_of_video, item)
        path = cache.entry_path(digest, key)
        entries[item.item_id] = (path, key)
        if os.path.lexists(path):
            try:
                found[item.item_id] = cache.verify(path, key)
            except CacheEntryError as error:
                recomputed.append(SkippedItem(item.item_id, str(path), error.reason, str(error)))
    expected = (spec.num_views, *encoder.clip_shape(spec)) if found else ()
    for item_id, problem in _shape_problems(found, expected).items():
        del found[item_id]
        recomputed.append(SkippedItem(item_id, str(entries[item_id][0]), "shape", problem))
    for item_id in found:
        cache.touch(entries[item_id][0])
    hits = len(found)
    misses = [item for item in mine if item.item_id in entries and item.item_id not in found]
    setup_s = time.perf_counter() - started

    # Same batch shape for every call of every rank and every resume (see module docstring).
    batch = min(batch_size, spec.num_views * max(len(items), 1))
    run = _Run(cache, encoder, spec, misses, entries, batch, strict, progress and rank == 0, f"rank {rank}/{world}")
    if misses:
        workers = min(workers, len(misses))
        with _cpu_threads(encoder_cpu_threads(workers), encoder.device):
            run.execute(make_loader(DecodeDataset(misses, spec, timeout_s, decoder), workers, runs_per_worker=True,
                                    nice=worker_nice(encoder.device)))

    timings = {"setup_s": setup_s, **run.report(), "wall_s": time.perf_counter() - started}
    gathered = distributed.all_gather(
        {"entries": entries, "skipped": missing + run.skipped, "hits": hits, "misses": len(misses), "timings": timings,
         "recomputed": recomputed}
    )
    skipped = [s for part in gathered for s in part["skipped"]]
    failed = {s.item_id for s in skipped}
    merged = {k: v for part in gathered for k, v in part["entries"].items() if k not in failed}
    ordered = {item.item_id: merged[item.item_id] for item in items if item.item_id in merged}
    return ExtractionResult(
        features=FeatureMap(cache, ordered),
        skipped=sorted(skipped, key=lambda s: s.item_id),
        cache_hits=sum(part["hits"] for part in gathered),
        cache_misses=sum(part["misses"] for part in gathered),
        settings={"digest": digest, **settings.describe()},
        timings=_merge_timings([part["timings"] for part in gathered]),
        recomputed=sorted((r for part in gathered for r in part["recomputed"]), key=lambda r: r.item_id),
    )


def _shape_problems(shapes: dict[str, tuple[int, ...]], expected: tuple[int, ...]) -> dict[str, str]:
    """Entries whose shape is not the one these settings give: item id -> what is wrong."""
    return {item_id: f"has shape {list(shape)}; these settings give {list(expected)}"
            for item_id, shape in shapes.items() if shape != expected}


class _Run:
    """The decode -> encode -> write loop of one rank over its cache misses."""

    def __init__(self, cache, encoder, spec, misses, entries, batch, strict, progress, label) -> None:
        self.cache = cache
        self.encoder = encoder
        self.spec = spec
        self.misses = misses
        self.entries = entries
        self.batch = batch
        self.strict = strict
        self.progress = progress
        self.label = label
        self.skipped: list[SkippedItem] = []
        self.timings = {"decode_s": 0.0, "wait_s": 0.0, "encode_s": 0.0, "write_s": 0.0, "write_wait_s": 0.0,
                        "steady_s": 0.0}
        self.counts = {"decoded_items": 0, "video_opens": 0, "encoded_clips": 0, "encoder_calls": 0,
                       "steady_clips": 0}
        self._first_call: tuple[float, int] | None = None  # (end of the first encoder call, its clips)
        self._pending: list[tuple[int, int, Any]] = []  # (position, view, clip uint8 [T, R, R, 3])
        self._outputs: dict[int, list] = {}
        self._infos: dict[int, dict] = {}

    def execute(self, loader) -> None:
        from tqdm import tqdm

        bar = tqdm(total=len(self.misses), desc=f"extract {self.label}", unit="video", disable=not self.progress)
        self._writer = CacheWriter(self.cache)
        samples = iter(loader)
        try:
            waited = time.perf_counter()
            for sample in samples:
                self.timings["wait_s"] += time.perf_counter() - waited
                self._take(sample, bar)
                waited = time.perf_counter()
            if self._pending:
                self._encode(self._pending, bar)
                self._pending = []
        finally:
            bar.close()
            # Stop the workers now, not when a traceback lets go of the iterator (SIGTERM, errors).
            shutdown = getattr(samples, "_shutdown_workers", None)
            if shutdown is not None:
                shutdown()
            try:
                self._writer.close()  # what was encoded is kept, even when the loop failed
            finally:
                self.timings["write_s"] += self._writer.write_s
                self.timings["write_wait_s"] += self._writer.wait_s

    def report(self) -> dict[str, float]:
        return {**self.timings, **{name: float(count) for name, count in self.counts.items()}}

    def _take(self, sample: Decoded, bar) -> None:
        self.timings["decode_s"] += sample.decode_s
        self.counts["video_opens"] += sample.opened
        item = self.misses[sample.position]
        if sample.failure is not None:
            if self.strict:
                raise sample.failure
            self.skipped.append(SkippedItem(item.item_id, item.path, sample.failure.reason, sample.failure.detail))
            bar.update(1)
            return
        self.counts["decoded_items"] += 1
        self._infos[sample.position] = sample.info
        self._outputs[sample.position] = [None] * self.spec.num_views
        self._pending.extend((sample.position, v, sample.views[v]) for v in range(self.spec.num_views))
        while len(self._pending) >= self.batch:
            self._encode(self._pending[: self.batch], bar)
            self._pending = self._pending[self.batch :]

    def _encode(self, chunk: list, bar) -> None:
        import torch

        start = time.perf_counter()
        clips = torch.stack([clip for _, _, clip in chunk])
        if len(chunk) < self.batch:
            blank = clips.new_zeros((self.batch - len(chunk), *clips.shape[1:]))
            clips = torch.cat([clips, blank])
        output = self.encoder(clips)[: len(chunk)]
        end = time.perf_counter()
        self.timings["encode_s"] += end - start
        self.counts["encoder_calls"] += 1
        self.counts["encoded_clips"] += len(chunk)
        # Steady state: from the end of the first encoder call to the end of the last, the clips
        # encoded in between; the pipeline's throughput once filled (the fill, worker start-up and
        # first decode, is paid once per extraction, however long it is).
        if self._first_call is None:
            self._first_call = (end, len(chunk))
        self.timings["steady_s"] = end - self._first_call[0]
        self.counts["steady_clips"] = self.counts["encoded_clips"] - self._first_call[1]
        finished = []
        for (position, view, _), features in zip(chunk, output):
            views = self._outputs[position]
            views[view] = features
            if all(v is not None for v in views):
                finished.append(self._entry(position, torch.stack(views)))
        if finished:
            self._writer.put(finished)  # written on the writer's thread while the next batch encodes
            bar.update(len(finished))

    def _entry(self, position: int, features) -> tuple:
        """(path, key, features, metadata) of a finished item's cache entry."""
        item = self.misses[position]
        path, key = self.entries[item.item_id]
        info = self._infos.pop(position)
        del self._outputs[position]
        return path, key, features, {"item": {"path": item.path, **item.span_key()}, "info": info}


def encoder_cpu_threads(workers: int) -> int:
    """Threads for a CPU encoder beside ``workers`` decoding processes: the cores they leave.

    OpenMP threads that share cores with busy processes stall on each other (measured on a busy
    2-core machine: a tiny encoder 30x slower, a Base one 2-3x), so the encoder does not
    oversubscribe the cores. On a GPU this does not apply (the threads only launch kernels).
    """
    import torch

    if workers == 0:
        return torch.get_num_threads()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(torch.get_num_threads(), cores - workers))


@contextlib.contextmanager
def _cpu_threads(threads: int, device) -> Iterator[None]:
    import torch

    before = torch.get_num_threads()
    if device.type == "cpu":
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


_SPANS = ("wall_s", "steady_s")  # spans of time, which ranks spend side by side


def _merge_timings(parts: list[dict[str, float]]) -> dict[str, float]:
    """Summed work over ranks; wall-clock spans are the slowest rank's."""
    merged: dict[str, float] = {}
    for part in parts:
        for name, value in part.items():
            merged[name] = max(merged.get(name, 0.0), value) if name in _SPANS else merged.get(name, 0.0) + value
    return merged
