"""Zero-shot classification (Kinetics-400/600, SSv2-Temporal/Events, Charades) with the LvT towers.

Each class name goes through every prompt template ('a video of {}.' is the official demo's);
the L2-normalised text embeddings of one class are averaged over templates and renormalised
(the CLIP prompt ensemble). A video's class scores are the softmax over classes of its cosine
similarities divided by ``adapter.softmax_temperature`` (0.01, as the official demo), written
as a score file, and scored with the task's metric (top-1/top-5; Charades: mAP, multi-label).

Templates come from ``adapter.prompts`` or from ``--option prompts=PATH`` (one template per line
containing ``{}``; blank lines and ``#`` comments ignored), and the result records every template
used and, for a file, its hash. Class subsets (SSv2-Temporal/Events) are the reader's job: the
class list it returns is the label space, and the result records its hash and size.

This module must never train on, or select anything with, the evaluation split.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np

from vpbench.errors import RegistryError, VpbenchError
from vpbench.families import RunContext
from vpbench.families.common import (RunLog, class_list_sha256, model_info, output_path, score_metrics,
                                     seed_everything, write_csv)
from vpbench.families.towers import embed_eval_videos, zeroshot_context, zeroshot_fingerprint
from vpbench.registry import TaskConfig
from vpbench.results import RunRecord

DEFAULT_TEMPERATURE = 0.01


def run(task: TaskConfig, context: RunContext) -> RunRecord:
    seed_everything(context.seed)
    context = zeroshot_context(task, context)
    log = RunLog(task, context)
    multilabel = any(m["name"] == "multilabel_map" for m in task.metrics)
    templates, prompt_source = prompt_templates(task, context)
    temperature = float(task.adapter.get("softmax_temperature", DEFAULT_TEMPERATURE))
    if not temperature > 0:
        raise RegistryError(f"{task.source}: adapter.softmax_temperature must be > 0, got {temperature}")
    videos = embed_eval_videos(task, context, log, usable=(lambda s: bool(s.labels)) if multilabel
                               else (lambda s: s.label is not None), unusable_reason="no_label")
    class_names = videos.class_names
    if not class_names:
        raise VpbenchError(f"{task.name}: the reader gave no class names; zero-shot classification needs them "
                           "for the prompts")

    with log.stage("embed_texts"):
        class_embeddings = class_text_embeddings(videos.towers.text, class_names, templates)
    with log.stage("predict"):
        probabilities = softmax(videos.embeddings @ class_embeddings.T / temperature)
    predictions, references = _write_files(task, context, class_names, videos.samples, probabilities, multilabel)

    scores, details = score_metrics(task, predictions, references, log, family="zero-shot classification",
                                    scorable=("classification", "multilabel_map"))

    adapter = {**videos.towers.record, "prompts": {"templates": templates, "source": prompt_source},
               "ensemble": "mean of L2-normalised template embeddings, renormalised",
               "softmax_temperature": temperature}
    log.counts.update({"classes": len(class_names), "prompts_per_class": len(templates),
                       "text_embeddings": dict(videos.towers.text.stats)})
    log.fingerprint.update(zeroshot_fingerprint(task, videos.towers))
    log.fingerprint.update({
        "class_subset": {"num_classes": len(class_names), "class_list_sha256": class_list_sha256(class_names),
                         "user_file_sha256": _user_file_sha256(context, "class_list")},
        "prompts": {"templates": templates, "sha256": _templates_sha256(templates), "source": prompt_source},
        "softmax_temperature": temperature,
    })
    log.extra["predictions"] = {"scores": str(predictions), "references": str(references)}
    return log.record(scores, adapter=adapter, model=model_info(videos.model, context), metric=details)


def prompt_templates(task: TaskConfig, context: RunContext) -> tuple[list[str], dict[str, Any]]:
    """The templates and where they came from (``adapter.prompts`` or ``--option prompts=PATH``)."""
    path = context.options.get("prompts")
    if path is None:
        templates = task.adapter.get("prompts")
        if not isinstance(templates, list) or not templates or not all(isinstance(t, str) for t in templates):
            raise RegistryError(f"{task.source}: adapter.prompts must be a non-empty list of templates with '{{}}'")
        for index, template in enumerate(templates):
            _check_template(template, f"{task.source}: adapter.prompts[{index}]")
        return list(templates), {"kind": "task", "file": None, "sha256": None}
    path = Path(path).expanduser()
    try:
        data = path.read_bytes()
    except OSError as error:
        raise RegistryError(f"--option prompts={path}: cannot read the prompt file ({error.strerror})") from None
    templates = []
    for number, line in enumerate(data.decode("utf-8", errors="strict").splitlines(), start=1):
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


def _write_files(task: TaskConfig, context: RunContext, class_names: list[str], samples, probabilities: np.ndarray,
                 multilabel: bool):
    """The score file (``id,<class names>``) and the reference file (``id,label`` / ``id,labels``)."""
    predictions = write_csv(output_path(task, context, "scores.csv"),
                            [[s.sample_id, *(format(float(v), ".9g") for v in row)]
                             for s, row in zip(samples, probabilities)], header=["id", *class_names])
    if multilabel:
        rows, header = [[s.sample_id, ";".join(str(k) for k in s.labels)] for s in samples], ["id", "labels"]
    else:
        rows, header = [[s.sample_id, str(s.label)] for s in samples], ["id", "label"]
    return predictions, write_csv(output_path(task, context, "references.csv"), rows, header=header)
