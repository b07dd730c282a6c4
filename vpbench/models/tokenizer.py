"""Text tokenizer of the LvT model, as the official ``models.tokenize_texts`` does it, and the
places its vocabulary can be had.

Canonicalise (punctuation -> space, lowercase, collapse and strip whitespace, append '.'),
SentencePiece ids, a BOS only when the vocabulary defines one, truncate/right-pad to 64 with
paddings (1 = pad). The released model's vocabulary (``c4_en``, T5's ``cc_en.32000``) is not in
the official checkpoints, and its official location answers 403 since 2026
(google-deepmind/videoprism issue #63), so a vocabulary is named by a *source*:

* a local SentencePiece file (``.model`` / ``.spm``);
* a local folder: a KerasHub preset (``assets/tokenizer/vocabulary.spm``), a transformers-format
  checkpoint that ships its SentencePiece model (``spiece.model``), or one holding
  ``sentencepiece.model``;
* ``hf://OWNER/REPO[@REVISION]/PATH`` - a file of a Hugging Face repository at a revision (a
  commit or ``refs/pr/N`` reaches files kept only in a hub pull request);
* ``kaggle://OWNER/MODEL/FRAMEWORK/VARIATION/VERSION`` - a KerasHub preset on Kaggle (its
  vocabulary asset; needs ``pip install kagglehub`` to download, read from its cache offline);
* a named vocabulary, ``c4_en``: the sources above that hold it today, tried in order.

This module must never guess a vocabulary or fetch one silently: a missing file is a
:class:`MissingDependencyError` naming what was tried and the sources that work today.
"""

from __future__ import annotations

import os
import string
from pathlib import Path
from typing import Sequence

import numpy as np

from vpbench.errors import MissingDependencyError
from vpbench.models import hub

TEXT_MAX_LENGTH = 64
SPM_ENV_VAR = "VPBENCH_SPM_MODEL"
# Where the official code reads the released text vocabulary (32000 pieces) from: 403 today.
C4_EN_SPM_URL = "gs://t5-data/vocabs/cc_en.32000/sentencepiece.model"
KAGGLE_SCHEME = "kaggle://"
KERAS_HUB_VOCABULARY = "assets/tokenizer/vocabulary.spm"  # KerasHub SentencePieceTokenizer's preset asset
TRANSFORMERS_VOCABULARY = "spiece.model"  # VideoPrismTokenizer's vocab_file name
FOLDER_VOCABULARIES = (KERAS_HUB_VOCABULARY, TRANSFORMERS_VOCABULARY, "sentencepiece.model")
KAGGLE_CACHE_ENV = "KAGGLEHUB_CACHE"
# The released LvT vocabulary and the places that hold it today, in the order they are tried.
# 1. The KerasHub VideoPrism LvT preset, converted from the official gs:// file
#    (keras-team/keras-hub tools/checkpoint_conversion/convert_video_prism_checkpoints.py).
# 2. The transformers port's copy of the LvT-B weights (an unmerged hub pull request), when its
#    tokenizer files include the SentencePiece model.
NAMED_VOCABULARIES: dict[str, tuple[str, ...]] = {
    "c4_en": (
        f"{KAGGLE_SCHEME}keras/videoprism/keras/videoprism_lvt_public_v1_base/1",
        f"hf://google/videoprism-lvt-base-f16r288@fb6de9f0eb7bc285be86bdca1cf7daa3e3ef51ff/{TRANSFORMERS_VOCABULARY}",
    ),
}
_PUNCTUATION_TO_SPACE = str.maketrans(string.punctuation, " " * len(string.punctuation))


def canonicalize_text(text: str) -> str:
    """Official canonical form: "A dog, catching a frisbee!!" -> "a dog catching a frisbee."."""
    return " ".join(text.translate(_PUNCTUATION_TO_SPACE).lower().split()) + "."


def sources_today() -> str:
    """One sentence naming where the released vocabulary can be had today (for errors and docs)."""
    kaggle, port = NAMED_VOCABULARIES["c4_en"]
    return (f"The released LvT vocabulary (c4_en, 32000 pieces) is not shipped with the official checkpoints and "
            f"its official location {C4_EN_SPM_URL} answers 403 (google-deepmind/videoprism issue #63). It can be "
            f"had today from the KerasHub VideoPrism LvT preset ({kaggle}, file {KERAS_HUB_VOCABULARY}; "
            f"`pip install kagglehub`, or a downloaded preset folder) or from the transformers port's tokenizer "
            f"files when they include {TRANSFORMERS_VOCABULARY} ({port}). `vpbench download --task TASK` fetches "
            f"it; 'c4_en' names it, trying these in order.")


def _missing(what: str, how: str = "") -> MissingDependencyError:
    return MissingDependencyError(
        f"{what}. {how + ' ' if how else ''}The LvT text tower needs the SentencePiece model of its vocabulary. "
        f"{sources_today()} Pass a tokenizer source: a .model/.spm file, a KerasHub preset folder, a "
        f"transformers-format checkpoint folder with {TRANSFORMERS_VOCABULARY}, "
        f"hf://OWNER/REPO[@REVISION]/PATH, kaggle://OWNER/MODEL/FRAMEWORK/VARIATION/VERSION or c4_en; or set "
        f"{SPM_ENV_VAR}."
    )


class SourceUnavailable(Exception):
    """One tokenizer source could not give a file; ``reason`` says why."""


def kaggle_cache_dir() -> Path:
    return Path(os.environ.get(KAGGLE_CACHE_ENV) or Path.home() / ".cache" / "kagglehub").expanduser()


def _kaggle_file(spec: str, path: str, *, local_only: bool) -> Path:
    """A file of a Kaggle model version: from kagglehub's cache, else downloaded by kagglehub."""
    handle = spec[len(KAGGLE_SCHEME):].strip("/")
    parts = handle.split("/")
    if len(parts) != 5 or not all(parts):
        raise SourceUnavailable(f"{spec!r} is not kaggle://OWNER/MODEL/FRAMEWORK/VARIATION/VERSION")
    cached = kaggle_cache_dir().joinpath("models", *parts, path)
    if cached.is_file():
        return cached
    if local_only:
        raise SourceUnavailable(f"offline, and not in the kagglehub cache ({cached})")
    try:
        import kagglehub
    except ImportError:
        raise SourceUnavailable("the kagglehub package is not installed (pip install kagglehub)") from None
    try:
        return Path(kagglehub.model_download(handle, path=path))
    except Exception as exc:  # network, authentication, missing version: all mean "not from here"
        raise SourceUnavailable(f"kagglehub could not download it ({type(exc).__name__}: {exc})") from exc


def _folder_vocabulary(folder: Path) -> Path:
    for name in FOLDER_VOCABULARIES:
        if (folder / name).is_file():
            return folder / name
    if (folder / "tokenizer.json").is_file():
        raise SourceUnavailable(
            f"{folder} holds tokenizer.json but not the SentencePiece model ({TRANSFORMERS_VOCABULARY}) that "
            "vpbench tokenises with (the official tokenisation runs SentencePiece itself)")
    raise SourceUnavailable(f"{folder} is a folder without a vocabulary (looked for {', '.join(FOLDER_VOCABULARIES)})")


def _one_source(spec: str, *, local_only: bool | None) -> Path:
    if hub.is_hub_spec(spec):
        try:
            ref = hub.parse(spec, file=True)
        except ValueError as exc:
            raise SourceUnavailable(str(exc)) from None
        try:
            return hub.file(ref, local_only=local_only)
        except hub.HubUnavailable as exc:
            raise SourceUnavailable(f"{exc.reason} (download: `{ref.download_hint()}`)") from exc
    if spec.startswith(KAGGLE_SCHEME):
        return _kaggle_file(spec, KERAS_HUB_VOCABULARY, local_only=hub.offline() if local_only is None else local_only)
    path = Path(spec).expanduser()
    if path.is_dir():
        return _folder_vocabulary(path)
    if not path.is_file():
        raise SourceUnavailable(f"{path} does not exist")
    return path


def resolve_spm_path(spec: str | os.PathLike | None, *, local_only: bool | None = None) -> Path:
    """A local SentencePiece file from a tokenizer source (see the module docstring) or the env var.

    A named vocabulary tries its sources in order, each first in the local caches; the network
    only when nothing is cached and neither ``local_only`` nor ``HF_HUB_OFFLINE`` forbids it.
    """
    if spec is None:
        spec = os.environ.get(SPM_ENV_VAR)
        if not spec:
            raise _missing("No tokenizer source was given", f"{SPM_ENV_VAR} is not set.")
    spec = str(spec)
    if spec in NAMED_VOCABULARIES:
        tried = []
        for local in (True, False) if not (local_only or hub.offline()) else (True,):
            for source in NAMED_VOCABULARIES[spec]:
                try:
                    return _one_source(source, local_only=local)
                except SourceUnavailable as exc:
                    tried.append(f"{source}: {exc}")
        raise _missing(f"Vocabulary {spec!r} is not available; tried " + "; ".join(tried))
    try:
        return _one_source(spec, local_only=local_only)
    except SourceUnavailable as exc:
        raise _missing(f"Tokenizer source {spec!r} gives no SentencePiece model: {exc}") from None


class Tokenizer:
    """``Tokenizer(path)(texts) -> (token_ids int32 [B, L], paddings float32 [B, L])``."""

    def __init__(
        self,
        model_path: str | os.PathLike | None = None,
        *,
        max_length: int = TEXT_MAX_LENGTH,
        add_bos: bool | None = None,
        canonicalize: bool = True,
    ) -> None:
        import sentencepiece

        self.path = resolve_spm_path(model_path)
        self._processor = sentencepiece.SentencePieceProcessor()
        try:
            self._processor.LoadFromSerializedProto(self.path.read_bytes())
        except (RuntimeError, OSError) as exc:
            raise _missing(f"{self.path} is not a readable SentencePiece model ({exc})") from exc
        if max_length < 1:
            raise ValueError(f"max_length must be >= 1, got {max_length}")
        self.max_length = max_length
        # The official default: a BOS exactly when the vocabulary defines one (bos_id >= 0).
        self.add_bos = self.bos_id >= 0 if add_bos is None else add_bos
        if self.add_bos and self.bos_id < 0:
            raise ValueError(f"add_bos=True, but {self.path} defines no BOS token (bos_id {self.bos_id})")
        self.canonicalize = canonicalize

    @property
    def vocab_size(self) -> int:
        return self._processor.GetPieceSize()

    @property
    def bos_id(self) -> int:
        return self._processor.bos_id()

    def __call__(self, texts: str | Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        if isinstance(texts, str):
            texts = [texts]
        texts = [str(text) for text in texts]
        if self.canonicalize:
            texts = [canonicalize_text(text) for text in texts]
        token_ids = np.zeros((len(texts), self.max_length), dtype=np.int32)
        paddings = np.ones((len(texts), self.max_length), dtype=np.float32)
        for row, text in enumerate(texts):
            ids = ([self.bos_id] if self.add_bos else []) + self._processor.EncodeAsIds(text)
            ids = ids[: self.max_length]
            token_ids[row, : len(ids)] = ids
            paddings[row, : len(ids)] = 0.0
        return token_ids, paddings
