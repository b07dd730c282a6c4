"""A probe head trained with the frozen encoder in the loop: decode -> augment -> encode -> head step, every epoch.

VideoGLUE (and V-JEPA's frozen evaluation) runs the frozen backbone on a fresh random clip, crop
and flip of every training video in every epoch and caches nothing. Streaming mode does the same,
for runs whose feature cache would not fit (:mod:`vpbench.families.train_mode`):

* :class:`StreamingViews` is the probe's training loader (``load(items, views)``, what
  :func:`~vpbench.adapters.classification.fit_probe` takes): it makes augmented view ``views[k]``
  of sample ``items[k]`` now, with the same pure function of (sample, view, seed, spec) that
  cached views use (:mod:`vpbench.video.augment`). The adapter gives each video ``epochs`` views
  (:class:`~vpbench.adapters.training.ViewSchedule` with one view per epoch), so no epoch repeats
  a view: a fresh view per video per epoch, exactly the views a cached run with
  ``train_views = epochs`` would store. DataLoader workers decode an epoch's clips ahead of the
  encoder, in the order its batches will be asked for (:meth:`StreamingViews.plan`); the encoder
  runs under no_grad (bf16 autocast on CUDA) and its features go to the head on its device.
* :func:`decodable` decodes view 0 of every training video once before training, so a video that
  cannot be decoded is left out and counted, never fatal in the middle of an epoch.
* :func:`predict` scores the evaluation views the same way, a few items at a time, caching nothing.

Under torch.distributed each rank decodes and encodes its shard of every batch and the heads'
gradients are averaged (:func:`~vpbench.adapters.training.train_heads`); evaluation items are
sharded and the scores gathered. This module never writes features anywhere.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from vpbench.errors import VpbenchError
from vpbench.features import distributed
from vpbench.features.encode import ClipEncoder
from vpbench.features.loader import DecodeDataset, Decoded, make_loader, worker_nice
from vpbench.families import train_views
from vpbench.video.readers import DEFAULT_DECODER

SCHEDULE = ("a fresh augmented view per video per epoch, decoded and encoded as it is trained on (view (epoch + s_i) "
            "mod epochs, s_i seeded per video: no view repeats); nothing is cached")


@dataclass
class StreamStats:
    """What streaming cost: clips decoded and encoded, and the bytes of the files they came from (an
    upper bound of what decoding read: a short clip's decode reads about its whole file)."""

    clips: int = 0
    video_bytes: int = 0

    def add(self, decoded: Sequence[Decoded], items: Sequence[Any]) -> None:
        import os

        self.clips += len(decoded)
        self.video_bytes += sum(os.path.getsize(item.path) for item in items if os.path.isfile(item.path))

    def total(self) -> "StreamStats":
        """Every rank's counts summed (each rank counts what it decoded); a collective under torch.distributed."""
        parts = distributed.all_gather((self.clips, self.video_bytes))
        return StreamStats(sum(clips for clips, _ in parts), sum(size for _, size in parts))


class StreamingViews:
    """``load(items, views) -> [b, ...]`` features of training views, decoded and encoded on demand.

    ``augmented=False`` (a task with ``train_views: 0``) streams the centre clip and crop instead,
    the same view every epoch. ``batch_size`` clips go through the encoder at a time; ``decoder``
    is the video backend (``--decoder``), as for cached extraction.
    """

    def __init__(self, samples: Sequence[Any], spec: Any, encoder: ClipEncoder, *, augmented: bool,
                 batch_size: int, workers: int = 0, timeout_s: float | None = 120.0, role: str = "train",
                 decoder: str = DEFAULT_DECODER) -> None:
        self.samples = list(samples)
        self.spec = spec
        self.encoder = encoder
        self.augmented = augmented
        self.batch_size = batch_size
        self.workers = workers
        self.timeout_s = timeout_s
        self.role = role
        self.decoder = decoder
        self.stats = StreamStats()
        self._planned: deque[tuple[list[int], list[int]]] = deque()
        self._decoded: Prefetch | None = None

    def _items(self, indices: Sequence[int], views: Sequence[int]) -> list[Any]:
        return training_items([self.samples[i] for i in indices], views, augmented=self.augmented, role=self.role)

    def plan(self, requests: Sequence[tuple[Sequence[int], Sequence[int]]]) -> None:
        """The next calls will be ``requests`` in order: decode their clips ahead, in worker processes."""
        if self._decoded is not None:
            self._decoded.close()
        self._planned = deque((list(items), [int(v) for v in views]) for items, views in requests)
        clips = [item for items, views in self._planned for item in self._items(items, views)]
        depth = 2 * max((len(items) for items, _ in self._planned), default=1)
        self._decoded = Prefetch(make_loader(DecodeDataset(clips, self.spec, self.timeout_s, self.decoder),
                                             min(self.workers, len(clips)), nice=worker_nice(self.encoder.device)),
                                 depth) if clips else None

    def __call__(self, indices: Sequence[int], views: Sequence[int]):
        import torch

        request = (list(indices), [int(v) for v in views])
        items = self._items(*request)
        if self._planned and self._planned[0] == request:
            self._planned.popleft()
            decoded = [self._decoded.get() for _ in items]
        else:  # not planned (e.g. scoring held-out items): decode here
            dataset = DecodeDataset(items, self.spec, self.timeout_s, self.decoder)
            decoded = [dataset[k] for k in range(len(items))]
        for item, result in zip(items, decoded):
            if result.failure is not None:
                raise VpbenchError(f"streaming training: {item.path} decoded before training but not now "
                                   f"({result.failure}); nothing was cached, so run again once the file is fixed "
                                   f"or removed")
        self.stats.add(decoded, items)
        return encode(self.encoder, torch.cat([result.views for result in decoded]), self.batch_size)


class Prefetch:
    """Items of a loader pulled by a thread into a queue of ``depth``: decoding goes on while the
    encoder and the head run on the batch before (a DataLoader runs only two items per worker
    ahead, far less than a batch). A loader error is raised by the :meth:`get` that reaches it."""

    def __init__(self, loader: Any, depth: int) -> None:
        import queue
        import threading

        self._queue: queue.Queue = queue.Queue(max(depth, 1))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._pump, args=(loader,), daemon=True, name="vpbench-prefetch")
        self._thread.start()

    def _pump(self, loader: Any) -> None:
        try:
            for item in loader:
                if not self._put(item):
                    return
        except BaseException as error:  # handed to the consumer, which raises it
            self._put(error)

    def _put(self, item: Any) -> bool:
        import queue

        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def get(self) -> Any:
        item = self._queue.get()
        if isinstance(item, BaseException):
            raise item
        return item

    def close(self) -> None:
        """Stop pulling (the loader's workers end with it)."""
        self._stop.set()
        self._thread.join()


def training_items(samples: Sequence[Any], views: Sequence[int], *, augmented: bool, role: str) -> list[Any]:
    """Work items of view ``views[k]`` of ``samples[k]`` (the centre clip and crop when not ``augmented``)."""
    if not augmented:
        from vpbench.families.common import work_items

        return work_items(samples, role)
    return [train_views.view_item(sample, role, int(view)) for sample, view in zip(samples, views)]


def encode(encoder: ClipEncoder, clips: Any, batch_size: int):
    """Float32 features of uint8 clips ``[N, T, R, R, 3]`` on the encoder's device, ``batch_size`` at a time."""
    import torch

    return torch.cat([encoder.on_device(clips[start:start + batch_size], autocast=True)
                      for start in range(0, len(clips), batch_size)])


def decodable(samples: Sequence[Any], spec: Any, *, augmented: bool, workers: int, timeout_s: float | None = 120.0,
              role: str = "train", decoder: str = DEFAULT_DECODER) -> tuple[list[Any], list[tuple[Any, Any]]]:
    """(samples whose first training view decodes, [(sample, VideoDecodeFailure)] of the others).

    Under torch.distributed each rank checks its shard and every rank gets the whole answer.
    """
    rank, world = distributed.rank_and_world()
    mine = distributed.shard(list(range(len(samples))), rank, world)
    items = training_items([samples[i] for i in mine], [0] * len(mine), augmented=augmented, role=role)
    loader = make_loader(DecodeDataset(items, spec, timeout_s, decoder), min(workers, len(items)))
    failures = [(position, result.failure) for position, result in zip(mine, loader) if result.failure is not None]
    failed = dict(pair for part in distributed.all_gather(failures) for pair in part)
    return ([sample for i, sample in enumerate(samples) if i not in failed],
            [(samples[i], failed[i]) for i in sorted(failed)])


def predict(probe_spec: Any, head: Any, samples: Sequence[Any], spec: Any, encoder: ClipEncoder, *,
            batch_size: int, workers: int, timeout_s: float | None = 120.0, decoder: str = DEFAULT_DECODER
            ) -> tuple[list[Any], np.ndarray, list[tuple[Any, Any]], StreamStats]:
    """Scores of every evaluation view, averaged per item (:func:`predict_probe`), nothing cached.

    Items are decoded by ``workers`` processes and encoded about ``batch_size`` clips at a time;
    returns (samples scored, scores ``[N, C]``, [(sample, VideoDecodeFailure)], stats). Under torch.distributed
    each rank scores its shard and every rank gets all scores, in sample order, and the stats of all ranks.
    """
    import torch

    from vpbench.adapters.classification import predict_probe
    from vpbench.families.common import work_items

    rank, world = distributed.rank_and_world()
    mine = distributed.shard(list(range(len(samples))), rank, world)
    items = work_items([samples[i] for i in mine], "eval")
    stats = StreamStats()
    rows: dict[int, np.ndarray] = {}
    failed: list[tuple[int, Any]] = []
    pending: list[tuple[int, Any]] = []

    def flush() -> None:
        clips = torch.stack([views for _, views in pending])  # [k, V, T, R, R, 3]
        features = encode(encoder, clips.flatten(0, 1), batch_size)
        features = features.reshape(clips.shape[0], clips.shape[1], *features.shape[1:])
        scores = predict_probe(probe_spec, head, lambda positions: features[positions], len(pending))
        rows.update({position: row for (position, _), row in zip(pending, scores)})
        pending.clear()

    loader = make_loader(DecodeDataset(items, spec, timeout_s, decoder), min(workers, len(items)),
                         nice=worker_nice(encoder.device))
    decoded = Prefetch(loader, 2 * max(1, batch_size // spec.num_views))  # about two encoder batches ahead
    for position, item in zip(mine, items):
        result = decoded.get()
        if result.failure is not None:
            failed.append((position, result.failure))
            continue
        stats.add([result], [item])
        pending.append((position, result.views))
        if len(pending) * result.views.shape[0] >= batch_size:
            flush()
    if pending:
        flush()
    parts = distributed.all_gather({"rows": rows, "failed": failed})
    rows = {k: v for part in parts for k, v in part["rows"].items()}
    scored = sorted(rows)
    failures = [(samples[i], failure) for part in parts for i, failure in sorted(part["failed"], key=lambda f: f[0])]
    scores = np.stack([rows[i] for i in scored]) if scored else np.zeros((0, probe_spec.num_classes), np.float32)
    return [samples[i] for i in scored], scores, failures, stats.total()


def record(task: Any, epochs: int) -> dict[str, Any]:
    """What the training views of a streaming run were, for the result's fingerprint."""
    if not train_views.view_count(task):
        return {"views": 1, "kind": "centre clip, centre crop (no augmentation), streamed"}
    from dataclasses import asdict

    return {"views": epochs, "kind": "augmented, streamed", "augment": asdict(train_views.training_spec(task).augment),
            "schedule": SCHEDULE}
