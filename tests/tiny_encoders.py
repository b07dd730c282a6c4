"""Tiny random-weight transformers checkpoints of every encoder backend, written offline for tests.

Each is a transformers config with tiny sizes, saved with ``save_pretrained`` next to the processor
config the hub checkpoints carry (written as JSON: the processor classes need torchvision), for the
tiny suite's 8 frames of 32x32 pixels. Nothing is downloaded.
"""

from __future__ import annotations

import json
import string
from pathlib import Path

import torch

# Small but not degenerate: a MAP probe on random features must still tell the tiny shapes apart.
_VISION = dict(hidden_size=64, intermediate_size=128, num_attention_heads=2)
_IMAGENET = {"image_mean": [0.485, 0.456, 0.406], "image_std": [0.229, 0.224, 0.225]}


def _processor(folder: Path, name: str, **fields) -> None:
    base = {"do_resize": True, "do_center_crop": True, "do_rescale": True, "rescale_factor": 1 / 255,
            "do_normalize": True, "resample": 2}
    (folder / name).write_text(json.dumps({**base, **fields}, indent=1))


def write(kind: str, folder: Path, seed: int = 0, layers: int = 2) -> Path:
    """A tiny checkpoint folder of ``kind`` (one of :data:`KINDS`) with ``layers`` vision layers (0: every
    token depends on its own patch only, which shows where each patch lands in the token grid)."""
    import transformers as T

    torch.manual_seed(seed)
    folder.mkdir(parents=True, exist_ok=True)
    vision = {**_VISION, "num_hidden_layers": layers}
    if kind == "videomae":
        T.VideoMAEModel(T.VideoMAEConfig(image_size=32, patch_size=8, num_frames=8, tubelet_size=2, **vision)
                        ).save_pretrained(folder)
        _processor(folder, "preprocessor_config.json", image_processor_type="VideoMAEImageProcessor",
                   size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32},
                   image_mean=[0.5, 0.5, 0.5], image_std=[0.5, 0.5, 0.5])
    elif kind == "vjepa2":
        T.VJEPA2Model(T.VJEPA2Config(crop_size=32, patch_size=8, frames_per_clip=8, tubelet_size=2, hidden_size=64,
                                     num_hidden_layers=layers, num_attention_heads=2, mlp_ratio=2, pred_hidden_size=32,
                                     pred_num_hidden_layers=1, pred_num_attention_heads=2)).save_pretrained(folder)
        # As the hub's V-JEPA 2 folders: crop 256 from a 292 resize, which the processor derives from the crop.
        _processor(folder, "video_preprocessor_config.json", video_processor_type="VJEPA2VideoProcessor",
                   size={"shortest_edge": 36}, crop_size={"height": 32, "width": 32}, **_IMAGENET)
    elif kind == "siglip-vision":
        T.SiglipVisionModel(T.SiglipVisionConfig(image_size=32, patch_size=8, **vision)).save_pretrained(folder)
        _processor(folder, "preprocessor_config.json", image_processor_type="SiglipImageProcessor",
                   size={"height": 32, "width": 32}, do_center_crop=False, image_mean=[0.5, 0.5, 0.5],
                   image_std=[0.5, 0.5, 0.5], resample=3)
    elif kind == "clip":
        tokenizer = clip_tokenizer()
        text = dict(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                    num_attention_heads=2, max_position_embeddings=77, bos_token_id=tokenizer.bos_token_id,
                    eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
        T.CLIPModel(T.CLIPConfig(text_config=text, vision_config=dict(image_size=32, patch_size=8, **vision),
                                 projection_dim=32)).save_pretrained(folder)
        tokenizer.save_pretrained(folder)
        _processor(folder, "preprocessor_config.json", image_processor_type="CLIPImageProcessor",
                   size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}, resample=3,
                   image_mean=[0.4815, 0.4578, 0.4082], image_std=[0.2686, 0.2613, 0.2758])
    else:
        raise ValueError(kind)
    return folder


def clip_tokenizer():
    """A CLIP BPE tokenizer over single characters (no merges): every text tokenises, no vocabulary file needed."""
    from transformers import CLIPTokenizer

    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for char in string.ascii_lowercase + string.digits + ".,'-":
        vocab[char] = len(vocab)
        vocab[char + "</w>"] = len(vocab)
    return CLIPTokenizer(vocab=vocab, merges=[])


KINDS = ("videomae", "vjepa2", "siglip-vision", "clip")
