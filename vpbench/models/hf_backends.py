"""Encoders from Hugging Face transformers checkpoints, behind vpbench's encoder interface.

Which backend reads a folder is decided by its ``config.json`` ``model_type`` (:data:`BACKENDS`):

* a video transformer with tubelets: VideoMAE (``videomae``), V-JEPA 2 (``vjepa2``, encoder only,
  the predictor is not run); tokens ``[B, T/2, H/16, W/16, D]``;
* an image encoder applied to every frame, tokens stacked over time: CLIP and SigLIP vision
  towers (``clip_vision_model``, ``siglip_vision_model``; CLIP's class token is dropped);
* a video-text model for the zero-shot tasks: CLIP and SigLIP (``clip``, ``siglip``) per frame,
  the video embedding being the mean of the L2-normalised frame embeddings, renormalised
  (CLIP4Clip's "meanP" without training); the text side is the model's own text tower and tokenizer.

Each encoder's preprocessing comes from the folder's ``video_preprocessor_config.json`` or
``preprocessor_config.json`` (resize and crop size, mean/std) and its ``config.json`` (frames
for models with a fixed temporal position table); vpbench decodes and resizes itself (bilinear,
antialiased), so a processor asking for bicubic resampling is noted, not followed. X-CLIP is
refused: its text embedding depends on the video (video-specific prompts), which two-tower
zero-shot scoring cannot use.

This module must never download (``zoo`` resolves hub locations), never read pickled weights
(``use_safetensors=True``) and never run code from a checkpoint (no ``trust_remote_code``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import torch
from torch import Tensor, nn

from vpbench.errors import CheckpointError, MissingDependencyError
from vpbench.models.encoder import EncoderCard, Preprocessing, unsupported

PROCESSOR_FILES = ("video_preprocessor_config.json", "preprocessor_config.json")
TOKENIZER_FILES = ("tokenizer.json", "spiece.model", "sentencepiece.bpe.model", "vocab.json", "tokenizer_config.json")
REFUSED = {
    "xclip": "X-CLIP's text embedding depends on the video (its video-specific prompt generator), which the "
             "two-tower zero-shot families cannot use; CLIP applied per frame (model_type 'clip') is supported",
}
_RESAMPLE_NAMES = {0: "nearest", 1: "lanczos", 2: "bilinear", 3: "bicubic", 4: "box", 5: "hamming"}


# --------------------------------------------------------------------------------------------
# Encoders


def _l2(x: Tensor) -> Tensor:
    return x / torch.sqrt((x * x).sum(dim=-1, keepdim=True) + 1e-12)


class HFEncoder(nn.Module):
    """A transformers model and its card; subclasses say how video becomes tokens and embeddings."""

    def __init__(self, model: nn.Module, card: EncoderCard, folder: Path) -> None:
        super().__init__()
        self.model = model.eval()
        self._card = card
        self.folder = folder
        self.checkpoint_sha256 = card.checkpoint_sha256

    @property
    def card(self) -> EncoderCard:
        return self._card

    def video_tokens(self, video: Tensor) -> Tensor:
        raise unsupported(self.card, "token grid")

    def video_embedding(self, video: Tensor) -> Tensor:
        raise unsupported(self.card, "video embedding")

    def encode_text(self, token_ids: Any, paddings: Any) -> Tensor:
        raise unsupported(self.card, "text tower (a LiT tower can be trained: --option text_tower=lit)")

    def text_tokenizer(self, max_length: int) -> Any:
        return None


class TubeletVideoEncoder(HFEncoder):
    """VideoMAE / V-JEPA 2: one transformer over space-time tubelets, tokens time-major."""

    def video_tokens(self, video: Tensor) -> Tensor:
        batch, frames, size = video.shape[:3]
        pixels = video.permute(0, 1, 4, 2, 3)  # [B, T, 3, S, S], the transformers layout
        with torch.inference_mode():
            if self.card.backend == "vjepa2":
                hidden = self.model.encoder(pixel_values_videos=pixels).last_hidden_state
            else:
                hidden = self.model(pixel_values=pixels).last_hidden_state
        return hidden.float().reshape(batch, *self.card.token_grid(frames, size), -1)


class FrameImageEncoder(HFEncoder):
    """CLIP / SigLIP: the image tower on every frame; with a text tower, a video-text model."""

    def _frames(self, video: Tensor) -> Tensor:
        return video.reshape(-1, *video.shape[2:]).permute(0, 3, 1, 2)  # [B*T, 3, S, S]

    def video_tokens(self, video: Tensor) -> Tensor:
        batch, frames, size = video.shape[:3]
        _, rows, cols = self.card.token_grid(frames, size)
        with torch.inference_mode():
            tower = getattr(self.model, "vision_model", self.model)  # a full CLIP/SigLIP, or its vision model
            hidden = tower(pixel_values=self._frames(video)).last_hidden_state
        hidden = hidden[:, -rows * cols:]  # CLIP's class token comes first; SigLIP has none
        return hidden.float().reshape(batch, frames, rows, cols, -1)

    def video_embedding(self, video: Tensor) -> Tensor:
        if "embedding" not in self.card.outputs:
            return super().video_embedding(video)
        batch, frames = video.shape[:2]
        with torch.inference_mode():
            per_frame = self.model.get_image_features(pixel_values=self._frames(video)).pooler_output
        return _l2(_l2(per_frame.float()).reshape(batch, frames, -1).mean(dim=1))

    def encode_text(self, token_ids: Any, paddings: Any) -> Tensor:
        if not self.card.text:
            return super().encode_text(token_ids, paddings)
        device = next(self.parameters()).device
        ids = torch.as_tensor(token_ids, device=device).long()
        mask = (1 - torch.as_tensor(paddings, device=device).long()) if self.card.details["text_mask"] else None
        with torch.inference_mode():
            embeddings = self.model.get_text_features(input_ids=ids, attention_mask=mask).pooler_output
        return _l2(embeddings.float())

    def text_tokenizer(self, max_length: int) -> Any:
        if not self.card.text:
            return None
        positions = int(self.card.details["text_positions"])
        return HFTokenizer(self.folder, min(max_length, positions))


class HFTokenizer:
    """A checkpoint's own transformers tokenizer with the interface of :class:`vpbench.models.Tokenizer`.

    Texts are padded to ``max_length`` (SigLIP's text tower pools the last position and was trained
    on padded texts), truncated beyond it; ``paddings`` are 1 where the attention mask is 0.
    """

    canonicalize = False

    def __init__(self, folder: Path, max_length: int) -> None:
        try:
            from transformers import AutoTokenizer

            with _quiet_transformers():
                self._tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
        except ImportError as exc:  # a SentencePiece tokenizer without protobuf, ...
            raise MissingDependencyError(f"{folder}: the checkpoint's tokenizer needs a package that is not "
                                         f"installed: {exc}".strip()) from None
        except (OSError, ValueError) as exc:
            raise CheckpointError(f"{folder}: no usable tokenizer for the text tower ({exc})") from None
        self.path = next((folder / name for name in TOKENIZER_FILES if (folder / name).is_file()), None)
        if self.path is None:
            raise CheckpointError(f"{folder}: the text tower's tokenizer has none of {list(TOKENIZER_FILES)}")
        self.max_length = max_length
        self.vocab_size = len(self._tokenizer)
        self.add_bos = bool(getattr(self._tokenizer, "bos_token_id", None) is not None
                            and getattr(self._tokenizer, "add_bos_token", True))

    def __call__(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        encoded = self._tokenizer(list(texts), padding="max_length", truncation=True, max_length=self.max_length,
                                  return_attention_mask=True, return_tensors="np")
        return (encoded["input_ids"].astype(np.int32),
                (1 - encoded["attention_mask"]).astype(np.float32))


# --------------------------------------------------------------------------------------------
# Reading a checkpoint folder


def _videomae(config: Any) -> dict[str, Any]:
    return {"frames": int(config.num_frames), "tubelet": int(config.tubelet_size), "native_px": int(config.image_size),
            "patch": int(config.patch_size), "dim": int(config.hidden_size)}


def _vjepa2(config: Any) -> dict[str, Any]:
    # Rotary position embeddings over frames: any multiple of the tubelet, so the task's frame count;
    # the spatial rotary grid is fixed by crop_size.
    return {"frames": None, "tubelet": int(config.tubelet_size), "native_px": int(config.crop_size),
            "patch": int(config.patch_size), "dim": int(config.hidden_size)}


def _image(config: Any) -> dict[str, Any]:
    vision = getattr(config, "vision_config", config)
    return {"frames": None, "tubelet": 1, "native_px": int(vision.image_size), "patch": int(vision.patch_size),
            "dim": int(vision.hidden_size)}


# model_type -> (transformers class name, encoder class, backend name, sizes from the config, text tower)
BACKENDS: dict[str, tuple[str, type[HFEncoder], str, Callable[[Any], dict[str, Any]], bool]] = {
    "videomae": ("VideoMAEModel", TubeletVideoEncoder, "videomae", _videomae, False),
    "vjepa2": ("VJEPA2Model", TubeletVideoEncoder, "vjepa2", _vjepa2, False),
    "clip_vision_model": ("CLIPVisionModel", FrameImageEncoder, "image-per-frame", _image, False),
    "siglip_vision_model": ("SiglipVisionModel", FrameImageEncoder, "image-per-frame", _image, False),
    "clip": ("CLIPModel", FrameImageEncoder, "clip-per-frame", _image, True),
    "siglip": ("SiglipModel", FrameImageEncoder, "clip-per-frame", _image, True),
}


def model_type(folder: Path) -> str | None:
    """``model_type`` of a checkpoint folder's config.json (None when it names none)."""
    return _read_json(folder / "config.json", "config.json").get("model_type")


def load(folder: str | Path, *, where: str | None = None) -> HFEncoder:
    """The encoder a transformers checkpoint folder holds, on CPU, in eval mode."""
    import transformers

    folder = Path(folder)
    where = where or str(folder)
    kind = model_type(folder)
    if kind in REFUSED:
        raise CheckpointError(f"{where}: model_type '{kind}' is not supported: {REFUSED[kind]}")
    if kind not in BACKENDS:
        raise CheckpointError(f"{where}: model_type {kind!r} has no vpbench backend (supported: "
                              f"{', '.join(sorted(BACKENDS))}, and VideoPrism); plug in your own encoder class "
                              "instead (README: 'Your own encoder')")
    class_name, encoder_class, backend, sizes_of, text = BACKENDS[kind]
    model_class = getattr(transformers, class_name)
    weights = _weights_digest(folder, where)
    with _quiet_transformers():
        try:
            model, info = model_class.from_pretrained(str(folder), local_files_only=True, use_safetensors=True,
                                                      output_loading_info=True, dtype=torch.float32)
        except (OSError, ValueError) as exc:
            raise CheckpointError(f"{where}: transformers could not load it as {class_name} ({exc})") from None
    missing = sorted(info.get("missing_keys") or ())
    if missing:  # transformers would fill them with random values: never a frozen encoder's features
        raise CheckpointError(f"{where}: the weights lack {len(missing)} tensor(s) {class_name} needs, e.g. "
                              f"{missing[:5]} (a vision-only checkpoint loaded as a video-text model?)")
    sizes = sizes_of(model.config)
    preprocessing, notes = _preprocessing(folder, sizes, where)
    config_json = _read_json(folder / "config.json", "config.json")
    details: dict[str, Any] = {"model_type": kind, "transformers_class": class_name, "notes": notes}
    if text:
        tokenizer_inputs = _tokenizer_inputs(folder)
        details["text_mask"] = "attention_mask" in tokenizer_inputs
        details["text_positions"] = int(model.config.text_config.max_position_embeddings)
    identity = {"config": {k: v for k, v in config_json.items() if k != "_name_or_path"}, "weights": weights,
                "transformers": transformers.__version__, "backend": backend}
    card = EncoderCard(
        backend=backend, embed_dim=sizes["dim"], patch_px=sizes["patch"], preprocessing=preprocessing,
        outputs=("embedding", "tokens") if text else ("tokens",), text=text, checkpoint_sha256=weights,
        weights=hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest(), details=details)
    return encoder_class(model, card, folder)


def _preprocessing(folder: Path, sizes: dict[str, Any], where: str) -> tuple[Preprocessing, list[str]]:
    """The encoder's preprocessing from its processor config, checked against the model's own sizes."""
    path = next((folder / name for name in PROCESSOR_FILES if (folder / name).is_file()), None)
    if path is None:
        raise CheckpointError(f"{where}: no {' or '.join(PROCESSOR_FILES)}: vpbench takes an encoder's resize, crop "
                              "and pixel normalisation from it and does not guess them")
    processor = _read_json(path, path.name)
    native = sizes["native_px"]
    crop = _side(processor.get("crop_size"), path, "crop_size") if processor.get("do_center_crop", True) else None
    resize = _side(processor.get("size"), path, "size") if processor.get("do_resize", True) else None
    if processor.get("video_processor_type") == "VJEPA2VideoProcessor" and crop is not None:
        resize = int(crop * 256 / 224)  # transformers' VJEPA2VideoProcessor derives it from crop_size, ignoring 'size'
    crop = crop or resize
    if crop != native:
        raise CheckpointError(f"{path}: crop/resize to {crop} px, but the model takes {native} px frames")
    notes = []
    resample = processor.get("resample")
    if resample is not None and _RESAMPLE_NAMES.get(resample, str(resample)) != "bilinear":
        notes.append(f"{path.name} resamples {_RESAMPLE_NAMES.get(resample, resample)}; vpbench resizes bilinear "
                     "with antialiasing")
    if isinstance(processor.get("size"), dict) and "height" in processor["size"]:
        notes.append(f"{path.name} resizes the whole frame to {resize}x{resize}; vpbench keeps the task's view "
                     "geometry (shorter side and crops, or the whole frame for box tasks)")
    mean = std = None
    if processor.get("do_normalize", True):
        mean, std = _triple(processor.get("image_mean"), path, "image_mean"), _triple(processor.get("image_std"),
                                                                                       path, "image_std")
    if processor.get("do_rescale", True) and abs(float(processor.get("rescale_factor", 1 / 255)) - 1 / 255) > 1e-9:
        raise CheckpointError(f"{path}: rescale_factor {processor['rescale_factor']}; vpbench scales pixels by 1/255")
    kind = next((processor[k] for k in ("video_processor_type", "image_processor_type", "feature_extractor_type")
                 if processor.get(k)), "?")
    source = f"{path.name} ({kind})"
    if sizes["frames"]:
        source += f"; {sizes['frames']} frames from config.json"
    return Preprocessing(frames=sizes["frames"], resize_px=resize or crop, crop_px=crop, mean=mean, std=std,
                         tubelet_frames=sizes["tubelet"], source=source), notes


def _side(value: Any, path: Path, key: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, dict):
        if "shortest_edge" in value:
            return int(value["shortest_edge"])
        if "height" in value and value.get("height") == value.get("width"):
            return int(value["height"])
    raise CheckpointError(f"{path}: '{key}' is {value!r}; vpbench takes a square size, a shortest_edge or an int")


def _triple(value: Any, path: Path, key: str) -> tuple[float, float, float]:
    if isinstance(value, (int, float)):
        value = [value] * 3
    if not (isinstance(value, list) and len(value) == 3):
        raise CheckpointError(f"{path}: '{key}' is {value!r}; expected three numbers (R, G, B)")
    return tuple(float(v) for v in value)  # type: ignore[return-value]


def _tokenizer_inputs(folder: Path) -> list[str]:
    config = folder / "tokenizer_config.json"
    inputs = _read_json(config, config.name).get("model_input_names") if config.is_file() else None
    if inputs:
        return list(inputs)
    with _quiet_transformers():
        from transformers import AutoTokenizer

        try:
            return list(AutoTokenizer.from_pretrained(str(folder), local_files_only=True).model_input_names)
        except ImportError as exc:
            raise MissingDependencyError(f"{folder}: the checkpoint's tokenizer needs a package that is not "
                                         f"installed: {exc}".strip()) from None
        except (OSError, ValueError) as exc:
            raise CheckpointError(f"{folder}: a video-text checkpoint without a usable tokenizer ({exc})") from None


def _weights_digest(folder: Path, where: str) -> str:
    from vpbench.models.checkpoint import sha256_file
    from vpbench.models.transformers_format import weight_files, weights_identity

    try:
        digests = [sha256_file(path) for path in weight_files(folder)]
    except CheckpointError as exc:
        raise CheckpointError(f"{where}: {exc}") from None
    return weights_identity(digests)


def _read_json(path: Path, name: str) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise CheckpointError(f"{path.parent}: no {name}") from None
    except ValueError as exc:
        raise CheckpointError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{path}: expected a JSON object")
    return data


@contextlib.contextmanager
def _quiet_transformers() -> Iterator[None]:
    """transformers' loading reports (unused weights of a pretraining head, progress bars) are not vpbench's
    output; what matters (missing weights) is checked and raised here."""
    from transformers.utils import logging

    verbosity = logging.get_verbosity()
    logging.set_verbosity_error()
    logging.disable_progress_bar()
    try:
        yield
    finally:
        logging.set_verbosity(verbosity)
        logging.enable_progress_bar()
