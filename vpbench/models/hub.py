"""Hugging Face hub locations: parse them, and fetch or find their files in the local hub cache.

Two spellings, one grammar, shared by checkpoints and tokenizers:

* ``hf:OWNER/REPO[@REVISION]`` - a whole repository at a revision (a transformers-format
  checkpoint folder); ``hf://`` is accepted too.
* ``hf://OWNER/REPO[@REVISION]/PATH`` - one file of a repository at a revision.

``REVISION`` is a branch or tag name, a commit hash, or a pull-request ref ``refs/pr/N``
(``refs/...`` takes three segments; ``%2F`` may stand for ``/``). This is how files kept only in
a hub pull request (the transformers-format VideoPrism weights) are reached.

Everything goes through ``huggingface_hub``, so files land in (and are found in) the standard
hub cache (``$HF_HUB_CACHE``, else ``$HF_HOME/hub``, else ``~/.cache/huggingface/hub``). With
``HF_HUB_OFFLINE=1`` nothing is fetched: a file is found in that cache or it is unavailable.
This module must never decide what a file is for; callers turn :class:`HubUnavailable` into
the error of their kind (checkpoint, tokenizer) with the fix that applies.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

SCHEMES = ("hf://", "hf:")
_TRUE = ("1", "true", "yes", "on")
_REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*$")


class HubUnavailable(Exception):
    """A hub file or repository could not be had; ``reason`` says why in a few words."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class HubRef:
    """A repository (``path`` None) or one file of it, at a revision (None: the default branch)."""

    repo_id: str
    revision: str | None = None
    path: str | None = None

    def __str__(self) -> str:
        at = f"@{self.revision}" if self.revision else ""
        return f"hf://{self.repo_id}{at}" + (f"/{self.path}" if self.path else "")

    def download_hint(self) -> str:
        """The ``hf download`` command that puts this file or repository in the hub cache."""
        revision = f" --revision {self.revision}" if self.revision else ""
        return f"hf download {self.repo_id}" + (f" {self.path}" if self.path else "") + revision


def is_hub_spec(spec: str) -> bool:
    return str(spec).startswith(SCHEMES)


def parse(spec: str, *, file: bool) -> HubRef:
    """Parse ``hf:`` / ``hf://`` locations; ``file`` says whether a path inside the repo is required.

    Raises ValueError with the expected grammar when ``spec`` does not fit it.
    """
    grammar = "hf://OWNER/REPO[@REVISION]/PATH" if file else "hf:OWNER/REPO[@REVISION]"
    body = next((spec[len(s):] for s in SCHEMES if spec.startswith(s)), None)
    if body is None:
        raise ValueError(f"{spec!r} is not a hub location; expected {grammar}")
    body = body.replace("%2F", "/").replace("%2f", "/")
    parts = body.split("/")
    if len(parts) < 2:
        raise ValueError(f"{spec!r}: expected {grammar}")
    owner, repo_and_rev, rest = parts[0], parts[1], parts[2:]
    repo, _, revision = repo_and_rev.partition("@")
    if revision == "refs":
        if len(rest) < 2:
            raise ValueError(f"{spec!r}: a refs/... revision has three segments (refs/pr/N); expected {grammar}")
        revision, rest = "/".join([revision, *rest[:2]]), rest[2:]
    repo_id = f"{owner}/{repo}"
    if not _REPO_ID.match(repo_id) or ("@" in repo_and_rev and not revision):
        raise ValueError(f"{spec!r}: bad repository id or empty revision; expected {grammar}")
    path = "/".join(rest)
    if file and not path:
        raise ValueError(f"{spec!r}: no file path after the repository; expected {grammar}")
    if not file and path:
        raise ValueError(f"{spec!r}: a checkpoint names a repository, not a file in it; expected {grammar}")
    return HubRef(repo_id, revision or None, path or None)


def offline() -> bool:
    """``HF_HUB_OFFLINE`` as the hub library reads it, but at call time (tests and users set it late)."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in _TRUE


def cache_dir() -> Path:
    """The hub cache this process uses: ``$HF_HUB_CACHE`` read at call time, else the hub library's
    own resolution (``$HF_HOME/hub``, ``~/.cache/huggingface/hub``)."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    import huggingface_hub.constants

    return Path(huggingface_hub.constants.HF_HUB_CACHE).expanduser()


def _reason(exc: Exception) -> str:
    if offline():
        return f"HF_HUB_OFFLINE is set and it is not in the Hugging Face cache ({cache_dir()})"
    name = type(exc).__name__
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{name}: {text}" if text else name


def file(ref: HubRef, *, local_only: bool | None = None) -> Path:
    """Local path of one hub file: from the cache, or downloaded into it (progress bar) when online."""
    import huggingface_hub

    if ref.path is None:
        raise ValueError(f"{ref} names no file")
    try:
        return Path(huggingface_hub.hf_hub_download(
            ref.repo_id, ref.path, revision=ref.revision, cache_dir=cache_dir(),
            local_files_only=offline() if local_only is None else local_only))
    except Exception as exc:  # offline, missing file or revision, gated, no network: one fix for all
        raise HubUnavailable(_reason(exc)) from exc


def snapshot(ref: HubRef, patterns: Sequence[str], *, local_only: bool | None = None) -> Path:
    """Local folder of a repository's files matching ``patterns`` at the revision (cache or download)."""
    import huggingface_hub

    try:
        return Path(huggingface_hub.snapshot_download(
            ref.repo_id, revision=ref.revision, allow_patterns=list(patterns), cache_dir=cache_dir(),
            local_files_only=offline() if local_only is None else local_only))
    except Exception as exc:
        raise HubUnavailable(_reason(exc)) from exc
