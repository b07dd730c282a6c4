"""Zero-shot classification (Kinetics-400/600, SSv2-Temporal/Events, Charades) with the LvT towers.

Each class name goes through every prompt template (by default the CLIP prompt ensemble the paper
cites, App. F.1: openai/CLIP's 28 Kinetics-700 templates; the official demo's single
``'a video of {}.'`` is the variant ``demo-prompt``); the L2-normalised text embeddings of one
class are averaged over templates and renormalised. Single-label tasks score a video's classes by
the softmax over the label space of cosine / ``adapter.softmax_temperature`` (0.01, as the
official demo; top-1/top-5 are unaffected by it). Multi-label Charades keeps the raw cosine per
class: mAP ranks each class's videos, and a softmax over classes would rescale every video's row
differently. Scores go to a score file, scored with the task's metric.

Templates come from ``adapter.prompts`` or from ``--option prompts=PATH`` (one template per line
containing ``{}``; blank lines and ``#`` comments ignored), and the result records every template
used and, for a file, its hash. Class subsets (SSv2-Temporal/Events) are the reader's job: the
class list it returns is the label space, and the result records its hash and size. Class
*splits* (Kinetics-600's new-class protocol, :mod:`vpbench.datasets.class_splits`) score each split
on its own label space and videos; the result gives each split's value and their mean and
standard deviation.

This module must never train on, or select anything with, the evaluation split.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path
from typing import Any

import numpy as np

from vpbench.errors import RegistryError, VpbenchError
from vpbench.datasets.class_splits import ClassSplits, check_classes, read_class_splits, shipped_path
from vpbench.families import RunContext
from vpbench.families.common import (RunLog, class_list_sha256, model_info, output_path, score_metrics,
                                     seed_everything, write_csv)
from vpbench.families.towers import embed_eval_videos, zeroshot_context, zeroshot_fingerprint
from vpbench.registry import TaskConfig
from vpbench.results import RunRecord
from vpbench.textio import decode_utf8

DEFAULT_TEMPERATURE = 0.01


def run(task: TaskConfig, context: RunContext) -> RunRecord:
    seed_everything(context.seed)
    context = zeroshot_context(task, context)
    log = RunLog(task, context)
    multilabel = any(m["name"] == "multilabel_map" for m in task.metrics)
    templates, prompt_source = prompt_templates(task, context, log)
    temperature = float(task.adapter.get("softmax_temperature", DEFAULT_TEMPERATURE))
    if not temperature > 0:
        raise RegistryError(f"{task.source}: adapter.softmax_temperature must be > 0, got {temperature}")
    splits = class_splits(task, context)
    videos = embed_eval_videos(task, context, log, usable=(lambda s: bool(s.labels)) if multilabel
                               else (lambda s: s.label is not None), unusable_reason="no_label",
                               class_subset=None if splits is None else
                               {name for split in splits.splits for name in split.classes})
    class_names = videos.class_names
    if not class_names:
        raise VpbenchError(f"{task.name}: the reader gave no class names; zero-shot classification needs them "
                           "for the prompts")

    with log.stage("embed_texts"):
        class_embeddings = class_text_embeddings(videos.towers.text, class_names, templates)
    similarities = videos.embeddings @ class_embeddings.T
    score = functools.partial(_score_label_space, task, context, log, videos.samples, similarities, class_names,
                              multilabel=multilabel, temperature=temperature)
    if splits is None:
        scores, details, files = score(list(range(len(class_names))))
        log.fingerprint["class_subset"] = {"num_classes": len(class_names),
                                           "class_list_sha256": class_list_sha256(class_names),
                                           "user_file_sha256": _user_file_sha256(context, "class_list")}
    else:
        check_classes(splits, class_names)
        per_split = {split.name: score([class_names.index(c) for c in split.classes], name=split.name)
                     for split in splits.splits}
        scores = split_summary({name: result[0] for name, result in per_split.items()})
        details = {"splits": {name: result[1] for name, result in per_split.items()}}
        files = {name: result[2] for name, result in per_split.items()}
        log.fingerprint["class_splits"] = splits.record()
        log.note(f"scored on {len(per_split)} class splits ({splits.path.name}); top1/top5 are their mean, "
                 f"*_std the population standard deviation over splits, *_<split> each split's value")

    adapter = {**videos.towers.record, "prompts": {"templates": templates, "source": prompt_source},
               "ensemble": "mean of L2-normalised template embeddings, renormalised",
               "scores": SCORE_RULE["multilabel" if multilabel else "single"],
               **({} if multilabel else {"softmax_temperature": temperature})}
    log.counts.update({"classes": len(class_names), "prompts_per_class": len(templates),
                       "text_embeddings": dict(videos.towers.text.stats)})
    log.fingerprint.update(zeroshot_fingerprint(task, videos.towers))
    log.fingerprint.update({
        "prompts": {"templates": templates, "sha256": _templates_sha256(templates), "source": prompt_source},
        "scores": adapter["scores"], **({} if multilabel else {"softmax_temperature": temperature}),
    })
    log.extra["predictions"] = files
    return log.record(scores, adapter=adapter, model=model_info(videos.model, context), metric=details)


SCORE_RULE = {"single": "softmax over the label space of cosine / softmax_temperature",
              "multilabel": "raw cosine similarity per class (no softmax: AP ranks each class over videos)"}


def class_splits(task: TaskConfig, context: RunContext) -> ClassSplits | None:
    """The task's class splits: the user file ``class_splits``, else the shipped file that
    ``dataset.options.class_splits`` names (None: one label space, the reader's classes)."""
    given = context.user_files.get("class_splits")
    if given is not None:
        return read_class_splits(given)
    name = task.dataset.get("options", {}).get("class_splits")
    return None if name is None else read_class_splits(shipped_path(str(name)))


def split_summary(per_split: dict[str, dict[str, float]]) -> dict[str, float]:
    """Mean and (population) standard deviation over splits of every key, and each split's value."""
    keys = sorted(set.intersection(*(set(scores) for scores in per_split.values())))
    summary = {}
    for key in keys:
        values = np.array([scores[key] for scores in per_split.values()], dtype=np.float64)
        summary[key] = float(values.mean())
        summary[f"{key}_std"] = float(values.std())
        summary.update({f"{key}_{name}": float(scores[key]) for name, scores in per_split.items()})
    return summary


def _score_label_space(task: TaskConfig, context: RunContext, log: RunLog, samples, similarities: np.ndarray,
                       class_names: list[str], columns: list[int], *, multilabel: bool, temperature: float,
                       name: str | None = None) -> tuple[dict[str, float], dict[str, Any], dict[str, str]]:
    """Score the samples whose labels fall in ``columns`` against those classes only."""
    local = {column: k for k, column in enumerate(columns)}
    rows = [i for i, s in enumerate(samples)
            if (any(label in local for label in s.labels) if multilabel else s.label in local)]
    if not rows:
        raise VpbenchError(f"{task.name}: no evaluated video belongs to the classes of {name or 'the label space'}")
    with log.stage("predict"):
        subset = similarities[np.ix_(rows, columns)]
        values = subset if multilabel else softmax(subset / temperature)
    references = [[local[label] for label in samples[i].labels if label in local] if multilabel
                  else [local[samples[i].label]] for i in rows]
    predictions, reference_file = _write_files(task, context, [class_names[c] for c in columns],
                                               [samples[i] for i in rows], values, references, multilabel,
                                               suffix=f"{name}." if name else "")
    scores, details = score_metrics(task, predictions, reference_file, log, family="zero-shot classification",
                                    scorable=("classification", "multilabel_map"))
    if name:
        log.counts.setdefault("evaluated_by_split", {})[name] = len(rows)
    return scores, details, {"scores": str(predictions), "references": str(reference_file)}


def prompt_templates(task: TaskConfig, context: RunContext, log: RunLog) -> tuple[list[str], dict[str, Any]]:
    """The templates and where they came from (``adapter.prompts`` or ``--option prompts=PATH``)."""
    path = context.options.get("prompts")
    if path is None:
        templates = task.adapter.get("prompts")
        if not isinstance(templates, list) or not templates or not all(isinstance(t, str) for t in templates):
            raise RegistryError(f"{task.source}: adapter.prompts must be a non-empty list of templates with '{{}}'")
        for index, template in enumerate(templates):
            _check_template(template, f"{task.source}: adapter.prompts[{index}]")
        return list(templates), {"kind": "task", "file": None, "sha256": None}
    log.deviation("prompts-file", f"prompt templates from {Path(path).name} (--option prompts) instead of the "
                                  "task's, the CLIP prompt ensemble the paper used")
    path = Path(path).expanduser()
    try:
        data = path.read_bytes()
    except OSError as error:
        raise RegistryError(f"--option prompts={path}: cannot read the prompt file ({error.strerror})") from None
    templates = []
    text = decode_utf8(data, path, what="a prompt file (one template per line)", error=RegistryError)
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if line and not line.startswith("#"):
            _check_template(line, f"{path}: line {number}")
            templates.append(line)
    if not templates:
        raise RegistryError(f"{path}: no template (one per line, each with '{{}}' where the class name goes)")
    return templates, {"kind": "file", "file": str(path), "sha256": hashlib.sha256(data).hexdigest()}


def _check_template(template: str, where: str) -> None:
    if template.count("{}") != 1 or template.replace("{}", "").count("{") or template.replace("{}", "").count("}"):
        raise RegistryError(f"{where}: template {template!r} must contain '{{}}' exactly once (where the class "
                            f"name goes) and no other braces")


def _user_file_sha256(context: RunContext, key: str) -> str | None:
    path = context.user_files.get(key)
    return hashlib.sha256(Path(path).read_bytes()).hexdigest() if path else None


def _templates_sha256(templates: list[str]) -> str:
    return hashlib.sha256("\n".join(templates).encode()).hexdigest()


def class_text_embeddings(embed, class_names: list[str], templates: list[str]) -> np.ndarray:
    """[C, D]: per class, the mean of its L2-normalised template embeddings, renormalised (CLIP's
    prompt ensemble, openai/CLIP notebooks/Prompt_Engineering_for_ImageNet.ipynb)."""
    texts = [template.replace("{}", name) for name in class_names for template in templates]
    embeddings = _l2_normalise(np.asarray(embed(texts), dtype=np.float64))
    return _l2_normalise(embeddings.reshape(len(class_names), len(templates), -1).mean(axis=1)).astype(np.float32)


def _l2_normalise(x: np.ndarray) -> np.ndarray:
    return x / np.sqrt((x * x).sum(axis=-1, keepdims=True) + 1e-12)


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.asarray(logits, dtype=np.float64) - np.max(logits, axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


def _write_files(task: TaskConfig, context: RunContext, class_names: list[str], samples, values: np.ndarray,
                 references: list[list[int]], multilabel: bool, suffix: str = ""):
    """The score file (``id,<class names>``) and the reference file (``id,label`` / ``id,labels``),
    labels as indices of ``class_names``."""
    predictions = write_csv(output_path(task, context, f"{suffix}scores.csv"),
                            [[s.sample_id, *(format(float(v), ".9g") for v in row)]
                             for s, row in zip(samples, values)], header=["id", *class_names])
    rows = [[s.sample_id, ";".join(str(k) for k in labels)] for s, labels in zip(samples, references)]
    return predictions, write_csv(output_path(task, context, f"{suffix}references.csv"), rows,
                                  header=["id", "labels" if multilabel else "label"])
