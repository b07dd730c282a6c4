"""`vpbench extract`: features for videos named on the command line or in a list file.

Decodes, runs the encoder, and writes one array per video (``<out>/<id>.npy`` or
``.safetensors``) plus ``<out>/extraction.json`` (settings, counts, skipped videos by reason,
timings). Everything goes through the feature cache, so a second run, or a run restarted after
a crash, only computes what is missing. Under ``torchrun`` each rank extracts its share of the
list and writes its own outputs; rank 0 writes the summary. See vpbench/features/README.md.

List file: one video per line, either ``PATH``, ``PATH<TAB>START_S<TAB>END_S``, or a JSON object
``{"id", "path", "start_s", "end_s", "start_frame", "end_frame", "fps"}`` (only ``path``
required). Relative paths are relative to the list file. ``#`` starts a comment line.

It must never let two ids write the same output file: clashing names are refused before any
work starts.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

from vpbench.commands.options import integer, number
from vpbench.errors import VpbenchError
from vpbench.video.readers import DECODERS, DEFAULT_DECODER

HELP = "extract features (tokens or embeddings) for videos"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("videos", nargs="*", type=Path, help="video files or frame folders")
    parser.add_argument("--list", type=Path, help="file with one video per line: PATH, PATH<TAB>START_S<TAB>END_S, or a JSON object with "
                             "path and optional id, start_s, end_s, start_frame, end_frame, fps (paths relative to the file)")
    parser.add_argument("--model", default="videoprism-b", help="model name or checkpoint path (default: videoprism-b)")
    parser.add_argument("--frames", type=integer(1), default=None, help="frames per clip (default: the model's)")
    parser.add_argument("--resolution", type=integer(1), default=None, help="square input size (default: the model's)")
    parser.add_argument("--policy", choices=("uniform", "stride", "fps"), default="uniform",
                        help="frame sampling: spread over the clip, every Nth frame, or at a frame rate")
    parser.add_argument("--stride", type=integer(1), default=1, help="frame step for --policy stride")
    parser.add_argument("--fps", type=number(0, inclusive=False), default=None, help="target frame rate for --policy fps")
    parser.add_argument("--temporal-views", type=integer(1), default=1, help="clips per video")
    parser.add_argument("--spatial-views", type=integer(1), default=1, help="crops per clip (3: left, centre, right)")
    parser.add_argument("--resize", choices=("short_side", "squash"), default="short_side",
                        help="shorter side to the resolution then crop (default), or squash the frame square")
    parser.add_argument("--layout", choices=("auto", "tokens", "frame_pooled", "global", "embedding"), default="auto",
                        help="what to keep per clip (auto: embedding for video-text models, else tokens)")
    parser.add_argument("--dtype", choices=("float32", "float16", "bfloat16"), default="float32",
                        help="storage dtype of cached features")
    parser.add_argument("--precision", choices=("fp32", "bf16", "fp16"), default="fp32", help="encoder precision")
    parser.add_argument("--out", type=Path, default=Path("features"), help="output folder (default: ./features)")
    parser.add_argument("--format", choices=("npy", "safetensors"), default="npy", help="output file format")
    parser.add_argument("--batch-size", type=integer(1), default=8, help="clips per encoder call")
    parser.add_argument("--workers", type=integer(0), default=2, help="decoding worker processes (0: decode in-process)")
    parser.add_argument("--strict", action="store_true", help="stop at the first bad video instead of skipping it")
    parser.add_argument("--decoder", choices=DECODERS, default=DEFAULT_DECODER,
                        help="video decoder: decord, torchcodec (CPU) or torchcodec:cuda (NVDEC); part of the cache key")
    parser.add_argument("--timeout", type=number(0, inclusive=False), default=120.0, help="seconds before a hung decode is abandoned")
    parser.add_argument("--cache-dir", type=Path, default=None,
                        help="feature cache (default: $VPBENCH_CACHE/features or ~/.cache/vpbench/features)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (torchrun: one GPU per rank)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--json", action="store_true", help="print the extraction summary as JSON on stdout")


def run(args: argparse.Namespace) -> int:
    from vpbench.features import distributed

    items = _items(args.videos, args.list)
    names = _output_names(items, args.format)
    device = distributed.init_from_env(args.device)
    try:
        _extract(args, items, names, device)
    except BaseException:
        distributed.finish(ok=False)
        raise
    distributed.finish()
    return 0


def _extract(args: argparse.Namespace, items, names: dict[str, str], device: str) -> None:
    import vpbench
    from vpbench.features import FeatureCache, distributed, extract_features
    from vpbench.video import SamplingSpec

    model = vpbench.load_model(args.model, device=device, precision=args.precision)
    spec = SamplingSpec(
        frames=getattr(model, "num_frames", 16) if args.frames is None else args.frames,
        resolution=getattr(model, "image_size", 288) if args.resolution is None else args.resolution,
        policy=args.policy,
        stride=args.stride,
        fps=args.fps,
        temporal_views=args.temporal_views,
        spatial_views=args.spatial_views,
        resize=args.resize,
    )
    layout = args.layout
    if layout == "auto":
        layout = "embedding" if "embedding" in model.card.outputs else "tokens"
    result = extract_features(
        model, items, spec, layout, FeatureCache(args.cache_dir),
        batch_size=args.batch_size, workers=args.workers, strict=args.strict, progress=not args.no_progress,
        dtype=args.dtype, timeout_s=args.timeout, decoder=args.decoder,
    )
    rank, world = distributed.rank_and_world()
    written = _write_outputs(result.features, distributed.shard(items, rank, world), names, args.out)
    summary = {"model": args.model, "out": str(args.out), **result.to_json(), "files": _all_files(written)}
    if rank == 0:
        from vpbench.atomic import atomic_write_json

        atomic_write_json(args.out / "extraction.json", summary)
        _report(summary, args.json)


def _items(videos: list[Path], list_file: Path | None):
    from vpbench.features import WorkItem

    items, where = [], {}
    for video in videos:
        if str(video) in where:
            raise VpbenchError(f"video {video} is given twice on the command line")
        where[str(video)] = "the command line"
        items.append(WorkItem(str(video), str(video)))
    for line, item in _read_list(list_file) if list_file is not None else []:
        if item.item_id in where:
            raise VpbenchError(f"{list_file}, line {line}: id {item.item_id!r} is already used at {where[item.item_id]} "
                               "(ids name the output files; give unique ids in a JSON list line)")
        where[item.item_id] = f"line {line}"
        items.append(item)
    if not items:
        raise VpbenchError("no videos: give video paths or --list FILE")
    return items


def _read_list(list_file: Path) -> list[tuple[int, "WorkItem"]]:
    """(line number, item) for every entry of a ``--list`` file."""
    from vpbench.features import WorkItem
    from vpbench.textio import read_text

    text = read_text(list_file, what="a --list file (one video per line)")
    items = []
    for number, line in enumerate(text.replace("\r\n", "\n").split("\n"), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        where = f"{list_file}, line {number}"
        try:
            if line.lstrip().startswith("{"):
                row = json.loads(line)
                if not isinstance(row, dict):
                    raise ValueError("expected a JSON object with 'path'")
                path = str(list_file.parent / row["path"])
                start, end = row.get("start_s"), row.get("end_s")
                first, last = row.get("start_frame"), row.get("end_frame")
                items.append((number, WorkItem(
                    str(row.get("id") or _default_id(row["path"], start, end, first, last)), path,
                    clip_span_s=None if start is None else (start, end),
                    frame_span=None if first is None else (first, last), fps=row.get("fps"),
                )))
                continue
            fields = line.split("\t")
            if len(fields) not in (1, 3):
                raise ValueError(f"expected PATH or PATH<TAB>START_S<TAB>END_S, got {len(fields)} tab-separated fields")
            span = (float(fields[1]), float(fields[2])) if len(fields) == 3 else None
            items.append((number, WorkItem(_default_id(fields[0], *(span or (None, None))),
                                           str(list_file.parent / fields[0]), clip_span_s=span)))
        except (ValueError, KeyError, TypeError, VpbenchError) as error:
            detail = f"missing field {error}" if isinstance(error, KeyError) else str(error)
            raise VpbenchError(f"{where}: {detail}") from None
    return items


def _default_id(path: str, start=None, end=None, first=None, last=None) -> str:
    if start is not None:
        return f"{path}@{start}-{end}s"
    if first is not None:
        return f"{path}@{first}-{last}f"
    return path


def _file_name(item_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9._@-]+", "_", item_id).strip("._") or "item"


def _output_names(items, fmt: str) -> dict[str, str]:
    """Output file name per id, checked before any work: two ids must not share a file."""
    names: dict[str, str] = {}
    owners: dict[str, str] = {}
    for item in items:
        name = f"{_file_name(item.item_id)}.{fmt}"
        if name in owners:
            raise VpbenchError(
                f"ids {owners[name]!r} and {item.item_id!r} both map to output file {name}; "
                "give unique ids in a JSON list file"
            )
        owners[name] = item.item_id
        names[item.item_id] = name
    return names


def _write_outputs(features, items, names: dict[str, str], out: Path) -> dict[str, str]:
    """Write this rank's arrays (atomically; arrays never pickled)."""
    import numpy as np
    from safetensors.numpy import save

    from vpbench.atomic import atomic_write, atomic_write_bytes

    written = {}
    for item in items:
        if item.item_id not in features:
            continue
        array = features[item.item_id]
        target = out / names[item.item_id]
        if target.suffix == ".npy":
            atomic_write(target, lambda f, a=array: np.save(f, a, allow_pickle=False))
        else:
            atomic_write_bytes(target, save({"features": array}, metadata={"id": item.item_id}))
        written[item.item_id] = target.name
    return written


def _all_files(written: dict[str, str]) -> dict[str, str]:
    from vpbench.features import distributed

    merged: dict[str, str] = {}
    for part in distributed.all_gather(written):
        merged.update(part)
    return merged


def _report(summary: dict, as_json: bool) -> None:
    if as_json:
        print(json.dumps(summary, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    from vpbench.console import plain

    table = Table(title=f"vpbench extract -> {plain(summary['out'])}", show_header=False)
    for name in ("items", "extracted", "cache_hits", "cache_misses", "cache_recomputed", "skipped"):
        table.add_row(name, str(summary[name]))
    for reason, count in summary["cache_recomputed_by_reason"].items():
        table.add_row(f"  recomputed: {reason}", str(count))
    for reason, count in summary["skipped_by_reason"].items():
        table.add_row(f"  skipped: {reason}", str(count))
    table.add_row("wall time", f"{summary['timings']['wall_s']:.1f} s")
    Console(stderr=True).print(table)
    for skipped in summary["skipped_items"][:20]:
        Console(stderr=True).print(f"[yellow]skipped[/] {plain(skipped['path'])}: {skipped['reason']} "
                                   f"{plain(skipped['detail'])}", highlight=False, soft_wrap=True)

