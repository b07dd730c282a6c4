"""Does extraction run at the speed of its slower stage? End-to-end against decode-only and encode-only.

Measures, in one run, on copies of one synthetic clip (a moving pattern, 1280x720 by default, 30 fps,
H.264 written with PyAV, a keyframe every ``--gop`` frames: 250 by default, as x264 and many
cameras write):

* sampling cost per decoder: 16 frames at 288 px from a 10 s and from a 3 min clip
  (``decode_views``) against decoding every frame of the clip with FFmpeg (PyAV) on one thread;
* per decoder (decord, torchcodec side by side) on a Base-sized encoder (random weights):
  decode-only clips/s (the extractor's DataLoader with ``--workers`` processes, at the priority
  the extractor gives them: nice 10 beside a CPU encoder, ``worker_nice``), encode-only
  clips/s (pre-decoded clips, the extractor's batch shape, on the CPU threads the extractor gives
  the encoder beside those workers: the same threads as end to end), and end-to-end
  ``extract_features`` (decode, encode, cache writes) on a fresh cache.

``overlap = end_to_end / min(decode_only, encode_only)``: a pipeline cannot beat its slower
stage, so 1.0 means that stage ran at full speed and the other hid behind it. Throughputs are
steady-state: decode-only from the first decoded clip to the last, end to end from the end of the
extractor's first encoder call to the end of its last (its ``steady_s``), encode-only on warm,
pre-decoded clips. The fill (worker start-up, the first decode before the first encoder call) is
paid once per extraction, so it costs ``batch / N`` of a run of ``N`` clips: 4% of this script's
24, 1/246,534 of a K400 pass; the whole-run figures, fill included, are printed beside. The three
stages are measured within each of ``--repeats`` rounds in a shuffled order (this VM's single-core
speed drifts by +-10% over seconds, seen with a bare matmul loop, so a stage measured minutes away
from the others would compare two machines); the ratio is taken per round, and the median and the
spread (min..max) over rounds are printed. On a CPU the defaults (720p clips, ``--frames 4 --size
108``) make the Base encoder cost about as much per clip as decoding it on the 2-core development
machine (measured 0.96 with decord, 1.13 with torchcodec), the case where overlap matters most; the
printed ``encode/decode cost`` says how close another machine is. The last line is
``overlap_ratio: X``, the median over rounds of the lowest steady-state ratio over decoders.

    python perf/extract.py                          # 2-core CPU: 1 worker + 1 encoder thread
    python perf/extract.py --device cuda            # GPU: 16x288, bf16 (perf/gpu.sh)
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import torch

from vpbench.features import FeatureCache, WorkItem, extract_features
from vpbench.features.encode import ClipEncoder
from vpbench.features.extract import encoder_cpu_threads
from vpbench.features.loader import DecodeDataset, make_loader, worker_nice
from vpbench.video import SamplingSpec, decode_views


def make_clip(path: Path, seconds: int, gop: int, size: tuple[int, int], fps: int = 30) -> Path:
    """A ``(width, height)`` H.264 clip of a pattern sliding across noise (motion for the encoder to code)."""
    import av
    import numpy as np

    if path.exists():
        return path
    width, height = size
    rng = np.random.default_rng(0)
    texture = rng.integers(0, 256, (height, width + 4 * fps * seconds, 3), dtype=np.uint8)
    texture[:, ::40] = 255
    partial = path.with_name(f".{path.name}.partial.mp4")
    with av.open(str(partial), mode="w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"preset": "veryfast", "crf": "23", "g": str(gop), "keyint_min": str(min(gop, 25))}
        for t in range(seconds * fps):
            frame = np.ascontiguousarray(texture[:, 4 * t : 4 * t + width])
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())
    partial.replace(path)
    return path


def full_decode(path: Path) -> None:
    """Every frame of the clip, decoded and converted to RGB on one thread (FFmpeg through PyAV)."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type, stream.thread_count = "NONE", 1
        for frame in container.decode(stream):
            frame.to_ndarray(format="rgb24")


def median_time(fn, repeats: int = 3) -> float:
    fn()  # warm-up: imports, first-call allocations
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def sampling_vs_full_decode(work: Path, gop: int, size: tuple[int, int], decoders: list[str]) -> None:
    spec = SamplingSpec(frames=16, resolution=288)
    for label, seconds in (("10s", 10), ("3min", 180)):
        clip = make_clip(work / f"clip_{label}_{size[0]}x{size[1]}_gop{gop}.mp4", seconds, gop, size)
        full = median_time(lambda: full_decode(clip), repeats=1)
        for decoder in decoders:
            sample = median_time(lambda: decode_views(clip, spec, decoder=decoder))
            print(f"sample_16_frames_{label} ({decoder}, gop {gop}): {sample:.3f} s | full_decode_{label}: "
                  f"{full:.3f} s | sample/full: {sample / full:.2f}")


def decode_only(items, spec, workers: int, decoder: str, device: str) -> tuple[float, float]:
    """Clips/s of the extractor's decoding loader alone (its workers at the priority the extractor
    gives them beside an encoder on ``device``): over the whole run (worker start-up included), and
    in steady state (from the first decoded clip to the last, the clips after the first)."""
    start = time.perf_counter()
    clips, first = 0, None
    loader = make_loader(DecodeDataset(items, spec, 120.0, decoder), workers, runs_per_worker=True,
                         nice=worker_nice(device))
    for sample in loader:
        clips += 0 if sample.views is None else sample.views.shape[0]
        if first is None:
            first = (time.perf_counter(), clips)
    end = time.perf_counter()
    return clips / (end - start), (clips - first[1]) / (end - first[0])


def encode_only(encoder: ClipEncoder, views, batch_size: int, threads: int, device: str) -> float:
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        start = time.perf_counter()
        for first in range(0, len(views), batch_size):
            chunk = views[first : first + batch_size]
            if len(chunk) < batch_size:  # the extractor pads the last batch too
                chunk = torch.cat([chunk, chunk.new_zeros((batch_size - len(chunk), *chunk.shape[1:]))])
            encoder(chunk)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        return len(views) / (time.perf_counter() - start)
    finally:
        torch.set_num_threads(before)


def end_to_end(model, items, spec, batch_size: int, workers: int, decoder: str) -> tuple[float, float, dict]:
    """Clips/s of the whole extraction (setup and fill included) and in steady state (the
    extractor's ``steady_s``: from the end of its first encoder call to the end of its last), and
    its own stage timings (where the time went)."""
    with tempfile.TemporaryDirectory() as cache:
        start = time.perf_counter()
        result = extract_features(model, items, spec, "tokens", FeatureCache(cache), batch_size=batch_size,
                                  workers=workers, model_key="perf", decoder=decoder)
        elapsed = time.perf_counter() - start
    assert result.cache_misses == len(items) and not result.skipped, result.skipped
    timings = result.timings
    return len(items) * spec.num_views / elapsed, timings["steady_clips"] / timings["steady_s"], timings


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} [{min(values):.2f}..{max(values):.2f}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=24, help="10 s clips per measurement")
    parser.add_argument("--frames", type=int, default=None, help="default: 16 on GPU, 4 on CPU")
    parser.add_argument("--size", type=int, default=None, help="default: 288 on GPU, 108 on CPU (a multiple of 18)")
    parser.add_argument("--workers", type=int, default=max(1, len(os.sched_getaffinity(0)) // 2),
                        help="decoding processes (default: half the cores; the encoder gets the rest)")
    parser.add_argument("--repeats", type=int, default=3, help="rounds of (decode, encode, end to end)")
    parser.add_argument("--batch-size", type=int, default=None, help="clips per encoder call (default: 8 on GPU, 1 on CPU)")
    parser.add_argument("--gop", type=int, default=250, help="keyframe interval of the test clips, in frames")
    parser.add_argument("--clip-size", default="1280x720", help="WIDTHxHEIGHT of the test clips")
    parser.add_argument("--decoders", default="decord,torchcodec", help="comma-separated, measured side by side")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--skip-sampling", action="store_true", help="skip the 10 s / 3 min sampling comparison")
    parser.add_argument("--work-dir", type=Path, default=Path(tempfile.gettempdir()) / "vpbench-perf-extract",
                        help="where the test clips are generated (kept for the next run)")
    args = parser.parse_args()
    args.work_dir.mkdir(parents=True, exist_ok=True)
    decoders = args.decoders.split(",")
    on_gpu = args.device.startswith("cuda")
    args.batch_size = args.batch_size or (8 if on_gpu else 1)
    size = tuple(int(n) for n in args.clip_size.split("x"))

    if not args.skip_sampling:
        sampling_vs_full_decode(args.work_dir, args.gop, size, decoders)
    # Copies of one clip: the same decoding work per item, each its own file and cache entry.
    source = make_clip(args.work_dir / f"clip_10s_{args.clip_size}_gop{args.gop}.mp4", 10, args.gop, size)
    items = []
    for k in range(args.videos):
        copy = args.work_dir / f"copy_{k:02d}_{args.clip_size}_gop{args.gop}.mp4"
        if not copy.exists():
            shutil.copyfile(source, copy)
        items.append(WorkItem(f"v{k}", str(copy)))

    from vpbench.models.videoprism import build_model
    from vpbench.models.zoo import get_config

    spec = SamplingSpec(frames=args.frames or (16 if on_gpu else 4), resolution=args.size or (288 if on_gpu else 108))
    torch.manual_seed(0)
    model = build_model(get_config("videoprism-b")).eval().to(args.device)
    if on_gpu:
        model.set_precision("bf16")
    # What a loaded checkpoint has: without it every extraction call hashes the random weights
    # (~1.5 s for Base on this CPU), a setup cost no real run pays.
    model.checkpoint_sha256 = "perf-random-weights-seed-0"
    # The extractor's split of the CPU: the encoder gets the cores the workers leave (all on a GPU).
    threads = torch.get_num_threads() if on_gpu else encoder_cpu_threads(args.workers)
    encoder = ClipEncoder(model, "tokens", "float32", spec.frames)
    views = torch.cat([torch.from_numpy(decode_views(item.path, spec)[0]) for item in items])
    encode_only(encoder, views[: args.batch_size], args.batch_size, threads, args.device)  # warm-up
    for decoder in sorted(decoders, reverse=True):  # warm-up: start the fork server (torchcodec's preload first)
        decode_only(items[: args.workers], spec, args.workers, decoder, args.device)

    stages = ("decode", "encode", "end_to_end")
    rounds: dict[str, dict[str, list]] = {d: {name: [] for name in ("decode", "decode_whole", "encode", "end_to_end",
                                                                  "end_to_end_whole", "ratio", "ratio_whole",
                                                                  "timings")} for d in decoders}
    order = random.Random(0)
    for _ in range(args.repeats):
        for decoder in decoders:  # interleaved: every stage of every decoder once per round, in a shuffled order
            stats = rounds[decoder]
            for stage in order.sample(stages, len(stages)):
                if stage == "decode":
                    whole, steady = decode_only(items, spec, args.workers, decoder, args.device)
                    stats["decode_whole"].append(whole)
                    stats["decode"].append(steady)
                elif stage == "encode":
                    stats["encode"].append(encode_only(encoder, views, args.batch_size, threads, args.device))
                else:
                    whole, steady, timings = end_to_end(model, items, spec, args.batch_size, args.workers, decoder)
                    stats["end_to_end_whole"].append(whole)
                    stats["end_to_end"].append(steady)
                    stats["timings"].append(timings)
            stats["ratio"].append(stats["end_to_end"][-1] / min(stats["decode"][-1], stats["encode"][-1]))
            stats["ratio_whole"].append(stats["end_to_end_whole"][-1] / min(stats["decode_whole"][-1],
                                                                             stats["encode"][-1]))

    print(f"config: Base (random weights), {len(items)} clips of {spec.frames}x{spec.resolution}px from 10 s "
          f"{args.clip_size} H.264 (gop {args.gop}), batch {args.batch_size}, {args.workers} decoding workers, encoder on "
          f"{threads} threads ({args.device}), {args.repeats} interleaved rounds; clips/s as median [min..max]; "
          f"steady state: after the first clip (decode-only: decoded; end to end: encoded)")
    for decoder, stats in rounds.items():
        cost = statistics.median(d / e for d, e in zip(stats["decode"], stats["encode"]))
        print(f"{decoder}: decode_only {spread(stats['decode'])} | encode_only {spread(stats['encode'])} "
              f"| end_to_end {spread(stats['end_to_end'])} | encode/decode cost {cost:.2f} "
              f"| overlap {spread(stats['ratio'])}")
        print(f"  {decoder} whole runs (start-up and fill included): decode_only {spread(stats['decode_whole'])} "
              f"| end_to_end {spread(stats['end_to_end_whole'])} | overlap {spread(stats['ratio_whole'])}")
        # Inside the pipeline: did a stage run slower than alone (cores shared), or wait on the other or the disk?
        inside = {name: statistics.median(t[name] for t in stats["timings"])
                  for name in ("decode_s", "encode_s", "wait_s", "write_wait_s", "wall_s", "steady_s")}
        clips = len(items) * spec.num_views
        print(f"  {decoder} in the pipeline (median round): wall {inside['wall_s']:.1f} s, of which steady state "
              f"{inside['steady_s']:.1f} s | encode {inside['encode_s']:.1f} s "
              f"(alone {clips / statistics.median(stats['encode']):.1f} s) | decode {inside['decode_s']:.1f} s "
              f"(alone {clips / statistics.median(stats['decode']) * args.workers:.1f} s of worker time) "
              f"| waiting for decoded clips {inside['wait_s']:.1f} s | waiting on cache writes {inside['write_wait_s']:.1f} s")
    lowest = [min(rounds[d]["ratio"][r] for d in decoders) for r in range(args.repeats)]
    print(f"overlap per round (lowest over decoders): {', '.join(f'{x:.3f}' for x in lowest)}")
    print(f"overlap_ratio: {statistics.median(lowest):.3f}")


if __name__ == "__main__":
    main()
