"""The table of known VideoPrism models and ``load_model``: which file a name means, and which
loader reads a given checkpoint.

A name maps to a config, the official checkpoint file and its Hugging Face repository (the
ids and filenames of ``videoprism/models.py`` in google-deepmind/videoprism), the commit of the
transformers-format copy of the same weights (kept in an unmerged hub pull request of that
repository) and the text vocabulary. ``tiny`` is a random-weight encoder for tests and the tiny
suite; ``tiny-lvt`` is a video-text model trained here on procedural clips
(:mod:`vpbench.tiny.lvt`), and ``tiny-lvt-shuffled-captions`` its negative control. Their
checkpoints are written in the official format on first use and read back through the same loader.

Checkpoints ``load_model`` reads: a known name, an official ``.npz`` (``checkpoint``), a
transformers-format folder or ``hf:OWNER/REPO[@REVISION]`` (``transformers_format`` for VideoPrism's
port, ``hf_backends`` for other model types, ``hub``), a vpbench ``.safetensors`` copy, or a
user's encoder (``user_encoders``). This module must never hold model math or array mapping,
and never download when ``HF_HUB_OFFLINE`` is set: a missing file is a CheckpointError saying
where to put it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vpbench.errors import CheckpointError
from vpbench.models import hub
from vpbench.models.config import AttentionBackend, Precision, VideoPrismConfig

CHECKPOINT_DIR_ENV = "VPBENCH_CHECKPOINT_DIR"
# The official test SentencePiece model (1000 pieces, Apache-2.0), the vocabulary of tiny-lvt.
TINY_SPM_PATH = Path(__file__).parent / "assets" / "test_spm.model"

_BASE = VideoPrismConfig(
    patch_size=18, pos_emb_shape=(16, 16, 16), model_dim=768, num_spatial_layers=12, num_temporal_layers=4,
    num_heads=12, mlp_dim=3072,
)
_LARGE = VideoPrismConfig(
    patch_size=18, pos_emb_shape=(8, 16, 16), model_dim=1024, num_spatial_layers=24, num_temporal_layers=4,
    num_heads=16, mlp_dim=4096,
)
_LVT = dict(model_type="lvt", num_auxiliary_layers=2, num_unimodal_layers=12, vocabulary_size=32_000)
# Commits of the transformers-format copies, which sit in unmerged hub pull requests of the
# official repositories (refs/pr/N; no repository has them on main), as pinned by
# embeddings-benchmark/mteb (mteb/models/model_implementations/videoprism_models.py).
_TRANSFORMERS_REVISIONS = {
    "videoprism-b": "2be2ef51d0d611d0fadf21a6d1470a4ad4af9249",
    "videoprism-l": "2e20e540e1cb89e734e2f2477590b7f8197250ca",
    "videoprism-lvt-b": "fb6de9f0eb7bc285be86bdca1cf7daa3e3ef51ff",
    "videoprism-lvt-l": "03900b4ecc0b278b30abdc5953c575bb5f083865",
}
# Tiny: 8 frames of 32x32 at the native 4x4 grid. D=64 rather than 32 because a linear probe on
# mean-pooled random features then tells shapes apart (~0.95 vs ~0.85 for square/circle).
_TINY = VideoPrismConfig(
    patch_size=8, pos_emb_shape=(8, 4, 4), model_dim=64, num_spatial_layers=2, num_temporal_layers=2,
    num_heads=2, mlp_dim=128,
)
_TINY_LVT = _TINY.replace(model_type="lvt", num_auxiliary_layers=2, num_unimodal_layers=2, vocabulary_size=1000)
TINY_LVT_RECIPE = 1
"""The version of ``vpbench.tiny.lvt``'s recipe these entries name (that module refuses any other)."""


@dataclass(frozen=True)
class ModelEntry:
    name: str
    config: VideoPrismConfig
    filename: str  # checkpoint file name (in the hub repo, or in the checkpoint directory)
    hub_repo: str | None = None  # None: a model written locally (random weights, or trained here)
    spm_path: str | None = None  # text vocabulary: a Tokenizer source (a path, or a named vocabulary like c4_en)
    description: str = ""
    transformers_revision: str | None = None  # commit of the transformers-format copy in hub_repo
    trained_here: str | None = None
    """For a model vpbench trains at first use: its recipe id (``vpbench.tiny.lvt``), which also names
    it in the regression gate, since its bits depend on the machine's float kernels."""
    control: str | None = None
    """The entry trained by the same recipe with captions permuted against clips (the negative control)."""

    @property
    def transformers_spec(self) -> str | None:
        """``hf:REPO@COMMIT`` of the transformers-format copy of these weights, if there is one."""
        return f"hf:{self.hub_repo}@{self.transformers_revision}" if self.transformers_revision else None


MODELS: dict[str, ModelEntry] = {
    entry.name: entry
    for entry in (
        ModelEntry("videoprism-b", _BASE, "flax_base_f16r288_repeated.npz", "google/videoprism-base-f16r288",
                   description="VideoPrism-B video encoder, 16x288x288",
                   transformers_revision=_TRANSFORMERS_REVISIONS["videoprism-b"]),
        ModelEntry("videoprism-l", _LARGE, "flax_large_f8r288_repeated.npz", "google/videoprism-large-f8r288",
                   description="VideoPrism-L video encoder, 8x288x288",
                   transformers_revision=_TRANSFORMERS_REVISIONS["videoprism-l"]),
        ModelEntry("videoprism-lvt-b", _BASE.replace(**_LVT), "flax_lvt_base_f16r288_repeated.npz",
                   "google/videoprism-lvt-base-f16r288", spm_path="c4_en",
                   description="VideoPrism-B LvT video-text model",
                   transformers_revision=_TRANSFORMERS_REVISIONS["videoprism-lvt-b"]),
        ModelEntry("videoprism-lvt-l", _LARGE.replace(**_LVT), "flax_lvt_large_f8r288_repeated.npz",
                   "google/videoprism-lvt-large-f8r288", spm_path="c4_en",
                   description="VideoPrism-L LvT video-text model",
                   transformers_revision=_TRANSFORMERS_REVISIONS["videoprism-lvt-l"]),
        ModelEntry("tiny", _TINY, "vpbench_tiny_seed0.npz",
                   description="random-weight encoder for tests: 8x32x32 clips"),
        ModelEntry("tiny-lvt", _TINY_LVT, f"vpbench_tiny_lvt_trained_v{TINY_LVT_RECIPE}.npz",
                   spm_path=str(TINY_SPM_PATH),
                   trained_here=f"tiny-lvt/v{TINY_LVT_RECIPE}", control="tiny-lvt-shuffled-captions",
                   description="video-text model for tests, trained here on procedural clips' captions "
                               "(vocabulary: the official test SPM)"),
        ModelEntry("tiny-lvt-shuffled-captions", _TINY_LVT,
                   f"vpbench_tiny_lvt_shuffled_captions_v{TINY_LVT_RECIPE}.npz", spm_path=str(TINY_SPM_PATH),
                   trained_here=f"tiny-lvt-shuffled-captions/v{TINY_LVT_RECIPE}",
                   description="control of tiny-lvt: the same recipe with captions permuted against clips"),
    )
}


def get_entry(name: str) -> ModelEntry:
    """The entry of a known name or Hugging Face id (``google/videoprism-base-f16r288``)."""
    for entry in MODELS.values():
        if name in (entry.name, entry.hub_repo):
            return entry
    raise CheckpointError(f"unknown model name {name!r}; known: {', '.join(MODELS)}")


def trained_here(name: str) -> str | None:
    """The recipe id of a model vpbench trains at first use (None for any other name or a path).

    Such a checkpoint is identified by its recipe, which results carry in their fingerprint, not by
    its bytes: the same recipe on another machine's float kernels writes slightly different bits.
    """
    entry = MODELS.get(name)
    return entry.trained_here if entry else None


def get_config(name: str) -> VideoPrismConfig:
    return get_entry(name).config


def checkpoint_dir() -> Path:
    """Where vpbench looks for checkpoint files by name before asking the Hugging Face cache:
    ``$VPBENCH_CHECKPOINT_DIR``, else ``$VPBENCH_CACHE/checkpoints``, else ``~/.cache/vpbench/checkpoints``."""
    if os.environ.get(CHECKPOINT_DIR_ENV):
        return Path(os.environ[CHECKPOINT_DIR_ENV]).expanduser()
    cache = os.environ.get("VPBENCH_CACHE")
    return (Path(cache).expanduser() if cache else Path.home() / ".cache" / "vpbench") / "checkpoints"


def resolve_checkpoint(name: str, *, local_only: bool | None = None) -> Path:
    """Local path of a known model's official checkpoint: checkpoint dir, else the Hugging Face
    cache, else (online, unless ``local_only``) the hub."""
    entry = get_entry(name)
    local = checkpoint_dir() / entry.filename
    if local.is_file():
        return local
    if entry.trained_here is not None:
        from vpbench.tiny.lvt import write_tiny_lvt

        return write_tiny_lvt(local, entry.config, recipe=entry.trained_here)
    if entry.hub_repo is None:
        from vpbench.models.checkpoint import write_random_checkpoint

        return write_random_checkpoint(local, entry.config, seed=0)
    ref = hub.HubRef(entry.hub_repo, path=entry.filename)
    try:
        return hub.file(ref, local_only=local_only)
    except hub.HubUnavailable as exc:
        raise CheckpointError(
            f"{entry.name}: checkpoint file {entry.filename} (Hugging Face repo {entry.hub_repo}) is not "
            f"available: {exc.reason}. Put the file at {local} (or point {CHECKPOINT_DIR_ENV} at the folder "
            f"holding it), or download it where there is network with `vpbench download --model {entry.name}` "
            f"(or `{ref.download_hint()}`) and copy the Hugging Face cache, or pass the file's path instead "
            f"of the name."
        ) from exc


def resolve_transformers_checkpoint(spec: str, *, local_only: bool | None = None) -> Path:
    """Local folder of ``hf:OWNER/REPO[@REVISION]`` (config.json + safetensors weights)."""
    from vpbench.models import transformers_format

    try:
        ref = hub.parse(spec, file=False)
    except ValueError as exc:
        raise CheckpointError(f"transformers-format checkpoint {exc}") from None
    try:
        return hub.snapshot(ref, transformers_format.HUB_PATTERNS, local_only=local_only)
    except hub.HubUnavailable as exc:
        raise CheckpointError(
            f"{spec}: transformers-format checkpoint is not available: {exc.reason}. Download it where there is "
            f"network with `vpbench download --model {spec}` (or `{ref.download_hint()}`) and copy the Hugging "
            f"Face cache, or pass the local folder holding config.json and model.safetensors."
        ) from exc


def load_model(
    name_or_path: str | os.PathLike,
    *,
    device: str | Any = "cpu",
    precision: Precision = "fp32",
    attention: AttentionBackend = "auto",
    compile: bool = False,
    atten_logit_cap: float = 50.0,
):
    """The encoder a known name, a checkpoint file or folder, a hub location or a user spec names.

    VideoPrism checkpoints: an official ``.npz`` (architecture inferred from its shapes); a
    transformers-format folder or ``hf:OWNER/REPO[@REVISION]`` whose config.json names a
    ``videoprism`` model type (sizes read from the weights, the official text position table
    recomputed); a ``.safetensors`` copy written by ``checkpoint.save_converted``. A transformers
    folder or ``hf:`` location of another model type gets the backend ``hf_backends`` has for it
    (VideoMAE, V-JEPA 2, CLIP/SigLIP); ``package.module:factory`` or a registered name gets a
    user's encoder (``user_encoders``). Every one implements
    :class:`vpbench.models.encoder.VideoEncoder` and is in eval mode on ``device``.

    VideoPrism only: ``precision`` bf16/fp16 runs its matmuls under autocast; ``compile`` wraps
    each transformer stack in ``torch.compile``; ``atten_logit_cap`` is not stored in ``.npz``
    checkpoints (every released model uses 50), a transformers-format checkpoint states its own.
    """
    from vpbench.models.videoprism import TransformerStack, _VideoPrismModel

    model, entry = _load_weights(str(name_or_path), atten_logit_cap)
    if not isinstance(model, _VideoPrismModel):
        if (precision, attention, compile) != ("fp32", "auto", False):
            raise CheckpointError(f"{name_or_path}: precision, attention and compile options apply to VideoPrism "
                                  f"models only; this is a {model.card.backend} encoder (run it in fp32)")
        return model.to(device).eval() if hasattr(model, "to") else model
    if entry is not None and model.config != entry.config.replace(atten_logit_cap=atten_logit_cap):
        raise CheckpointError(
            f"{resolve_checkpoint(entry.name)}: holds a {model.config} model, but {entry.name} is {entry.config}; "
            "the file under that name is not the expected checkpoint"
        )
    model.set_precision(precision)
    model.set_attention_backend(attention)
    model = model.to(device)
    if compile:
        for module in model.modules():
            if isinstance(module, TransformerStack):
                module.compile()
    return model


def _load_weights(spec: str, atten_logit_cap: float):
    """(model, the known entry it was loaded as or None) for any spec ``load_model`` takes."""
    from vpbench.models import checkpoint, transformers_format, user_encoders

    path = Path(spec).expanduser()
    if not path.is_file():
        try:
            entry = get_entry(spec)  # a known name wins over a same-named folder in the working directory
        except CheckpointError:
            entry = None
        if entry is not None:
            return checkpoint.load_npz_model(resolve_checkpoint(spec), atten_logit_cap=atten_logit_cap), entry
    if hub.is_hub_spec(spec):
        return _load_folder(resolve_transformers_checkpoint(spec), spec), None
    if path.is_dir():
        if not transformers_format.is_checkpoint_folder(path):
            raise CheckpointError(f"{path}: a folder, but not a transformers-format checkpoint (no "
                                  f"{transformers_format.CONFIG_FILE}); pass the checkpoint file or folder")
        return _load_folder(path, str(path)), None
    if path.suffix == ".safetensors" and path.is_file():
        if transformers_format.is_checkpoint_folder(path.parent) and not checkpoint.is_converted_copy(path):
            return _load_folder(path.parent, str(path.parent)), None
        return checkpoint.load_converted(path), None
    if path.is_file() or spec.endswith(".npz"):
        return checkpoint.load_npz_model(path, atten_logit_cap=atten_logit_cap), None
    user = user_encoders.load(spec)
    if user is not None:
        return user, None
    registered = user_encoders.known()
    raise CheckpointError(
        f"{spec!r} is neither an existing checkpoint file nor a known model name (known: {', '.join(MODELS)}); "
        "a checkpoint is an official .npz, a transformers-format folder (config.json + model.safetensors), "
        "hf:OWNER/REPO[@REVISION], or a vpbench .safetensors copy; your own encoder is package.module:factory"
        + (f" or a registered name ({', '.join(registered)})" if registered else " or a name registered with "
           "vpbench.models.register_encoder or the 'vpbench.encoders' entry point group")
    )


def _load_folder(folder: Path, where: str):
    """A transformers checkpoint folder: VideoPrism's port (model_type videoprism*, or none) or another backend."""
    from vpbench.models import hf_backends, transformers_format

    kind = hf_backends.model_type(folder)
    if kind is None or kind.startswith("videoprism"):
        return transformers_format.load_model(folder, where=where)
    return hf_backends.load(folder, where=where)


def load_tokenizer(name_or_spm: str | os.PathLike | None = None, **kwargs: Any):
    """Tokenizer for a known model name (its bundled vocabulary if any), or for an SPM location."""
    from vpbench.models.tokenizer import Tokenizer

    if name_or_spm is not None and str(name_or_spm) in MODELS:
        name_or_spm = MODELS[str(name_or_spm)].spm_path
    return Tokenizer(name_or_spm, **kwargs)
