"""`vpbench cache info|prune`: what the feature cache holds, and freeing its space.

``info`` lists one row per settings group (model, layout, frames, resolution, views, dtype),
with entries, size and last use. ``prune`` deletes entries of chosen groups, entries unused
for N days, or the least recently used ones until the cache fits a size; stale temp files of
killed writers always go. Pruning only ever costs recomputation, never a wrong feature.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from pathlib import Path

from vpbench.commands.options import number
from vpbench.errors import VpbenchError

HELP = "inspect or prune the feature cache"

_MIN_PREFIX = 4
_UNITS = {"": 1, "k": 1e3, "m": 1e6, "g": 1e9, "t": 1e12}
_DTYPES = {"float32": "f32", "float16": "f16", "bfloat16": "bf16"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=("info", "prune"), help="info: what the cache holds; prune: free space")
    parser.add_argument("--cache-dir", type=Path, default=None,
                        help="feature cache (default: $VPBENCH_CACHE/features or ~/.cache/vpbench/features)")
    parser.add_argument("--older-than", type=number(0), default=None, metavar="DAYS",
                        help="prune: delete entries not used for DAYS days")
    parser.add_argument("--max-size", default=None, metavar="SIZE",
                        help="prune: delete least recently used entries until the cache holds at most SIZE (e.g. 50G)")
    parser.add_argument("--group", action="append", default=[], metavar="DIGEST", type=_digest_prefix,
                        help=f"prune: delete every entry of the one group whose digest starts with DIGEST "
                             f"(at least {_MIN_PREFIX} hex digits, see info)")
    parser.add_argument("--all", action="store_true", help="prune: delete every entry")
    parser.add_argument("--dry-run", action="store_true", help="prune: only report what would be deleted")
    parser.add_argument("--json", action="store_true", help="print JSON on stdout")


def run(args: argparse.Namespace) -> int:
    from vpbench.features import FeatureCache

    cache = FeatureCache(args.cache_dir)
    if args.action == "info":
        _info(cache, args.json)
        return 0
    _check_groups(cache, args.group)
    report = cache.prune(
        older_than_s=None if args.older_than is None else args.older_than * 86400,
        max_bytes=None if args.max_size is None else parse_size(args.max_size),
        digest_prefixes=tuple(args.group),
        everything=args.all,
        dry_run=args.dry_run,
    )
    summary = {"cache": str(cache.root), "dry_run": args.dry_run, "files": report.files, "bytes": report.bytes,
               "groups_removed": report.groups_removed, "stores_removed": report.stores_removed}
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        from rich.console import Console

        from vpbench.console import plain

        verb = "would delete" if args.dry_run else "deleted"
        stores = f", {report.stores_removed} training store(s) among them" if report.stores_removed else ""
        Console(stderr=True).print(f"{verb} {report.files} files ({_size(report.bytes)}{stores}) in "
                                   f"{plain(cache.root)}", highlight=False)
    return 0


def _digest_prefix(text: str) -> str:
    """A settings-group digest prefix: hex digits only, long enough to name one group."""
    prefix = text.strip().lower()
    if not re.fullmatch(f"[0-9a-f]{{{_MIN_PREFIX},64}}", prefix):
        raise argparse.ArgumentTypeError(f"expected at least {_MIN_PREFIX} hex digits of a group digest "
                                         f"(`vpbench cache info` lists them), got {text!r}")
    return prefix


def _check_groups(cache, prefixes: list[str]) -> None:
    """Each ``--group`` prefix must name exactly one settings group: never a guess, never several."""
    digests = [group.digest for group in cache.groups()]
    for prefix in prefixes:
        matches = [digest for digest in digests if digest.startswith(prefix)]
        if len(matches) != 1:
            found = "no group" if not matches else f"{len(matches)} groups ({', '.join(m[:12] for m in matches)})"
            raise VpbenchError(f"--group {prefix}: matches {found} in {cache.root}; give a prefix of exactly one "
                               "digest from `vpbench cache info`")


def parse_size(text: str, flag: str = "--max-size") -> int:
    """Bytes of a size such as ``500M``, ``50G`` or ``1.5T`` (decimal units); the error names ``flag``."""
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([kmgtKMGT]?)i?[bB]?\s*", text)
    if not match:
        raise VpbenchError(f"{flag} {text!r}: expected a size such as 500M, 50G or 1T")
    return int(float(match.group(1)) * _UNITS[match.group(2).lower()])


def _info(cache, as_json: bool) -> None:
    groups = cache.groups()
    rows = [
        {
            "digest": g.digest[:12],
            "model": str(g.settings.get("model", "?"))[:12],
            "layout": g.settings.get("layout", "?"),
            "frames": g.settings.get("spec", {}).get("frames", "?"),
            "resolution": g.settings.get("spec", {}).get("resolution", "?"),
            "views": _views(g.settings.get("spec", {})),
            "dtype": g.settings.get("dtype", "?"),
            "entries": g.entries,
            "bytes": g.bytes,
            "last_used": None if g.last_used is None else time.strftime("%Y-%m-%d %H:%M", time.localtime(g.last_used)),
            "path": str(g.path),
        }
        for g in groups
    ]
    stores = [{"path": str(s.path), "files": s.files, "bytes": s.bytes,
               "last_used": time.strftime("%Y-%m-%d %H:%M", time.localtime(s.last_used))} for s in cache.stores()]
    if as_json:
        print(json.dumps({"cache": str(cache.root), "groups": rows, "stores": stores}, indent=2))
        return
    from rich import box
    from rich.console import Console
    from rich.table import Table

    from vpbench.console import plain

    table = Table(title=f"feature cache {plain(cache.root)}: {sum(r['entries'] for r in rows)} entries, "
                        f"{_size(sum(r['bytes'] for r in rows))}; {len(stores)} training store(s), "
                        f"{_size(sum(s['bytes'] for s in stores))}", box=box.SIMPLE, pad_edge=False)
    for column in ("group", "model", "layout", "clip", "dtype", "items", "size", "last used"):
        table.add_column(column, justify="right" if column in ("items", "size") else "left", no_wrap=True)
    for r in rows:
        table.add_row(r["digest"][:6], r["model"][:6], r["layout"], f"{r['frames']}x{r['resolution']}px {r['views']}",
                      _DTYPES.get(r["dtype"], r["dtype"]), str(r["entries"]), _size(r["bytes"]),
                      r["last_used"][5:] if r["last_used"] else "-")
    Console().print(table)


def _views(spec: dict) -> str:
    return f"{spec.get('temporal_views', '?')}x{spec.get('spatial_views', '?')}"


def _size(count: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if count < 1000:
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1000
    return f"{count:.1f} TB"
