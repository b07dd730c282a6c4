"""Parallel decoding: a DataLoader whose workers decode views while the encoder runs.

Workers are never forked from the caller: forking after torch has run in the parent can
deadlock (shared/reference/env.md), and the parent always has torch by the time it encodes.
They fork from a ``forkserver`` instead, a clean process that has only imported torch, decord
and this module, so a worker starts in well under a second once the server is up (the first
call pays one import; plain ``spawn`` pays it for every worker of every call, and is the
fallback where forkserver does not exist). Each worker follows the calling process
(:mod:`vpbench.features.lifeline`), so none outlives a killed run. A decode failure travels back
as data (reason + detail) so that one bad video never stops the loader; only bugs raise. This
module must never touch the model or the cache.

One open per video: consecutive items on the same file (ActivityNet's snippets, a video's
augmented views) are read from one open source in each process, and a loader made with
``runs_per_worker`` gives each worker one contiguous run of the items (:func:`worker_runs`), so
a video is opened once, plus at most once more per worker boundary that falls inside it.

Workers beside a CPU encoder run at a lower priority (:func:`worker_nice`): the encoder is the
pipeline's critical path there, and the workers decode ahead with slack.
"""

from __future__ import annotations

import functools
import os
import time
from dataclasses import dataclass
from typing import Any

from vpbench.features.items import WorkItem
from vpbench.features.lifeline import exit_with
from vpbench.video import SamplingSpec, VideoDecodeFailure, decode_views, open_source
from vpbench.video.readers import DEFAULT_DECODER, TIMEOUT, check_decoder
from vpbench.video.views import call_with_timeout


@dataclass
class Decoded:
    """One item out of the loader: its views, or why there are none."""

    position: int
    views: Any  # torch.uint8 [V, T, R, R, 3], or None on failure
    info: dict | None
    failure: VideoDecodeFailure | None
    decode_s: float
    opened: bool = False
    """Whether decoding this item opened its file (False: it reused the previous item's reader)."""


class DecodeDataset:
    """Map-style dataset over work items: item ``i`` -> :class:`Decoded`."""

    def __init__(self, items: list[WorkItem], spec: SamplingSpec, timeout_s: float | None,
                 decoder: str = DEFAULT_DECODER) -> None:
        self.items = items
        self.spec = spec
        self.timeout_s = timeout_s
        self.decoder = check_decoder(decoder)  # an unknown name fails here, not in every item
        self._open: tuple[tuple, Any] | None = None  # ((path, fps), source) of the last item, per process

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_open": None}  # a worker opens its own readers

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, position: int) -> Decoded:
        import torch

        item = self.items[position]
        start = time.perf_counter()
        source, opened = None, False
        try:
            source, opened = self._source(item)
            views, info = decode_views(
                item.path,
                self.spec,
                clip_span_s=item.clip_span_s,
                frame_span=item.frame_span,
                fps=item.fps,
                timeout_s=self.timeout_s,
                augment_view=item.augment,
                decoder=self.decoder,
                source=source,
            )
        except VideoDecodeFailure as failure:
            if failure.reason == TIMEOUT and source is not None:
                self._open = None  # an abandoned thread may still be inside that reader
            return Decoded(position, None, None, failure, time.perf_counter() - start, opened)
        return Decoded(position, torch.from_numpy(views), info.as_dict(), None, time.perf_counter() - start, opened)

    def _source(self, item: WorkItem) -> tuple[Any, bool]:
        """The open reader of ``item``'s file: the previous item's if it is the same file, else a new one.

        A file that failed to open fails the same way for its next items without a new attempt
        (128 snippets of a broken or hung file cost one open, not 128 timeouts)."""
        key = (item.path, item.fps)
        if self._open is not None and self._open[0] == key:
            if isinstance(self._open[1], VideoDecodeFailure):
                raise self._open[1]
            return self._open[1], False
        opener = functools.partial(open_source, item.path, item.fps, self.decoder)
        try:
            source = opener() if self.timeout_s is None else call_with_timeout(opener, self.timeout_s, item.path)
        except VideoDecodeFailure as failure:
            self._open = (key, failure)
            raise
        self._open = (key, source)
        return source, True


WORKER_NICE = 10
"""Niceness of decoding workers beside a CPU encoder (:func:`worker_nice`)."""


def worker_nice(device: Any) -> int:
    """How much lower than the caller decoding workers run, for an encoder on ``device``.

    On a CPU the encoder's threads are the pipeline's critical path, and at equal priority the
    scheduler preempts them for the pipeline's other threads (likely the workers' result-queue
    feeder and lifeline threads; encoding beside a plain decode loop in another process is not
    slowed). Measured with ``perf/extract.py``'s Base configuration on the
    2-core machine (1 worker + 1 encoder thread, 24 clips): 950-1,190 involuntary context
    switches of the encoder's process per extraction against about 40 when it encodes alone, and
    each clip encoded 5-9% slower inside the pipeline than alone; with the workers at nice 10,
    160-380 switches and no slowdown, while the workers still kept ahead (the time spent waiting
    for decoded clips did not grow). On a GPU the caller mostly waits on the device, so the
    workers keep its priority (0). A niced worker also yields to other users' processes on a
    shared CPU machine.
    """
    return WORKER_NICE if getattr(device, "type", str(device)) == "cpu" else 0


def make_loader(dataset: DecodeDataset, workers: int, runs_per_worker: bool = False, nice: int = 0):
    """Items decoded by ``workers`` worker processes (0: in this process), in order; with
    ``runs_per_worker``, in :func:`worker_runs` order (each worker one contiguous run, so a file's
    consecutive items share a reader): a caller then places samples by ``Decoded.position``.
    Workers run ``nice`` steps below the caller's priority (:func:`worker_nice`)."""
    from torch.utils.data import DataLoader

    options: dict[str, Any] = {}
    if workers > 0:
        options = {
            "multiprocessing_context": _worker_context(dataset.decoder),
            "worker_init_fn": functools.partial(_start_worker, os.getpid(), nice),
            "prefetch_factor": 2,
            # Backstop for a worker stuck while holding the GIL, which the per-item decode
            # timeout cannot interrupt: fail the run (it resumes) rather than hang forever.
            "timeout": 3 * dataset.timeout_s + 60 if dataset.timeout_s else 0,
        }
    return DataLoader(
        dataset, batch_size=None, sampler=worker_runs(len(dataset), workers if runs_per_worker else 0),
        num_workers=workers, collate_fn=_keep, **options
    )


def worker_runs(count: int, workers: int) -> list[int]:
    """Item order in which worker ``w`` of ``workers`` decodes one contiguous run of the items.

    A DataLoader hands the k-th index of its sampler to worker ``k % workers``; interleaving
    ``workers`` contiguous runs (sizes differing by at most one, longer first) therefore gives
    each worker one run, so consecutive snippets of a video share its reader. Results do not
    depend on the order (each clip is encoded on its own row, :mod:`vpbench.features.extract`).
    """
    if workers <= 1:
        return list(range(count))
    size, extra = divmod(count, workers)
    starts = [w * size + min(w, extra) for w in range(workers + 1)]
    runs = [range(starts[w], starts[w + 1]) for w in range(workers)]
    return [run[j] for j in range(size + (extra > 0)) for run in runs if j < len(run)]


def _keep(sample: Decoded) -> Decoded:
    return sample


def _start_worker(parent: int, nice: int, worker_id: int) -> None:
    """A worker's first act: its priority, then following the caller (:func:`exit_with`)."""
    if nice:
        os.nice(nice)
    exit_with(parent, worker_id)


# What a decoding worker needs, imported once in the fork server rather than in every worker.
_PRELOAD = ["torch", "torch.utils.data", "numpy", "decord", "PIL.Image", "vpbench.video",
            "vpbench.features.lifeline", __name__]


def _worker_context(decoder: str):
    """Fork-server context; its server preloads the decoder (set by the first loader of a process:
    a later loader with another decoder imports that decoder in each of its workers)."""
    import multiprocessing

    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    extra = ["vpbench.video.torchcodec_preload"] if decoder.startswith("torchcodec") else []
    context.set_forkserver_preload(_PRELOAD + extra)  # no effect once this process's server runs
    return context
