"""The LvT text pipeline against the official ``tokenize_texts`` outputs (golden fixtures made
with the repo's test SentencePiece model), and its errors when the vocabulary is missing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vpbench.errors import MissingDependencyError
from vpbench.models import Tokenizer
from vpbench.models.tokenizer import SPM_ENV_VAR, canonicalize_text

GOLDEN = Path(__file__).parent / "fixtures" / "golden"
SPM = GOLDEN / "test_spm.model"


@pytest.fixture(scope="module")
def fixture() -> dict[str, np.ndarray]:
    with np.load(GOLDEN / "tokenizer_fixture.npz", allow_pickle=False) as archive:
        return {key: archive[key] for key in archive.files}


def _check(result, ids, paddings) -> None:
    token_ids, token_paddings = result
    assert token_ids.dtype == np.int32 and token_paddings.dtype == np.float32
    np.testing.assert_array_equal(token_ids, ids)
    np.testing.assert_array_equal(token_paddings, paddings)


def test_canonicalisation_matches_the_official_one(fixture):
    assert [canonicalize_text(t) for t in fixture["texts"]] == list(fixture["canonical_texts"])
    assert canonicalize_text("  Hello,World..  ") == "hello world."


def test_default_pipeline_adds_bos_when_the_vocabulary_has_one(fixture):
    tokenizer = Tokenizer(SPM)
    assert tokenizer.bos_id == 1 and tokenizer.add_bos and tokenizer.vocab_size == 1000
    _check(tokenizer(list(fixture["texts"])), fixture["ids_default"], fixture["paddings_default"])


def test_without_bos_and_without_canonicalisation(fixture):
    _check(Tokenizer(SPM, add_bos=False)(list(fixture["texts"])), fixture["ids_nobos"], fixture["paddings_nobos"])
    _check(
        Tokenizer(SPM, add_bos=False, canonicalize=False, max_length=16)(list(fixture["texts"])),
        fixture["ids_nocanon_len16"],
        fixture["paddings_nocanon_len16"],
    )


def test_model_inputs_of_the_video_text_fixture():
    with np.load(GOLDEN / "video_text_inputs.npz", allow_pickle=False) as archive:
        texts, ids, paddings = archive["texts"], archive["text_token_ids"], archive["text_paddings"]
    _check(Tokenizer(SPM, add_bos=False)(list(texts)), ids, paddings)


def test_single_string_is_one_row():
    ids, paddings = Tokenizer(SPM)("a dog")
    assert ids.shape == paddings.shape == (1, 64)


def test_missing_vocabulary_names_the_file(tmp_path, monkeypatch):
    with pytest.raises(MissingDependencyError, match=str(tmp_path / "sentencepiece.model")):
        Tokenizer(tmp_path / "sentencepiece.model")
    monkeypatch.delenv(SPM_ENV_VAR, raising=False)
    with pytest.raises(MissingDependencyError, match="cc_en.32000/sentencepiece.model"):
        Tokenizer()
    monkeypatch.setenv(SPM_ENV_VAR, str(SPM))
    assert Tokenizer().vocab_size == 1000
    (tmp_path / "broken.model").write_bytes(b"not a sentencepiece model")
    with pytest.raises(MissingDependencyError, match="not a readable SentencePiece model"):
        Tokenizer(tmp_path / "broken.model")


def test_hub_location_offline_names_repo_and_file(tmp_path, monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(MissingDependencyError, match="'hf://google-t5/t5-base/spiece.model' gives no SentencePiece "
                       "model: HF_HUB_OFFLINE is set .* `hf download google-t5/t5-base spiece.model`"):
        Tokenizer("hf://google-t5/t5-base/spiece.model")
