"""Benchmark metrics with the official scorers' conventions, and the name → metric registry.

``vpbench run`` (through the families) and ``vpbench score`` both go through :data:`METRICS`, so
a number from a run and a number from a scored file come from the same code. Each metric has:

- an array-level function (``compute(name, ...)``) that takes in-memory predictions and
  references and returns a dict of named values;
- a file-level function (``score_files(name, predictions, references, **options)``) that reads
  the benchmark's official prediction/annotation formats and calls the array-level function.

Units: every accuracy, recall, AP/mAP and WUPS value is in PERCENT (the paper's unit); CIDEr,
BLEU, METEOR and ROUGE_L are 100 × pycocoevalcap's value, as papers report them ("CIDEr 40.3").
Ranks (MdR, MnR) are 1-based. Where two conventions exist the result names the one used.

Modules are imported only when their metric runs, so importing the registry is cheap.
"""

from __future__ import annotations

import importlib
import inspect
import os
from dataclasses import dataclass, field
from typing import Any, Callable


@dataclass(frozen=True)
class MetricSpec:
    """Where a metric lives, which value is its headline, and its file formats (for --help and docs)."""

    module: str
    function: str
    headline: str
    summary: str
    predictions_format: str
    references_format: str
    fixed_kwargs: dict[str, Any] = field(default_factory=dict)


_SCORES = "per-item scores: 'id s_0 ... s_{C-1}' per line, comma- or space-separated (optional 'id,<class names>' header)"
_LABELS = "CSV with header 'id,label' (index or class name) or the official Charades CSV ('actions' column)"

METRICS: dict[str, MetricSpec] = {
    "classification": MetricSpec(
        "vpbench.metrics.classification", "classification_metrics", "top1",
        "top-1 / top-5 and macro (mean per-class, classes present in the labels) accuracy, percent",
        _SCORES, _LABELS),
    "multiple_choice": MetricSpec(
        "vpbench.metrics.classification", "multiple_choice_accuracy", "mc_accuracy",
        "multiple-choice accuracy (correct candidate scores highest), percent",
        _SCORES + " (one score per candidate)", "CSV with header 'id,label' (label = index of the correct candidate)"),
    "multilabel_map": MetricSpec(
        "vpbench.metrics.multilabel", "multilabel_map", "mAP",
        "multi-label mAP, Charades convention (non-interpolated AP, classes without positives excluded; "
        "--empty-classes nan, --convention slowfast), percent",
        _SCORES + " (the Charades submission format)", _LABELS + "; several labels separated by ';'"),
    "macro_f1": MetricSpec(
        "vpbench.metrics.f1", "macro_f1", "macro_F1",
        "macro F1 of the argmax class over chosen classes (CalMS21 task 1: behaviours, 'other' excluded), percent",
        _SCORES, "CSV with header 'id,label' (one label per item: index or class name)"),
    "ava_frame_map": MetricSpec(
        "vpbench.metrics.ava", "frame_map", "frame_mAP_iou_0.5",
        "AVA frame-mAP@0.5 IoU (ActivityNet official evaluator, or --convention slowfast), percent",
        "AVA detection CSV: video_id,timestamp,x1,y1,x2,y2,action_id,score",
        "AVA ground-truth CSV (video_id,timestamp,x1,y1,x2,y2,action_id[,person_id]); needs --label-map"),
    "activitynet_tal": MetricSpec(
        "vpbench.metrics.tal", "tal_map", "avg_mAP_iou_0.5_0.95",
        "ActivityNet temporal-localisation mAP at tIoU 0.5:0.05:0.95 and their average, percent",
        'ActivityNet detection JSON {"version", "results": {video: [{label, score, segment}]}, "external_data"}',
        "activity_net.v1-3.min.json (--subset, default validation)"),
    "retrieval": MetricSpec(
        "vpbench.metrics.retrieval", "retrieval_metrics", "t2v_R@1",
        "text->video and video->text R@1/5/10 (percent), MdR, MnR; pessimistic ties",
        ".npz with 'similarity' [n_text, n_video] or 'text_embeddings' + 'video_embeddings'",
        "caption -> video index: .npy, or text with one integer per line"),
    "CIDEr": MetricSpec(
        "vpbench.metrics.captioning", "caption_metrics", "CIDEr",
        "CIDEr-D after the PTB tokenizer, as the COCO caption evaluation computes it, x100",
        'COCO results JSON [{"image_id", "caption"}] or {id: caption}',
        'COCO annotations JSON {"annotations": [{"image_id", "caption"}]} or {id: [captions]}',
        {"metrics": ("CIDEr",)}),
    "captioning": MetricSpec(
        "vpbench.metrics.captioning", "caption_metrics", "CIDEr",
        "CIDEr, BLEU-1..4, METEOR, ROUGE_L (COCO caption evaluation), x100",
        'COCO results JSON [{"image_id", "caption"}] or {id: caption}',
        'COCO annotations JSON {"annotations": [{"image_id", "caption"}]} or {id: [captions]}',
        {"metrics": ("CIDEr", "BLEU-4", "METEOR", "ROUGE_L")}),
    "qa_exact_match": MetricSpec(
        "vpbench.metrics.qa", "exact_match_accuracy", "top1",
        "open-ended QA exact-match top-1 accuracy after answer normalisation, percent",
        '{id: answer} or [{"id", "answer"}]', 'MSRVTT-QA / MSVD-QA JSON [{"id", "answer", ...}] or {id: answer}'),
    "wups": MetricSpec(
        "vpbench.metrics.qa", "nextqa_wups", "WUPS",
        "NExT-QA open-ended WUPS@0.0 (headline) and @0.9 as NExT-OE computes them, percent",
        "NExT-OE results JSON {video: {qid: answer}}",
        "NExT-QA open-ended CSV (video,...,answer,qid,type); optional --additional-references JSON"),
}


def get(name: str) -> MetricSpec:
    """The spec of a metric, or a KeyError listing the known names."""
    try:
        return METRICS[name]
    except KeyError:
        raise KeyError(f"unknown metric {name!r}; known: {', '.join(METRICS)}") from None


def function(name: str) -> Callable[..., dict]:
    """The array-level function of a metric (its fixed options not applied)."""
    spec = get(name)
    return getattr(importlib.import_module(spec.module), spec.function)


def compute(name: str, *args: Any, **kwargs: Any) -> dict:
    """Run a metric on in-memory predictions and references; see each module for the arguments."""
    return function(name)(*args, **{**get(name).fixed_kwargs, **kwargs})


def file_options(name: str) -> list[str]:
    """The keyword options a metric's file-level scoring accepts (``--label-map`` → ``label_map``...)."""
    scorer = getattr(importlib.import_module(get(name).module), "score_files")
    return [p for p in inspect.signature(scorer).parameters if p not in ("metric", "predictions", "references")]


def score_files(name: str, predictions: str | os.PathLike, references: str | os.PathLike, **options: Any) -> dict:
    """Read prediction and reference files in the metric's documented formats and score them."""
    module = importlib.import_module(get(name).module)
    unknown = set(options) - set(file_options(name))
    if unknown:
        raise TypeError(f"metric {name!r} takes no option(s) {sorted(unknown)}; it takes {file_options(name)}")
    return module.score_files(name, predictions, references, **options)
