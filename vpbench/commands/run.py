"""`vpbench run --task T`: read → extract → adapt → score → one result JSON per task.

With ``--tiny`` the task runs on its tiny synthetic subset (written on first use under
``$VPBENCH_CACHE/tiny/<task>``) and a tiny random-weight checkpoint in the official format, so the
full code path runs anywhere in seconds. A task that fails is reported and the others go on; the
exit code is non-zero if any failed. A failure vpbench did not foresee (a bug) is reported the
same way, in one line, with its traceback in ``<output>/logs/``. No result is ever written for
a task that did not finish.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from vpbench.commands.cache import parse_size
from vpbench.commands.options import integer
from vpbench.console import plain, print_error, stderr_console
from vpbench.errors import VpbenchError
from vpbench.registry import TaskConfig, load_registry
from vpbench.video.readers import DECODERS, DEFAULT_DECODER

HELP = "run tasks end to end and write result JSONs"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--task", required=True,
                        help="task, comma-separated tasks, a family, a benchmark group, or 'all'")
    parser.add_argument("--model", default=None,
                        help="model name (videoprism-b, videoprism-lvt-b, ...) or checkpoint path; "
                             "default: the task's model")
    parser.add_argument("--data-root", type=Path, default=None,
                        help="folder holding the datasets (default: $VPBENCH_DATA)")
    parser.add_argument("--output", type=Path, default=Path("results"), help="where result JSONs go")
    parser.add_argument("--limit", type=integer(1), default=None, help="at most N samples per split")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tiny", action="store_true",
                        help="run on the built-in tiny subset and a tiny random-weight checkpoint")
    parser.add_argument("--variant", default=None,
                        help="a named protocol variant of the task(s) (see `vpbench show TASK`); results say so "
                             "and the leaderboard never compares them with the paper's number")
    parser.add_argument("--user-file", action="append", default=[], metavar="KEY=PATH",
                        help="a file the task needs from the user (see `vpbench show TASK`, dataset.user_files)")
    parser.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                        help="family option, e.g. tokenizer=PATH, lm=PATH, prompts=PATH")
    parser.add_argument("--batch-size", type=integer(1), default=8)
    parser.add_argument("--workers", type=integer(0), default=2, help="decoding worker processes")
    parser.add_argument("--decoder", choices=DECODERS, default=DEFAULT_DECODER,
                        help="video decoder: decord, torchcodec (CPU) or torchcodec:cuda (NVDEC); part of the cache key")
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda if available)")
    parser.add_argument("--cache-dir", type=Path, default=None, help="feature cache (default: $VPBENCH_CACHE)")
    parser.add_argument("--strict", action="store_true", help="stop at the first bad video instead of skipping it")
    parser.add_argument("--train-mode", choices=("cached", "streaming"), default=None,
                        help="how a probe head trains: on cached features, or with the frozen encoder in the loop "
                             "(decode, augment, encode every epoch; nothing cached). Default: streaming when the "
                             "cache a cached run needs is above --feature-budget")
    parser.add_argument("--feature-budget", default=None, metavar="BYTES",
                        help="largest feature cache a run may build, e.g. 500G (default 500G); `vpbench doctor` "
                             "prints each task's estimate")
    parser.add_argument("--json", action="store_true", help="print the result JSON paths as JSON")


def run(args: argparse.Namespace) -> int:
    from vpbench.families import RunContext, run_task
    from vpbench.results import build_result, write_result

    console = stderr_console()
    tasks = load_registry().resolve(args.task)
    if args.variant is not None:
        lacking = [task.name for task in tasks if args.variant not in task.variants]
        if lacking:
            raise VpbenchError(f"--variant {args.variant}: not a variant of {', '.join(lacking)} "
                               f"(`vpbench show TASK` lists a task's variants)")
    budget = None if args.feature_budget is None else parse_size(args.feature_budget, "--feature-budget")
    if args.train_mode is not None:
        others = [task.name for task in tasks if task.family != "probe"]
        if others:
            raise VpbenchError(f"--train-mode {args.train_mode}: only probe tasks choose how their head trains; "
                               f"not {', '.join(others)}")
    device, rank = _join_ranks(args.device)
    written, failed = [], []
    for task in tasks:
        started = time.perf_counter()
        try:
            effective = task.with_variant(args.variant or variant_for_missing_files(task, args, console))
            effective = effective.for_tiny() if args.tiny else effective
            context = RunContext(
                data_root=resolve_data_root(effective, args), output_dir=args.output / "predictions" / task.name,
                model=args.model or effective.model,
                seed=args.seed, limit=args.limit, tiny=args.tiny, user_files=resolve_user_files(effective, args),
                cache_dir=args.cache_dir, batch_size=args.batch_size, workers=args.workers,
                decoder=args.decoder,
                device=device, strict=args.strict, options=_pairs(args.option, "--option"),
                train_mode=args.train_mode, feature_budget=budget,
            )
            console.rule(f"[bold]{task.name}[/] ({task.family})")
            record = run_task(effective, context)
            record.timings_s.setdefault("total", round(time.perf_counter() - started, 3))
            result = build_result(effective, record, seed=args.seed, tiny=args.tiny)
            if rank:  # under torchrun every rank ran the task on its shard; rank 0 writes the result
                continue
            list_left_out(result, args.output)
            path = write_result(args.output, result)
        except VpbenchError as error:
            print_error(f"{task.name} failed:", error, console)
            failed.append({"task": task.name, "error": str(error)})
            continue
        except Exception as error:  # a bug: keep its traceback, go on with the other tasks
            log = _write_traceback(args.output, task.name)
            print_error(f"{task.name} failed unexpectedly:", f"{type(error).__name__}: {error} (traceback: {log})",
                        console)
            failed.append({"task": task.name, "error": f"{type(error).__name__}: {error}", "traceback": str(log)})
            continue
        written.append(str(path))
        _print_summary(console, task, result, path)
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        from vpbench.features import distributed

        distributed.finish(ok=not failed)
    if args.json and not rank:
        import json

        print(json.dumps({"results": written, "failed": failed}, indent=2))
    if failed:
        print_error(f"{len(failed)} of {len(tasks)} task(s) failed:", ", ".join(f["task"] for f in failed), console)
        return 1
    return 0


def variant_for_missing_files(task: TaskConfig, args: argparse.Namespace, console) -> str | None:
    """The named variant a run falls back to when a user file declared ``without: variant NAME`` is
    not given (the tiny suite ships every user file its tasks need); said on screen, recorded as the
    result's variant, so it is never compared with the paper's number."""
    if args.tiny:
        return None
    given = _pairs(args.user_file, "--user-file")
    for key, spec in task.user_file_specs().items():
        if spec.variant and key not in given:
            console.print(plain(f"{task.name}: no --user-file {key} ({spec.describe()}); running the named "
                                 f"variant '{spec.variant}' instead"), style="yellow", highlight=False)
            return spec.variant
    return None


LEFT_OUT_LISTED = 100
"""Items left out (missing video, undecodable...) listed by id in a result; all of them go to a side file."""


def list_left_out(result: dict, output: Path) -> None:
    """Cap ``extra.left_out.items`` at :data:`LEFT_OUT_LISTED` and write the full list beside the
    result (``<result name>.left_out.json``), so a result stays small however much is missing."""
    from vpbench.atomic import atomic_write_json
    from vpbench.results import result_filename

    left_out = result.get("extra", {}).get("left_out")
    if not left_out:
        return
    name = result_filename(result).removesuffix(".json") + ".left_out.json"
    atomic_write_json(Path(output) / name, {"task": result["task"], "count": left_out["count"],
                                            "items": left_out["items"]})
    left_out.update(items=left_out["items"][:LEFT_OUT_LISTED], listed=min(LEFT_OUT_LISTED, left_out["count"]),
                    file=name)


def _write_traceback(output: Path, task_name: str) -> Path:
    """The current exception's traceback in ``<output>/logs/<task>-<time>.log``; returns the path."""
    import traceback

    from vpbench.atomic import atomic_write_text

    stamp = time.strftime("%Y%m%d-%H%M%S")
    return atomic_write_text(Path(output) / "logs" / f"{task_name}-{stamp}-{os.getpid()}.log", traceback.format_exc())


def resolve_data_root(task: TaskConfig, args: argparse.Namespace) -> Path:
    """The data root from --tiny (the task's tiny subset, written on first use), --data-root or $VPBENCH_DATA."""
    if args.tiny:
        from vpbench.tiny import default_tiny_root, make_tiny

        return make_tiny(task, default_tiny_root() / task.name, seed=args.seed)
    root = args.data_root or (Path(os.environ["VPBENCH_DATA"]) if os.environ.get("VPBENCH_DATA") else None)
    if root is None:
        raise VpbenchError("no data root: pass --data-root DIR or set VPBENCH_DATA "
                           "(or use --tiny for the built-in tiny subset)")
    if not root.is_dir():
        raise VpbenchError(f"data root {root} is not a directory")
    return root


def resolve_user_files(task: TaskConfig, args: argparse.Namespace) -> dict[str, Path]:
    """``--user-file KEY=PATH`` pairs, checked against the task's declared user files (tiny subsets ship theirs)."""
    given = {key: Path(value) for key, value in _pairs(args.user_file, "--user-file").items()}
    declared = task.dataset.get("user_files", {})
    unknown = sorted(set(given) - set(declared))
    if unknown:
        raise VpbenchError(f"--user-file {unknown[0]}: task '{task.name}' takes no such file "
                           f"(it takes: {sorted(declared) or 'none'})")
    if args.tiny:
        from vpbench.tiny import default_tiny_root, tiny_user_files

        given = {**tiny_user_files(task, default_tiny_root() / task.name), **given}
    for key, path in given.items():
        if not path.is_file():
            raise VpbenchError(f"--user-file {key}={path}: file not found (expected: "
                               f"{task.user_file_spec(key).describe()})")
    return given


def _pairs(items: list[str], flag: str) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise VpbenchError(f"{flag} '{item}': expected KEY=VALUE")
        out[key] = value
    return out


def _join_ranks(device: str | None) -> tuple[str, int]:
    """(device, rank). Under torchrun (WORLD_SIZE > 1) this process joins the group first: extraction
    shards its clips over the ranks, a streaming probe its batches (gradients averaged) and its
    evaluation items. Only rank 0 writes results."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return device or _default_device(), 0
    from vpbench.features import distributed

    device = distributed.init_from_env(device or "auto")
    return device, distributed.rank_and_world()[0]


def _default_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _print_summary(console, task: TaskConfig, result: dict, path: Path) -> None:
    """The run's numbers; beside the paper's only when the run is the paper's protocol (no variant, no
    deviation, not tiny), else with its deviations listed and no published number to misread."""
    from rich.table import Table

    registry = load_registry()
    protocol = result.get("protocol") or {"variant": None, "deviations": []}
    comparable = not result["tiny"] and protocol["variant"] is None and not protocol["deviations"]
    which = f" (variant {protocol['variant']})" if protocol["variant"] else ""
    table = Table(title=f"{task.name}{which}: this run" + (" beside the paper" if comparable else ""))
    columns = ("benchmark", "metric", "this run", "paper B", "public B") if comparable \
        else ("benchmark", "metric", "this run")
    for column in columns:
        table.add_column(column, justify="left" if column in ("benchmark", "metric") else "right")
    for bench_id, value in result["benchmarks"].items():
        bench = registry.benchmarks[bench_id]
        cells = [bench_id, bench.metric, f"{value:.2f}"]
        if comparable:
            paper = bench.published.get("paper_b", bench.published.get("paper_b_1b"))
            public = bench.published.get("public_b")
            cells += ["" if paper is None else f"{paper:.1f}", "" if public is None else f"{public:.1f}"]
        table.add_row(*cells)
    console.print(table)
    counts = result["counts"]
    console.print(plain(f"evaluated {counts.get('evaluated', '?')}, skipped {counts.get('skipped') or 'none'}; "
                        f"result: {path}"), highlight=False, soft_wrap=True)
    if protocol["deviations"]:
        console.print("[yellow]not the paper's protocol, so no published number beside it and no Δ in the "
                      "leaderboard; its deviations:[/]", soft_wrap=True)
        for entry in protocol["deviations"]:
            console.print(plain(f"  - {entry['id']}: {entry['text']}"), highlight=False, soft_wrap=True)
    if result["tiny"]:
        console.print("[yellow]tiny suite (synthetic videos, tiny models with random or locally trained weights): "
                      "checks the code path, not comparable to the paper[/]")
