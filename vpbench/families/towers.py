"""The two towers of a zero-shot run: video embeddings of a split, and a text embedder.

``adapter.text_tower`` (``--option text_tower=...`` overrides it) chooses where they come from:

* ``released``: the video-text checkpoint's own towers, as the paper evaluates the LvT model. The
  video side is the model's L2-normalised video embedding (feature layout ``embedding``), the text
  side its text encoder (another encoder with a text tower, e.g. CLIP per frame, brings its own
  tokenizer). ``--option shuffle_train_labels=true`` (the negative control) applies only to a model
  vpbench trained itself: :func:`zeroshot_context` then runs its control twin, trained by the same
  recipe with captions permuted against clips (``tiny-lvt`` -> ``tiny-lvt-shuffled-captions``).
* ``lit``: a text tower trained here (:mod:`vpbench.adapters.lit`) against the frozen video
  features, for checkpoints without a text tower (VideoPrism-B/L) or as a control on an LvT
  one. It learns from the (video, caption) pairs of a training split: the task's own
  ``dataset.train_split`` for retrieval tasks, otherwise the train split of the task named by
  ``adapter.lit_data`` / ``--option lit_data=TASK`` (default ``msrvtt-retrieval``, read from
  the same data root). ``--option lit_tower=PATH`` uses a tower saved by an earlier run instead.
  A trained tower is saved under ``<cache>/lit/`` keyed by everything it depends on, so a
  second task (or run) with the same encoder, tokenizer and data reuses it.

Tokenizer: ``--option tokenizer=PATH`` (or ``hf://owner/repo/file``), else the vocabulary a
known model name bundles (the tiny models: the official test SentencePiece model), else a
``sentencepiece.model`` beside the checkpoint, else ``$VPBENCH_SPM_MODEL``; otherwise a
MissingDependencyError names the file (the released ``c4_en`` vocabulary is not public).

The result's ``adapter`` block records which tower ran, the tokenizer's hash, and for LiT the
data it was trained on. This module must never train on, or select with, the evaluation split.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Collection

import numpy as np

from vpbench.errors import MissingDependencyError, RegistryError, VpbenchError
from vpbench.families import RunContext
from vpbench.datasets import Sample
from vpbench.families.common import (FeatureTable, RunLog, load_encoder, prepare_features, read_splits,
                                     sampling_spec, shuffle_requested)
from vpbench.families.text_embeddings import TextEmbedder, TextTower
from vpbench.registry import TaskConfig

TEXT_TOWERS = ("released", "lit")
DEFAULT_LIT_DATA = "msrvtt-retrieval"
SPM_FILE_NAME = "sentencepiece.model"
"""The released vocabulary's file name (``gs://t5-data/vocabs/cc_en.32000/sentencepiece.model``)."""
TEXT_MAX_LENGTH = 64


@dataclass
class Towers:
    """What a zero-shot runner needs: the feature layout to extract, video and text embeddings."""

    text: TextEmbedder
    video_layout: str
    record: dict[str, Any]
    """The result's ``adapter`` block."""
    embed_features: Callable[[np.ndarray], np.ndarray]
    """Frozen features ``[N, ...]`` -> L2-normalised embeddings ``[N, D]``."""

    def embed_videos(self, table: FeatureTable, batch_size: int = 1024) -> np.ndarray:
        """L2-normalised ``[N, D]``; with several views, their embeddings averaged and renormalised."""
        out = []
        for start in range(0, len(table), batch_size):
            features = table(range(start, min(start + batch_size, len(table)))).numpy()  # [b, V, ...]
            count, views = features.shape[:2]
            embeddings = self.embed_features(features.reshape(count * views, *features.shape[2:]))
            out.append(_normalise(embeddings.reshape(count, views, -1).mean(axis=1)))
        if not out:
            raise VpbenchError("no video features to embed")
        return np.concatenate(out).astype(np.float32)

    def prepare(self, log: RunLog, context: RunContext, task: TaskConfig, model: Any, loaded, *, name: str):
        """The evaluation split's features in this towers' layout, every view kept."""
        return prepare_features(log, context, task, model, loaded, sampling_spec(task), name=name, view=None,
                                layout=self.video_layout)


@dataclass
class EvalVideos:
    """The evaluation split of a zero-shot run, embedded: ``samples[i]`` has ``embeddings[i]``."""

    model: Any
    towers: Towers
    samples: list[Sample]
    embeddings: np.ndarray
    class_names: list[str]


def zeroshot_context(task: TaskConfig, context: RunContext) -> RunContext:
    """The run's context, with the model swapped for its control twin when the control is asked of a
    released tower that vpbench trained itself (see the module docstring)."""
    if not shuffle_requested(context) or text_tower_mode(task, context) != "released":
        return context
    from vpbench.models.zoo import MODELS

    entry = MODELS.get(str(context.model))
    if entry is None or entry.control is None:
        raise VpbenchError(f"{task.name}: --option shuffle_train_labels=true is the control of a text tower trained "
                           f"here; the released tower of {context.model} was not trained here (add --option "
                           "text_tower=lit to train a LiT tower, whose captions the control then permutes)")
    return dataclasses.replace(context, model=entry.control)


def embed_eval_videos(task: TaskConfig, context: RunContext, log: RunLog,
                      usable: Callable[[Sample], bool] = lambda sample: True, unusable_reason: str = "",
                      class_subset: Collection[str] | None = None) -> EvalVideos:
    """Read the evaluation split, build the towers, extract and embed every usable sample's video.

    Samples ``usable`` rejects (no label, no candidates...) are counted as skipped with
    ``unusable_reason`` before any video is decoded; with ``class_subset``, so are samples none of
    whose labels it names (``not_in_class_splits``: Kinetics-400 classes in a Kinetics-600 new-class run).
    """
    loaded = read_splits(task, context, log, roles=("eval",))["eval"]
    kept = [s for s in loaded.samples if usable(s)]
    log.skip("eval", unusable_reason, len(loaded.samples) - len(kept))
    if class_subset is not None:
        names, subset = loaded.class_names, set(class_subset)
        inside = [s for s in kept if any(names[i] in subset for i in ((s.label,) if s.label is not None else s.labels))]
        log.skip("eval", "not_in_class_splits", len(kept) - len(inside))
        kept = inside
    if not kept:
        raise VpbenchError(f"{task.name}: no usable sample in split '{loaded.name}' ({unusable_reason})")
    model = load_encoder(context, log)
    towers = build_towers(task, context, log, model)
    prepared = towers.prepare(log, context, task, model, dataclasses.replace(loaded, samples=kept), name="eval")
    if not prepared.samples:
        raise VpbenchError(f"{task.name}: no features for split '{loaded.name}' (every video was skipped; see the "
                           "skipped counts)")
    with log.stage("embed_videos"):
        embeddings = towers.embed_videos(prepared.table)
    log.evaluated(len(prepared.samples))
    return EvalVideos(model=model, towers=towers, samples=prepared.samples, embeddings=embeddings,
                      class_names=list(loaded.class_names))


def zeroshot_fingerprint(task: TaskConfig, towers: Towers) -> dict[str, Any]:
    """What every zero-shot result must state to be comparable: input, views, layout, text tower."""
    sampling = task.sampling
    lit = towers.record.get("lit", {})
    return {
        "frames": sampling["frames"],
        "resolution": sampling["resolution"],
        "sampling": dict(sampling),
        "views": {"temporal": sampling["temporal_views"], "spatial": sampling["spatial_views"],
                  "fusion": "mean of L2-normalised view embeddings, renormalised"},
        "features": {**task.features, "layout": towers.video_layout},
        "text_tower": towers.record["text_tower"],
        **({"model_recipe": towers.record["model_recipe"]} if "model_recipe" in towers.record else {}),
        "shuffled_train_labels": towers.record["shuffled_captions"],
        "tokenizer_sha256": towers.record["tokenizer"]["sha256"],
        "text_max_length": towers.record["tokenizer"]["max_length"],
        **({"lit": {"data": lit.get("data"), "architecture": lit.get("architecture"),
                    "training": lit.get("training")}} if lit else {}),
    }


def texts_at_max_length(tokenizer: Any, texts: list[str]) -> int:
    """How many texts fill every token position (and so were probably truncated)."""
    unique = list(dict.fromkeys(texts))
    full = 0
    for start in range(0, len(unique), 4096):
        _, paddings = tokenizer(unique[start:start + 4096])
        full += int((paddings[:, -1] == 0).sum())
    return full


def _normalise(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x / np.sqrt((x * x).sum(axis=-1, keepdims=True) + 1e-12)


def text_tower_mode(task: TaskConfig, context: RunContext) -> str:
    mode = str(context.options.get("text_tower", task.adapter.get("text_tower", "released")))
    if mode not in TEXT_TOWERS:
        raise RegistryError(f"text tower {mode!r} (adapter.text_tower or --option text_tower): expected one of "
                            f"{list(TEXT_TOWERS)}")
    return mode


def resolve_tokenizer(task: TaskConfig, context: RunContext):
    """The tokenizer of the text tower (see the module docstring for where it is looked for)."""
    from vpbench.models.tokenizer import Tokenizer
    from vpbench.models.zoo import MODELS, checkpoint_dir

    max_length = int(task.adapter.get("text_max_length", TEXT_MAX_LENGTH))
    spec = context.options.get("tokenizer")
    if spec is None:
        entry = MODELS.get(task.model if context.tiny else str(context.model))
        if entry is not None and entry.spm_path:
            spec = entry.spm_path
    if spec is None:
        model_path = Path(str(context.model)).expanduser()
        folder = model_path.parent if model_path.is_file() else checkpoint_dir()
        if (folder / SPM_FILE_NAME).is_file():
            spec = folder / SPM_FILE_NAME
    try:
        return Tokenizer(spec, max_length=max_length)
    except MissingDependencyError as error:
        raise MissingDependencyError(
            f"{task.name}: no tokenizer for the text tower. {error} With `vpbench run`, pass "
            f"--option tokenizer=/path/to/{SPM_FILE_NAME}, or put {SPM_FILE_NAME} beside the checkpoint.") from None


def build_towers(task: TaskConfig, context: RunContext, log: RunLog, model: Any) -> Towers:
    """The towers ``adapter.text_tower`` asks for; a LiT tower is trained (or reused) here.

    ``released`` needs an encoder with a text tower (``card.text``): VideoPrism LvT with the task's
    SentencePiece vocabulary, or a transformers video-text model with its own tokenizer.
    """
    mode = text_tower_mode(task, context)
    card = model.card
    own_tokenizer = card.text and mode == "released"
    tokenizer = (model.text_tokenizer(int(task.adapter.get("text_max_length", TEXT_MAX_LENGTH))) if own_tokenizer
                 else None) or resolve_tokenizer(task, context)
    record: dict[str, Any] = {
        "type": "lvt", "text_tower": mode,
        "tokenizer": {"file": Path(tokenizer.path).name, "sha256": _sha256(tokenizer.path),
                      "vocab_size": tokenizer.vocab_size, "max_length": tokenizer.max_length,
                      "add_bos": bool(tokenizer.add_bos)},
    }
    cache_root = _cache_root(context)
    if mode == "released":
        from vpbench.models.zoo import MODELS

        entry = MODELS.get(str(context.model))
        shuffled = any(other.control == str(context.model) for other in MODELS.values())
        if shuffle_requested(context) and not shuffled:
            raise VpbenchError(f"{task.name}: --option shuffle_train_labels=true with model {context.model}, which is "
                               "not a control model (zeroshot_context chooses the control twin of a model trained "
                               "here)")
        if shuffled:
            log.note(f"CONTROL RUN: {context.model} was trained by its model's recipe with captions permuted "
                     "against clips (--option shuffle_train_labels=true); the score measures chance, not the encoder")
        if entry is not None and entry.trained_here:
            record["model_recipe"] = entry.trained_here
        if not card.text:
            raise VpbenchError(
                f"{task.name}: model {context.model} has no text tower (a {card.backend} video encoder only); "
                f"zero-shot tasks need a video-text model (e.g. --model videoprism-lvt-b, or a CLIP/SigLIP "
                f"checkpoint), or a LiT text tower trained here against this encoder: --option text_tower=lit "
                f"(see `vpbench show {task.name}`)")
        if card.text_vocab_size is not None and tokenizer.vocab_size > card.text_vocab_size:
            raise VpbenchError(f"{task.name}: tokenizer {tokenizer.path} has {tokenizer.vocab_size} pieces but the "
                               f"model's text tower knows {card.text_vocab_size}: wrong vocabulary file")
        encode = lambda ids, pads: model.encode_text(ids, pads).cpu().numpy()  # noqa: E731
        text = TextEmbedder(TextTower(encode, card.identity, "released"), tokenizer, cache_root)
        variant = "lvt-released" if card.backend == "videoprism" else f"{card.backend}-released"
        return Towers(text=text, video_layout="embedding", embed_features=_normalise,
                      record={**record, "variant": variant + ("-shuffled-captions" if shuffled else ""),
                              "shuffled_captions": shuffled})

    from vpbench.adapters.lit import embed_tokens, embed_video

    if task.adapter.get("text_tower") != "lit":  # chosen by --option, not by the task or its variant
        log.deviation("lit-text-tower", "text tower trained here on one dataset's training captions "
                                        "(--option text_tower=lit), not the paper's LiT tower")
    layout = "embedding" if "embedding" in card.outputs else "frame_pooled"
    lit_model, tower_path, lit_record = _lit_tower(task, context, log, model, tokenizer, layout, cache_root)
    device = context.device
    encode = lambda ids, pads: embed_tokens(lit_model, ids, pads, device=device)  # noqa: E731
    text = TextEmbedder(TextTower(encode, _sha256(tower_path), "lit"), tokenizer, cache_root)
    return Towers(text=text, video_layout=layout,
                  embed_features=lambda features: embed_video(lit_model, features, device=device),
                  record={**record, "variant": f"lit-{lit_record['data']['task']}"
                          + ("-shuffled-captions" if lit_record["data"].get("shuffled_captions") else ""),
                          "shuffled_captions": bool(lit_record["data"].get("shuffled_captions")), "lit": lit_record})


def _cache_root(context: RunContext) -> Path:
    from vpbench.features import default_cache_dir

    return Path(context.cache_dir) if context.cache_dir is not None else default_cache_dir()


def lit_data_task(task: TaskConfig, context: RunContext) -> TaskConfig:
    """The task whose training split's (video, caption) pairs train the LiT tower."""
    from vpbench.registry import load_registry

    name = context.options.get("lit_data") or task.adapter.get("lit_data")
    if name is None:
        name = task.name if task.family == "retrieval" and "train_split" in task.dataset else DEFAULT_LIT_DATA
    data_task = task if name == task.name else load_registry().task(str(name))
    if "train_split" not in data_task.dataset:
        raise RegistryError(f"LiT training data: task '{data_task.name}' has no 'dataset.train_split' with captions; "
                            f"choose another with --option lit_data=TASK (e.g. {DEFAULT_LIT_DATA})")
    return data_task.for_tiny() if context.tiny and data_task is not task else data_task


def _lit_tower(task: TaskConfig, context: RunContext, log: RunLog, model: Any, tokenizer: Any, layout: str,
               cache_root: Path):
    """(tower, its file, its record): loaded from --option lit_tower, reused from the cache, or trained."""
    from vpbench.adapters.lit import lit_settings, load_lit, save_lit, train_lit

    given = context.options.get("lit_tower")
    if given:
        lit_model, provenance = load_lit(given)
        _check_compatible(provenance, model, tokenizer, layout, given)
        log.note(f"LiT text tower loaded from {given} (trained on {provenance.get('data', {}).get('task')})")
        return lit_model.to(context.device), Path(given), {**provenance, "source": "given", "path": str(given)}

    data_task = lit_data_task(task, context)
    data_context = context
    if context.tiny and data_task.name != task.name:
        from vpbench.tiny import default_tiny_root, make_tiny

        data_context = dataclasses.replace(
            context, data_root=make_tiny(data_task, default_tiny_root() / data_task.name, seed=context.seed))
    loaded = read_splits(data_task, data_context, log, roles=("train",))["train"]
    with_captions = [s for s in loaded.samples if s.captions]
    log.skip("train", "no_caption", len(loaded.samples) - len(with_captions))
    loaded = dataclasses.replace(loaded, samples=with_captions)
    prepared = prepare_features(log, context, task, model, loaded, sampling_spec(task, views=False),
                                name="lit_train", view=0, layout=layout)
    config, training = lit_settings(task.adapter.get("lit"))
    captions = [s.captions for s in prepared.samples]
    shuffled = shuffle_requested(context)
    if shuffled:  # the control: captions of other videos, so nothing true can be learned
        captions = [captions[i] for i in np.random.default_rng([context.seed, 31337]).permutation(len(captions))]
        log.note("CONTROL RUN: the LiT training captions were randomly permuted across videos "
                 "(--option shuffle_train_labels=true); the score measures chance, not the encoder")
    data = {"task": data_task.name, "split": loaded.name, "split_sha256": loaded.split.split_sha256(),
            "videos": len(prepared.samples), "pairs": int(sum(len(c) for c in captions)),
            "limited": loaded.limited, "shuffled_captions": shuffled}
    provenance = {
        "model_checkpoint_sha256": model.card.checkpoint_sha256,
        "tokenizer_sha256": _sha256(tokenizer.path), "tokenizer_max_length": tokenizer.max_length,
        "video_layout": layout, "feature_settings": prepared.extraction.settings.get("digest"),
        "sampling": sampling_spec(task, views=False).as_dict(), "data": data,
        "architecture": dataclasses.asdict(config), "training": training, "seed": context.seed,
    }
    key = hashlib.sha256(json.dumps(provenance, sort_keys=True, default=str).encode()).hexdigest()[:32]
    path = cache_root / "lit" / f"{key}.safetensors"
    if path.is_file():
        lit_model, stored = load_lit(path)
        log.note(f"LiT text tower reused from the cache ({path})")
        return lit_model.to(context.device), path, {**stored, "source": "cache", "path": str(path)}
    if len(prepared.samples) < 4:
        raise VpbenchError(f"LiT training data: only {len(prepared.samples)} video(s) with captions and features in "
                           f"split '{loaded.name}' of task '{data_task.name}'")
    with log.stage("lit_train"):
        lit_model, trained = train_lit(prepared.table(range(len(prepared.samples))).numpy(), captions, tokenizer,
                                       config, training, seed=context.seed, device=context.device,
                                       progress=True)
    provenance = {**provenance, "selection": trained["selection"], "final_train_loss": trained["final_train_loss"]}
    save_lit(lit_model, path, provenance)
    log.note(f"LiT text tower trained here on {data['pairs']} captions of {data['videos']} videos "
             f"({data_task.name}, split '{loaded.name}'); saved to {path}")
    return lit_model, path, {**provenance, "source": "trained", "path": str(path)}


def _check_compatible(provenance: dict[str, Any], model: Any, tokenizer: Any, layout: str, path: str) -> None:
    """A given tower must match this encoder, tokenizer and feature layout, or its numbers mean nothing."""
    expected = {"model_checkpoint_sha256": model.card.checkpoint_sha256,
                "tokenizer_sha256": _sha256(tokenizer.path), "video_layout": layout}
    for key, value in expected.items():
        if provenance.get(key) != value:
            raise VpbenchError(f"--option lit_tower={path}: the tower was trained with {key}={provenance.get(key)!r}, "
                               f"this run has {value!r}")


def _sha256(path: Any) -> str:
    from vpbench.models.checkpoint import sha256_file

    return sha256_file(path)
