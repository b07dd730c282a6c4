"""`vpbench download --task T`: fetch what a task needs besides its dataset, where there is network.

The checkpoint (official ``.npz``, or with ``--format transformers`` the transformers-format copy of
the same weights), the text vocabulary of zero-shot tasks and the causal LM of captioning/QA go
into the Hugging Face cache (the vocabulary, from its KerasHub source, into the kagglehub cache),
with the hub library's progress bars. A later run with ``HF_HUB_OFFLINE=1`` finds them there, on
this machine or on one the caches are copied to. Files only a user can supply (id lists, class
lists, detections) are listed with their sources. With ``HF_HUB_OFFLINE`` set the command refuses
at once: it exists to use the network.
"""

from __future__ import annotations

import argparse

from vpbench.assets import LM_PATTERNS, Asset, checkpoint_asset, task_assets
from vpbench.commands.run import _pairs
from vpbench.errors import VpbenchError
from vpbench.models import hub
from vpbench.registry import load_registry

HELP = "fetch the checkpoint, tokenizer and LM tasks need into the Hugging Face cache (online)"
FETCHED_KINDS = ("checkpoint", "tokenizer", "lm")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--task", default=None, help="task, comma-separated tasks, a family, a group, or 'all'")
    parser.add_argument("--model", default=None,
                        help="checkpoint to fetch instead of the task's (a known name or hf:OWNER/REPO[@REVISION])")
    parser.add_argument("--format", choices=("npz", "transformers"), default="npz",
                        help="for a known name: the official .npz (default) or the transformers-format copy")
    parser.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                        help="family options that name assets: tokenizer=SOURCE, lm=HUB_ID")


def run(args: argparse.Namespace) -> int:
    if hub.offline():
        raise VpbenchError(f"vpbench download needs the network, but HF_HUB_OFFLINE is set: run it where there is "
                           f"network without HF_HUB_OFFLINE, then copy the Hugging Face cache ({hub.cache_dir()}) here")
    if args.task is None and args.model is None:
        raise VpbenchError("vpbench download: name what to fetch with --task T and/or --model NAME")
    options = _pairs(args.option, "--option")
    assets: dict[tuple[str, str], Asset] = {}
    if args.task is not None:
        for task in load_registry().resolve(args.task):
            for asset in task_assets(task, model=args.model, options=options):
                assets.setdefault((asset.kind, asset.key), asset)
    else:
        asset = checkpoint_asset(args.model)
        assets[(asset.kind, asset.key)] = asset
    rows, failed = [], 0
    for asset in assets.values():
        if asset.kind not in FETCHED_KINDS:
            rows.append((asset.kind, asset.key, "[yellow]not downloadable[/]", "get it: " + "; ".join(asset.sources)))
            continue
        if asset.fetch is None:
            rows.append((asset.kind, asset.key, "[green]present[/]", asset.location or asset.sources[0]))
            continue
        try:
            rows.append((asset.kind, asset.key, "[green]fetched[/]", str(fetch(asset, args.format))))
        except VpbenchError as error:
            failed += 1
            rows.append((asset.kind, asset.key, "[bold red]failed[/]", str(error)))
    _print(rows)
    return 1 if failed else 0


def fetch(asset: Asset, checkpoint_format: str = "npz"):
    """Download one asset (or find it already cached); returns its local path."""
    from vpbench.models import tokenizer, zoo

    if asset.kind == "checkpoint":
        entry = zoo.MODELS.get(asset.fetch)
        if entry is not None and checkpoint_format == "transformers":
            if entry.transformers_spec is None:
                raise VpbenchError(f"{entry.name} has no transformers-format copy")
            return zoo.resolve_transformers_checkpoint(entry.transformers_spec, local_only=False)
        if entry is not None:
            return zoo.resolve_checkpoint(entry.name, local_only=False)
        return zoo.resolve_transformers_checkpoint(asset.fetch, local_only=False)
    if asset.kind == "tokenizer":
        return tokenizer.resolve_spm_path(asset.fetch, local_only=False)
    try:
        return hub.snapshot(hub.HubRef(asset.fetch), LM_PATTERNS, local_only=False)
    except hub.HubUnavailable as exc:
        raise VpbenchError(f"causal LM {asset.fetch}: {exc.reason}") from exc


def _print(rows: list[tuple[str, str, str, str]]) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    table = Table(title="vpbench download", title_justify="left")
    for column in ("kind", "asset", "status", "where"):
        table.add_column(column)
    for kind, key, status, where in rows:
        table.add_row(kind, escape(key), status, escape(where))
    Console().print(table)
