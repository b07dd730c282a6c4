"""Zero-shot text-video retrieval (MSR-VTT, VATEX, ActivityNet Captions) with the LvT towers.

Reader -> one video embedding per sample (L2-normalised, frozen) and one text embedding per
caption (batched, cached) -> the embeddings and each caption's video index written to the
output folder -> the retrieval metric on those files (the code ``vpbench score --metric
retrieval`` runs): cosine similarity, t2v and v2t R@1/5/10, MdR, MnR.

Conventions, stated in every result's notes:

* every sample is one video (a retrieval candidate) and every one of its captions is a
  text-to-video query. MSR-VTT 1k-A: 1,000 videos with one caption each (default split;
  the variant ``full-2990``, or ``--option eval_split=test_full``, runs the 2,990-video full test
  split, 20 captions each). VATEX: all (10) English captions of each video of the HGR 1,500-video
  test list (a user file; the variant ``val-3000`` takes the whole validation set). ActivityNet
  Captions: paragraph-to-video on val_1, each video's sentences joined in order into one paragraph
  by the reader (``dataset.options.paragraph``); a paragraph
  longer than the tokenizer's 64 tokens is truncated (the result counts how many were);
* video-to-text with several captions per video follows the metric's ``v2t`` option
  (``group_max``: a video's own caption group is scored by its best caption, CLIP4Clip's rule).

This module must never train on, or select anything with, the evaluation split.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from vpbench.atomic import atomic_write, atomic_write_text
from vpbench.errors import RegistryError, VpbenchError
from vpbench.families import RunContext
from vpbench.families.common import RunLog, model_info, output_path, score_metrics, seed_everything
from vpbench.families.towers import embed_eval_videos, texts_at_max_length, zeroshot_context, zeroshot_fingerprint
from vpbench.registry import TaskConfig
from vpbench.results import RunRecord


def run(task: TaskConfig, context: RunContext) -> RunRecord:
    seed_everything(context.seed)
    declared = task.dataset["eval_split"]
    task = _with_eval_split(task, context)
    context = zeroshot_context(task, context)
    log = RunLog(task, context)
    if task.dataset["eval_split"] != declared:
        log.deviation("eval-split", f"evaluated split '{task.dataset['eval_split']}' (--option eval_split) instead "
                                    f"of the task's '{declared}'")
    videos = embed_eval_videos(task, context, log, usable=lambda s: bool(s.captions),
                               unusable_reason="no_caption")
    texts = [caption for sample in videos.samples for caption in sample.captions]
    caption_to_video = np.repeat(np.arange(len(videos.samples)), [len(s.captions) for s in videos.samples])
    with log.stage("embed_texts"):
        text_embeddings = videos.towers.text(texts)
    truncated = texts_at_max_length(videos.towers.text.tokenizer, texts)
    predictions, references = _write_files(task, context, videos.samples, videos.embeddings, text_embeddings,
                                           caption_to_video)

    scores, details = score_metrics(task, predictions, references, log, family="retrieval", scorable=("retrieval",),
                                    options=lambda metric: {"v2t": metric.get("options", {}).get("v2t", "group_max")})

    log.counts.update({"videos": len(videos.samples), "captions": len(texts), "texts_at_max_length": truncated,
                       "text_embeddings": dict(videos.towers.text.stats)})
    log.note(f"retrieval over {len(videos.samples)} videos and {len(texts)} captions: every caption is a "
             f"text-to-video query; video-to-text ranks caption groups by their best caption "
             f"({', '.join(sorted({m.get('options', {}).get('v2t', 'group_max') for m in task.metrics}))})")
    if truncated:
        log.note(f"{truncated} of {len(set(texts))} distinct captions fill all "
                 f"{videos.towers.text.tokenizer.max_length} token positions and were probably truncated")
    log.fingerprint.update(zeroshot_fingerprint(task, videos.towers))
    log.fingerprint["eval_split"] = task.dataset["eval_split"]
    log.extra["predictions"] = {"embeddings": str(predictions), "caption_to_video": str(references)}
    return log.record(scores, adapter=videos.towers.record, model=model_info(videos.model, context), metric=details)


def _with_eval_split(task: TaskConfig, context: RunContext) -> TaskConfig:
    """``--option eval_split=NAME`` evaluates another split the task declares (MSR-VTT ``test_full``)."""
    name = context.options.get("eval_split")
    if name is None or name == task.dataset["eval_split"]:
        return task
    allowed = sorted(set(task.dataset["annotations"]) & set(task.dataset.get("official_counts", {})))
    if name not in allowed:
        raise RegistryError(f"--option eval_split={name}: task '{task.name}' can evaluate {allowed}")
    return dataclasses.replace(task, dataset={**task.dataset, "eval_split": name})


def _write_files(task: TaskConfig, context: RunContext, samples, video_embeddings: np.ndarray,
                 text_embeddings: np.ndarray, caption_to_video: np.ndarray):
    """``embeddings.npz`` (text/video embeddings, video ids) and the caption -> video index file."""
    if text_embeddings.shape[1] != video_embeddings.shape[1]:
        raise VpbenchError(f"text embeddings have width {text_embeddings.shape[1]} but video embeddings "
                           f"{video_embeddings.shape[1]}: the towers do not share one space")
    predictions = output_path(task, context, "embeddings.npz")
    atomic_write(predictions, lambda f: np.savez(
        f, text_embeddings=text_embeddings, video_embeddings=video_embeddings,
        video_ids=np.array([s.sample_id for s in samples], dtype=str)))
    references = atomic_write_text(output_path(task, context, "caption_to_video.txt"),
                                   "".join(f"{int(v)}\n" for v in caption_to_video))
    return predictions, references
