"""The encoder interface: VideoPrism implements it without changing a number; transformers backends
(VideoMAE, V-JEPA 2, SigLIP per frame, CLIP per frame with text) and a user's own class plug into every
family through it, each with its own preprocessing in the fingerprint and the cache key.

Tiny random checkpoints of each backend are written offline (tests/tiny_encoders.py) and run end to end
on the tiny suite: a probe must beat chance, a zero-shot task must run (CLIP with its own text tower;
encoders without text refuse the released tower and take the LiT path)."""

from __future__ import annotations

import json
import sys
from importlib.metadata import EntryPoint
from pathlib import Path

import numpy as np
import pytest
import torch
from test_family_probe_common import run_tiny

import tiny_encoders
import vpbench
from vpbench.errors import CheckpointError
from vpbench.features.encode import ClipEncoder
from vpbench.models import user_encoders
from vpbench.models.encoder import EncoderError, Preprocessing
from vpbench.video import SamplingSpec

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def tiny_folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny_encoders")
    return {kind: tiny_encoders.write(kind, root / kind) for kind in tiny_encoders.KINDS}


# --------------------------------------------------------------------------------------------- preprocessing


def test_preprocessing_adapts_the_task_sampling_and_keeps_its_views():
    task = SamplingSpec(frames=8, resolution=288, policy="stride", stride=5, temporal_views=4, spatial_views=3)
    vjepa = Preprocessing(frames=None, resize_px=292, crop_px=256, tubelet_frames=2)
    decoded = vjepa.sampling(task)
    assert (decoded.frames, decoded.resolution) == (8, 292)  # the task's frames, decoded at the resize
    assert (decoded.policy, decoded.stride, decoded.temporal_views, decoded.spatial_views) == ("stride", 5, 4, 3)
    assert vjepa.input_shape(task) == (8, 256)
    squashed = SamplingSpec(frames=8, resolution=288, resize="squash")  # a box task: the whole frame, no crop
    assert vjepa.sampling(squashed).resolution == 256 and vjepa.input_shape(squashed) == (8, 256)
    assert Preprocessing(frames=16, crop_px=224).sampling(task).frames == 16  # a fixed temporal table wins
    assert Preprocessing().sampling(task) == task  # VideoPrism: the task's sampling as it is
    with pytest.raises(EncoderError, match="groups of 2"):
        vjepa.sampling(SamplingSpec(frames=7, resolution=32))


def test_preprocessing_crops_the_centre_scales_and_normalises():
    clips = torch.arange(4 * 4 * 3, dtype=torch.uint8).reshape(1, 1, 4, 4, 3) * 5
    out = Preprocessing(crop_px=2, mean=(0.5, 0.25, 0.0), std=(0.5, 0.25, 1.0))(clips, torch.float32)
    centre = clips[0, 0, 1:3, 1:3].double() / 255.0  # rows 1-2, cols 1-2
    expected = (centre - torch.tensor([0.5, 0.25, 0.0], dtype=torch.float64)) / torch.tensor([0.5, 0.25, 1.0],
                                                                                             dtype=torch.float64)
    assert out.shape == (1, 1, 2, 2, 3) and out.dtype == torch.float32
    torch.testing.assert_close(out[0, 0].double(), expected, rtol=0, atol=1e-6)
    plain = Preprocessing()(clips, torch.float32)  # VideoPrism: [0, 1], nothing else
    assert torch.equal(plain, clips.float().div_(255.0))


@pytest.mark.parametrize("kind", ["clip", "siglip-vision", "videomae"])
def test_hf_preprocessing_matches_the_checkpoints_own_image_processor(tiny_folders, kind):
    """Scaling and normalisation against transformers' own processor (PIL backend) at the native size."""
    from transformers import AutoImageProcessor

    frame = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    processor = AutoImageProcessor.from_pretrained(str(tiny_folders[kind]))
    reference = processor(images=[frame], return_tensors="np")["pixel_values"].reshape(3, 32, 32)  # VideoMAE: a video
    card = vpbench.load_model(str(tiny_folders[kind])).card
    ours = card.preprocessing(torch.from_numpy(frame)[None, None], torch.float32)[0, 0].permute(2, 0, 1)
    np.testing.assert_allclose(ours.numpy(), reference, rtol=0, atol=2e-6)


# ------------------------------------------------------------------------------------------------- VideoPrism


def test_videoprism_implements_the_interface_with_the_same_numbers():
    encoder, lvt = vpbench.load_model("tiny"), vpbench.load_model("tiny-lvt")
    clips = torch.from_numpy(np.random.default_rng(1).integers(0, 256, (2, 8, 32, 32, 3), dtype=np.uint8))
    video = clips.float().div_(255.0)  # what ClipEncoder fed encode_video before the interface

    tokens = encoder.encode_video(video)  # [2, 8*4*4, 64], time-major
    assert encoder.video_tokens(video).shape == (2, 8, 4, 4, 64)
    assert torch.equal(encoder.video_tokens(video).reshape(2, -1, 64), tokens)
    features = {layout: ClipEncoder(encoder, layout, "float32", 8)(clips) for layout in ("tokens", "global",
                                                                                          "frame_pooled")}
    assert torch.equal(features["tokens"], tokens)
    assert torch.equal(features["global"], tokens.mean(dim=1))
    assert torch.equal(features["frame_pooled"], tokens.reshape(2, 8, 16, 64).mean(dim=2))

    assert torch.equal(ClipEncoder(lvt, "embedding", "float32", 8)(clips), lvt.encode_video(video))
    assert torch.equal(lvt.video_tokens(video).reshape(2, -1, 64),
                       lvt.encode_video(video, return_intermediate=True)["spatiotemporal_features"])

    card = encoder.card
    assert (card.backend, card.outputs, card.text, lvt.card.text) == ("videoprism", ("tokens",), False, True)
    assert lvt.card.outputs == ("embedding", "tokens") and lvt.card.text_vocab_size == 1000
    with pytest.raises(EncoderError, match="no video embedding"):
        encoder.video_embedding(video)
    with pytest.raises(EncoderError, match="text_tower=lit"):
        encoder.encode_text(np.zeros((1, 4), np.int32), np.zeros((1, 4), np.float32))
    with pytest.raises(EncoderError, match="no embedding output for layout"):
        ClipEncoder(encoder, "embedding", "float32", 8)
    identity = card.identity
    encoder.set_precision("bf16")  # changes features without changing the file: a new identity
    assert encoder.card.identity != identity and encoder.card.checkpoint_sha256 == card.checkpoint_sha256


# --------------------------------------------------------------------------------------- transformers backends


@pytest.mark.parametrize("kind", tiny_encoders.KINDS)
def test_hf_token_grid_puts_every_patch_in_its_cell(tmp_path, kind):
    """With no transformer layer every token sees only its own patch: changing the pixels of tubelet
    (t, row 2, col 1) changes grid cell [t, 2, 1] and nothing else, so the grid is time-major and row-major,
    and CLIP's class token is gone."""
    encoder = vpbench.load_model(str(tiny_encoders.write(kind, tmp_path / kind, layers=0)))
    card = encoder.card
    tubelet = card.tubelet_frames
    video = card.preprocessing(torch.from_numpy(np.random.default_rng(2).integers(0, 256, (1, 8, 32, 32, 3),
                                                                                     dtype=np.uint8)), torch.float32)
    changed = video.clone()
    step = 2  # the third temporal cell
    changed[:, step * tubelet:(step + 1) * tubelet, 16:24, 8:16] += 0.5
    before, after = encoder.video_tokens(video), encoder.video_tokens(changed)
    assert before.shape == (1, 8 // tubelet, 4, 4, card.embed_dim) == (1, *card.token_grid(8, 32), card.embed_dim)
    moved = (after - before).abs().amax(dim=-1)[0] > 1e-4
    assert moved.nonzero().tolist() == [[step, 2, 1]]


def test_hf_cards_state_their_preprocessing_and_outputs(tiny_folders):
    cards = {kind: vpbench.load_model(str(folder)).card for kind, folder in tiny_folders.items()}
    assert {kind: card.backend for kind, card in cards.items()} == {
        "videomae": "videomae", "vjepa2": "vjepa2", "siglip-vision": "image-per-frame", "clip": "clip-per-frame"}
    videomae, vjepa = cards["videomae"].preprocessing, cards["vjepa2"].preprocessing
    assert (videomae.frames, videomae.crop_px, videomae.mean, videomae.tubelet_frames) == (8, 32, (0.5,) * 3, 2)
    # V-JEPA 2's processor resizes to crop * 256 / 224 whatever its 'size' says (transformers VJEPA2VideoProcessor)
    assert (vjepa.frames, vjepa.resize_px, vjepa.crop_px) == (None, 36, 32)
    assert cards["clip"].outputs == ("embedding", "tokens") and cards["clip"].text
    assert not cards["siglip-vision"].text and "bicubic" in " ".join(cards["siglip-vision"].details["notes"])
    identities = {card.identity for card in cards.values()}
    assert len(identities) == 4 and all(len(card.checkpoint_sha256) == 64 for card in cards.values())
    clip = vpbench.load_model(str(tiny_folders["clip"]))
    tokenizer = clip.text_tokenizer(64)
    ids, paddings = tokenizer(["a video of a red circle.", "x"])
    assert ids.shape == paddings.shape == (2, 64) and paddings[1].sum() > paddings[0].sum()
    text = clip.encode_text(ids, paddings)
    assert text.shape == (2, 32) and torch.allclose(text.norm(dim=-1), torch.ones(2), atol=1e-5)


def test_checkpoint_folders_vpbench_cannot_use_are_refused_by_name(tiny_folders, tmp_path):
    def copy(kind: str, name: str) -> Path:
        import shutil

        return Path(shutil.copytree(tiny_folders[kind], tmp_path / name))

    xclip = copy("clip", "xclip")
    config = json.loads((xclip / "config.json").read_text())
    (xclip / "config.json").write_text(json.dumps({**config, "model_type": "xclip"}))
    with pytest.raises(CheckpointError, match="video-specific prompt generator"):
        vpbench.load_model(str(xclip))
    (xclip / "config.json").write_text(json.dumps({**config, "model_type": "bert"}))
    with pytest.raises(CheckpointError, match="'bert' has no vpbench backend.*Your own encoder"):
        vpbench.load_model(str(xclip))

    no_processor = copy("videomae", "no_processor")
    (no_processor / "preprocessor_config.json").unlink()
    with pytest.raises(CheckpointError, match="does not guess"):
        vpbench.load_model(str(no_processor))
    wrong_crop = copy("videomae", "wrong_crop")
    processor = json.loads((wrong_crop / "preprocessor_config.json").read_text())
    (wrong_crop / "preprocessor_config.json").write_text(json.dumps({**processor, "crop_size": 224}))
    with pytest.raises(CheckpointError, match="model takes 32 px"):
        vpbench.load_model(str(wrong_crop))

    vision_only = copy("siglip-vision", "vision_only")  # SigLIP vision weights under a full SigLIP config
    config = json.loads((vision_only / "config.json").read_text())
    (vision_only / "config.json").write_text(json.dumps({"model_type": "siglip", "vision_config": config,
                                                         "text_config": {"vocab_size": 50}}))
    with pytest.raises(CheckpointError, match="lack .* tensor"):
        vpbench.load_model(str(vision_only))

    pickled = copy("videomae", "pickled")
    (pickled / "model.safetensors").rename(pickled / "pytorch_model.bin")
    with pytest.raises(CheckpointError, match="refuses"):
        vpbench.load_model(str(pickled))
    with pytest.raises(CheckpointError, match="VideoPrism models only"):
        vpbench.load_model(str(tiny_folders["videomae"]), precision="bf16")


# ------------------------------------------------------------------------------------------------ user encoders

USER_MODULE = '''
import torch
from vpbench.models import EncoderCard, Preprocessing


class MeanColour(torch.nn.Module):
    """A user's encoder: the mean colour of every 8x8 patch, through a fixed random projection."""

    def __init__(self, width="16"):
        super().__init__()
        generator = torch.Generator().manual_seed(0)
        self.proj = torch.nn.Parameter(torch.randn(3, int(width), generator=generator))
        self.card = EncoderCard(backend="mean-colour", embed_dim=int(width), patch_px=8,
                                preprocessing=Preprocessing(source="user"), weights=f"mean-colour-{width}")

    def video_tokens(self, video):
        b, t, h, w, c = video.shape
        patches = video.reshape(b, t, h // 8, 8, w // 8, 8, c).mean(dim=(3, 5))
        return torch.tanh(patches @ self.proj)

    def video_embedding(self, video):
        raise NotImplementedError

    def encode_text(self, token_ids, paddings):
        raise NotImplementedError

    def text_tokenizer(self, max_length):
        return None


def build(width="16"):
    return MeanColour(width)


class NotAnEncoder:
    pass
'''


@pytest.fixture()
def user_module(tmp_path, monkeypatch):
    (tmp_path / "my_encoders.py").write_text(USER_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "my_encoders"
    sys.modules.pop("my_encoders", None)


def test_a_users_encoder_plugs_in_by_import_path_registered_name_or_entry_point(user_module, monkeypatch, tmp_path):
    by_path = vpbench.load_model(f"{user_module}:build")
    assert by_path.card.backend == "mean-colour" and by_path.card.embed_dim == 16
    assert vpbench.load_model(f"{user_module}:build@8").card.embed_dim == 8  # @ARG goes to the factory

    monkeypatch.setattr(user_encoders, "_REGISTERED", {})
    from my_encoders import build

    vpbench.models.register_encoder("mean-colour", build)
    assert vpbench.load_model("mean-colour@4").card.embed_dim == 4
    entry = EntryPoint(name="colour-ep", value=f"{user_module}:build", group=user_encoders.ENTRY_POINT_GROUP)
    monkeypatch.setattr(user_encoders, "entry_points",
                        lambda group: [entry] if group == user_encoders.ENTRY_POINT_GROUP else [])
    assert vpbench.load_model("colour-ep").card.backend == "mean-colour"

    with pytest.raises(EncoderError, match="lacks card, video_tokens"):
        vpbench.load_model(f"{user_module}:NotAnEncoder")
    with pytest.raises(CheckpointError, match="cannot import module 'no_such_module'"):
        vpbench.load_model("no_such_module:build")
    with pytest.raises(CheckpointError, match="colour-ep, mean-colour"):
        vpbench.load_model("neither-a-file-nor-a-name")


def test_vpbench_extract_runs_a_users_encoder_from_the_command_line(user_module, tmp_path):
    from vpbench.cli import main
    from vpbench.tiny.video import write_video

    frames = np.zeros((12, 64, 96, 3), dtype=np.uint8)
    frames[:, :, 48:] = (255, 0, 0)  # right half red
    video = write_video(tmp_path / "red.mp4", frames, fps=10)
    out = tmp_path / "feats"
    assert main(["extract", str(video), "--model", f"{user_module}:build", "--layout", "frame_pooled",
                 "--frames", "4", "--resolution", "32", "--workers", "0", "--out", str(out),
                 "--cache-dir", str(tmp_path / "cache")]) == 0
    (array,) = [np.load(path) for path in out.glob("*.npy")]
    assert array.shape == (1, 4, 16)  # one view, 4 frames pooled, 16 wide


# ----------------------------------------------------------------------------------- every family, every backend


@pytest.fixture(scope="module")
def runs(tiny_folders, tmp_path_factory):
    """One results folder for every end-to-end run of this module (the leaderboard test reads it)."""
    return tmp_path_factory.mktemp("encoder_runs")


@pytest.mark.parametrize("kind", tiny_encoders.KINDS)
def test_every_backend_runs_a_probe_above_chance_and_a_zero_shot_task(tiny_folders, runs, capsys, kind):
    model = str(tiny_folders[kind])
    probe = run_tiny("diving48-probe", runs, capsys, model=model)
    classes = probe["fingerprint"]["class_subset"]["num_classes"]
    assert probe["scores"]["top1"] >= 100.0 / classes + 25, probe["scores"]
    card = vpbench.load_model(model).card
    # The encoder's preprocessing is in the fingerprint and the result; the cache keyed on the encoder.
    assert probe["fingerprint"]["encoder"] == {"backend": card.backend, "identity": card.identity,
                                               "preprocessing": json.loads(json.dumps(card.preprocessing.describe()))}
    assert probe["model"]["backend"] == card.backend and probe["model"]["encoder"]["identity"] == card.identity
    assert any(card.preprocessing.source in note for note in probe["notes"])

    if card.text:
        zero_shot = run_tiny("k400-zeroshot", runs, capsys, model=model)
        assert zero_shot["adapter"]["variant"] == "clip-per-frame-released"
        assert zero_shot["adapter"]["tokenizer"]["file"] == "tokenizer.json"
    else:
        refused = _refusal("k400-zeroshot", model, runs, capsys)
        assert f"no text tower (a {card.backend} video encoder only)" in refused and "text_tower=lit" in refused
        if kind != "videomae":
            return  # LiT training costs a minute per encoder on two cores: once, for the tubelet encoder
        zero_shot = run_tiny("k400-zeroshot", runs, capsys, "text_tower=lit", model=model)
        assert zero_shot["adapter"]["variant"] == "lit-msrvtt-retrieval"
        assert zero_shot["fingerprint"]["features"]["layout"] == "frame_pooled"
    assert zero_shot["counts"]["evaluated"] == 24 and 0.0 <= zero_shot["scores"]["top1"] <= 100.0
    assert zero_shot["fingerprint"]["encoder"]["identity"] == card.identity


def _refusal(task, model, output, capsys) -> str:
    from vpbench.cli import main

    capsys.readouterr()
    assert main(["run", "--task", task, "--tiny", "--model", model, "--output", str(output), "--workers", "0",
                 "--device", "cpu"]) == 1
    return " ".join(capsys.readouterr().err.split())


def test_the_table_gives_every_encoder_its_own_column(runs, tiny_folders, capsys):
    from vpbench.cli import main

    capsys.readouterr()
    assert main(["table", "--results", str(runs), "--format", "json"]) == 0
    board = json.loads(capsys.readouterr().out)
    diving48 = next(row for row in board["benchmarks"] if row["id"] == "diving48")
    columns = sorted(diving48["runs"])
    assert len(columns) == len(tiny_encoders.KINDS)
    for kind, folder in tiny_folders.items():
        assert sum(column.startswith(f"{folder}:map") for column in columns) == 1, (kind, columns)


def test_only_a_videoprism_column_is_compared_with_the_papers_numbers():
    from vpbench.leaderboard.published import load_published
    from vpbench.leaderboard.runs import RunProtocol, RunRecord
    from vpbench.leaderboard.tables import leaderboard_from_records

    def record(model: str, backend: str | None) -> RunRecord:
        return RunRecord(path=Path(f"/r/{backend}.json"), task="k400-probe", model=model, checkpoint_sha256="c" * 64,
                         adapter="map/map", seed=0, tiny=False, benchmarks={"k400": 80.0}, fingerprint={},
                         fingerprint_sha256=f"f-{backend}", created="", protocol=RunProtocol(None, ()),
                         backend=backend)

    board = leaderboard_from_records(load_published(), [record("hf:MCG-NJU/videomae-base", "videomae"),
                                                        record("videoprism-b", "videoprism")])
    videomae, videoprism = (board.find_column(name) for name in ("videomae-base", "videoprism-b"))
    assert videomae.size is None and videoprism.size == "b"
    assert board.cell("k400", videomae.id).delta_paper is None
    assert board.cell("k400", videoprism.id).delta_paper == pytest.approx(80.0 - 84.2)
    assert board.cell("k400", videomae.id).delta_prev_best == pytest.approx(80.0 - 82.8)


def test_benchmarks_yaml_says_how_each_previous_best_row_can_be_rerun():
    from vpbench.models import hub
    from vpbench.registry import load_benchmarks, load_previous_best

    previous = load_previous_best()
    named = {bench.published["prev_best_model"] for bench in load_benchmarks()[0].values()}
    assert named <= set(previous)
    for entry in previous.values():
        assert entry.released
        for spec in ([entry.checkpoint] if entry.checkpoint else []) + list(entry.comparable):
            assert hub.parse(spec, file=False).repo_id
    assert previous["VideoCoCa-g"].released == "not released" and previous["UMT-L"].checkpoint is None
