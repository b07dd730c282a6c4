"""Video captioning (MSR-VTT, VATEX, YouCook2): frozen encoder → Perceiver Resampler → frozen causal LM.

Reader -> token features of one centred view per clip, through the cache -> a resampler trained
on every (training clip, caption) pair, the LM's loss on the caption tokens only -> one greedy
caption per evaluation clip after the prompt (``adapter.prompt``, e.g. "A video of"), at most
``adapter.max_new_tokens`` (32) tokens -> the COCO results JSON ``[{"image_id", "caption"}]`` and
the references ``{id: [captions]}`` written in the output folder -> the COCO caption evaluation
on those two files (the code ``vpbench score --metric captioning`` runs) -> a RunRecord.

The set-up, training and bookkeeping here (:func:`prepare`, :func:`fit`, :func:`score_all`,
:meth:`DecoderRun.record`) are shared with the QA family, which differs only in its examples,
its decoding (optionally a closed vocabulary) and its files.

Options: ``--option lm=PATH`` replaces ``adapter.lm`` (a Hugging Face causal LM folder or hub
id); ``--option shuffle_train_labels=true`` trains on the texts of other videos (the
shuffled-video control: its score is what the LM gets without seeing the video).
This module must never train on, or choose anything with, the evaluation split.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from vpbench.adapters.decoder import (TINY_LM, DecoderSettings, Example, VideoToText, decoder_settings,
                                      fit_decoder, generate_texts, save_adapter)
from vpbench.atomic import atomic_write_text
from vpbench.datasets import Sample
from vpbench.errors import VpbenchError
from vpbench.families import RunContext
from vpbench.families.common import (FeatureTable, LoadedSplit, RunLog, load_encoder, model_info, output_path,
                                     prepare_features, read_splits, safe_name, sampling_spec, score_files,
                                     seed_everything, shuffle_requested)
from vpbench.registry import TaskConfig
from vpbench.results import RunRecord


def run(task: TaskConfig, context: RunContext) -> RunRecord:
    seed_everything(context.seed)
    log = RunLog(task, context)
    setup = prepare(task, context, log, keep=lambda s: bool(s.captions), reason="no_caption")
    prompt = setup.settings.prompt
    examples = [Example(position, prompt, caption) for sample, position in zip(setup.train.samples,
                                                                                 setup.train.positions)
                for caption in sample.captions]
    model, trained = fit(setup, examples, log)
    with log.stage("generate"):
        captions = generate_texts(model, setup.evaluation.table,
                                  [Example(position, prompt) for position in setup.evaluation.positions],
                                  max_new_tokens=setup.settings.max_new_tokens,
                                  batch_size=setup.settings.batch_size, progress=True)
    samples = setup.evaluation.samples
    log.evaluated(len(samples))
    predictions = atomic_write_text(setup.output("captions.json"), json.dumps(
        [{"image_id": s.sample_id, "caption": c} for s, c in zip(samples, captions)], indent=1, ensure_ascii=False))
    references = atomic_write_text(setup.output("references.json"), json.dumps(
        {s.sample_id: list(s.captions) for s in samples}, indent=1, ensure_ascii=False))
    scores, details = score_all(task, predictions, references, log)
    log.extra["predictions"] = {"captions": str(predictions), "references": str(references),
                                "first": [{"id": s.sample_id, "caption": c} for s, c in zip(samples[:5], captions)]}
    return setup.record(log, scores, details, trained)


# --- shared with the QA family -----------------------------------------------------------------

@dataclass
class SplitFeatures:
    """The usable samples of one split and, for each, its row in the feature table.

    QA splits have many questions per video: each video is encoded and stored once, and
    ``positions[i]`` says which row holds sample i's video.
    """

    samples: list[Sample]
    positions: list[int]
    table: FeatureTable


@dataclass
class DecoderRun:
    """What a captioning or QA run has once the data is read and the features extracted."""

    task: TaskConfig
    context: RunContext
    settings: DecoderSettings
    encoder: Any
    train: SplitFeatures
    evaluation: SplitFeatures
    shuffled: bool

    @property
    def video_dim(self) -> int:
        return int(self.train.table.item_shape[-1])

    @property
    def variant(self) -> str:
        """The adapter variant in result and prediction file names: LM, LoRA, closed vocabulary, control."""
        settings = self.settings
        variant = f"resampler-{Path(settings.lm).name or settings.lm}" + ("-lora" if settings.lora else "")
        if settings.closed_vocabulary:
            variant += f"-closedvocab{settings.closed_vocabulary}"
        return variant + ("-shuffled-videos" if self.shuffled else "")

    def output(self, suffix: str) -> Path:
        """``<output_dir>/<task>__<model>__seed<k>.<variant>.<suffix>``: a control never overwrites a real run."""
        return output_path(self.task, self.context, f"{safe_name(self.variant)}.{suffix}")

    def record(self, log: RunLog, scores: dict[str, float], details: dict[str, Any], trained: dict[str, Any],
               *, extra_adapter: dict[str, Any] | None = None) -> RunRecord:
        """The RunRecord: the adapter (with the LM that answered) and the protocol fingerprint."""
        settings = self.settings
        lm = trained["lm"]
        adapter = {**settings.as_dict(), "variant": self.variant, **trained, **(extra_adapter or {})}
        sampling = self.task.sampling
        log.fingerprint.update({
            "frames": sampling["frames"], "resolution": sampling["resolution"], "sampling": dict(sampling),
            "views": {"train": "1 (centre clip, centre crop)", "eval": "1 (centre clip, centre crop)"},
            "features": dict(self.task.features),
            "adapter": {k: v for k, v in settings.as_dict().items() if k != "type"},
            "lm": {"source": lm["source"], "class": lm["class"], "commit": lm.get("commit"),
                   "parameters": lm["parameters"], "lora": lm["lora"], "dtype": lm["dtype"]},
            "closed_vocabulary": settings.closed_vocabulary,
            "shuffled_train_labels": self.shuffled,
        })
        if settings.lm == TINY_LM:
            log.note(f"LM: '{TINY_LM}', a small GPT-2 trained in this run on the training split's texts only "
                     "(a stand-in for a pretrained LM; numbers are not comparable to the paper's PaLM-2)")
        return log.record(scores, adapter=adapter, model=model_info(self.encoder, self.context), metric=details)


def prepare(task: TaskConfig, context: RunContext, log: RunLog, *, keep: Callable[[Sample], bool],
            reason: str) -> DecoderRun:
    """Settings, both splits (samples failing ``keep`` counted as skipped for ``reason``), features."""
    settings = decoder_settings(task.adapter, f"{task.source}: adapter", context.options.get("lm"))
    splits = read_splits(task, context, log)
    if task.sampling["temporal_views"] * task.sampling["spatial_views"] > 1:
        log.note("the resampler reads one view per clip (centre clip, centre crop); the task's extra views are "
                 "not used")
    encoder = load_encoder(context, log)
    spec = sampling_spec(task, views=False)
    train, evaluation = (_split_features(log, context, task, encoder, splits[role], spec, keep, reason)
                         for role in ("train", "eval"))
    shuffled = shuffle_requested(context)
    if shuffled:
        log.note("CONTROL RUN: every training video's texts were moved to another video (--option "
                 "shuffle_train_labels=true); the score measures the LM without the video, not the encoder")
    return DecoderRun(task, context, settings, encoder, train, evaluation, shuffled)


def _split_features(log: RunLog, context: RunContext, task: TaskConfig, encoder: Any, loaded: LoadedSplit,
                    spec: Any, keep: Callable[[Sample], bool], reason: str) -> SplitFeatures:
    samples = [s for s in loaded.samples if keep(s)]
    log.skip(loaded.role, reason, len(loaded.samples) - len(samples))
    if not samples:
        raise VpbenchError(f"{task.name}: split '{loaded.name}' has no usable sample ({reason})")
    videos: dict[tuple, Sample] = {}
    for sample in samples:
        videos.setdefault(_video_key(sample), sample)
    unique = dataclasses.replace(loaded, samples=list(videos.values()))
    prepared = prepare_features(log, context, task, encoder, unique, spec, name=loaded.role, view=0)
    row_of = {_video_key(s): row for row, s in enumerate(prepared.samples)}
    kept = [s for s in samples if _video_key(s) in row_of]
    log.skip(loaded.role, "no_features", len(samples) - len(kept))
    if not kept:
        raise VpbenchError(f"{task.name}: no features for split '{loaded.name}' (every video was skipped; see the "
                           "skipped counts)")
    return SplitFeatures(kept, [row_of[_video_key(s)] for s in kept], prepared.table)


def _video_key(sample: Sample) -> tuple:
    """What makes two samples the same clip: the file and the span (several questions share one)."""
    return str(sample.video_path), sample.clip_span_s, sample.frame_span


def fit(setup: DecoderRun, examples: list[Example], log: RunLog) -> tuple[VideoToText, dict[str, Any]]:
    """Build the LM and train the resampler on ``examples``; the weights go next to the predictions."""
    context = setup.context
    with log.stage("adapter"):
        model, trained = fit_decoder(setup.settings, setup.train.table, setup.video_dim, examples, seed=context.seed,
                                     device=context.device, shuffle_videos=setup.shuffled, progress=True)
    log.counts["train_items"] = len(examples)
    weights = save_adapter(model, setup.output("resampler.safetensors"))
    log.extra["adapter_weights"] = str(weights)
    return model, trained


def score_all(task: TaskConfig, predictions: Path, references: Path, log: RunLog,
              **options: Any) -> tuple[dict[str, float], dict[str, Any]]:
    """Every metric of the task on the written files (the code ``vpbench score`` runs)."""
    scores: dict[str, float] = {}
    details: dict[str, Any] = {}
    with log.stage("score"):
        for metric in task.metrics:
            picked, details[metric["name"]] = score_files(task, metric, predictions, references, log, **options)
            scores.update(picked)
    return scores, details
