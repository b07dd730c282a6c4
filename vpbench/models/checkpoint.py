"""Official VideoPrism ``.npz`` checkpoints: read, infer the architecture, map into torch, write.

The released files (``flax_*_repeated.npz``) are flat ``np.savez`` archives whose keys are the
'/'-joined Flax paths (``params/vision_encoder/spatial_encoder/transformers_stack/x_layers/...``),
with every scanned transformer stack stored once under ``x_layers`` and a leading layer axis.
One table, :func:`npz_layout`, lists every array a config implies (key, shape, torch target,
layout conversion); reading, validating, converting and writing random checkpoints all use it,
so they cannot disagree.

This module must never unpickle anything (``allow_pickle=False`` always), never download (names
are resolved in ``zoo.py``) and never contain model math (``videoprism.py``). Reading, checking
and writing arrays import no torch; only building a model does.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import zipfile
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Mapping

import numpy as np

from vpbench.atomic import atomic_write_bytes
from vpbench.errors import CheckpointError
from vpbench.models.config import VideoPrismConfig

_PREFIX = "params/"
_MAX_LISTED = 12

# How one npz leaf (one layer of it, for stacked leaves) becomes its torch tensor.
_CONVERT: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "copy": lambda a: a,
    "dense": lambda a: a.T,  # Dense kernel (in, out) -> Linear weight (out, in)
    "heads_in": lambda a: a.reshape(a.shape[0], -1).T,  # (D, N, H) -> (N*H, D)
    "heads_bias": lambda a: a.reshape(-1),  # (N, H) -> (N*H,)
    "heads_out": lambda a: a.reshape(a.shape[0], -1),  # (D, N, H) contracted over N, H -> (D, N*H)
}


@dataclass(frozen=True)
class Leaf:
    """One array of an official checkpoint and where it goes in the torch model."""

    key: str  # npz key without the leading 'params/'
    shape: tuple[int, ...]  # shape in the file (with the layer axis for stacked leaves)
    target: str  # torch state-dict key; '{i}' stands for the layer index of stacked leaves
    convert: str = "copy"  # a key of _CONVERT
    init: str = "bias"  # how write_random_checkpoint draws it: kernel, bias, table, zero_mean
    fan_in: int = 1  # for init == 'kernel'
    part: int = 0  # index of this piece along dim 0 of a fused torch tensor (q, k, v)
    parts: int = 1
    stacked: bool = False  # leading layer axis

    @property
    def num_layers(self) -> int:
        return self.shape[0] if self.stacked else 1


# --------------------------------------------------------------------------------------------
# The layout table


def _ln(key: str, target: str, dim: int, stacked_layers: int = 0) -> list[Leaf]:
    lead = (stacked_layers,) if stacked_layers else ()
    return [
        Leaf(f"{key}/scale", lead + (dim,), f"{target}.scale", stacked=bool(stacked_layers)),
        Leaf(f"{key}/bias", lead + (dim,), f"{target}.bias", stacked=bool(stacked_layers)),
    ]


def _dense(key: str, target: str, fan_in: int, fan_out: int, stacked_layers: int = 0) -> list[Leaf]:
    lead = (stacked_layers,) if stacked_layers else ()
    stacked = bool(stacked_layers)
    return [
        Leaf(f"{key}/kernel", lead + (fan_in, fan_out), f"{target}.weight", "dense", "kernel", fan_in, stacked=stacked),
        Leaf(f"{key}/bias", lead + (fan_out,), f"{target}.bias", stacked=stacked),
    ]


def _stack_leaves(key: str, target: str, layers: int, dim: int, heads: int, mlp_dim: int) -> list[Leaf]:
    """A scanned ``StackedTransformer``: ``key`` ends at ``.../x_layers``."""
    head_dim = dim // heads
    t = f"{target}.layers.{{i}}"
    leaves = _ln(f"{key}/layer_norm", f"{t}.layer_norm", dim, layers)
    for part, name in enumerate(("query", "key", "value")):
        leaves += [
            Leaf(f"{key}/self_attention/{name}/w", (layers, dim, heads, head_dim), f"{t}.self_attention.qkv.weight",
                 "heads_in", "kernel", dim, part, 3, stacked=True),
            Leaf(f"{key}/self_attention/{name}/b", (layers, heads, head_dim), f"{t}.self_attention.qkv.bias",
                 "heads_bias", part=part, parts=3, stacked=True),
        ]
    leaves += [
        Leaf(f"{key}/self_attention/post/w", (layers, dim, heads, head_dim), f"{t}.self_attention.post.weight",
             "heads_out", "kernel", dim, stacked=True),
        Leaf(f"{key}/self_attention/post/b", (layers, dim), f"{t}.self_attention.post.bias", stacked=True),
    ]
    leaves += _ln(f"{key}/ff_layer/layer_norm", f"{t}.ff_layer.layer_norm", dim, layers)
    leaves += _dense(f"{key}/ff_layer/ffn_layer1/linear", f"{t}.ff_layer.ffn_layer1", dim, mlp_dim, layers)
    leaves += _dense(f"{key}/ff_layer/ffn_layer2/linear", f"{t}.ff_layer.ffn_layer2", mlp_dim, dim, layers)
    return leaves


def _encoder_leaves(key: str, target: str, config: VideoPrismConfig) -> list[Leaf]:
    dim, patch = config.model_dim, config.patch_size
    frames, rows, cols = config.pos_emb_shape
    leaves = _dense(f"{key}patch_projection/linear", f"{target}patch_projection", patch * patch * 3, dim)
    leaves += [
        Leaf(f"{key}spatial_pos_emb/emb_var", (rows * cols, dim), f"{target}spatial_pos_emb", init="table"),
        Leaf(f"{key}temporal_pos_emb/emb_var", (frames, dim), f"{target}temporal_pos_emb", init="table"),
    ]
    for name, layers in (("spatial", config.num_spatial_layers), ("temporal", config.num_temporal_layers)):
        leaves += _stack_leaves(f"{key}{name}_encoder/transformers_stack/x_layers", f"{target}{name}_encoder",
                                layers, dim, config.num_heads, config.mlp_dim)
        leaves += _ln(f"{key}{name}_ln", f"{target}{name}_ln", dim)
    return leaves


def _pooler_leaves(key: str, target: str, dim: int, hidden_dim: int, heads: int) -> list[Leaf]:
    head_dim = hidden_dim // heads
    a, t = f"{key}/pooling_attention", f"{target}.pooling_attention"
    leaves = [
        Leaf(f"{key}/pooling_attention_query", (1, dim), f"{target}.pooling_attention_query",
             init="kernel", fan_in=dim),
        Leaf(f"{a}/query/w", (dim, heads, head_dim), f"{t}.query.weight", "heads_in", "kernel", dim),
        Leaf(f"{a}/query/b", (heads, head_dim), f"{t}.query.bias", "heads_bias"),
    ]
    for part, name in enumerate(("key", "value")):
        leaves += [
            Leaf(f"{a}/{name}/w", (dim, heads, head_dim), f"{t}.key_value.weight", "heads_in", "kernel", dim, part, 2),
            Leaf(f"{a}/{name}/b", (heads, head_dim), f"{t}.key_value.bias", "heads_bias", part=part, parts=2),
        ]
    leaves += [
        Leaf(f"{a}/per_dim_scale/per_dim_scale", (head_dim,), f"{t}.per_dim_scale"),
        Leaf(f"{a}/post/w", (dim, heads, head_dim), f"{t}.post.weight", "heads_out", "kernel", hidden_dim),
        Leaf(f"{a}/post/b", (dim,), f"{t}.post.bias"),
    ]
    return leaves + _ln(f"{key}/pooling_attention_layer_norm", f"{target}.pooling_attention_layer_norm", dim)


def npz_layout(config: VideoPrismConfig) -> list[Leaf]:
    """Every array an official checkpoint of this config holds, in file order."""
    dim, heads = config.model_dim, config.num_heads
    if config.model_type == "encoder":
        return _encoder_leaves("", "encoder.", config)
    if config.model_type == "classifier":
        return (
            _encoder_leaves("encoder/", "encoder.", config)
            + _pooler_leaves("atten_pooler", "atten_pooler", dim, dim, heads)
            + _dense("projection/linear", "projection", dim, config.num_classes)
        )
    leaves = _encoder_leaves("vision_encoder/", "vision_encoder.", config)
    if config.num_auxiliary_layers:
        leaves += _stack_leaves("auxiliary_encoder/transformers_stack/x_layers", "auxiliary_encoder",
                                config.num_auxiliary_layers, dim, heads, config.mlp_dim)
    leaves += _pooler_leaves("contrastive_vision_pooler", "contrastive_vision_pooler", dim, 4 * dim, heads)
    leaves += [
        Leaf("text_encoder/token_emb/emb_var", (config.vocabulary_size, dim), "text_encoder.token_emb.weight",
             init="kernel", fan_in=dim),
        Leaf("text_encoder/cls_emb", (1, 1, dim), "text_encoder.cls_emb", init="kernel", fan_in=dim),
    ]
    leaves += _stack_leaves("text_encoder/unimodal_transformer/x_layers", "text_encoder.unimodal_transformer",
                            config.num_unimodal_layers, dim, heads, 4 * dim)
    return leaves + _ln("text_encoder/unimodal_ln", "text_encoder.unimodal_ln", dim)


# --------------------------------------------------------------------------------------------
# Reading


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file's bytes (the identity feature caches key on)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_npz(path: str | Path) -> dict[str, np.ndarray]:
    """All arrays of an official checkpoint, keys without the leading ``params/``."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        archive = np.load(path, allow_pickle=False)
    except ValueError as exc:  # numpy's answer to anything that is neither .npy nor zip
        raise CheckpointError(
            f"{path}: not an .npz archive of arrays ({exc}); pickled checkpoints are refused"
        ) from exc
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise CheckpointError(f"{path}: unreadable or truncated .npz archive ({exc})") from exc
    if isinstance(archive, np.ndarray):
        raise CheckpointError(f"{path}: holds one bare array (np.save); expected an .npz archive of named arrays")
    arrays: dict[str, np.ndarray] = {}
    with archive:
        for name in archive.files:
            try:
                array = archive[name]
            except ValueError as exc:
                raise CheckpointError(f"{path}: array {name!r} is not plain numeric data ({exc})") from exc
            except Exception as exc:  # zlib.error, BadZipFile, EOFError on a damaged member
                raise CheckpointError(f"{path}: array {name!r} is truncated or corrupt ({exc})") from exc
            if not np.issubdtype(array.dtype, np.floating):
                raise CheckpointError(f"{path}: array {name!r} has dtype {array.dtype}; expected floating point")
            _require_finite(path, name, int(array.size - np.count_nonzero(np.isfinite(array))))
            arrays[name[len(_PREFIX):] if name.startswith(_PREFIX) else name] = array
    if not arrays:
        raise CheckpointError(f"{path}: the archive holds no arrays")
    return arrays


def _shape(arrays: Mapping[str, np.ndarray], key: str, path: str) -> tuple[int, ...]:
    if key not in arrays:
        tops = sorted({k.split("/", 1)[0] for k in arrays})
        raise CheckpointError(
            f"{path}: missing array 'params/{key}', needed to infer the architecture (top-level names: {tops})"
        )
    return tuple(arrays[key].shape)


def _leading(arrays: Mapping[str, np.ndarray], key: str, path: str) -> int:
    return _shape(arrays, key, path)[0]


def infer_config(arrays: Mapping[str, np.ndarray], path: str = "<checkpoint>",
                 atten_logit_cap: float = 50.0) -> VideoPrismConfig:
    """The architecture implied by the array shapes (the cap is not stored: all releases use 50)."""
    tops = {k.split("/", 1)[0] for k in arrays}
    if {"vision_encoder", "text_encoder"} <= tops:
        model_type, enc = "lvt", "vision_encoder/"
    elif {"encoder", "atten_pooler"} <= tops:
        model_type, enc = "classifier", "encoder/"
    elif "patch_projection" in tops:
        model_type, enc = "encoder", ""
    else:
        raise CheckpointError(
            f"{path}: not a VideoPrism checkpoint: top-level names {sorted(tops)}; expected 'patch_projection' "
            "(video encoder), 'vision_encoder' + 'text_encoder' (LvT) or 'encoder' + 'atten_pooler' (classifier)"
        )
    patch_dim, dim = _shape(arrays, f"{enc}patch_projection/linear/kernel", path)
    patch = math.isqrt(patch_dim // 3)
    if patch * patch * 3 != patch_dim:
        raise CheckpointError(f"{path}: patch_projection kernel has {patch_dim} inputs; expected P*P*3")
    grid_cells = _leading(arrays, f"{enc}spatial_pos_emb/emb_var", path)
    grid = math.isqrt(grid_cells)
    if grid * grid != grid_cells:
        raise CheckpointError(f"{path}: spatial_pos_emb has {grid_cells} rows; expected a square grid")
    stack = f"{enc}spatial_encoder/transformers_stack/x_layers"
    heads = _shape(arrays, f"{stack}/self_attention/query/w", path)[2]
    fields = dict(
        model_type=model_type,
        patch_size=patch,
        pos_emb_shape=(_leading(arrays, f"{enc}temporal_pos_emb/emb_var", path), grid, grid),
        model_dim=dim,
        num_spatial_layers=_leading(arrays, f"{stack}/layer_norm/scale", path),
        num_temporal_layers=_leading(
            arrays, f"{enc}temporal_encoder/transformers_stack/x_layers/layer_norm/scale", path),
        num_heads=heads,
        mlp_dim=_shape(arrays, f"{stack}/ff_layer/ffn_layer1/linear/kernel", path)[-1],
        atten_logit_cap=atten_logit_cap,
    )
    if model_type == "lvt":
        aux = "auxiliary_encoder/transformers_stack/x_layers/layer_norm/scale"
        fields.update(
            num_auxiliary_layers=_leading(arrays, aux, path) if aux in arrays else 0,
            num_unimodal_layers=_leading(arrays, "text_encoder/unimodal_transformer/x_layers/layer_norm/scale", path),
            vocabulary_size=_leading(arrays, "text_encoder/token_emb/emb_var", path),
        )
    if model_type == "classifier":
        fields["num_classes"] = _shape(arrays, "projection/linear/kernel", path)[-1]
    try:
        return VideoPrismConfig(**fields)
    except ValueError as exc:
        raise CheckpointError(f"{path}: inconsistent architecture: {exc}") from exc


def problem_listing(label: str, items: list[str]) -> str:
    """``label (N): a; b; ... and K more`` for one kind of problem in a checkpoint error."""
    shown = items[:_MAX_LISTED]
    more = f" ... and {len(items) - len(shown)} more" if len(items) > len(shown) else ""
    return f"{label} ({len(items)}): " + "; ".join(shown) + more


def check_layout(arrays: Mapping[str, np.ndarray], config: VideoPrismConfig, path: str = "<checkpoint>") -> None:
    """Raise one CheckpointError listing every missing, unexpected and mis-shaped array."""
    expected = {leaf.key: leaf.shape for leaf in npz_layout(config)}
    missing = [f"params/{k} {expected[k]}" for k in expected if k not in arrays]
    unexpected = [f"params/{k} {tuple(arrays[k].shape)}" for k in sorted(arrays) if k not in expected]
    misshaped = [
        f"params/{k}: {tuple(arrays[k].shape)}, expected {shape}"
        for k, shape in expected.items()
        if k in arrays and tuple(arrays[k].shape) != shape
    ]
    problems = [
        problem_listing(label, items)
        for label, items in (("missing", missing), ("unexpected", unexpected), ("mis-shaped", misshaped))
        if items
    ]
    if problems:
        raise CheckpointError(
            f"{path}: does not match the {config.model_type} architecture inferred from it "
            f"(D={config.model_dim}, heads={config.num_heads}, patch={config.patch_size}, "
            f"pos_emb={config.pos_emb_shape}): " + " | ".join(problems)
        )


def to_state_dict(arrays: Mapping[str, np.ndarray], config: VideoPrismConfig) -> dict[str, "torch.Tensor"]:
    """Torch state dict of the config's model from checked official arrays."""
    import torch

    pieces: dict[str, list[tuple[int, np.ndarray]]] = defaultdict(list)
    for leaf in npz_layout(config):
        array = np.asarray(arrays[leaf.key], dtype=np.float32)
        for layer in range(leaf.num_layers):
            converted = _CONVERT[leaf.convert](array[layer] if leaf.stacked else array)
            pieces[leaf.target.format(i=layer)].append((leaf.part, converted))
    return {
        target: torch.from_numpy(np.ascontiguousarray(
            np.concatenate([a for _, a in sorted(parts, key=lambda p: p[0])], axis=0) if len(parts) > 1 else parts[0][1]
        ))
        for target, parts in pieces.items()
    }


def from_state_dict(state: Mapping[str, "torch.Tensor"], config: VideoPrismConfig) -> dict[str, np.ndarray]:
    """Official-layout float32 arrays (keys with ``params/``) of a torch state dict: the inverse of
    :func:`to_state_dict`, so a model trained here is written in the released format."""
    arrays = {}
    for leaf in npz_layout(config):
        per_layer = leaf.shape[1:] if leaf.stacked else leaf.shape
        layers = []
        for layer in range(leaf.num_layers):
            tensor = state[leaf.target.format(i=layer)].detach().cpu().float().numpy()
            tensor = np.split(tensor, leaf.parts, axis=0)[leaf.part] if leaf.parts > 1 else tensor
            if leaf.convert in ("dense", "heads_in"):
                tensor = tensor.T
            layers.append(np.ascontiguousarray(tensor).reshape(per_layer))
        arrays[f"{_PREFIX}{leaf.key}"] = (np.stack(layers) if leaf.stacked else layers[0]).astype(np.float32)
    return arrays


def load_npz_model(path: str | Path, *, atten_logit_cap: float = 50.0):
    """Build and fill the model an official ``.npz`` describes; sets ``checkpoint_sha256``."""
    import torch

    from vpbench.models.videoprism import build_model

    arrays = read_npz(path)
    config = infer_config(arrays, str(path), atten_logit_cap)
    check_layout(arrays, config, str(path))
    state = to_state_dict(arrays, config)
    with torch.device("meta"):
        model = build_model(config)
    model.load_state_dict(state, strict=True, assign=True)
    model.checkpoint_sha256 = sha256_file(path)
    return model.eval()


# --------------------------------------------------------------------------------------------
# Writing


def _draw(leaf: Leaf, rng: np.random.Generator) -> np.ndarray:
    """Random values that keep a random model informative: unit-variance pre-activations,
    position tables strong enough to matter, small non-zero biases and LN offsets."""
    if leaf.init == "kernel":
        return rng.normal(0.0, 1.0 / math.sqrt(leaf.fan_in), leaf.shape)
    if leaf.init == "table":
        return rng.normal(0.0, 0.5, leaf.shape)
    return rng.normal(0.0, 0.02, leaf.shape)


def _npz_bytes(arrays: Mapping[str, np.ndarray]) -> bytes:
    """An ``np.savez``-compatible archive with fixed timestamps, so equal arrays give equal bytes
    (and hence an equal ``checkpoint_sha256``)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for name, array in arrays.items():
            member = io.BytesIO()
            np.lib.format.write_array(member, np.ascontiguousarray(array), allow_pickle=False)
            archive.writestr(zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0)), member.getvalue())
    return buffer.getvalue()


def random_arrays(config: VideoPrismConfig, seed: int = 0) -> dict[str, np.ndarray]:
    """Official-layout float32 arrays (keys with ``params/``) drawn for ``config``."""
    rng = np.random.default_rng(seed)
    return {f"{_PREFIX}{leaf.key}": _draw(leaf, rng).astype(np.float32) for leaf in npz_layout(config)}


def write_checkpoint(path: str | Path, arrays: Mapping[str, np.ndarray]) -> Path:
    """Write official-layout arrays as an ``.npz`` (atomically; equal arrays give equal bytes)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, _npz_bytes(arrays))
    return path


def write_random_checkpoint(path: str | Path, config: VideoPrismConfig, seed: int = 0) -> Path:
    """Write a random-weight checkpoint in the official ``.npz`` format (atomically, reproducibly)."""
    return write_checkpoint(path, random_arrays(config, seed))


# --------------------------------------------------------------------------------------------
# Converted copies (safetensors) for a fast start


def save_converted(model, path: str | Path) -> Path:
    """Save a loaded model as safetensors; the source checkpoint's sha256 travels in the metadata
    so that features computed from the copy share their cache identity with the original."""
    from safetensors.torch import save

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {name: tensor.detach().cpu().contiguous() for name, tensor in model.state_dict().items()}
    metadata = {"vpbench_config": json.dumps(asdict(model.config)), "source_sha256": model.checkpoint_sha256 or ""}
    return atomic_write_bytes(path, save(state, metadata=metadata))


def read_safetensors(path: str | Path, what: str) -> tuple[dict[str, "torch.Tensor"], dict[str, str]]:
    """Tensors and string metadata of a safetensors file vpbench wrote (``what`` names it in errors)."""
    from safetensors import SafetensorError, safe_open
    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such {what}")
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
        state = load_file(str(path))
    except (SafetensorError, OSError) as exc:
        raise CheckpointError(f"{path}: unreadable safetensors file ({exc})") from exc
    for name, tensor in state.items():
        if tensor.is_floating_point():
            _require_finite(path, name, int(tensor.numel() - tensor.isfinite().sum()))
    return state, metadata


def is_converted_copy(path: str | Path) -> bool:
    """Whether a safetensors file is a copy vpbench wrote (it carries ``vpbench_config`` metadata)."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            return "vpbench_config" in (handle.metadata() or {})
    except (SafetensorError, OSError):
        return False


def _require_finite(path: str | Path, name: str, non_finite: int) -> None:
    """Weights with NaN or inf give NaN features that a cache would keep: refuse them at load."""
    if non_finite:
        raise CheckpointError(f"{path}: array {name!r} holds {non_finite} non-finite value(s) (NaN or inf); "
                              "the checkpoint is damaged (or from a diverged run), re-download or re-convert it")


def load_converted(path: str | Path):
    """Load a copy written by :func:`save_converted`."""
    path = Path(path)
    state, metadata = read_safetensors(path, "converted checkpoint")
    if "vpbench_config" not in metadata:
        raise CheckpointError(f"{path}: no 'vpbench_config' metadata; write converted copies with save_converted")
    try:
        config = VideoPrismConfig(**json.loads(metadata["vpbench_config"]))
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: bad 'vpbench_config' metadata ({exc})") from exc
    import torch

    from vpbench.models.videoprism import build_model

    with torch.device("meta"):
        model = build_model(config)
    try:
        model.load_state_dict(state, strict=True, assign=True)
    except RuntimeError as exc:
        raise CheckpointError(f"{path}: tensors do not match the recorded config: {exc}") from exc
    model.checkpoint_sha256 = metadata.get("source_sha256") or sha256_file(path)
    return model.eval()
