"""Text tokenizer of the LvT model, as the official ``models.tokenize_texts`` does it.

Canonicalise (punctuation -> space, lowercase, collapse and strip whitespace, append '.'),
SentencePiece ids, a BOS only when the vocabulary defines one, truncate/right-pad to 64 with
paddings (1 = pad). The released model's vocabulary (``c4_en``) is not in the checkpoints, so
the SentencePiece file is always given by the user: a local path or a Hugging Face location.
This module must never guess a vocabulary or fetch one silently: a missing file is a
:class:`MissingDependencyError` naming it.
"""

from __future__ import annotations

import os
import string
from pathlib import Path
from typing import Sequence

import numpy as np

from vpbench.errors import MissingDependencyError

TEXT_MAX_LENGTH = 64
SPM_ENV_VAR = "VPBENCH_SPM_MODEL"
# Where the official code reads the released text vocabulary (32000 pieces) from.
C4_EN_SPM_URL = "gs://t5-data/vocabs/cc_en.32000/sentencepiece.model"
_HF_SCHEME = "hf://"
_PUNCTUATION_TO_SPACE = str.maketrans(string.punctuation, " " * len(string.punctuation))


def canonicalize_text(text: str) -> str:
    """Official canonical form: "A dog, catching a frisbee!!" -> "a dog catching a frisbee."."""
    return " ".join(text.translate(_PUNCTUATION_TO_SPACE).lower().split()) + "."


def _missing(what: str, how: str) -> MissingDependencyError:
    return MissingDependencyError(
        f"{what}. The LvT text tower needs the SentencePiece model of its vocabulary: for the released "
        f"checkpoints that is the c4_en model ({C4_EN_SPM_URL}, 32000 pieces), which is not shipped with "
        f"the checkpoints. {how} Pass Tokenizer('/path/to/sentencepiece.model'), a Hugging Face location "
        f"'hf://<owner>/<repo>/<file>', or set {SPM_ENV_VAR}."
    )


def resolve_spm_path(spec: str | os.PathLike | None) -> Path:
    """A local SentencePiece file from a path, an ``hf://owner/repo/file`` location or the env var."""
    if spec is None:
        spec = os.environ.get(SPM_ENV_VAR)
        if not spec:
            raise _missing("No SentencePiece model was given", f"{SPM_ENV_VAR} is not set.")
    spec = str(spec)
    if spec.startswith(_HF_SCHEME):
        parts = spec[len(_HF_SCHEME):].split("/", 2)
        if len(parts) != 3 or not all(parts):
            raise _missing(f"Bad Hugging Face location {spec!r}", "Expected hf://<owner>/<repo>/<file>.")
        repo_id, filename = f"{parts[0]}/{parts[1]}", parts[2]
        import huggingface_hub

        offline = os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")
        try:
            return Path(huggingface_hub.hf_hub_download(repo_id, filename, local_files_only=offline))
        except Exception as exc:  # offline, missing repo or file, network: all mean "not available"
            raise _missing(
                f"SentencePiece file {filename!r} of Hugging Face repo {repo_id!r} is not available "
                f"({type(exc).__name__})",
                "Download it where there is network (`hf download " + f"{repo_id} {filename}`) and copy the "
                "Hugging Face cache here, or give its local path.",
            ) from exc
    path = Path(spec).expanduser()
    if not path.is_file():
        raise _missing(f"SentencePiece model {path} does not exist", "")
    return path


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
            raise _missing(f"{self.path} is not a readable SentencePiece model ({exc})", "") from exc
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
