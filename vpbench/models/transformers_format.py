"""Transformers-format VideoPrism checkpoints (``config.json`` + ``model.safetensors``) <-> vpbench.

The Hugging Face transformers port (``transformers.models.videoprism``) saves the official
weights under its own names: separate q/k/v projections, a Conv3d patch embedding, LayerNorm
gains as ``weight``, a leading 1 on position tables. :func:`links` lists, for a config, every
vpbench tensor and the port tensor(s) it comes from; reading and writing both use it, so they
cannot disagree.

What this module does differently from a plain rename, and why:

* **Sizes come from the weights.** The port derives the pooler width from the MLP width
  (``intermediate_size // heads`` per head) and the text tower's from its own config, so a
  tiny or unusual checkpoint can hold tensors its ``config.json`` does not describe. Widths,
  depths, grid, frames and vocabulary are read from tensor shapes; only the head count, which
  no shape shows, comes from ``config.json`` (checked against the pooler's per-head scale).
* **The text position table is recomputed.** The port stores a sinusoidal table built with
  other frequencies (``10000 ** (2i / D)`` instead of the official ``10000 ** (i / (D/2 - 1))``),
  which moves text embeddings visibly. vpbench ignores the stored table; its text encoder
  computes the official one, as it does for ``.npz`` checkpoints.

Every error names the folder and says "transformers-format checkpoint". This module must never
download (``hub`` and ``zoo`` do), never unpickle (``pytorch_model.bin`` is refused) and never
hold model math (``videoprism``).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from vpbench.errors import CheckpointError
from vpbench.models.checkpoint import problem_listing
from vpbench.models.config import VideoPrismConfig

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
WEIGHTS_INDEX_FILE = "model.safetensors.index.json"
WHAT = "transformers-format checkpoint"
# What a hub download of a transformers checkpoint needs (VideoPrism's or another encoder's):
# config, weights, the processor config (another encoder's preprocessing) and tokenizer files.
HUB_PATTERNS = (CONFIG_FILE, "*.safetensors", WEIGHTS_INDEX_FILE, "spiece.model", "tokenizer*.json",
                "special_tokens_map.json", "vocab.json", "merges.txt", "preprocessor_config.json",
                "video_preprocessor_config.json")
# Port buffers vpbench does not take: the port's own text position table and its position ids.
IGNORED = ("text_model.embeddings.position_embedding", "text_model.embeddings.position_ids")
_EXACT_GELU = ("gelu_python", "gelu")


@dataclass(frozen=True)
class Link:
    """One vpbench tensor and the port tensor(s) it is made of."""

    target: str  # vpbench state-dict key
    sources: tuple[str, ...]  # port keys; several are concatenated along dim 0 (q, k, v)
    kind: str = "copy"  # copy | squeeze (port has a leading 1) | patch (Conv3d kernel)


def _to_vpbench(kind: str, parts: list):
    import torch

    if kind == "patch":  # [D, 3, 1, P, P] -> [D, P*P*3], values ordered (row, col, channel)
        return parts[0][:, :, 0].permute(0, 2, 3, 1).reshape(parts[0].shape[0], -1)
    if kind == "squeeze":
        return parts[0].reshape(parts[0].shape[1:])
    return torch.cat(parts, dim=0) if len(parts) > 1 else parts[0]


def _to_port(kind: str, tensor, count: int, patch: int) -> list:
    if kind == "patch":
        return [tensor.reshape(tensor.shape[0], patch, patch, 3).permute(0, 3, 1, 2)[:, :, None]]
    if kind == "squeeze":
        return [tensor[None]]
    return list(tensor.chunk(count, dim=0)) if count > 1 else [tensor]


# --------------------------------------------------------------------------------------------
# The link table


def _ln(target: str, source: str) -> list[Link]:
    return [Link(f"{target}.scale", (f"{source}.weight",)), Link(f"{target}.bias", (f"{source}.bias",))]


def _linear(target: str, *sources: str) -> list[Link]:
    return [Link(f"{target}.weight", tuple(f"{s}.weight" for s in sources)),
            Link(f"{target}.bias", tuple(f"{s}.bias" for s in sources))]


def _layers(target: str, source: str, count: int) -> list[Link]:
    links = []
    for i in range(count):
        t, s = f"{target}.layers.{i}", f"{source}.{i}"
        links += _ln(f"{t}.layer_norm", f"{s}.layernorm_before")
        links += _linear(f"{t}.self_attention.qkv", *(f"{s}.attention.{n}_proj" for n in "qkv"))
        links += _linear(f"{t}.self_attention.post", f"{s}.attention.o_proj")
        links += _ln(f"{t}.ff_layer.layer_norm", f"{s}.layernorm_after")
        links += _linear(f"{t}.ff_layer.ffn_layer1", f"{s}.mlp.fc1")
        links += _linear(f"{t}.ff_layer.ffn_layer2", f"{s}.mlp.fc2")
    return links


def _encoder(target: str, source: str, config: VideoPrismConfig) -> list[Link]:
    patches = f"{source}spatial_embeddings.patch_embeddings.projection"
    links = [Link(f"{target}.patch_projection.weight", (f"{patches}.weight",), "patch"),
             Link(f"{target}.patch_projection.bias", (f"{patches}.bias",)),
             Link(f"{target}.spatial_pos_emb", (f"{source}spatial_embeddings.position_embeddings",), "squeeze"),
             Link(f"{target}.temporal_pos_emb", (f"{source}temporal_embeddings.position_embeddings",), "squeeze")]
    links += _layers(f"{target}.spatial_encoder", f"{source}spatial_layers", config.num_spatial_layers)
    links += _ln(f"{target}.spatial_ln", f"{source}layernorm1")
    links += _layers(f"{target}.temporal_encoder", f"{source}temporal_layers", config.num_temporal_layers)
    return links + _ln(f"{target}.temporal_ln", f"{source}layernorm2")


def _pooler(target: str, head: str, norm: str) -> list[Link]:
    a = f"{target}.pooling_attention"
    links = [Link(f"{target}.pooling_attention_query", (f"{head}.pooling_attention_query",), "squeeze")]
    links += _linear(f"{a}.query", f"{head}.q_proj")
    links += _linear(f"{a}.key_value", f"{head}.k_proj", f"{head}.v_proj")
    links += [Link(f"{a}.per_dim_scale", (f"{head}.per_dim_scale",))]
    links += _linear(f"{a}.post", f"{head}.o_proj")
    return links + _ln(f"{target}.pooling_attention_layer_norm", norm)


# Where each model type's vision tower sits in the port, and which port class saves it.
_VISION_PREFIX = {"encoder": "", "classifier": "vision_model.", "lvt": "video_model.vision_model."}
PORT_CLASSES = {"encoder": "VideoPrismVisionModel", "classifier": "VideoPrismForVideoClassification",
                "lvt": "VideoPrismClipModel"}


def links(config: VideoPrismConfig) -> list[Link]:
    """Every tensor of the vpbench model of ``config`` and the port tensors it is made of."""
    vision = _VISION_PREFIX[config.model_type]
    if config.model_type == "encoder":
        return _encoder("encoder", vision, config)
    if config.model_type == "classifier":
        return (_encoder("encoder", vision, config) + _pooler("atten_pooler", "head", "head_layernorm")
                + _linear("projection", "classifier"))
    out = _encoder("vision_encoder", vision, config)
    out += _layers("auxiliary_encoder", "video_model.auxiliary_layers", config.num_auxiliary_layers)
    out += _pooler("contrastive_vision_pooler", "video_model.head", "video_model.head_layernorm")
    out += [Link("text_encoder.token_emb.weight", ("text_model.embeddings.token_embedding.weight",)),
            Link("text_encoder.cls_emb", ("text_model.embeddings.cls_emb",))]
    out += _layers("text_encoder.unimodal_transformer", "text_model.layers", config.num_unimodal_layers)
    return out + _ln("text_encoder.unimodal_ln", "text_model.layernorm")


# --------------------------------------------------------------------------------------------
# Reading a folder


def is_checkpoint_folder(path: Path) -> bool:
    return path.is_dir() and (path / CONFIG_FILE).is_file()


def weight_files(folder: Path) -> list[Path]:
    index = folder / WEIGHTS_INDEX_FILE
    if index.is_file():
        try:
            weight_map = json.loads(index.read_text())["weight_map"]
        except (ValueError, KeyError, TypeError) as exc:
            raise CheckpointError(f"{index}: {WHAT} index is not JSON with a 'weight_map' ({exc})") from None
        files = [folder / name for name in sorted(set(weight_map.values()))]
    else:
        files = [folder / WEIGHTS_FILE]
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        pickled = sorted(p.name for p in folder.glob("pytorch_model*.bin"))
        extra = (f"; it holds {', '.join(pickled)}, which vpbench refuses (pickle): use the safetensors "
                 "weights of the same checkpoint") if pickled else ""
        raise CheckpointError(f"{folder}: {WHAT} without its weights: missing {', '.join(missing)}{extra}")
    return files


def read_folder(folder: str | Path) -> tuple[dict[str, Any], dict[str, Any], str]:
    """(tensors by port key, parsed config.json, sha256 identity of the weights) of a checkpoint folder."""
    from vpbench.models.checkpoint import read_safetensors, sha256_file

    folder = Path(folder)
    config_path = folder / CONFIG_FILE
    try:
        config_json = json.loads(config_path.read_text())
    except FileNotFoundError:
        raise CheckpointError(f"{folder}: not a {WHAT}: no {CONFIG_FILE}") from None
    except ValueError as exc:
        raise CheckpointError(f"{config_path}: {WHAT} config is not valid JSON ({exc})") from None
    if not isinstance(config_json, dict):
        raise CheckpointError(f"{config_path}: {WHAT} config must be a JSON object")
    tensors: dict[str, Any] = {}
    digests = []
    for path in weight_files(folder):
        tensors.update(read_safetensors(path, f"{WHAT} weights")[0])
        digests.append(sha256_file(path))
    return {k: v.float() for k, v in tensors.items()}, config_json, weights_identity(digests)


def weights_identity(digests: list[str]) -> str:
    """One identity for a checkpoint's weights: its file's sha256, or, for shards, the sha256 of
    their sha256s in file order."""
    return digests[0] if len(digests) == 1 else hashlib.sha256("".join(digests).encode()).hexdigest()


# --------------------------------------------------------------------------------------------
# Architecture from the weights


def _model_type(tensors: Mapping[str, Any]) -> str:
    if any(k.startswith("text_model.") for k in tensors):
        return "lvt"
    if "classifier.weight" in tensors:
        return "classifier"
    return "encoder"


def _count(tensors: Mapping[str, Any], prefix: str) -> int:
    pattern = re.compile(re.escape(prefix) + r"\.(\d+)\.")
    indices = {int(m.group(1)) for k in tensors if (m := pattern.match(k))}
    if indices != set(range(len(indices))):
        raise ValueError(f"layers {sorted(indices)} under '{prefix}' are not numbered 0..N-1")
    return len(indices)


def _sub_config(config_json: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = config_json.get(name)
    return value if isinstance(value, dict) else config_json


def infer_config(tensors: Mapping[str, Any], config_json: Mapping[str, Any], where: str) -> VideoPrismConfig:
    """The vpbench architecture a transformers-format checkpoint holds: sizes from the tensor
    shapes, the head count (no shape shows it) from config.json."""
    model_type = _model_type(tensors)
    vision = _VISION_PREFIX[model_type]
    vision_json = _sub_config(config_json, "vision_config")

    def shape(key: str) -> tuple[int, ...]:
        if key not in tensors:
            raise CheckpointError(f"{where}: {WHAT} has no tensor '{key}', needed to read its architecture")
        return tuple(tensors[key].shape)

    try:
        kernel = shape(f"{vision}spatial_embeddings.patch_embeddings.projection.weight")
        dim, channels, tubelet_t, patch, patch_w = kernel
    except ValueError:
        raise CheckpointError(f"{where}: {WHAT} patch embedding must be a Conv3d kernel [D, 3, 1, P, P]") from None
    if (channels, tubelet_t, patch_w) != (3, 1, patch):
        raise CheckpointError(f"{where}: {WHAT} patch embedding has shape {kernel}; "
                              "vpbench's encoder takes RGB frames in square patches of one frame [D, 3, 1, P, P]")
    cells = shape(f"{vision}spatial_embeddings.position_embeddings")[1]
    grid = math.isqrt(cells)
    if grid * grid != cells:
        raise CheckpointError(f"{where}: {WHAT} spatial position table has {cells} rows; expected a square grid")
    fields: dict[str, Any] = dict(
        model_type=model_type, patch_size=patch, model_dim=dim,
        pos_emb_shape=(shape(f"{vision}temporal_embeddings.position_embeddings")[1], grid, grid),
        mlp_dim=shape(f"{vision}spatial_layers.0.mlp.fc1.weight")[0],
        atten_logit_cap=float(vision_json.get("attn_logit_softcapping", 50.0) or 0.0),
    )
    try:
        fields.update(num_spatial_layers=_count(tensors, f"{vision}spatial_layers"),
                      num_temporal_layers=_count(tensors, f"{vision}temporal_layers"))
        if model_type == "lvt":
            fields.update(num_auxiliary_layers=_count(tensors, "video_model.auxiliary_layers"),
                          num_unimodal_layers=_count(tensors, "text_model.layers"),
                          vocabulary_size=shape("text_model.embeddings.token_embedding.weight")[0])
    except ValueError as exc:
        raise CheckpointError(f"{where}: {WHAT}: {exc}") from None
    head = {"lvt": "video_model.head", "classifier": "head"}.get(model_type)
    fields["num_heads"] = _heads(tensors, vision_json, head, where)
    if model_type == "classifier":
        fields["num_classes"] = shape("classifier.weight")[0]
    _check_fixed_choices(tensors, config_json, model_type, dim, fields["num_heads"], head, where)
    try:
        return VideoPrismConfig(**fields)
    except ValueError as exc:
        raise CheckpointError(f"{where}: {WHAT} describes an inconsistent architecture: {exc}") from None


def _heads(tensors: Mapping[str, Any], vision_json: Mapping[str, Any], head: str | None, where: str) -> int:
    """Heads from config.json, checked against the pooler (its per-dim scale has one entry per
    head dimension, so pooler width / that length is its head count, which the official model
    shares with every stack)."""
    declared = vision_json.get("num_attention_heads")
    from_pooler = None
    if head is not None and f"{head}.per_dim_scale" in tensors:
        from_pooler = tensors[f"{head}.q_proj.weight"].shape[0] // tensors[f"{head}.per_dim_scale"].shape[0]
    if declared is None and from_pooler is None:
        raise CheckpointError(f"{where}: {WHAT} config.json has no 'num_attention_heads', and no tensor shows it")
    if declared is not None and from_pooler is not None and int(declared) != from_pooler:
        raise CheckpointError(f"{where}: {WHAT} config.json says {declared} attention heads but its attention "
                              f"pooler has {from_pooler} (q_proj width / per_dim_scale length)")
    return int(declared if declared is not None else from_pooler)


def _check_fixed_choices(tensors: Mapping[str, Any], config_json: Mapping[str, Any], model_type: str, dim: int,
                         heads: int, head: str | None, where: str) -> None:
    """Refuse what vpbench's modules (the official architecture) cannot hold, naming the tensor."""
    vision_json, text_json = _sub_config(config_json, "vision_config"), _sub_config(config_json, "text_config")
    problems = []
    if vision_json.get("hidden_act", "gelu_python") not in _EXACT_GELU:
        problems.append(f"vision hidden_act {vision_json.get('hidden_act')!r} (the official model uses exact GELU)")
    for name, sub in (("vision", vision_json), ("text", text_json)):
        if float(sub.get("layer_norm_eps", 1e-6)) != 1e-6:
            problems.append(f"{name} layer_norm_eps {sub.get('layer_norm_eps')} (official: 1e-6)")
    if head is not None:
        width = tensors[f"{head}.q_proj.weight"].shape[0]
        expected = 4 * dim if model_type == "lvt" else dim
        if width != expected:
            problems.append(f"'{head}.q_proj.weight' is {width} wide; the official {model_type} pooler is {expected}")
    if model_type == "lvt":
        if text_json.get("hidden_act", "relu") != "relu":
            problems.append(f"text hidden_act {text_json.get('hidden_act')!r} (official: relu)")
        if int(text_json.get("num_attention_heads", heads)) != heads:
            problems.append(f"text num_attention_heads {text_json.get('num_attention_heads')} differs from the "
                            f"video tower's {heads} (the official LvT shares one head count)")
        ffn = tensors.get("text_model.layers.0.mlp.fc1.weight")
        if ffn is not None and ffn.shape[0] != 4 * dim:
            problems.append(f"'text_model.layers.0.mlp.fc1.weight' is {ffn.shape[0]} wide; the official text "
                            f"FFN is 4*D = {4 * dim}")
    if problems:
        raise CheckpointError(f"{where}: {WHAT} holds an architecture vpbench does not implement: "
                              + "; ".join(problems))


# --------------------------------------------------------------------------------------------
# Converting


def to_state_dict(tensors: Mapping[str, Any], config: VideoPrismConfig, where: str) -> dict[str, Any]:
    """vpbench state dict from port tensors; one error lists every missing, unexpected and mis-shaped one."""
    table = links(config)
    expected = {source for link in table for source in link.sources}
    missing = sorted(expected - set(tensors))
    unexpected = sorted(set(tensors) - expected - set(IGNORED))
    if missing or unexpected:
        problems = [problem_listing(label, items)
                    for label, items in (("missing", missing), ("unexpected", unexpected)) if items]
        raise CheckpointError(f"{where}: {WHAT} does not match the {config.model_type} architecture read from it "
                              f"(D={config.model_dim}, heads={config.num_heads}, patch={config.patch_size}, "
                              f"pos_emb={config.pos_emb_shape}): " + " | ".join(problems))
    # Fresh storage for every tensor (not views into the file buffer): same layout as an .npz load,
    # so the same kernels run and outputs are bit-identical.
    return {link.target: _to_vpbench(link.kind, [tensors[s] for s in link.sources]).clone() for link in table}


def from_state_dict(state: Mapping[str, Any], config: VideoPrismConfig) -> dict[str, Any]:
    """Port tensors from a vpbench state dict (the inverse of :func:`to_state_dict`; the port's text
    position buffers are not included)."""
    out: dict[str, Any] = {}
    for link in links(config):
        parts = _to_port(link.kind, state[link.target], len(link.sources), config.patch_size)
        out.update({source: part.contiguous() for source, part in zip(link.sources, parts)})
    return out


def load_model(folder: str | Path, *, where: str | None = None):
    """Build and fill the vpbench model a transformers-format checkpoint folder holds.

    The port's own text position table is ignored: vpbench's text encoder computes the official
    one. ``checkpoint_sha256`` is the hash of the safetensors weights (several shards: of their hashes).
    """
    import torch

    from vpbench.models.videoprism import build_model

    where = where or str(folder)
    tensors, config_json, identity = read_folder(folder)
    config = infer_config(tensors, config_json, where)
    state = to_state_dict(tensors, config, where)
    with torch.device("meta"):
        model = build_model(config)
    try:
        model.load_state_dict(state, strict=True, assign=True)
    except RuntimeError as exc:  # a shape the table did not foresee: still the checkpoint's fault
        raise CheckpointError(f"{where}: {WHAT} tensors do not fit the architecture read from it: {exc}") from None
    model.checkpoint_sha256 = identity
    return model.eval()

