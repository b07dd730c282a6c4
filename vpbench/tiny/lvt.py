"""The tiny suite's video-text model: ``tiny-lvt``, an LvT trained here at first use.

Why it exists: the zero-shot families (retrieval, zero-shot classification, multiple choice) run on
the tiny suite with the LvT's own ("released") text tower, the path users run with the official
checkpoints. A random-weight LvT scores at chance there, so the regression gate could not fail
in those families. This model's towers agree on the facts the tiny videos show (colour, shape,
direction), so its tiny scores stand well above chance, and its control twin (captions permuted
against clips in the same recipe) stands at chance.

The recipe (:data:`RECIPE_VERSION`; one torch thread; deterministic on a given machine; a few
seconds) starts from the random ``tiny-lvt`` weights (``checkpoint.random_arrays``, seed 0):

1. **Text tower**: trained with Adam on sentences of the tiny caption language
   (:func:`training_sentence`: the tiny suite's caption templates, and phrases naming any subset
   of a clip's facts, among filler words) to map each sentence to the normalised sum of fixed
   orthonormal directions, one per fact word it names (``"something red moving left"`` ->
   red + left). Only texts are seen. The final LayerNorm stays the identity, so text embeddings
   are zero-mean, like the pooler's output below.
2. **Video tower**: the random encoder and auxiliary layers are kept as drawn. The contrastive
   pooler is fitted in closed form: its query is zero (attention = the mean over tokens), its value
   projection passes the mean token through, and its output projection is the ridge regression
   of :data:`TRAIN_CLIPS` procedural clips' mean tokens onto the text tower's (mean, normalised)
   embedding of each clip's captions. ``shuffled_captions=True`` gives each clip the captions of
   another clip (a seeded permutation): the negative control, whose video tower learns nothing
   true.

Two documented costs of keeping it cheap: mean pooling over a random encoder reads colour
exactly but shape and direction only partly (a probe of the same features: ~0.57 and ~0.65
accuracy), and training clips are rendered frames, not decoded video files. The result is written
in the official ``.npz`` layout (``checkpoint.from_state_dict``) and read back through the normal
loader. This module never downloads anything and never reads a dataset.
"""

from __future__ import annotations

import contextlib
import functools
from typing import Iterator

import numpy as np

from vpbench.models.config import VideoPrismConfig
from vpbench.tiny.video import COLOURS, DIRECTIONS, SHAPES, ShapeTrack, random_clips, render
from vpbench.tiny.writers._language import paraphrases, towards

RECIPE_VERSION = 1
"""Bump whenever the recipe below changes: it names the checkpoint file and the gate identity."""
RECIPES = {f"tiny-lvt/v{RECIPE_VERSION}": False, f"tiny-lvt-shuffled-captions/v{RECIPE_VERSION}": True}
"""Recipe id (``ModelEntry.trained_here``) -> whether captions are permuted against clips."""
SEED = 0
TRAIN_CLIPS = 288
"""Procedural clips the pooler is fitted on: six per (colour, shape, direction) combination."""
TEXT_STEPS = 120
TEXT_BATCH = 32
TEXT_LR = 3e-3
TEXT_TRAIN_LENGTH = 16
RIDGE_LAMBDA = 1.0
CLIP_FRAMES, CLIP_SIZE, INPUT_FRAMES, INPUT_SIZE = 32, 64, 8, 32
"""Clips as the tiny writers render them (32 frames of 64 px), sampled as the tiny suite does (8 of 32 px)."""
FACT_WORDS: tuple[str, ...] = (*COLOURS, *SHAPES, *DIRECTIONS)
_FILLER = ("a the of video photo clip example demonstration person someone doing using during performing practicing "
           "holding what does do how which object appears in across is and with this that shows there we see one "
           "here it its").split()
_OPPOSITE = {"left": "right", "right": "left", "up": "down", "down": "up"}


def training_sentence(rng: np.random.Generator) -> tuple[str, tuple[str, ...]]:
    """A sentence of the tiny caption language and the fact words it names.

    Three in ten are the tiny suite's full captions (:func:`paraphrases`); the rest name a random
    non-empty subset of colour, shape and direction in varied phrasing ("something red", "a
    circle", "moving from left to right"), with filler words before, after or around them, so
    that class names inside prompt templates and question-answer candidates map to their facts.
    """
    colour, shape, direction = (str(rng.choice(list(values))) for values in (COLOURS, SHAPES, DIRECTIONS))
    if rng.random() < 0.3:
        track = ShapeTrack(colour, shape, direction, "slowly", (0.0, 0.0), 1.0)
        return str(rng.choice(paraphrases(track, count=10))), (colour, shape, direction)
    keep = rng.random(3) < 0.6
    if not keep.any():
        keep[rng.integers(3)] = True
    named = tuple(fact for fact, kept in zip((colour, shape, direction), keep) if kept)
    parts = []
    if keep[0] or keep[1]:
        parts.append(_object_phrase(colour if keep[0] else None, shape if keep[1] else None, rng))
    if keep[2]:
        parts.append(str(rng.choice([f"moves {direction}", f"moving {direction}", f"goes {direction}",
                                     f"is moving {towards(direction)}", f"travels {towards(direction)}",
                                     f"from {_OPPOSITE[direction]} to {direction}", direction,
                                     f"slides {direction}"])))
    if len(parts) == 2 and rng.random() < 0.3:
        parts.reverse()
    words = " ".join(parts).split()
    for _ in range(int(rng.integers(0, 6))):
        words.insert(int(rng.integers(0, len(words) + 1)), str(rng.choice(_FILLER)))
    return " ".join(words) + ("." if rng.random() < 0.3 else ""), named


def _object_phrase(colour: str | None, shape: str | None, rng: np.random.Generator) -> str:
    if colour and shape:
        options = [f"a {colour} {shape}", f"the {colour} {shape}", f"a {shape} that is {colour}", f"{colour} {shape}"]
    elif colour:
        options = [f"something {colour}", f"a {colour} object", f"a {colour} thing", f"the {colour} one", colour]
    else:
        options = [f"a {shape}", f"the {shape}", f"{shape}"]
    return str(rng.choice(options))


def fact_directions(dim: int) -> np.ndarray:
    """[len(FACT_WORDS), dim] orthonormal, zero-mean rows: the embedding of each fact word."""
    basis = np.random.default_rng([SEED, 11]).normal(size=(dim, len(FACT_WORDS)))
    basis -= basis.mean(axis=0, keepdims=True)
    return np.linalg.qr(basis)[0].T.astype(np.float32)


def write_tiny_lvt(path, config: VideoPrismConfig, *, recipe: str):
    """Train (or reuse this process's training of) the model ``recipe`` names (a key of
    :data:`RECIPES`) and write it as an official ``.npz``."""
    from vpbench.errors import CheckpointError
    from vpbench.models.checkpoint import write_checkpoint

    if recipe not in RECIPES:
        raise CheckpointError(f"{path}: recipe {recipe!r} is not one this vpbench trains ({sorted(RECIPES)})")
    return write_checkpoint(path, _trained_arrays(config, RECIPES[recipe]))


@functools.cache
def _trained_arrays(config: VideoPrismConfig, shuffled_captions: bool) -> dict[str, np.ndarray]:
    import torch

    from vpbench.models.checkpoint import from_state_dict

    with _one_thread():
        model = _random_model(config)
        model.text_encoder.load_state_dict(_text_tower_state(config))
        _fit_video_pooler(model, shuffled_captions)
        with torch.no_grad():
            return from_state_dict(model.state_dict(), config)


def _random_model(config: VideoPrismConfig):
    import torch

    from vpbench.models.checkpoint import random_arrays, to_state_dict
    from vpbench.models.videoprism import build_model

    arrays = {key.split("/", 1)[1]: value for key, value in random_arrays(config, SEED).items()}
    model = build_model(config)
    model.load_state_dict(to_state_dict(arrays, config))
    torch.manual_seed(SEED)
    return model.eval()


@functools.cache
def _text_tower_state(config: VideoPrismConfig) -> dict:
    """Step 1 of the recipe; shared by the model and its control (their text towers are equal)."""
    import torch
    import torch.nn.functional as F

    from vpbench.models.tokenizer import Tokenizer
    from vpbench.models.zoo import TINY_SPM_PATH

    with _one_thread():
        model = _random_model(config)
        text = model.text_encoder
        tokenizer = Tokenizer(TINY_SPM_PATH, max_length=TEXT_TRAIN_LENGTH)
        directions = torch.from_numpy(fact_directions(config.model_dim))
        final_ln = text.unimodal_ln
        with torch.no_grad():
            final_ln.scale.zero_()
            final_ln.bias.zero_()
        trained = [p for name, p in text.named_parameters() if not name.startswith("unimodal_ln.")]
        optimizer = torch.optim.Adam(trained, lr=TEXT_LR)
        rng = np.random.default_rng([SEED, 7])
        text.train()
        for _ in range(TEXT_STEPS):
            sentences, named = zip(*(training_sentence(rng) for _ in range(TEXT_BATCH)))
            targets = F.normalize(torch.stack([directions[[FACT_WORDS.index(w) for w in words]].sum(0)
                                               for words in named]), dim=-1)
            ids, paddings = (torch.from_numpy(np.asarray(a)) for a in tokenizer(list(sentences)))
            embeddings = F.normalize(text(ids.long(), paddings.float())[:, -1], dim=-1)
            loss = (1.0 - (embeddings * targets).sum(-1)).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        return {name: value.detach().clone() for name, value in text.state_dict().items()}


def _fit_video_pooler(model, shuffled_captions: bool) -> None:
    """Step 2 of the recipe: the pooler as mean pooling + a ridge-fitted output projection."""
    import torch

    features, targets = _pooler_data(model.config)
    if shuffled_captions:  # each clip regressed onto another clip's captions
        targets = targets[np.random.default_rng([SEED, 31337]).permutation(len(targets))]
    mean, scale = features.mean(axis=0), features.std(axis=0) + 1e-6
    standard = (features - mean) / scale
    offset = targets.mean(axis=0)
    weights = np.linalg.solve(standard.T @ standard + RIDGE_LAMBDA * np.eye(standard.shape[1]),
                              standard.T @ (targets - offset))  # [D_in, D_out]
    projection = weights / scale[:, None]
    bias = offset - mean @ projection

    pooler = model.contrastive_vision_pooler
    attention = pooler.pooling_attention
    dim = projection.shape[0]
    hidden = attention.post.weight.shape[1]
    with torch.no_grad():
        pooler.pooling_attention_query.zero_()
        attention.query.bias.zero_()  # query 0: every token gets the same attention weight
        attention.key_value.weight[hidden:].zero_()
        attention.key_value.weight[hidden:hidden + dim] = torch.eye(dim)  # values: the token itself
        attention.key_value.bias[hidden:].zero_()
        attention.post.weight.zero_()
        attention.post.weight[:, :dim] = torch.from_numpy(projection.T.astype(np.float32))
        attention.post.bias.copy_(torch.from_numpy(bias.astype(np.float32)))
        pooler.pooling_attention_layer_norm.scale.zero_()
        pooler.pooling_attention_layer_norm.bias.zero_()


@functools.cache
def _pooler_data(config: VideoPrismConfig) -> tuple[np.ndarray, np.ndarray]:
    """([N, D] mean tokens, [N, D] caption targets) of the training clips, in clip order (both variants)."""
    import torch

    from vpbench.models.tokenizer import Tokenizer
    from vpbench.models.videoprism import l2_normalize
    from vpbench.models.zoo import TINY_SPM_PATH

    with _one_thread(), torch.no_grad():
        model = _random_model(config)
        model.text_encoder.load_state_dict(_text_tower_state(config))
        clips = random_clips(np.random.default_rng([SEED, 3]), TRAIN_CLIPS, num_frames=CLIP_FRAMES, size=CLIP_SIZE)
        captions = [caption for clip in clips for caption in paraphrases(clip.subject, count=10)]
        tokenizer = Tokenizer(TINY_SPM_PATH, max_length=TEXT_TRAIN_LENGTH)
        ids, paddings = (torch.from_numpy(np.asarray(a)) for a in tokenizer(captions))
        texts = l2_normalize(model.forward_text(ids.long(), paddings.float())).reshape(len(clips), 10, -1)
        targets = l2_normalize(texts.mean(dim=1)).double().numpy()
        features = np.concatenate([_mean_tokens(model, clips[i:i + 64]) for i in range(0, len(clips), 64)])
    return features, targets


def _mean_tokens(model, clips) -> np.ndarray:
    """[N, D] float64: each clip's encoder + auxiliary tokens averaged, from its sampled frames."""
    import torch

    indices = (np.arange(INPUT_FRAMES) * CLIP_FRAMES) // INPUT_FRAMES  # the uniform policy's frames
    factor = CLIP_SIZE // INPUT_SIZE
    frames = np.stack([render(clip, indices) for clip in clips]).astype(np.float64) / 255.0
    frames = frames.reshape(len(clips), INPUT_FRAMES, INPUT_SIZE, factor, INPUT_SIZE, factor, 3).mean(axis=(3, 5))
    video = torch.from_numpy(frames.astype(np.float32))
    tokens, _ = model.vision_encoder(video)
    return model.auxiliary_encoder(tokens).mean(dim=1).double().numpy()


@contextlib.contextmanager
def _one_thread() -> Iterator[None]:
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)
