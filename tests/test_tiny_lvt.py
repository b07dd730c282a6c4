"""The tiny suite's video-text model (vpbench.tiny.lvt): trained here, official format, towers that
agree on what the tiny clips show, and a control twin that does not.

Clips here are rendered with their own seed (the training clips use another), encoded through the
normal model API, and compared with sentences of the tiny caption language.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import vpbench
from vpbench.errors import CheckpointError
from vpbench.models import checkpoint, zoo
from vpbench.tiny import lvt
from vpbench.tiny.video import COLOURS, DIRECTIONS, SHAPES, random_clips, render
from vpbench.video.transforms import resize_and_crop

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _clips_and_video(count: int, seed: int):
    clips = random_clips(np.random.default_rng([seed, 99]), count, num_frames=32)
    indices = (np.arange(8) * 32) // 8
    frames = np.stack([resize_and_crop(render(clip, indices), 32, 1, "short_side")[0] for clip in clips])
    return clips, torch.from_numpy(frames.astype(np.float32) / 255.0)


def _fact_accuracy(model, clips, video, fact: str, options: list[str], phrase: str) -> float:
    tokenizer = zoo.load_tokenizer("tiny-lvt")
    videos = model.encode_video(video)
    texts = model.encode_text(*tokenizer([phrase.format(option) for option in options]))
    predicted = (videos @ texts.T).argmax(dim=1).numpy()
    truth = np.array([options.index(getattr(clip.subject, fact)) for clip in clips])
    return float(np.mean(predicted == truth))


def test_model_entries_name_recipes_this_vpbench_trains():
    for name in ("tiny-lvt", "tiny-lvt-shuffled-captions"):
        entry = zoo.MODELS[name]
        assert entry.trained_here in lvt.RECIPES and f"v{lvt.RECIPE_VERSION}" in entry.filename
        assert zoo.trained_here(name) == entry.trained_here
    assert zoo.MODELS["tiny-lvt"].control == "tiny-lvt-shuffled-captions"
    assert zoo.trained_here("tiny") is None and zoo.trained_here("videoprism-lvt-b") is None
    with pytest.raises(CheckpointError, match="not one this vpbench trains"):
        lvt.write_tiny_lvt("unused.npz", zoo.get_config("tiny-lvt"), recipe="tiny-lvt/v0")


def test_trained_checkpoint_is_an_official_npz_read_by_the_normal_loader():
    model = vpbench.load_model("tiny-lvt")
    path = zoo.resolve_checkpoint("tiny-lvt")
    assert model.checkpoint_sha256 == checkpoint.sha256_file(path)
    arrays = checkpoint.read_npz(path)
    assert checkpoint.infer_config(arrays, str(path)) == zoo.get_config("tiny-lvt")
    assert set(arrays) == {leaf.key for leaf in checkpoint.npz_layout(zoo.get_config("tiny-lvt"))}
    # the trained arrays differ from the random ones they started from, only where the recipe trains
    random = {k.split("/", 1)[1]: v for k, v in checkpoint.random_arrays(zoo.get_config("tiny-lvt"), 0).items()}
    changed = {key for key in arrays if not np.array_equal(arrays[key], random[key])}
    assert changed and all(key.startswith(("text_encoder/", "contrastive_vision_pooler/")) for key in changed)
    assert not any(key.startswith("vision_encoder/") for key in changed)


def test_towers_agree_on_colour_shape_and_direction_and_the_control_does_not():
    """Chance: colour 1/4, shape 1/3, direction 1/4. Measured on 96 held-out clips: colour ~0.98,
    shape ~0.5, direction ~0.6 for tiny-lvt; all near chance for its shuffled-captions control."""
    clips, video = _clips_and_video(96, seed=5)
    trained, control = vpbench.load_model("tiny-lvt"), vpbench.load_model("tiny-lvt-shuffled-captions")
    facts = [("colour", list(COLOURS), "something {}"), ("shape", list(SHAPES), "a {}"),
             ("direction", list(DIRECTIONS), "it moves {}")]
    for fact, options, phrase in facts:
        chance = 1.0 / len(options)
        assert _fact_accuracy(trained, clips, video, fact, options, phrase) > chance + 0.15, fact
        assert _fact_accuracy(control, clips, video, fact, options, phrase) < chance + 0.15, fact
    assert _fact_accuracy(trained, clips, video, "colour", list(COLOURS), "something {}") > 0.9


def test_the_text_tower_maps_sentences_to_the_facts_they_name():
    model = vpbench.load_model("tiny-lvt")
    tokenizer = zoo.load_tokenizer("tiny-lvt")
    directions = torch.from_numpy(lvt.fact_directions(model.embed_dim))
    sentences = {"a video of red circle.": ("red", "circle"), "Holding something blue": ("blue",),
                 "what does the green square do moves up": ("green", "square", "up"),
                 "a demonstration of a person practicing yellow triangle.": ("yellow", "triangle")}
    embeddings = model.encode_text(*tokenizer(list(sentences)))
    for embedding, (sentence, named) in zip(embeddings, sentences.items()):
        similarity = directions @ embedding
        top = {lvt.FACT_WORDS[i] for i in similarity.topk(len(named)).indices.tolist()}
        assert top == set(named), (sentence, top)


def test_training_sentences_name_the_facts_they_are_trained_on():
    rng = np.random.default_rng(0)
    for _ in range(200):
        sentence, named = lvt.training_sentence(rng)
        assert named and all(fact in sentence for fact in named), (sentence, named)
