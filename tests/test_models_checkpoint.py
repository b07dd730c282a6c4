"""Official .npz checkpoints: bad files are refused with a specific error; the layout table
covers the torch models exactly; random checkpoints and safetensors copies round-trip."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from vpbench.errors import CheckpointError
from vpbench.models import checkpoint
from vpbench.models.videoprism import build_model
from vpbench.models.zoo import MODELS, get_config

GOLDEN = Path(__file__).parent / "fixtures" / "golden"
ENCODER_PARAMS = GOLDEN / "video_encoder_params.npz"


def _arrays(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as archive:
        return {key: archive[key] for key in archive.files}


def test_truncated_file_is_refused(tmp_path):
    bad = tmp_path / "truncated.npz"
    bad.write_bytes(ENCODER_PARAMS.read_bytes()[:50_000])
    with pytest.raises(CheckpointError, match="truncated") as info:
        checkpoint.load_npz_model(bad)
    assert str(bad) in str(info.value)


def test_removed_key_is_listed(tmp_path):
    arrays = _arrays(ENCODER_PARAMS)
    removed = "params/temporal_encoder/transformers_stack/x_layers/self_attention/value/b"
    del arrays[removed]
    np.savez(tmp_path / "missing.npz", **arrays)
    with pytest.raises(CheckpointError, match=r"missing \(1\): " + removed):
        checkpoint.load_npz_model(tmp_path / "missing.npz")


def test_changed_shape_and_extra_key_are_listed(tmp_path):
    arrays = _arrays(ENCODER_PARAMS)
    arrays["params/temporal_ln/scale"] = np.zeros(33, np.float32)
    arrays["params/extra/thing"] = np.zeros(3, np.float32)
    np.savez(tmp_path / "reshaped.npz", **arrays)
    with pytest.raises(CheckpointError) as info:
        checkpoint.load_npz_model(tmp_path / "reshaped.npz")
    message = str(info.value)
    assert "mis-shaped (1): params/temporal_ln/scale: (33,), expected (32,)" in message
    assert "unexpected (1): params/extra/thing (3,)" in message


def test_pickle_files_are_refused_without_unpickling(tmp_path):
    pickled = tmp_path / "weights.npz"
    pickled.write_bytes(pickle.dumps(_arrays(ENCODER_PARAMS)))
    with pytest.raises(CheckpointError, match="pickled checkpoints are refused"):
        checkpoint.load_npz_model(pickled)
    with_objects = tmp_path / "objects.npz"
    np.savez(with_objects, **{"params/patch_projection/linear/kernel": np.array([{"a": 1}], dtype=object)})
    with pytest.raises(CheckpointError, match="'params/patch_projection/linear/kernel' is not plain numeric data"):
        checkpoint.load_npz_model(with_objects)


def test_other_bad_files(tmp_path):
    with pytest.raises(CheckpointError, match="no such checkpoint file"):
        checkpoint.load_npz_model(tmp_path / "absent.npz")
    np.save(tmp_path / "bare.npy", np.zeros(3, np.float32))
    with pytest.raises(CheckpointError, match="one bare array"):
        checkpoint.load_npz_model(tmp_path / "bare.npy")
    np.savez(tmp_path / "other.npz", **{"params/conv1/kernel": np.zeros((3, 3), np.float32)})
    with pytest.raises(CheckpointError, match=r"not a VideoPrism checkpoint: top-level names \['conv1'\]"):
        checkpoint.load_npz_model(tmp_path / "other.npz")
    np.savez(tmp_path / "ints.npz", **{"params/patch_projection/linear/kernel": np.zeros((3, 3), np.int32)})
    with pytest.raises(CheckpointError, match="dtype int32; expected floating point"):
        checkpoint.load_npz_model(tmp_path / "ints.npz")


def test_keys_without_the_params_prefix_load_the_same(tmp_path):
    arrays = {key.removeprefix("params/"): value for key, value in _arrays(ENCODER_PARAMS).items()}
    np.savez(tmp_path / "bare_keys.npz", **arrays)
    a, b = checkpoint.load_npz_model(ENCODER_PARAMS), checkpoint.load_npz_model(tmp_path / "bare_keys.npz")
    for (name, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items()):
        assert torch.equal(x, y), name


@pytest.mark.parametrize("name", sorted(MODELS))
def test_layout_covers_each_model_exactly(name):
    """Every torch parameter is filled, element for element, from the official arrays."""
    config = get_config(name)
    with torch.device("meta"):
        model = build_model(config)
    expected = {key: value.numel() for key, value in model.state_dict().items()}
    filled: dict[str, int] = {}
    for leaf in checkpoint.npz_layout(config):
        per_layer = int(np.prod(leaf.shape[1:] if leaf.stacked else leaf.shape))
        for layer in range(leaf.num_layers):
            target = leaf.target.format(i=layer)
            filled[target] = filled.get(target, 0) + per_layer
    assert filled == expected


@pytest.mark.parametrize("model_type", ["encoder", "lvt", "classifier"])
def test_random_checkpoint_round_trips_through_the_official_loader(tmp_path, model_type):
    config = get_config("tiny-lvt" if model_type == "lvt" else "tiny")
    if model_type != "lvt":
        config = config.replace(model_type=model_type, num_classes=7 if model_type == "classifier" else 0)
    path = checkpoint.write_random_checkpoint(tmp_path / "random.npz", config, seed=3)
    model = checkpoint.load_npz_model(path)
    assert model.config == config
    with np.load(path, allow_pickle=False) as archive:
        assert all(key.startswith("params/") for key in archive.files)
        assert len(archive.files) == len(checkpoint.npz_layout(config))


def test_random_checkpoints_are_reproducible_byte_for_byte(tmp_path):
    config = get_config("tiny")
    a = checkpoint.write_random_checkpoint(tmp_path / "a.npz", config, seed=0)
    b = checkpoint.write_random_checkpoint(tmp_path / "b.npz", config, seed=0)
    c = checkpoint.write_random_checkpoint(tmp_path / "c.npz", config, seed=1)
    assert checkpoint.sha256_file(a) == checkpoint.sha256_file(b) != checkpoint.sha256_file(c)
    assert checkpoint.load_npz_model(a).checkpoint_sha256 == checkpoint.sha256_file(a)


def test_safetensors_copy_gives_identical_outputs_and_identity(tmp_path):
    model = checkpoint.load_npz_model(GOLDEN / "video_text_params.npz")
    copy_path = checkpoint.save_converted(model, tmp_path / "lvt.safetensors")
    copy = checkpoint.load_converted(copy_path)
    assert copy.config == model.config
    assert copy.checkpoint_sha256 == checkpoint.sha256_file(GOLDEN / "video_text_params.npz")
    for (name, ours), (_, theirs) in zip(copy.state_dict().items(), model.state_dict().items()):
        assert torch.equal(ours, theirs), name
    video = torch.rand(1, 4, 24, 24, 3, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(copy.encode_video(video), model.encode_video(video), atol=1e-6, rtol=0)
    (tmp_path / "plain.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(CheckpointError, match="unreadable safetensors"):
        checkpoint.load_converted(tmp_path / "plain.safetensors")
