"""Cached vs streaming probe training on a synthetic K400-shaped run: wall time and bytes read per epoch.

Writes ``--clips`` small labelled clips (H.264, 64x64, 32 frames at 8 fps, the label the subject's
shape: many short videos, as K400) once into a temporary folder, then for each encoder width in
``--dims`` (small random-weight VideoPrism configs: the token size grows with D, the videos do
not) trains the same MAP head (the probe's adapter, one setting) two ways:

* cached: ``--views`` augmented views per clip extracted through the feature cache (the first
  run's cost, timed apart), packed into the sharded feature store a run builds when its table
  does not fit ``--option memory_budget`` (:func:`vpbench.families.probe.train_store`, timed
  apart), then ``--epochs`` epochs read from the store in its epoch order, within
  ``--memory-budget``; bytes read = the store's block reads (every block of an epoch read once,
  in ``block_reads`` reads: sequential), with no in-memory copy of the table;
* streaming (:mod:`vpbench.families.streaming`): ``--epochs`` epochs of decode -> augment ->
  encode -> head step, ``--workers`` decoding processes; bytes read = the video files' bytes.

Reading the same epochs one cache entry per item, in a shuffled order, is measured against the
store by ``perf/store.py``.

Prints, per width, the wall times and bytes read per epoch of both paths, then the ratios. The
last line is ``streaming_bytes_ratio: X``: streaming's bytes per epoch at the widest over the
narrowest width (1.00: independent of the token size, while the cached bytes grow with D).

    python perf/scale.py                                # 2000 clips, D 64 and 256, 2 epochs
    python perf/scale.py --clips 200 --epochs 1         # a quick check
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vpbench.adapters.classification import fit_probe, probe_spec
from vpbench.datasets import Sample
from vpbench.features import FeatureCache, extract_features
from vpbench.features.encode import ClipEncoder
from vpbench.commands.cache import parse_size
from vpbench.families import streaming, train_views
from vpbench.families.common import FeatureTable
from vpbench.families.probe import store_order, train_store
from vpbench.families.train_mode import format_bytes
from vpbench.models.config import VideoPrismConfig
from vpbench.models.videoprism import build_model
from vpbench.tiny.video import SHAPES, random_clips, write_clips
from vpbench.video import AugmentSpec, SamplingSpec

SPEC = SamplingSpec(frames=8, resolution=32, policy="stride", stride=2, augment=AugmentSpec(seed=0))


def write_dataset(folder: Path, count: int) -> list[Sample]:
    """``count`` clips written once (reused by a later run on the same folder), labelled by shape."""
    clips = random_clips(np.random.default_rng(0), count, prefix="k")
    jobs = [(folder / f"{clip.clip_id}.mp4", clip, "h264") for clip in clips]
    write_clips([job for job in jobs if not job[0].exists()])
    return [Sample(sample_id=clip.clip_id, video_id=clip.clip_id, video_path=path,
                   label=SHAPES.index(clip.subject.shape)) for (path, clip, _) in jobs]


def make_encoder(dim: int, device: str):
    """A small random-weight VideoPrism of width ``dim`` (8 frames of 32 px, 4x4 patches of 8 px)."""
    config = VideoPrismConfig(patch_size=8, pos_emb_shape=(8, 4, 4), model_dim=dim, num_spatial_layers=2,
                              num_temporal_layers=1, num_heads=2, mlp_dim=2 * dim)
    torch.manual_seed(0)
    model = build_model(config)
    for param in model.parameters():
        torch.nn.init.normal_(param, std=0.02)
    return model.to(device).eval()


def probe(args: argparse.Namespace):
    """The probe's MAP head at a small size, one setting (no grid), progress bars off."""
    adapter = {"type": "map", "heads": 2, "hidden": 32, "epochs": args.epochs, "batch_size": args.head_batch,
               "lr": 0.003}
    spec = probe_spec(adapter, len(SHAPES), seed=0, device=args.device)
    return replace(spec, loop=replace(spec.loop, progress=False))


def warm_up(args: argparse.Namespace) -> None:
    """One throwaway fit on random features, so the first timed config does not pay one-time costs
    (lazy imports, the allocator's first growth) that the others do not."""
    features = torch.randn(8, 16, 32)
    spec = probe(args)
    fit_probe(replace(spec, loop=replace(spec.loop, epochs=1)), lambda items, views: features[items],
              [k % len(SHAPES) for k in range(8)], 32)


def run_cached(samples, model, args, cache_dir: Path) -> dict[str, Any]:
    items = [train_views.view_item(s, "train", v) for s in samples for v in range(args.views)]
    started = time.perf_counter()
    result = extract_features(model, items, SPEC, "tokens", FeatureCache(cache_dir), batch_size=args.batch,
                              workers=args.workers, dtype="float16")
    extract_s = time.perf_counter() - started
    table = FeatureTable(result.features, [item.item_id for item in items], view=0, memory_bytes=0)
    started = time.perf_counter()
    store, _ = train_store(cache_dir, table, args.views, seed=0, dtype="float16",
                           memory_bytes=parse_size(args.memory_budget))
    store_s = time.perf_counter() - started
    started = time.perf_counter()
    fit_probe(probe(args), train_views.view_loader(store, args.views), [s.label for s in samples],
              model.config.model_dim, views=args.views, order=store_order(store, args.views))
    train_s = time.perf_counter() - started
    reader = store.reader
    epoch_bytes = reader.epoch_bytes[-args.epochs:]  # the refit's epochs (a grid would plan more before)
    return {"extract_s": extract_s, "store_s": store_s, "epoch_s": train_s / args.epochs,
            "bytes_per_epoch": statistics.mean(epoch_bytes), "section_bytes": store.reader.store.nbytes / args.views,
            "block_reads": reader.reads, "block_bytes": reader.block_rows * reader.store.row_bytes,
            "scattered_bytes": reader.scattered_bytes}


def run_streaming(samples, model, args) -> dict[str, Any]:
    encoder = ClipEncoder(model, "tokens", "float32", SPEC.frames)
    loader = streaming.StreamingViews(samples, SPEC, encoder, augmented=True, batch_size=args.batch,
                                      workers=args.workers)
    started = time.perf_counter()
    fit_probe(probe(args), loader, [s.label for s in samples], model.config.model_dim,
              views=args.epochs, holdout_views=1)
    train_s = time.perf_counter() - started
    return {"epoch_s": train_s / args.epochs, "bytes_per_epoch": loader.stats.video_bytes / args.epochs,
            "clips": loader.stats.clips}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", type=int, default=2000)
    parser.add_argument("--dims", type=int, nargs="+", default=[64, 256], help="encoder widths D")
    parser.add_argument("--views", type=int, default=2, help="cached augmented views per clip")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--workers", type=int, default=1, help="decoding worker processes")
    parser.add_argument("--batch", type=int, default=16, help="clips per encoder call")
    parser.add_argument("--head-batch", type=int, default=64, help="clips per head step")
    parser.add_argument("--memory-budget", default="8M",
                        help="what the cached path's store may hold in memory (--option memory_budget): "
                             "a quarter of it is one read block")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu",
                        help="where the encoder and the head run (streaming uses bf16 autocast on CUDA)")
    parser.add_argument("--folder", type=Path, default=None, help="where the clips go (default: a temp folder)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="vpbench-scale-") as temp:
        folder = args.folder or Path(temp) / "videos"
        folder.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        samples = write_dataset(folder, args.clips)
        video_bytes = sum(s.video_path.stat().st_size for s in samples)
        print(f"{len(samples)} clips, {format_bytes(video_bytes)} of video, written in "
              f"{time.perf_counter() - started:.1f} s; {args.epochs} epoch(s), {args.device}, "
              f"{torch.get_num_threads()} torch thread(s), {args.workers} decoding worker(s)")
        warm_up(args)
        rows = {}
        for dim in args.dims:
            model = make_encoder(dim, args.device)
            cached = run_cached(samples, model, args, Path(temp) / f"cache-{dim}")
            streamed = run_streaming(samples, model, args)
            rows[dim] = (cached, streamed)
            print(f"D={dim}: cached: extract {cached['extract_s']:.1f} s ({args.views} views), store built in "
                  f"{cached['store_s']:.1f} s, {cached['epoch_s']:.2f} s/epoch, "
                  f"{format_bytes(cached['bytes_per_epoch'])} read/epoch "
                  f"({cached['bytes_per_epoch'] / cached['section_bytes']:.2f}x one epoch's rows; "
                  f"{cached['block_reads']} block reads of <= {format_bytes(cached['block_bytes'])} in all, "
                  f"{format_bytes(cached['scattered_bytes'])} read row by row) | "
                  f"streaming: {streamed['epoch_s']:.2f} s/epoch, {format_bytes(streamed['bytes_per_epoch'])} "
                  f"read/epoch ({streamed['clips']} clips)")
        first, last = rows[args.dims[0]], rows[args.dims[-1]]
        for dim, (cached, streamed) in rows.items():
            total_cached = cached["extract_s"] + cached["store_s"] + args.epochs * cached["epoch_s"]
            print(f"D={dim}: wall for {args.epochs} epoch(s): cached {total_cached:.1f} s (extract and store included), "
                  f"streaming {args.epochs * streamed['epoch_s']:.1f} s; streaming/cached bytes per epoch "
                  f"{streamed['bytes_per_epoch'] / max(cached['bytes_per_epoch'], 1):.2f}")
        print(f"cached_bytes_ratio: {last[0]['bytes_per_epoch'] / max(first[0]['bytes_per_epoch'], 1):.2f}")
        print(f"streaming_bytes_ratio: {last[1]['bytes_per_epoch'] / max(first[1]['bytes_per_epoch'], 1):.2f}")


if __name__ == "__main__":
    main()
