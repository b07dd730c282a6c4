"""Does decoding overlap encoding? Throughput of each stage alone and of the whole extraction.

Measures, in one run on the same videos (ffmpeg ``testsrc2``, 640x360, 30 fps, H.264):

* sampling cost: 16 frames at 288 px from a 10 s and from a 3 min clip (``decode_views``)
  against FFmpeg decoding the whole clip (``ffmpeg -threads 1 -f null``, also one thread);
* per model config (``tiny``, and Base-sized random weights): decode-only clips/s (the
  DataLoader with ``--workers`` worker processes), encode-only clips/s (pre-decoded clips, same
  batch shape, on the CPU threads the pipeline gives the encoder beside the workers; the figure
  with all threads is printed too), the serial baseline (decode then encode in one process:
  ``workers=0``, all threads) and end-to-end ``extract_features`` with workers, on a fresh
  cache each time.

``overlap = end_to_end / min(decode_only, encode_only)``: 1.0 means the slower stage runs at
full speed while the other hides behind it. Each throughput is the best of ``--repeats`` tries,
taken in turn, so that a load spike from other processes on a shared machine hits one try of
one stage rather than a whole measurement. The last line is ``overlap_ratio: <x>``, the
lowest over the configs measured. On a CPU the Base config runs smaller clips
(``--base-frames 4 --base-size 144``) so that a run takes minutes, not hours.

    python perf/extract.py                      # defaults: 24 videos, 2 workers
    python perf/extract.py --videos 8 --skip-base
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import torch

from vpbench.features import FeatureCache, WorkItem, extract_features
from vpbench.features.encode import ClipEncoder
from vpbench.features.extract import encoder_cpu_threads
from vpbench.features.loader import DecodeDataset, make_loader
from vpbench.video import SamplingSpec, decode_views


def make_clip(path: Path, seconds: int) -> Path:
    if not path.exists():
        subprocess.run(
            ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30", "-t", str(seconds),
             "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", str(path)],
            check=True,
        )
    return path


def median_time(fn, repeats: int = 3) -> float:
    fn()  # warm-up: imports, first-call allocations
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def sampling_vs_full_decode(work: Path) -> None:
    spec = SamplingSpec(frames=16, resolution=288)
    for label, seconds in (("10s", 10), ("3min", 180)):
        clip = make_clip(work / f"clip_{label}.mp4", seconds)
        sample = median_time(lambda: decode_views(clip, spec))
        full = median_time(lambda: subprocess.run(["ffmpeg", "-v", "error", "-threads", "1", "-i", str(clip),
                                                   "-f", "null", "-"], check=True))
        print(f"sample_16_frames_{label}: {sample:.3f} s | ffmpeg_full_decode_{label}: {full:.3f} s "
              f"| sample/full: {sample / full:.2f}")


def decode_only(items, spec, workers: int) -> float:
    start = time.perf_counter()
    clips = 0
    for sample in make_loader(DecodeDataset(items, spec, 120.0), workers):
        clips += 0 if sample.views is None else sample.views.shape[0]
    return clips / (time.perf_counter() - start)


def encode_only(model, items, spec, layout, batch_size: int, threads: int) -> float:
    views = torch.cat([torch.from_numpy(decode_views(item.path, spec)[0]) for item in items])
    encoder = ClipEncoder(model, layout, "float32", spec.frames)
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        encoder(views[:batch_size])  # warm-up
        start = time.perf_counter()
        for first in range(0, len(views), batch_size):
            chunk = views[first : first + batch_size]
            if len(chunk) < batch_size:  # the extractor pads the last batch too
                chunk = torch.cat([chunk, chunk.new_zeros((batch_size - len(chunk), *chunk.shape[1:]))])
            encoder(chunk)
        return len(views) / (time.perf_counter() - start)
    finally:
        torch.set_num_threads(before)


def extraction(model, items, spec, layout, batch_size: int, workers: int) -> float:
    with tempfile.TemporaryDirectory() as cache:
        start = time.perf_counter()
        result = extract_features(model, items, spec, layout, FeatureCache(cache), batch_size=batch_size,
                                  workers=workers, model_key="perf")
        elapsed = time.perf_counter() - start
    assert result.cache_misses == len(items) and not result.skipped
    return len(items) * spec.num_views / elapsed


def measure(name, model, items, spec, layout, args) -> float:
    decode_only(items[: args.workers], spec, args.workers)  # warm-up: start the workers' fork server
    # The encoder's share of the CPU in the pipeline (all of it on a GPU, or with no workers).
    threads = encoder_cpu_threads(args.workers) if args.device == "cpu" else torch.get_num_threads()
    decode = encode = encode_all = serial = overlapped = 0.0
    for _ in range(args.repeats):  # best of N, each stage in turn, so a load spike hits one try
        decode = max(decode, decode_only(items, spec, args.workers))
        encode = max(encode, encode_only(model, items, spec, layout, args.batch_size, threads))
        encode_all = max(encode_all, encode_only(model, items, spec, layout, args.batch_size, torch.get_num_threads()))
        serial = max(serial, extraction(model, items, spec, layout, args.batch_size, workers=0))
        overlapped = max(overlapped, extraction(model, items, spec, layout, args.batch_size, workers=args.workers))
    overlap = overlapped / min(decode, encode)
    print(f"{name} ({len(items)} clips of {spec.frames}x{spec.resolution}px, {args.workers} workers, "
          f"batch {args.batch_size}): decode_only {decode:.2f} clips/s | encode_only {encode:.2f} clips/s "
          f"({threads} threads; {encode_all:.2f} with all {torch.get_num_threads()}) | serial {serial:.2f} clips/s "
          f"| end_to_end {overlapped:.2f} clips/s | end_to_end/serial {overlapped / serial:.2f} | overlap {overlap:.2f}")
    return overlap


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=24, help="10 s clips for the tiny config")
    parser.add_argument("--base-videos", type=int, default=12, help="clips for the Base config")
    parser.add_argument("--base-frames", type=int, default=None, help="default: 16 on GPU, 4 on CPU")
    parser.add_argument("--base-size", type=int, default=None, help="default: 288 on GPU, 144 on CPU")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2, help="each throughput is the best of this many tries")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--skip-base", action="store_true")
    parser.add_argument("--work-dir", type=Path, default=Path(tempfile.gettempdir()) / "vpbench-perf-extract",
                        help="where the test clips are generated (kept for the next run)")
    args = parser.parse_args()
    if shutil.which("ffmpeg") is None:
        raise SystemExit("perf/extract.py needs the ffmpeg CLI to generate its test clips")
    args.work_dir.mkdir(parents=True, exist_ok=True)

    sampling_vs_full_decode(args.work_dir)
    # Copies of one clip: the same decoding work per item, each its own file and cache entry.
    source = make_clip(args.work_dir / "clip_10s.mp4", 10)
    items = []
    for k in range(max(args.videos, args.base_videos)):
        copy = args.work_dir / f"copy_{k:02d}.mp4"
        if not copy.exists():
            shutil.copyfile(source, copy)
        items.append(WorkItem(f"v{k}", str(copy)))

    import vpbench
    from vpbench.models.videoprism import build_model
    from vpbench.models.zoo import get_config

    tiny = vpbench.load_model("tiny", device=args.device)
    ratios = [measure("tiny", tiny, items[: args.videos], SamplingSpec(frames=tiny.num_frames,
                                                                       resolution=tiny.image_size), "tokens", args)]
    if not args.skip_base:
        on_gpu = args.device.startswith("cuda")
        frames = args.base_frames or (16 if on_gpu else 4)
        size = args.base_size or (288 if on_gpu else 144)
        torch.manual_seed(0)
        base = build_model(get_config("videoprism-b")).eval().to(args.device)
        if on_gpu:
            base.set_precision("bf16")
        ratios.append(measure("base", base, items[: args.base_videos], SamplingSpec(frames=frames, resolution=size),
                              "tokens", args))
    print(f"overlap_ratio: {min(ratios):.3f}")


if __name__ == "__main__":
    main()
