"""Transformers-format checkpoints, and transformers' own VideoPrism as an outside check of vpbench.

The golden fixtures (official JAX weights and outputs, tests/fixtures/golden) are written in the
port's layout *by transformers itself*: a port model is built from a config, the golden weights
go in through the link table, and ``save_pretrained`` writes the folder. vpbench must load that
folder to exactly the model the ``.npz`` gives. The same port model, run by transformers, checks
vpbench's math from outside: the video tower agrees to 1e-5; the text tower agrees once the
official position table replaces the port's own (the port's known differences are listed in
vpbench/models/README.md).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

import vpbench
from vpbench.errors import CheckpointError
from vpbench.models import transformers_format
from vpbench.models.videoprism import sinusoidal_position_embedding

pytestmark = pytest.mark.usefixtures("one_torch_thread")
GOLDEN = Path(__file__).parent / "fixtures" / "golden"
NAMES = ("video_encoder", "video_text", "video_classifier")
ATOL, RTOL = 1e-5, 1e-4
_R_SOFTPLUS_0 = 1.442695041


def _golden(name: str) -> dict[str, np.ndarray]:
    with np.load(GOLDEN / f"{name}.npz", allow_pickle=False) as archive:
        return {key: archive[key] for key in archive.files}


def _port_model(config):
    """The transformers model of a vpbench config, its pooler resized to the official width.

    The port derives the pooler width from ``intermediate_size`` (4*D for the released models);
    the golden LvT has mlp 2*D but an official 4*D pooler, and the official classifier pools at
    width D. So, like any checkpoint whose widths break the port's rule, the head is rebuilt
    at the width the weights have; config.json keeps saying ``intermediate_size``.
    """
    from transformers import (VideoPrismClipModel, VideoPrismConfig, VideoPrismForVideoClassification,
                              VideoPrismVisionConfig, VideoPrismVisionModel)

    dim = config.model_dim
    vision = dict(image_size=config.image_size, num_frames=config.num_frames,
                  tubelet_size=[1, config.patch_size, config.patch_size], hidden_size=dim,
                  num_attention_heads=config.num_heads, intermediate_size=config.mlp_dim,
                  num_spatial_layers=config.num_spatial_layers, num_temporal_layers=config.num_temporal_layers,
                  num_auxiliary_layers=config.num_auxiliary_layers, attn_logit_softcapping=config.atten_logit_cap)
    if config.model_type == "encoder":
        return VideoPrismVisionModel(VideoPrismVisionConfig(**vision)).eval()
    if config.model_type == "classifier":
        labels = {i: f"class{i}" for i in range(config.num_classes)}
        model, head, width = None, None, dim
        model = VideoPrismForVideoClassification(VideoPrismVisionConfig(**vision, id2label=labels))
        head = model.head
    else:
        text = dict(vocab_size=config.vocabulary_size, hidden_size=dim, intermediate_size=4 * dim,
                    num_hidden_layers=config.num_unimodal_layers, num_attention_heads=config.num_heads,
                    attn_logit_softcapping=config.atten_logit_cap)
        model = VideoPrismClipModel(VideoPrismConfig(vision_config=vision, text_config=text))
        head, width = model.video_model.head, 4 * dim
    head.q_proj, head.k_proj, head.v_proj = (torch.nn.Linear(dim, width) for _ in range(3))
    head.o_proj = torch.nn.Linear(width, dim)
    head.head_dim = width // config.num_heads
    head.scaling = _R_SOFTPLUS_0 / head.head_dim**0.5
    head.per_dim_scale = torch.nn.Parameter(torch.zeros(head.head_dim))
    return model.eval()


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """name -> (the .npz model, the transformers model holding the same weights, its saved folder)."""
    out = {}
    for name in NAMES:
        reference = vpbench.load_model(GOLDEN / f"{name}_params.npz")
        port = _port_model(reference.config)
        result = port.load_state_dict(transformers_format.from_state_dict(reference.state_dict(), reference.config),
                                      strict=False)
        assert not result.unexpected_keys
        assert set(result.missing_keys) <= set(transformers_format.IGNORED)  # the port's own text buffers
        folder = tmp_path_factory.mktemp("port") / name
        port.save_pretrained(folder)
        out[name] = (reference, port, folder)
    return out


def _as_port_video(video: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(video).permute(0, 1, 4, 2, 3)  # [B, T, H, W, C] -> the port's [B, T, C, H, W]


@pytest.mark.parametrize("name", NAMES)
def test_port_format_loads_to_the_npz_model(written, name):
    """Same architecture, bit-identical tensors, identical outputs: the .npz and the port folder
    written by transformers are one checkpoint to vpbench."""
    reference, _, folder = written[name]
    loaded = vpbench.load_model(folder)
    assert type(loaded) is type(reference) and loaded.config == reference.config
    expected, actual = reference.state_dict(), loaded.state_dict()
    assert set(actual) == set(expected)
    assert all(torch.equal(actual[key], expected[key]) for key in expected)
    video = _golden(f"{name}_inputs")["video"]
    assert torch.equal(loaded.encode_video(video), reference.encode_video(video))
    if name == "video_text":
        inputs = _golden("video_text_inputs")
        ids, paddings = inputs["text_token_ids"], inputs["text_paddings"]
        assert torch.equal(loaded.encode_text(ids, paddings), reference.encode_text(ids, paddings))
        np.testing.assert_allclose(loaded.encode_text(ids, paddings).numpy(),
                                   _golden("video_text_outputs")["text_embeddings"], atol=ATOL, rtol=RTOL)
    # The identity feature caches key on is the weights file's, not the .npz's: another file.
    assert loaded.checkpoint_sha256 and loaded.checkpoint_sha256 != reference.checkpoint_sha256
    # A path to the weights file inside the folder loads the same checkpoint.
    assert torch.equal(vpbench.load_model(folder / "model.safetensors").encode_video(video),
                       reference.encode_video(video))


def test_sizes_come_from_the_weights_not_from_config_json(written):
    """config.json says intermediate_size 64, from which the port derives a 64-wide pooler; the
    weights hold the official 4*D = 128 pooler, and vpbench reads the weights."""
    reference, _, folder = written["video_text"]
    config_json = json.loads((folder / "config.json").read_text())
    assert config_json["vision_config"]["intermediate_size"] == 64
    pooler = vpbench.load_model(folder).contrastive_vision_pooler.pooling_attention
    assert pooler.query.weight.shape == (128, 32) and pooler.per_dim_scale.shape == (64,)


@pytest.mark.parametrize("name", NAMES)
def test_transformers_video_tower_agrees_with_vpbench_and_jax(written, name):
    """Transformers' VideoPrism, given the same weights and clips, agrees with vpbench (and with
    the official JAX outputs) to 1e-5: an outside implementation checking ours."""
    reference, port, _ = written[name]
    inputs, golden = _golden(f"{name}_inputs"), _golden(f"{name}_outputs")
    video = inputs["video"]
    with torch.no_grad():
        if name == "video_encoder":
            theirs = port(pixel_values_videos=_as_port_video(video)).last_hidden_state
            ours, jax = reference.encode_video(video), golden["embeddings"]
        elif name == "video_classifier":
            theirs = port(pixel_values_videos=_as_port_video(video)).logits.reshape(len(video), -1)
            ours, jax = reference.classify(torch.from_numpy(video)), golden["logits"]
        else:
            theirs = port.get_video_features(pixel_values_videos=_as_port_video(video)).pooler_output
            theirs = theirs.reshape(len(video), -1)
            ours, jax = reference.encode_video(video), golden["video_embeddings"]
    np.testing.assert_allclose(theirs.numpy(), ours.numpy(), atol=ATOL, rtol=RTOL)
    np.testing.assert_allclose(theirs.numpy(), jax, atol=ATOL, rtol=RTOL)


def test_transformers_text_tower_agrees_once_the_official_position_table_is_in(written):
    reference, port, _ = written["video_text"]
    inputs = _golden("video_text_inputs")
    ids, paddings = inputs["text_token_ids"], inputs["text_paddings"]
    ours = reference.encode_text(ids, paddings).numpy()
    attention_mask = torch.from_numpy(1 - paddings).long()

    def theirs(**kwargs) -> np.ndarray:
        with torch.no_grad():
            return port.get_text_features(input_ids=torch.from_numpy(ids).long(), **kwargs).pooler_output.numpy()

    table = port.text_model.embeddings.position_embedding
    stored = table.clone()
    official = sinusoidal_position_embedding(table.shape[0], table.shape[1])[0]
    try:
        # The port's own table (other frequencies) moves the text embeddings visibly ...
        assert float((stored - official).abs().max()) > 0.5  # at width 32; 0.06 at 768
        assert np.abs(theirs(attention_mask=attention_mask) - ours).max() > 1e-2
        with torch.no_grad():  # the number: unnormalised embeddings, 0.41 off the official ones
            raw = port.text_model(input_ids=torch.from_numpy(ids).long(), attention_mask=attention_mask)
        unnormalised = raw.last_hidden_state[:, -1].numpy()
        golden = _golden("video_text_outputs")["text_embeddings_unnormalized"]
        assert np.abs(unnormalised - golden).max() == pytest.approx(0.41, abs=0.01)
        # ... and with the official table the two implementations agree.
        table.copy_(official)
        np.testing.assert_allclose(theirs(attention_mask=attention_mask), ours, atol=ATOL, rtol=RTOL)
        # Without an attention mask the port builds no causal mask at all: another known difference.
        assert np.abs(theirs() - ours).max() > 1e-2
    finally:
        table.copy_(stored)


def test_port_position_table_differs_from_the_official_one_at_released_widths():
    """The port's create_sinusoidal_positions against the official table (what the docs quote)."""
    from transformers.models.videoprism.modeling_videoprism import create_sinusoidal_positions

    for width, gap in ((768, 0.06), (1024, 0.045)):
        difference = (create_sinusoidal_positions(64, width) - sinusoidal_position_embedding(64, width)[0]).abs()
        assert float(difference.max()) == pytest.approx(gap, abs=0.001)


def test_errors_name_the_transformers_format_checkpoint(written, tmp_path):
    _, _, folder = written["video_encoder"]
    no_weights = tmp_path / "no_weights"
    no_weights.mkdir()
    shutil.copy(folder / "config.json", no_weights / "config.json")
    (no_weights / "pytorch_model.bin").write_bytes(b"pickle")
    with pytest.raises(CheckpointError, match="transformers-format checkpoint without its weights.*pytorch_model.bin"
                       ".*refuses \\(pickle\\)"):
        vpbench.load_model(no_weights)

    from safetensors.torch import load_file, save_file

    tensors = load_file(folder / "model.safetensors")
    partial = tmp_path / "partial"
    partial.mkdir()
    shutil.copy(folder / "config.json", partial / "config.json")
    save_file({k: v for k, v in tensors.items() if k != "spatial_layers.1.mlp.fc2.bias"} | {"extra.weight": tensors[
        "layernorm1.weight"].clone()}, partial / "model.safetensors")
    with pytest.raises(CheckpointError, match="transformers-format checkpoint does not match the encoder "
                       "architecture.*missing \\(1\\): spatial_layers.1.mlp.fc2.bias.*unexpected \\(1\\): extra.weight"):
        vpbench.load_model(partial)

    _, _, lvt_folder = written["video_text"]
    wrong_heads = tmp_path / "wrong_heads"
    shutil.copytree(lvt_folder, wrong_heads)
    config_json = json.loads((wrong_heads / "config.json").read_text())
    config_json["vision_config"]["num_attention_heads"] = 4
    (wrong_heads / "config.json").write_text(json.dumps(config_json))
    with pytest.raises(CheckpointError, match="transformers-format checkpoint config.json says 4 attention heads but "
                       "its attention pooler has 2"):
        vpbench.load_model(wrong_heads)

    with pytest.raises(CheckpointError, match="a folder, but not a transformers-format checkpoint"):
        vpbench.load_model(tmp_path)
