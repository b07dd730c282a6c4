"""What the captioning and QA families share: settings, features per video, in-domain training, scoring, the record.

A captioning or QA run (:mod:`vpbench.families.captioning`, :mod:`vpbench.families.qa`) is:
:func:`prepare` (settings, the evaluation split's features, the target's training texts or
features) -> a resampler, either the one trained on the video-text corpus
(:func:`vpbench.families.corpus_resampler.corpus_resampler`, the paper's zero-shot protocol and
the default) or, for the ``in-domain`` variant (``adapter.train_on: target``), one trained here on
the target's own train split (:func:`fit_in_domain`) -> decoding -> files -> :func:`score_all`
-> :meth:`DecoderRun.record`.

This module must never train on, or choose anything with, the evaluation split.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from vpbench.adapters.decoder import (TINY_LM, DecoderSettings, Example, VideoToText, decoder_settings, fit_decoder,
                                      save_adapter)
from vpbench.datasets import Sample, read_split
from vpbench.errors import VpbenchError
from vpbench.families import RunContext
from vpbench.families.common import (FeatureTable, LoadedSplit, RunLog, load_encoder, model_info, output_path,
                                     prepare_features, read_splits, safe_name, sampling_spec, score_files,
                                     shuffle_requested)
from vpbench.registry import TaskConfig
from vpbench.results import RunRecord


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
    """What a captioning or QA run has once the data is read and the features extracted.

    ``train`` holds the target's training features only in the ``in-domain`` variant;
    ``train_texts`` are the target's training samples used as text only (QA: the two-shot
    demonstrations and the closed vocabulary), never their videos.
    """

    task: TaskConfig
    context: RunContext
    log: RunLog
    settings: DecoderSettings
    encoder: Any
    evaluation: SplitFeatures
    train: SplitFeatures | None
    train_texts: list[Sample]
    shuffled: bool

    @property
    def in_domain(self) -> bool:
        return self.settings.train_on == "target"

    @property
    def video_dim(self) -> int:
        return int(self.evaluation.table.item_shape[-1])

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

    def record(self, scores: dict[str, float], details: dict[str, Any], training: dict[str, Any],
               *, extra_adapter: dict[str, Any] | None = None) -> RunRecord:
        """The RunRecord: the adapter (what trained it, the LM that answered) and the protocol fingerprint."""
        settings, log = self.settings, self.log
        lm = training["lm"]
        adapter = {**settings.as_dict(), "variant": self.variant, **training, **(extra_adapter or {})}
        sampling = self.task.sampling
        log.fingerprint.update({
            "frames": sampling["frames"], "resolution": sampling["resolution"], "sampling": dict(sampling),
            "views": {"train": "1 (centre clip, centre crop)", "eval": "1 (centre clip, centre crop)"},
            "features": dict(self.task.features),
            "adapter": {k: v for k, v in settings.as_dict().items() if k != "type"},
            "training_data": training["data"],
            "lm": {"source": lm["source"], "class": lm["class"], "commit": lm.get("commit"),
                   "parameters": lm["parameters"], "lora": lm["lora"], "dtype": lm["dtype"]},
            "closed_vocabulary": settings.closed_vocabulary,
            "shuffled_train_labels": self.shuffled,
        })
        if settings.lm == TINY_LM:
            log.note(f"LM: '{TINY_LM}', a small GPT-2 trained in this run on the resampler's training texts only "
                     "(a stand-in for a pretrained LM; numbers are not comparable to the paper's PaLM-2)")
        return log.record(scores, adapter=adapter, model=model_info(self.encoder, self.context), metric=details)


def prepare(task: TaskConfig, context: RunContext, log: RunLog, *, keep: Callable[[Sample], bool], reason: str,
            train_texts: bool) -> DecoderRun:
    """Settings, the evaluation split's features, and what the run needs of the target's train split.

    In-domain, the train split's features (samples failing ``keep`` counted as skipped for
    ``reason``); otherwise, with ``train_texts``, its samples as text only (no video is read).
    """
    settings = decoder_settings(task.adapter, f"{task.source}: adapter", context.options.get("lm"))
    if "lm" in context.options:
        log.deviation("lm_option", f"--option lm={context.options['lm']}: the LM was chosen by the user, not the "
                                   f"task's stand-in ({task.adapter.get('lm')})")
    in_domain = settings.train_on == "target"
    splits = read_splits(task, context, log, roles=("train", "eval") if in_domain else ("eval",))
    if task.sampling["temporal_views"] * task.sampling["spatial_views"] > 1:
        log.note("the resampler reads one view per clip (centre clip, centre crop); the task's extra views are "
                 "not used")
    encoder = load_encoder(context, log)
    evaluation = split_features(log, context, task, encoder, splits["eval"], keep, reason)
    train = split_features(log, context, task, encoder, splits["train"], keep, reason) if in_domain else None
    texts = train.samples if train is not None else (_train_texts(task, context, log, keep) if train_texts else [])
    shuffled = shuffle_requested(context)
    if shuffled:
        log.note("CONTROL RUN: every training video's texts were moved to another video (--option "
                 "shuffle_train_labels=true); the score measures the LM without the video, not the encoder")
    return DecoderRun(task, context, log, settings, encoder, evaluation, train, texts, shuffled)


def _train_texts(task: TaskConfig, context: RunContext, log: RunLog, keep: Callable[[Sample], bool]) -> list[Sample]:
    """The target's training samples as text only (every annotated sample, whether its video exists or not)."""
    name = task.dataset.get("train_split")
    if name is None:
        raise VpbenchError(f"{task.source}: task '{task.name}' needs 'dataset.train_split' (its training texts give "
                           "the few-shot demonstrations and the closed vocabulary)")
    with log.stage("read"):
        split = read_split(task, context.data_root, name, context.user_files)
    samples = [s for s in split.samples if keep(s)]
    log.fingerprint.setdefault("splits", {})["train"] = {
        "name": name, "sha256": split.split_sha256(),
        "annotation_files": [Path(p).name for p in split.annotation_files],
        "samples_in_split": len(split.samples), "samples_used": len(samples), "limited": False,
        "used_as": "text only (few-shot demonstrations, closed vocabulary); no video of this split is read"}
    if not samples:
        raise VpbenchError(f"{task.name}: split '{name}' has no usable training text")
    return samples


def split_features(log: RunLog, context: RunContext, task: TaskConfig, encoder: Any, loaded: LoadedSplit,
                   keep: Callable[[Sample], bool], reason: str) -> SplitFeatures:
    """One centred view per distinct clip of ``loaded`` (through the cache), and each kept sample's row."""
    samples = [s for s in loaded.samples if keep(s)]
    log.skip(loaded.role, reason, len(loaded.samples) - len(samples))
    if not samples:
        raise VpbenchError(f"{task.name}: split '{loaded.name}' has no usable sample ({reason})")
    videos: dict[tuple, Sample] = {}
    for sample in samples:
        videos.setdefault(_video_key(sample), sample)
    unique = dataclasses.replace(loaded, samples=list(videos.values()))
    prepared = prepare_features(log, context, task, encoder, unique, sampling_spec(task, views=False),
                                name=loaded.role, view=0)
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


def fit_in_domain(setup: DecoderRun, examples: list[Example]) -> tuple[VideoToText, dict[str, Any]]:
    """The ``in-domain`` variant: the LM built and a resampler trained on the target's own training
    ``examples``; its weights go next to the predictions."""
    context, log, train = setup.context, setup.log, setup.train
    if train is None:
        raise VpbenchError(f"{setup.task.name}: in-domain training needs the target's train split features")
    with log.stage("adapter"):
        model, trained = fit_decoder(setup.settings, train.table, setup.video_dim, examples, seed=context.seed,
                                     device=context.device, shuffle_videos=setup.shuffled, progress=True)
    log.counts["train_items"] = len(examples)
    weights = save_adapter(model, setup.output("resampler.safetensors"))
    loaded = log.fingerprint["splits"]["train"]
    data = {"source": "target", "task": setup.task.name, "split": loaded["name"], "split_sha256": loaded["sha256"]}
    log.note(f"IN-DOMAIN: the resampler was trained on {setup.task.name}'s own '{loaded['name']}' split, not on a "
             "separate video-text corpus (the paper evaluates zero-shot)")
    return model, {**trained, "data": data, "resampler": {"path": str(weights), "reused": False}}


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
