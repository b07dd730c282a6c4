"""Captioning: vectorised CIDEr-D vs pycocoevalcap, the full COCO evaluation (one METEOR run), Java, files."""

import json
from pathlib import Path

import numpy as np
import pytest

from vpbench import metrics
from vpbench.errors import MissingDependencyError, PredictionFileError
from vpbench.metrics import captioning
from vpbench.metrics.cider import cider_d

FIXTURES = Path(__file__).parent / "fixtures" / "metrics" / "captioning"
EXPECTED = json.loads((FIXTURES / "expected_official.json").read_text())


def _pycocoevalcap_cider(hypotheses, references):
    from pycocoevalcap.cider.cider import Cider

    return Cider().compute_score({i: list(r) for i, r in enumerate(references)}, {i: [h] for i, h in enumerate(hypotheses)})


def test_cider_equals_pycocoevalcap_on_random_and_edge_cases():
    rng = np.random.default_rng(7)
    vocabulary = [f"w{i}" for i in range(40)]

    def sentence():
        return " ".join(rng.choice(vocabulary, rng.integers(0, 14)))

    hypotheses = [sentence() for _ in range(200)]
    references = [[sentence() for _ in range(rng.integers(1, 6))] for _ in range(200)]
    hypotheses[0] = ""                                   # empty prediction
    references[1] = ["", "w1 w2"]                        # an empty reference
    references[2] = [hypotheses[2]] * 2                  # duplicate references
    references[3] = [sentence() for _ in range(20)]      # 20 references
    hypotheses[4] = "w5"                                 # one word: zero bigrams
    expected, expected_items = _pycocoevalcap_cider(hypotheses, references)
    score, items = cider_d(hypotheses, references)
    assert abs(score - expected) < 1e-9
    assert np.max(np.abs(items - expected_items)) < 1e-9


def test_cider_hand_computed_single_item_is_zero():
    # With one item, idf = log(1) - log(df) = 0 for every n-gram: CIDEr-D is 0 whatever the caption.
    assert cider_d(["a dog runs"], [["a dog runs"]])[0] == 0.0


def test_full_coco_evaluation_matches_cocoevalcap():
    result = metrics.score_files("captioning", FIXTURES / "predictions.json", FIXTURES / "references.json")
    for ours, official in (("CIDEr", "CIDEr"), ("BLEU-1", "Bleu_1"), ("BLEU-4", "Bleu_4"),
                           ("METEOR", "METEOR"), ("ROUGE_L", "ROUGE_L")):
        assert result[ours] == pytest.approx(100 * EXPECTED[official], abs=1e-9), ours
    assert result["num_items"] == 30


def test_cider_only_metric_and_ptb_quirks():
    result = metrics.score_files("CIDEr", FIXTURES / "predictions.json", FIXTURES / "references.json")
    assert result["CIDEr"] == pytest.approx(100 * EXPECTED["CIDEr"], abs=1e-9)
    assert set(result) == {"CIDEr", "num_items", "tokenizer"}
    tokenised = captioning.ptb_tokenize({"x": ["A man (in red), isn't he?"], "y": [""]})
    assert tokenised == {"x": ["a man -lrb- in red -rrb- is n't he"], "y": [""]}  # PTB keeps lower-cased -lrb-


def test_missing_java_says_how_to_install(monkeypatch):
    monkeypatch.setattr(captioning.shutil, "which", lambda name: None)
    with pytest.raises(MissingDependencyError, match="apt-get install -y default-jre-headless"):
        captioning.caption_metrics({"a": "x"}, {"a": ["x"]})


def test_spice_is_refused():
    with pytest.raises(MissingDependencyError, match="SPICE"):
        captioning.caption_metrics({"a": "x"}, {"a": ["x"]}, metrics=("SPICE",))


def test_bad_caption_files(tmp_path):
    predictions = tmp_path / "p.json"
    predictions.write_text(json.dumps([{"image_id": 1, "caption": "a"}, {"image_id": 1, "caption": "b"}]))
    with pytest.raises(PredictionFileError, match="id 1 has more than one caption"):
        metrics.score_files("CIDEr", predictions, FIXTURES / "references.json")
    predictions.write_text(json.dumps([{"image_id": 1, "caption": "a"}]))
    with pytest.raises(PredictionFileError, match=r"no caption for 29 id\(s\)"):
        metrics.score_files("CIDEr", predictions, FIXTURES / "references.json")
    predictions.write_text(json.dumps({str(i): ("a\rb" if i == 3 else "a") for i in range(30)}))
    with pytest.raises(PredictionFileError, match="line-break character"):
        metrics.score_files("CIDEr", predictions, FIXTURES / "references.json")
    predictions.write_text("[{")
    with pytest.raises(PredictionFileError, match="line 1: not valid JSON"):
        metrics.score_files("CIDEr", predictions, FIXTURES / "references.json")
