"""`vpbench download` and offline resolution from local caches laid out as their libraries lay them.

No network here: the download refusal is tested offline, and resolution is tested against a
Hugging Face hub cache built by hand the way ``huggingface_hub`` lays it out
(``models--OWNER--NAME/{blobs,snapshots/<commit>,refs/<revision>}``) and a kagglehub cache
(``models/OWNER/MODEL/FRAMEWORK/VARIATION/VERSION/...``).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

import vpbench
from vpbench.assets import checkpoint_asset, tokenizer_asset
from vpbench.cli import main
from vpbench.errors import CheckpointError, MissingDependencyError
from vpbench.models import transformers_format, zoo
from vpbench.models.tokenizer import KERAS_HUB_VOCABULARY, NAMED_VOCABULARIES, Tokenizer

SPM = Path(__file__).parent / "fixtures" / "golden" / "test_spm.model"
PORT_REPO = "vpbench-test/tiny-lvt-port"


def write_hub_repo(cache: Path, repo_id: str, files: dict[str, bytes], refs: tuple[str, ...] = ("main",)) -> str:
    """One repository in a hub cache: content-addressed blobs, a snapshot of symlinks, refs -> commit."""
    folder = cache / f"models--{repo_id.replace('/', '--')}"
    commit = hashlib.sha1(b"".join(sorted(files.values()))).hexdigest()
    for name, data in files.items():
        blob = folder / "blobs" / hashlib.sha256(data).hexdigest()
        blob.parent.mkdir(parents=True, exist_ok=True)
        blob.write_bytes(data)
        link = folder / "snapshots" / commit / name
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(blob, link.parent))
    for ref in refs:
        (folder / "refs" / ref).parent.mkdir(parents=True, exist_ok=True)
        (folder / "refs" / ref).write_text(commit)
    return commit


def _port_files(model) -> dict[str, bytes]:
    """A transformers-format copy of a vpbench model: config.json (heads only) + model.safetensors."""
    from safetensors.torch import save

    config = model.config
    tensors = transformers_format.from_state_dict(model.state_dict(), config)
    config_json = {"model_type": "videoprism",
                   "vision_config": {"num_attention_heads": config.num_heads, "intermediate_size": config.mlp_dim},
                   "text_config": {"num_attention_heads": config.num_heads}}
    return {"config.json": json.dumps(config_json).encode(), "model.safetensors": save(tensors),
            "spiece.model": SPM.read_bytes()}


@pytest.fixture
def offline_caches(tmp_path, monkeypatch):
    """Offline, with empty hub, kagglehub and vpbench checkpoint caches under tmp_path."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("KAGGLEHUB_CACHE", str(tmp_path / "kagglehub"))
    monkeypatch.setenv(zoo.CHECKPOINT_DIR_ENV, str(tmp_path / "checkpoints"))
    monkeypatch.delenv("VPBENCH_SPM_MODEL", raising=False)
    return tmp_path


def test_download_refuses_offline_with_one_clear_line(offline_caches, capsys):
    assert main(["download", "--task", "msrvtt-retrieval"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "vpbench download needs the network, but HF_HUB_OFFLINE is set" in err
    assert str(offline_caches / "hub") in err


def test_transformers_checkpoint_and_tokenizer_resolve_from_a_local_hub_cache(offline_caches):
    """hf:OWNER/REPO@refs/pr/N (a pull-request ref), @COMMIT and the default branch all resolve offline."""
    reference = vpbench.load_model("tiny-lvt")
    commit = write_hub_repo(offline_caches / "hub", PORT_REPO, _port_files(reference), refs=("main", "refs/pr/4"))
    video = torch.rand(1, 8, 32, 32, 3)
    for spec in (f"hf:{PORT_REPO}@refs/pr/4", f"hf://{PORT_REPO}@{commit}", f"hf:{PORT_REPO}"):
        model = vpbench.load_model(spec)
        assert model.config == reference.config
        assert torch.equal(model.encode_video(video), reference.encode_video(video))
    tokenizer = Tokenizer(f"hf://{PORT_REPO}@refs/pr/4/spiece.model")
    assert tokenizer.vocab_size == 1000 and tokenizer.path.read_bytes() == SPM.read_bytes()
    folder = zoo.resolve_transformers_checkpoint(f"hf:{PORT_REPO}@refs/pr/4")
    assert Tokenizer(folder).vocab_size == 1000  # a port folder that ships its SentencePiece model
    assert checkpoint_asset(f"hf:{PORT_REPO}@refs/pr/4").present
    with pytest.raises(CheckpointError, match=f"hf:{PORT_REPO}@refs/pr/9: transformers-format checkpoint is not "
                       "available: HF_HUB_OFFLINE is set and it is not in the Hugging Face cache"):
        vpbench.load_model(f"hf:{PORT_REPO}@refs/pr/9")


def test_official_checkpoint_by_name_resolves_from_a_local_hub_cache(offline_caches):
    entry = zoo.MODELS["videoprism-lvt-b"]
    assert not checkpoint_asset("videoprism-lvt-b").present
    commit = write_hub_repo(offline_caches / "hub", entry.hub_repo, {entry.filename: b"npz bytes"})
    path = zoo.resolve_checkpoint("videoprism-lvt-b")
    assert path == offline_caches / "hub" / "models--google--videoprism-lvt-base-f16r288" / "snapshots" / commit / \
        entry.filename
    asset = checkpoint_asset("videoprism-lvt-b")
    assert asset.present and asset.location == str(path)


def test_c4_en_resolves_offline_from_the_kerashub_preset_in_the_kagglehub_cache(offline_caches):
    with pytest.raises(MissingDependencyError) as info:
        Tokenizer("c4_en")
    message = str(info.value)
    for source in NAMED_VOCABULARIES["c4_en"]:
        assert source in message  # every source it tried, and why each failed
    assert "answers 403 (google-deepmind/videoprism issue #63)" in message
    handle = NAMED_VOCABULARIES["c4_en"][0].removeprefix("kaggle://")
    cached = offline_caches / "kagglehub" / "models" / handle / KERAS_HUB_VOCABULARY
    cached.parent.mkdir(parents=True)
    shutil.copy(SPM, cached)
    assert Tokenizer("c4_en").path == cached
    asset = tokenizer_asset("videoprism-lvt-b", None)
    assert asset.key == "c4_en" and asset.present and asset.location == str(cached)


def test_tokenizer_folder_sources(tmp_path):
    preset = tmp_path / "videoprism_lvt_public_v1_base"
    (preset / "assets" / "tokenizer").mkdir(parents=True)
    shutil.copy(SPM, preset / KERAS_HUB_VOCABULARY)
    (preset / "config.json").write_text("{}")
    assert Tokenizer(preset).path == preset / KERAS_HUB_VOCABULARY
    port = tmp_path / "port"
    port.mkdir()
    (port / "tokenizer.json").write_text("{}")
    with pytest.raises(MissingDependencyError, match="holds tokenizer.json but not the SentencePiece model "
                       "\\(spiece.model\\)"):
        Tokenizer(port)
    ids, paddings = Tokenizer(preset)(["A dog, catching a frisbee!!"])
    expected = Tokenizer(SPM)(["A dog, catching a frisbee!!"])
    np.testing.assert_array_equal(ids, expected[0])
