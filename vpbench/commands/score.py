"""`vpbench score --metric M --predictions P --references R`: score a prediction file.

Runs the same metric code as ``vpbench run`` (the registry in :mod:`vpbench.metrics`) on files in
the benchmarks' official formats, prints a table for people and, with ``--json FILE``, writes
the full result (per-class values included) for machines. Bad files end in one error line
naming the file, row and problem (exit code 2).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from vpbench.errors import PredictionFileError

HELP = "score a prediction file with a benchmark metric"
_CONVENTIONS = {"ava_frame_map": ("activitynet", "slowfast"), "multilabel_map": ("charades", "slowfast")}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from vpbench.metrics import METRICS

    formats = "\n".join(f"  {name}: {spec.summary}\n    predictions: {spec.predictions_format}\n"
                        f"    references: {spec.references_format}" for name, spec in METRICS.items())
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = "metrics and file formats:\n" + formats
    parser.add_argument("--metric", required=True, choices=list(METRICS), help="metric to compute")
    parser.add_argument("--predictions", required=True, type=Path, help="prediction file")
    parser.add_argument("--references", required=True, type=Path, help="ground-truth file")
    parser.add_argument("--json", type=Path, default=None, metavar="FILE", help="also write the full result as JSON")
    parser.add_argument("--label-map", type=Path, default=None, help="ava_frame_map: the .pbtxt label map (e.g. the 60 AVA classes)")
    parser.add_argument("--excluded", type=Path, default=None, help="ava_frame_map: excluded timestamps CSV")
    parser.add_argument("--convention", choices=["activitynet", "charades", "slowfast"], default=None,
                        help="ava_frame_map: official ActivityNet evaluator (default: activitynet) or SlowFast/mmaction2; "
                             "multilabel_map: official Charades AP (default: charades) or SlowFast/mmaction2 "
                             "(scikit-learn AP, ties one step, unlabelled videos kept as negatives)")
    parser.add_argument("--empty-classes", choices=["exclude", "nan"], default=None,
                        help="multilabel_map: leave classes without a positive out of the mean (default) or give "
                             "them AP NaN and the mean NaN (the official Charades scorer)")
    parser.add_argument("--v2t", choices=["group_max", "any_caption"], default=None,
                        help="retrieval: video->text with several captions per video (default group_max, CLIP4Clip)")
    parser.add_argument("--subset", default=None, help="activitynet_tal: ground-truth subset (default validation)")
    parser.add_argument("--classes", default=None,
                        help="classification: 'present' (default) or 'union' classes for the macro mean; "
                             "multilabel_map, macro_f1: comma-separated class indices to average over")
    parser.add_argument("--exclude-classes", default=None,
                        help="multilabel_map, macro_f1: comma-separated class names (from the predictions' header) "
                             "or indices left out of the mean, e.g. a background class or CalMS21's 'other'")
    parser.add_argument("--additional-references", type=Path, default=None,
                        help="wups: NExT-OE's add_reference_answer JSON {video: {qid: answer}}")


def run(args: argparse.Namespace) -> int:
    from vpbench import metrics

    options = {key: value for key, value in (
        ("label_map", args.label_map), ("excluded", args.excluded), ("convention", args.convention),
        ("empty_classes", args.empty_classes),
        ("v2t", args.v2t), ("subset", args.subset), ("additional_references", args.additional_references),
        ("classes", _classes(args.metric, args.classes)),
        ("exclude_classes", None if args.exclude_classes is None
         else [part.strip() for part in args.exclude_classes.split(",") if part.strip()]),
    ) if value is not None}
    conventions = _CONVENTIONS.get(args.metric, ())
    if args.convention is not None and conventions and args.convention not in conventions:
        raise PredictionFileError(f"--convention {args.convention} does not apply to --metric {args.metric} "
                                  f"(it takes {' or '.join(conventions)})")
    accepted = metrics.file_options(args.metric)
    unused = [name for name in options if name not in accepted]
    if unused:
        flags = ", ".join("--" + name.replace("_", "-") for name in unused)
        raise PredictionFileError(f"{flags} does not apply to --metric {args.metric}")
    result = metrics.score_files(args.metric, args.predictions, args.references, **options)
    report = {
        "metric": args.metric,
        "headline": metrics.get(args.metric).headline,
        "predictions": str(args.predictions),
        "references": str(args.references),
        "options": {key: str(value) for key, value in options.items()},
        "scores": result,
    }
    if args.json is not None:
        from vpbench.atomic import atomic_write_json

        atomic_write_json(args.json, report)
    _print_table(report)
    return 0


def _classes(metric: str, text: str | None):
    if text is None:
        return None
    if metric in ("multilabel_map", "macro_f1"):
        try:
            return [int(part) for part in text.split(",") if part.strip()]
        except ValueError:
            raise PredictionFileError(f"--classes {text!r}: expected comma-separated class indices") from None
    return text


def _print_table(report: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    from vpbench.console import plain

    table = Table(title=f"{report['metric']}: {plain(report['predictions'])}", title_justify="left")
    table.add_column("value")
    table.add_column("", justify="right")
    for key, value in report["scores"].items():
        if isinstance(value, dict):
            shown = f"{len(value)} entries (see --json)"
        elif isinstance(value, list):
            shown = ", ".join(map(str, value)) if len(value) <= 5 else f"{len(value)} entries (see --json)"
        elif isinstance(value, float):
            shown = f"{value:.2f}"
        else:
            shown = str(value)
        style = "bold" if key == report["headline"] else None
        table.add_row(plain(key), plain(shown), style=style)
    Console().print(table)
