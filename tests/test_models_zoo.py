"""Known names, offline behaviour, the model API, and the tiny random models being informative."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

import vpbench
from vpbench.errors import CheckpointError
from vpbench.models import zoo
from vpbench.models.checkpoint import sha256_file, write_random_checkpoint


@pytest.fixture
def offline_empty_caches(tmp_path, monkeypatch):
    """No file anywhere and no network: HF_HUB_OFFLINE plus empty vpbench and HF caches."""
    import huggingface_hub.constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv(zoo.CHECKPOINT_DIR_ENV, str(tmp_path / "checkpoints"))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    return tmp_path / "checkpoints"


@pytest.mark.parametrize(
    "name, repo, filename",
    [
        ("videoprism-b", "google/videoprism-base-f16r288", "flax_base_f16r288_repeated.npz"),
        ("videoprism-l", "google/videoprism-large-f8r288", "flax_large_f8r288_repeated.npz"),
        ("videoprism-lvt-b", "google/videoprism-lvt-base-f16r288", "flax_lvt_base_f16r288_repeated.npz"),
        ("videoprism-lvt-l", "google/videoprism-lvt-large-f8r288", "flax_lvt_large_f8r288_repeated.npz"),
    ],
)
def test_known_name_offline_says_which_file_and_where(offline_empty_caches, name, repo, filename):
    with pytest.raises(CheckpointError) as info:
        vpbench.load_model(name)
    message = str(info.value)
    assert filename in message and repo in message
    assert str(offline_empty_caches / filename) in message
    assert "HF_HUB_OFFLINE" in message


def test_known_name_is_found_in_the_checkpoint_dir_and_checked(offline_empty_caches):
    """A file under a known name must hold that architecture: here a tiny one posing as Base."""
    write_random_checkpoint(offline_empty_caches / "flax_base_f16r288_repeated.npz", zoo.get_config("tiny"))
    with pytest.raises(CheckpointError, match="videoprism-b is VideoPrismConfig"):
        vpbench.load_model("videoprism-b")
    assert zoo.get_entry("google/videoprism-lvt-large-f8r288").name == "videoprism-lvt-l"


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(CheckpointError, match="'videoprism-xl' is neither an existing checkpoint file nor a known "
                       "model name \\(known: videoprism-b, videoprism-l"):
        vpbench.load_model("videoprism-xl")
    with pytest.raises(CheckpointError, match="unknown model name 'resnet50'"):
        zoo.get_entry("resnet50")


def test_tiny_models_are_written_once_and_loaded_like_real_ones(offline_empty_caches):
    model = vpbench.load_model("tiny")
    path = offline_empty_caches / zoo.MODELS["tiny"].filename
    assert path.is_file() and model.checkpoint_sha256 == sha256_file(path)
    mtime = path.stat().st_mtime_ns
    again = vpbench.load_model("tiny")
    assert path.stat().st_mtime_ns == mtime and again.checkpoint_sha256 == model.checkpoint_sha256
    assert (model.num_frames, model.image_size, model.patch_size, model.embed_dim) == (8, 32, 8, 64)
    assert model.token_grid() == (8, 4, 4)
    tokens = model.encode_video(torch.rand(2, 8, 32, 32, 3))
    assert tokens.shape == (2, 8 * 4 * 4, 64) and tokens.dtype == torch.float32


def test_tiny_lvt_with_its_bundled_tokenizer(offline_empty_caches):
    model = vpbench.load_model("tiny-lvt")
    tokenizer = zoo.load_tokenizer("tiny-lvt")
    assert tokenizer.vocab_size == model.config.vocabulary_size
    ids, paddings = tokenizer(["a red square moving left", "a blue circle"])
    text = model.encode_text(ids, paddings)
    video = model.encode_video(torch.rand(3, 8, 32, 32, 3))
    assert text.shape == (2, 64) and video.shape == (3, 64)
    torch.testing.assert_close(text.norm(dim=-1), torch.ones(2))
    frames = model.encode_video(torch.rand(1, 8, 32, 32, 3), return_intermediate=True)["frame_embeddings"]
    assert frames.shape == (1, 8, 64)


def _shapes_dataset(count: int, seed: int) -> tuple[torch.Tensor, np.ndarray]:
    """Clips of one coloured shape (square or circle, random colour, place and motion)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:32, :32]
    colours = np.array([(1.0, 0.1, 0.1), (0.1, 0.2, 1.0), (0.1, 0.9, 0.2)], np.float32)
    clips, labels = [], []
    for index in range(count):
        shape = index % 2
        clip = 0.5 + rng.normal(0.0, 0.05, (8, 32, 32, 3)).astype(np.float32)
        (cy, cx), (dy, dx) = rng.integers(10, 22, 2), rng.integers(-1, 2, 2)
        for t in range(8):
            y, x = cy + dy * t, cx + dx * t
            if shape == 0:
                inside = (np.abs(yy - y) <= 7) & (np.abs(xx - x) <= 7)
            else:
                inside = (yy - y) ** 2 + (xx - x) ** 2 <= 49
            clip[t][inside] = colours[rng.integers(3)]
        clips.append(np.clip(clip, 0.0, 1.0))
        labels.append(shape)
    return torch.from_numpy(np.stack(clips)), np.array(labels)


def test_tiny_random_encoder_features_separate_shapes(offline_empty_caches):
    """Random weights must stay informative: a linear probe on mean-pooled tokens tells a square
    from a circle (same colours, sizes and motions) well above chance (0.5)."""
    model = vpbench.load_model("tiny")
    videos, labels = _shapes_dataset(160, seed=0)
    features = model.encode_video(videos).mean(dim=1).numpy()
    scaler = StandardScaler().fit(features[:100])
    probe = LogisticRegression(max_iter=3000).fit(scaler.transform(features[:100]), labels[:100])
    assert probe.score(scaler.transform(features[100:]), labels[100:]) >= 0.8


def test_input_validation_names_the_problem(offline_empty_caches):
    model = vpbench.load_model("tiny")
    with pytest.raises(ValueError, match=r"\[B, T, H, W, 3\]"):
        model.encode_video(torch.rand(8, 32, 32, 3))
    with pytest.raises(ValueError, match="got dtype torch.uint8"):
        model.encode_video(torch.zeros(1, 8, 32, 32, 3, dtype=torch.uint8))
    with pytest.raises(ValueError, match="not a multiple of the patch size 8"):
        model.encode_video(torch.rand(1, 8, 30, 30, 3))
    with pytest.raises(ValueError, match=r"frame_paddings must be \[B, T\] = \[1, 8\]"):
        model.encode_video(torch.rand(1, 8, 32, 32, 3), torch.zeros(1, 4))
    lvt = vpbench.load_model("tiny-lvt")
    with pytest.raises(ValueError, match=r"token ids must lie in \[0, 1000\)"):
        lvt.encode_text(np.full((1, 4), 1000), np.zeros((1, 4)))


def test_other_clip_lengths_and_sizes_take_the_resizing_path(offline_empty_caches):
    model = vpbench.load_model("tiny")
    tokens = model.encode_video(torch.rand(1, 4, 48, 48, 3))
    assert tokens.shape == (1, 4 * 6 * 6, 64) and torch.isfinite(tokens).all()
    assert model.token_grid(4, 48) == (4, 6, 6)


def test_known_name_wins_over_a_folder_of_that_name(tmp_path, monkeypatch):
    """Running from a directory that holds a folder called `tiny` must still load the tiny model."""
    from vpbench.models.zoo import load_model

    monkeypatch.chdir(tmp_path)
    (tmp_path / "tiny").mkdir()
    assert load_model("tiny").embed_dim == 64
