"""Every file a task needs besides its dataset: what it is, where a user gets it, whether it is here.

A task needs a checkpoint; zero-shot tasks the text vocabulary; captioning and QA a causal LM;
some tasks files the paper does not publish (``dataset.user_files``: id lists, class lists,
person detections). :func:`task_assets` lists them with their sources, whether each is present
(local file, vpbench's checkpoint folder, or the Hugging Face / kagglehub cache) and what a run
does without it: refuse, run a named variant, or fall back (recorded). ``vpbench doctor`` prints
this list and ``vpbench download`` fetches the ones that can be fetched.

This module only looks: it never downloads (``fetch`` in ``commands/download.py`` does, through
the same resolvers with ``local_only=False``) and never reads a dataset.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from vpbench.errors import VpbenchError
from vpbench.registry import TaskConfig

TEXT_FAMILIES = ("retrieval", "zeroshot_classification", "multiple_choice")
LM_FAMILIES = ("captioning", "qa")
TINY_LM = "tiny-gpt2"
# What a hub download of a causal LM needs (no pickled weights, no other frameworks' files).
LM_PATTERNS = ("*.json", "*.safetensors", "*.model", "*.txt", "*.tiktoken")


@dataclass
class Asset:
    """One thing a task needs; ``fetch`` is what ``vpbench download`` fetches (None: only the user can)."""

    kind: str  # checkpoint | tokenizer | lm | user_file | detections
    key: str  # the model name, tokenizer source, LM id, or the user-file key
    description: str
    sources: list[str]
    present: bool | None  # None: cannot be checked without loading (e.g. a user option not given)
    location: str | None = None
    without: str = "refuse"
    fetch: str | None = None
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def task_assets(task: TaskConfig, *, model: str | None = None, options: dict[str, str] | None = None,
                user_files: dict[str, Path] | None = None, tiny: bool = False) -> list[Asset]:
    """The assets of ``task`` (as ``--tiny`` runs it when ``tiny``), checked against local caches."""
    options, user_files = dict(options or {}), dict(user_files or {})
    model = model or (task.tiny_model if tiny else task.model)
    assets = [checkpoint_asset(model)]
    if task.family in TEXT_FAMILIES:
        assets.append(tokenizer_asset(model, options.get("tokenizer"), tiny=tiny))
    if task.family in LM_FAMILIES:
        assets.append(lm_asset(options.get("lm") or str(task.adapter.get("lm", "gpt2"))))
    for key, spec in task.user_file_specs().items():
        given = user_files.get(key)
        assets.append(Asset(
            kind=spec.kind, key=key, description=spec.description, sources=[spec.source],
            present=bool(given and Path(given).is_file()),
            location=str(given) if given else None, without=spec.without,
            notes=[] if spec.structured else ["plain-string user_files entry: source and behaviour not stated"]))
    return assets


def checkpoint_asset(model: str) -> Asset:
    from vpbench.models import hub, zoo

    path = Path(model).expanduser()
    if model in zoo.MODELS or any(model == e.hub_repo for e in zoo.MODELS.values()):
        entry = zoo.get_entry(model)
        if entry.hub_repo is None:
            return Asset("checkpoint", entry.name, entry.description,
                         ["random weights written by vpbench on first use"], True,
                         str(zoo.checkpoint_dir() / entry.filename), without="written on first use")
        sources = [f"hf://{entry.hub_repo}/{entry.filename} (official .npz)"]
        if entry.transformers_spec:
            sources.append(f"{entry.transformers_spec} (the same weights in the transformers port's format)")
        location = _try(lambda: zoo.resolve_checkpoint(entry.name, local_only=True))
        return Asset("checkpoint", entry.name, entry.description, sources, location is not None,
                     location, without=_download_or_refuse(), fetch=entry.name)
    if hub.is_hub_spec(model):
        location = _try(lambda: zoo.resolve_transformers_checkpoint(model, local_only=True))
        return Asset("checkpoint", model, "transformers-format checkpoint on the Hugging Face hub", [model],
                     location is not None, location, without=_download_or_refuse(), fetch=model)
    return Asset("checkpoint", model, "checkpoint file or folder given by the user", [model], path.exists(),
                 str(path) if path.exists() else None, without="refuse")


def tokenizer_asset(model: str, option: str | None, *, tiny: bool = False) -> Asset:
    """The text vocabulary: ``--option tokenizer``, else the one the known model names, else
    ``$VPBENCH_SPM_MODEL`` (the order ``families/towers.py`` resolves it in)."""
    import os

    from vpbench.models import tokenizer, zoo

    entry = zoo.MODELS.get(model)
    spec = option or (entry.spm_path if entry is not None else None) or os.environ.get(tokenizer.SPM_ENV_VAR)
    description = "SentencePiece vocabulary of the LvT text tower (also what a LiT text tower is trained with)"
    if spec is None:
        return Asset("tokenizer", "c4_en", description, list(tokenizer.NAMED_VOCABULARIES["c4_en"]), False,
                     without="refuse", fetch="c4_en",
                     notes=["no source given: pass --option tokenizer=SOURCE (e.g. c4_en) or set "
                            f"{tokenizer.SPM_ENV_VAR}"])
    sources = list(tokenizer.NAMED_VOCABULARIES.get(spec, (spec,)))
    if tiny or (entry is not None and entry.hub_repo is None):
        sources = [f"{spec} (bundled with vpbench)"]
    location = _try(lambda: tokenizer.resolve_spm_path(spec, local_only=True))
    return Asset("tokenizer", spec, description, sources, location is not None, location,
                 without=_download_or_refuse(), fetch=spec if location is None else None)


def lm_asset(lm: str) -> Asset:
    from vpbench.models import hub

    description = "frozen causal LM of the captioning/QA adapter (PaLM-2, the paper's, is not public)"
    if lm == TINY_LM:
        return Asset("lm", lm, description, ["trained by vpbench during the tiny run"], True, without="trained")
    path = Path(lm).expanduser()
    if path.is_dir():
        return Asset("lm", lm, description, [lm], True, str(path))
    ref = hub.HubRef(lm)
    location = _try(lambda: hub.snapshot(ref, ("config.json",), local_only=True))
    return Asset("lm", lm, description, [f"hf://{lm} (Hugging Face hub)"], location is not None, location,
                 without=_download_or_refuse(), fetch=lm,
                 notes=["a stand-in for PaLM-2: results are marked as not the paper's LM"])


def _download_or_refuse() -> str:
    from vpbench.models import hub

    return "refuse (offline)" if hub.offline() else "downloaded by the run (online)"


def _try(resolve) -> str | None:
    from vpbench.models.hub import HubUnavailable

    try:
        return str(resolve())
    except (VpbenchError, HubUnavailable, OSError):
        return None
