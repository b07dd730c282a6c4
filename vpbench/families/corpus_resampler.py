"""The captioning/QA resampler of the paper's zero-shot protocol: trained once on a video-text corpus, cached, shared.

The paper trains one Perceiver Resampler between frozen VideoPrism-B and frozen PaLM-2 on its
pretraining captions, an academic corpus and VQAv2, then evaluates it on every captioning and QA
benchmark without their training videos (App. G). Here the corpus is the user's
(``adapter.corpus``, read by :mod:`vpbench.datasets.video_text_corpus`). The trained resampler
(and the tiny suite's LM, which is trained with it) is saved in the cache under a key of
everything it depends on: the corpus hash, the encoder checkpoint and feature settings, the LM,
the training settings, ``--limit``, the seed and the control flag. The six tasks, and every
rerun, therefore train it once; a changed input can never reuse an old one.

Training examples: every caption after ``adapter.caption_prompt``; every VQA question after
``adapter.few_shot`` text-only demonstrations drawn from other corpus questions and then
``adapter.question_prompt``, the form the evaluation prompts have (the paper does not say how
its training prompts looked).

This module must never read a target dataset: what it trains on is the corpus alone.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from vpbench.adapters.decoder import (TINY_LM, DecoderSettings, Example, LanguageModel, VideoToText,
                                      build_language_model, few_shot_prefix, fit_decoder, load_adapter,
                                      load_tiny_language_model, save_adapter, save_tiny_language_model, with_lora)
from vpbench.atomic import atomic_write_json
from vpbench.datasets import Sample
from vpbench.datasets.video_text_corpus import Corpus, read_corpus
from vpbench.errors import VpbenchError
from vpbench.families.common import LoadedSplit, limit_samples, sampling_spec
from vpbench.families.video_text import DecoderRun, split_features

CACHE_FORMAT = 1
"""Bump when what a cached resampler entry holds, or how its key is made, changes."""
WEIGHTS = "resampler.safetensors"
RECORD = "record.json"
TINY_LM_FOLDER = "lm"


def corpus_resampler(setup: DecoderRun) -> tuple[VideoToText, dict[str, Any]]:
    """The resampler trained on ``adapter.corpus``: from the cache if it holds one for these inputs, else trained
    here and saved there. Returns the model and what the result records about it (``data``, ``lm``,
    ``resampler``, losses)."""
    task, context, log, settings = setup.task, setup.context, setup.log, setup.settings
    with log.stage("read_corpus"):
        corpus = read_corpus(context.data_root, settings.corpus, f"{task.source}: adapter.corpus")
    if corpus.vqa_missing:
        log.deviation("corpus_without_vqa", "the resampler was trained without the corpus's VQAv2 part (files not "
                                            "found); the paper adds VQAv2 to the captions")
        log.note(f"corpus: VQA part declared but not found ({', '.join(str(p) for p in corpus.vqa_missing)}): "
                 "trained on captions only")
    available = corpus.split.available
    if context.strict and corpus.split.missing:
        first = corpus.split.missing[0]
        raise VpbenchError(f"video-text corpus: {len(corpus.split.missing)} video(s) missing, first "
                           f"{first.sample_id!r} expected at {first.expected_path} (--strict)")
    log.skip("corpus", "missing_video", len(corpus.split.samples) - len(available))
    samples = limit_samples(available, context.limit, context.seed)
    if len(samples) < len(available):
        log.deviation("limit", f"--limit {context.limit}: a seeded random subset of each split, not the whole split "
                               "the paper evaluates")
    if not samples:
        raise VpbenchError(f"video-text corpus {Path(context.data_root) / settings.corpus['root']}: no caption or "
                           f"question has its video or image ({len(corpus.split.samples)} annotated)")
    data = {"source": "corpus", "corpus_sha256": corpus.sha256, **corpus.summary,
            "samples_used": len(samples), "limited": len(samples) < len(available)}
    log.fingerprint["training_data"] = data

    lm = None if settings.lm == TINY_LM else build_language_model(settings, [], seed=context.seed,
                                                                  device=context.device)
    key = _cache_key(setup, corpus, len(samples), lm)
    entry = _cache_root(context) / "resamplers" / key
    if (entry / WEIGHTS).is_file():
        with log.stage("adapter_load"):
            model, stored = _load(entry, settings, lm, context.device)
        log.note(f"resampler reused from the cache ({entry}): trained on the video-text corpus "
                 f"{data['root']} (sha256 {corpus.sha256[:12]}), not retrained")
        return model, {**stored, "data": data, "resampler": {"key": key, "path": str(entry / WEIGHTS), "reused": True}}

    loaded = LoadedSplit(role="corpus", name=settings.corpus["root"], split=corpus.split, samples=samples,
                         total=len(corpus.split.samples), without_video=0, limited=data["limited"])
    features = split_features(log, context, task, setup.encoder, loaded, keep=_trainable, reason="no_text")
    examples = corpus_examples(features.samples, features.positions, settings, context.seed)
    with log.stage("adapter"):
        model, trained = fit_decoder(settings, features.table, int(features.table.item_shape[-1]), examples,
                                     seed=context.seed, device=context.device, shuffle_videos=setup.shuffled,
                                     progress=True, lm=lm)
    log.counts["train_items"] = len(examples)
    stored = {**trained, "video_dim": int(features.table.item_shape[-1]), "data": data}
    _save(entry, model, stored, tiny_lm=settings.lm == TINY_LM)
    log.note(f"resampler trained here on the video-text corpus {data['root']} ({len(examples)} examples; sha256 "
             f"{corpus.sha256[:12]}) and saved to the cache ({entry}) for every captioning/QA task")
    return model, {**trained, "data": data, "resampler": {"key": key, "path": str(entry / WEIGHTS), "reused": False}}


def corpus_examples(samples: list[Sample], positions: list[int], settings: DecoderSettings,
                    seed: int) -> list[Example]:
    """Training examples: each caption after the caption prompt; each question after ``few_shot``
    demonstrations from other corpus questions (seeded), then the question prompt."""
    questions = [(s.question, s.answer) for s in samples if s.question is not None]
    rng = np.random.default_rng([int(seed), 4242])
    examples, asked = [], 0
    for sample, position in zip(samples, positions):
        if sample.question is None:
            examples += [Example(position, settings.caption_prompt, caption) for caption in sample.captions]
            continue
        others = [i for i in rng.choice(len(questions), size=min(settings.few_shot + 1, len(questions)),
                                        replace=False) if i != asked][:settings.few_shot]
        prefix = few_shot_prefix([questions[i] for i in others], settings.question_prompt)
        examples.append(Example(position, prefix + settings.question_prompt.format(question=sample.question),
                                sample.answer))
        asked += 1
    return examples


def _trainable(sample: Sample) -> bool:
    return bool(sample.captions) or (bool(sample.question) and bool((sample.answer or "").strip()))


def _cache_key(setup: DecoderRun, corpus: Corpus, used: int, lm: LanguageModel | None) -> str:
    """A digest of everything the trained resampler depends on (never of the evaluated task)."""
    from vpbench.features.keys import FeatureSettings, model_fingerprint

    task, context = setup.task, setup.context
    features = FeatureSettings(model=model_fingerprint(setup.encoder), spec=sampling_spec(task, views=False),
                               layout=task.features.get("layout", "tokens"),
                               dtype=task.features.get("dtype", "float32")).digest()
    if lm is None:
        language_model: dict[str, Any] = {"tiny": TINY_LM}
    else:
        language_model = {k: lm.info.get(k) for k in ("source", "class", "name_or_path", "commit", "parameters",
                                                      "vocabulary")}
        language_model["files"] = _folder_listing(lm.info["source"])
    payload = {"format": CACHE_FORMAT, "corpus_sha256": corpus.sha256, "samples_used": used, "limit": context.limit,
               "features": features, "lm": language_model, "training": setup.settings.training_dict(),
               "seed": context.seed, "shuffled": setup.shuffled}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:32]


def _folder_listing(source: str) -> list[tuple[str, int, int]] | None:
    """(name, size, mtime) of a local LM folder's files: an LM replaced in place gets a new key."""
    folder = Path(source)
    if not folder.is_dir():
        return None
    return sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in folder.iterdir() if p.is_file())


def _cache_root(context) -> Path:
    from vpbench.features import default_cache_dir

    return Path(context.cache_dir) if context.cache_dir is not None else default_cache_dir()


def _save(entry: Path, model: VideoToText, stored: dict[str, Any], *, tiny_lm: bool) -> None:
    """Write the entry into a temp folder, then rename it into place: a killed run leaves no half entry."""
    entry.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{entry.name}.", dir=entry.parent))
    try:
        save_adapter(model, staging / WEIGHTS)
        if tiny_lm:
            save_tiny_language_model(model.lm, staging / TINY_LM_FOLDER)
        atomic_write_json(staging / RECORD, stored)
        try:
            os.replace(staging, entry)
        except OSError:  # another process saved the same entry first: its bytes are as good
            if not (entry / WEIGHTS).is_file():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _load(entry: Path, settings: DecoderSettings, lm: LanguageModel | None,
          device: str) -> tuple[VideoToText, dict[str, Any]]:
    """The cached resampler (and, for the tiny suite, its LM) and the record saved with it."""
    try:
        stored = json.loads((entry / RECORD).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise VpbenchError(f"{entry / RECORD}: unreadable cached resampler record ({error}); delete {entry}") from None
    if lm is None:
        lm = load_tiny_language_model(entry / TINY_LM_FOLDER, stored["lm"], device=device)
        lm = with_lora(lm, settings.lora) if settings.lora else lm
    return load_adapter(lm, entry / WEIGHTS, settings, int(stored["video_dim"])), stored
