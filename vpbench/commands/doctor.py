"""`vpbench doctor --task T`: check a task's assets, annotations and videos before a long run.

Lists every asset the task needs besides the dataset (checkpoint, tokenizer, LM, user files,
person detections; ``vpbench.assets``): present or missing, where a user gets it, and what the run
does without it (refuse, a named variant, or a recorded fallback). Then reads the train and eval
splits with the task's real reader, counts samples and the videos found on disk, compares the
counts with ``dataset.official_counts``, optionally decodes a seeded sample of N videos (a few
frames inside each sample's clip), and prints every problem found. The exit code is 1 when the
task cannot run at all (an annotation error, no video of a split on disk, or a missing asset
without which the run refuses) and 0 otherwise; missing videos, count gaps and single decode failures are warnings, because real
downloads always lose some videos. This command only reads: it never writes into the data root
(except that ``--tiny`` first writes the tiny subset into its own cache folder).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from vpbench.assets import Asset, task_assets
from vpbench.commands.cache import parse_size
from vpbench.commands.run import _pairs, resolve_data_root, resolve_user_files
from vpbench.console import plain
from vpbench.datasets import DatasetSplit, read_split
from vpbench.errors import VpbenchError
from vpbench.registry import TaskConfig, load_registry

HELP = "check a task's assets, annotations and videos before a long run"
SHOW_MISSING = 5
"""Missing videos listed by name per split; the rest are counted."""
COUNT_TOLERANCE = 0.02
"""A split smaller than its official count by more than this fraction gets a warning."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--task", required=True, help="task, comma-separated tasks, a family, a group, or 'all'")
    parser.add_argument("--data-root", type=Path, default=None,
                        help="folder holding the datasets (default: $VPBENCH_DATA)")
    parser.add_argument("--decode", type=int, default=0, metavar="N",
                        help="also decode N videos per split, chosen at random (seeded), inside their clip spans")
    parser.add_argument("--user-file", action="append", default=[], metavar="KEY=PATH",
                        help="a file the task needs from the user (see `vpbench show TASK`, dataset.user_files)")
    parser.add_argument("--model", default=None,
                        help="checkpoint the run will use (default: the task's model; see `vpbench run --model`)")
    parser.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                        help="family options that name assets: tokenizer=SOURCE, lm=PATH_OR_HUB_ID")
    parser.add_argument("--tiny", action="store_true", help="write the task's tiny subset first and check that")
    parser.add_argument("--seed", type=int, default=0, help="seed of the tiny subset and of the decode sample")
    parser.add_argument("--feature-budget", default=None, metavar="BYTES",
                        help="the run's feature budget (default 500G): the estimate says which training mode a "
                             "probe run would take under it")
    parser.add_argument("--json", action="store_true", help="machine-readable report on stdout")


@dataclass
class SplitReport:
    split: str
    samples: int = 0
    videos_found: int = 0
    missing: int = 0
    missing_examples: list[str] = field(default_factory=list)
    official: int | None = None
    classes: int = 0
    decoded: int = 0
    decode_failures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class TaskReport:
    task: str
    data_dir: str
    splits: list[SplitReport] = field(default_factory=list)
    problems: list[dict[str, str]] = field(default_factory=list)
    assets: list[dict] = field(default_factory=list)
    cache_estimate: dict | None = None
    """A probe task's feature cache estimate and the training mode it implies (``train_mode.TrainMode.record``)."""

    @property
    def can_run(self) -> bool:
        return not any(p["severity"] == "error" for p in self.problems)

    def problem(self, severity: str, split: str | None, message: str) -> None:
        self.problems.append({"severity": severity, "split": split or "", "message": message})


def run(args: argparse.Namespace) -> int:
    reports = []
    options = _pairs(args.option, "--option")
    budget = None if args.feature_budget is None else parse_size(args.feature_budget, "--feature-budget")
    for task in load_registry().resolve(args.task):
        effective = task.for_tiny() if args.tiny else task
        try:
            data_root, user_files = resolve_data_root(effective, args), resolve_user_files(effective, args)
        except VpbenchError as error:  # e.g. no data root or a missing user file: report, check the rest
            report = TaskReport(task=task.name, data_dir="")
            report.problem("error", None, str(error))
            check_assets(report, effective, model=args.model, options=options, user_files={}, tiny=args.tiny)
            estimate_cache(report, effective, args.model or effective.model, budget)
            reports.append(report)
            continue
        report = check_task(effective, data_root, user_files, decode=args.decode, seed=args.seed, tiny=args.tiny)
        check_assets(report, effective, model=args.model, options=options, user_files=user_files, tiny=args.tiny)
        estimate_cache(report, effective, args.model or effective.model, budget)
        reports.append(report)
    if args.json:
        print(json.dumps([{**asdict(r), "can_run": r.can_run} for r in reports], indent=2))
    else:
        _print(reports)
    return 0 if all(r.can_run for r in reports) else 1


def check_task(task: TaskConfig, data_root: Path, user_files: dict[str, Path], *, decode: int = 0,
               seed: int = 0, tiny: bool = False) -> TaskReport:
    """Read every split the task uses and report what a run would find."""
    report = TaskReport(task=task.name, data_dir=str(Path(data_root) / task.dataset["root"]))
    splits = list(dict.fromkeys(s for s in (task.dataset.get("train_split"), task.dataset["eval_split"]) if s))
    for split in splits:
        entry = SplitReport(split=split, official=None if tiny else task.dataset.get("official_counts", {}).get(split))
        report.splits.append(entry)
        try:
            data = read_split(task, data_root, split, user_files)
        except VpbenchError as error:
            report.problem("error", split, f"cannot read the {split} split: {error}")
            continue
        _count(report, entry, data)
        if decode > 0:
            _decode(report, entry, data, decode, seed)
    return report


def check_assets(report: TaskReport, task: TaskConfig, *, model: str | None, options: dict[str, str],
                 user_files: dict[str, Path], tiny: bool) -> None:
    """Add the task's assets to the report, and a problem for each missing one: an error when the
    run would refuse, a warning when it would download it, run a variant or fall back."""
    for asset in task_assets(task, model=model, options=options, user_files=user_files, tiny=tiny):
        report.assets.append(asset.as_dict())
        if asset.present:
            continue
        report.problem(*_missing_asset(asset))


def estimate_cache(report: TaskReport, task: TaskConfig, model: str, budget: int | None) -> None:
    """A probe task's feature cache estimate (:mod:`vpbench.families.train_mode`) and the mode it implies.

    Items are the videos found per split, or the official counts where none is on disk. Only known
    VideoPrism names are estimated without loading weights; another encoder gets a note.
    """
    from vpbench.families import train_mode

    if task.family != "probe":
        return
    card = train_mode.zoo_card(model)
    if card is None:
        report.cache_estimate = {"model": model, "note": "no estimate: only known VideoPrism names are estimated "
                                                         "without loading weights (a run records its own)"}
        return
    counts, source = {}, {}
    official = task.dataset.get("official_counts", {})
    for role in ("train", "eval"):
        name = task.dataset.get(f"{role}_split")
        found = next((s.videos_found for s in report.splits if s.split == name), 0)
        counts[role] = found or official.get(name, 0)
        source[role] = "videos found" if found else "official count"
    mode = train_mode.choose(None, train_mode.estimate_cache(task, counts, card), budget)
    report.cache_estimate = {**mode.record(), "model": model, "items_from": source}


def _missing_asset(asset: Asset) -> tuple[str, str | None, str]:
    where = "; ".join(asset.sources)
    what = f"{asset.kind} '{asset.key}' is missing (get it: {where})"
    if asset.without.startswith("refuse"):
        return "error", None, f"{what}: the run would refuse" + (". " + " ".join(asset.notes) if asset.notes else "")
    if asset.without.startswith("variant "):
        return "warning", None, f"{what}: the run would run variant '{asset.without[8:]}' instead"
    if asset.without.startswith("fallback:"):
        return "warning", None, f"{what}: the run falls back ({asset.without[9:].strip()})"
    return "warning", None, f"{what}: {asset.without}" + (f" (`vpbench download` fetches it)" if asset.fetch else "")


def _count(report: TaskReport, entry: SplitReport, data: DatasetSplit) -> None:
    entry.samples, entry.videos_found = len(data.samples), len(data.available)
    entry.missing, entry.classes, entry.notes = len(data.missing), len(data.class_names), list(data.notes)
    entry.missing_examples = [str(m.expected_path) for m in data.missing[:SHOW_MISSING]]
    split = entry.split
    files = len({m.expected_path for m in data.missing})
    if entry.samples == 0:
        report.problem("error", split, "the annotations list no sample")
    elif entry.videos_found == 0:
        report.problem("error", split, f"no video of the {entry.samples} samples is on disk ({files} files; "
                                       f"first expected at {entry.missing_examples[0]})")
    elif entry.missing:
        report.problem("warning", split, f"{entry.missing} of {entry.samples} samples "
                                         f"({100 * entry.missing / entry.samples:.1f}%) have no video on disk "
                                         f"({files} files missing); a run skips and counts them")
    if entry.official and entry.samples < entry.official * (1 - COUNT_TOLERANCE):
        report.problem("warning", split, f"{entry.samples} samples in the annotations, the official split has "
                                         f"{entry.official}: numbers will not be comparable to the paper's")
    elif entry.official and entry.samples > entry.official * (1 + COUNT_TOLERANCE):
        report.problem("warning", split, f"{entry.samples} samples, more than the official {entry.official}: "
                                         f"is this the right annotation file?")


def _decode(report: TaskReport, entry: SplitReport, data: DatasetSplit, count: int, seed: int) -> None:
    """Decode the first, middle and last frame of each sampled clip with the run's own decoder."""
    from vpbench.video import clip_range, open_source

    available = data.available
    chosen = np.random.default_rng(seed).choice(len(available), size=min(count, len(available)), replace=False)
    for index in sorted(chosen):
        sample = available[index]
        try:
            source = open_source(sample.video_path)
            start, end = clip_range(source.num_frames, source.fps, sample.clip_span_s, sample.frame_span)
            # A centred clip may start before frame 0 (the sampler repeats frame 0 there).
            frames = source.read(np.array(sorted({max(i, 0) for i in (start, (start + end - 1) // 2, end - 1)})))
            if frames.ndim != 4 or frames.shape[-1] != 3:
                raise ValueError(f"decoder returned shape {frames.shape}")
            entry.decoded += 1
        except (VpbenchError, ValueError) as error:
            entry.decode_failures.append(f"{sample.sample_id}: {error}")
    if entry.decode_failures:
        severity = "error" if entry.decoded == 0 else "warning"
        report.problem(severity, entry.split, f"{len(entry.decode_failures)} of {len(chosen)} sampled videos failed "
                                              f"to decode, e.g. {entry.decode_failures[0]}")


def _print(reports: list[TaskReport]) -> None:
    from rich.console import Console
    from rich.table import Table

    from vpbench.console import plain

    console = Console()
    for report in reports:
        if report.splits:
            table = Table(title=f"{report.task}  ({plain(report.data_dir)})", title_justify="left")
            for column in ("split", "samples", "videos found", "missing", "official", "classes", "decoded"):
                table.add_column(column, justify="left" if column == "split" else "right")
            for s in report.splits:
                decoded = f"{s.decoded}/{s.decoded + len(s.decode_failures)}" if s.decoded or s.decode_failures else "-"
                table.add_row(s.split, str(s.samples), str(s.videos_found), str(s.missing),
                              "-" if s.official is None else str(s.official), str(s.classes), decoded)
            console.print(table)
        _print_assets(console, report)
        for s in report.splits:
            for note in s.notes:
                console.print(f"  [dim]{s.split}: {plain(note)}[/]", highlight=False)
            for path in s.missing_examples:
                console.print(f"  [dim]{s.split}: missing {plain(path)}[/]", highlight=False)
            if s.missing > len(s.missing_examples):
                console.print(f"  [dim]{s.split}: ... and {s.missing - len(s.missing_examples)} more missing[/]")
        for p in report.problems:
            style = "bold red" if p["severity"] == "error" else "yellow"
            console.print(f"  [{style}]{p['severity']}[/] {p['split']}: {plain(p['message'])}", highlight=False,
                          soft_wrap=True)
        if report.cache_estimate:
            _print_estimate(console, report)
        verdict = "[green]ready to run[/]" if report.can_run else "[bold red]cannot run[/]"
        console.print(f"  {report.task}: {verdict}" + ("" if report.problems else " (no problem found)"))


def _print_estimate(console, report: TaskReport) -> None:
    from vpbench.families.train_mode import format_bytes

    estimate = report.cache_estimate
    if "note" in estimate:
        console.print(plain(f"  feature cache of a cached run on {estimate['model']}: {estimate['note']}"),
                      highlight=False, soft_wrap=True)
        return
    cache = estimate["cache_estimate"]
    parts = ", ".join(f"{s['role']} {s['items']} items ({estimate['items_from'][s['role']]}) x {s['views']} views"
                      for s in cache["splits"])
    shape = "x".join(str(d) for d in cache["view_shape"])
    console.print(plain(f"  feature cache of a cached run on {estimate['model']}: {format_bytes(cache['bytes'])} "
                        f"({parts}; {cache['layout']} {shape} {cache['dtype']} = "
                        f"{format_bytes(cache['splits'][0]['bytes_per_view'])} a view)"), highlight=False,
                  soft_wrap=True)
    console.print(plain(f"  training mode: {estimate['mode']} ({estimate['reason']})"), highlight=False,
                  soft_wrap=True)


def _print_assets(console, report: TaskReport) -> None:
    from rich.table import Table

    table = Table(title=f"{report.task}: assets", title_justify="left")
    for column in ("kind", "asset", "here", "where to get it", "without it"):
        table.add_column(column)
    for asset in report.assets:
        here = {True: "[green]present[/]", False: "[red]missing[/]"}.get(asset["present"], "?")
        table.add_row(asset["kind"], plain(asset["key"]),
                      here + (f"\n{plain(asset['location'])}" if asset["location"] else ""),
                      plain("\n".join(asset["sources"])), plain(asset["without"]))
    console.print(table)
