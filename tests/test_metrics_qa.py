"""QA: exact match, and NExT-QA WUPS against doc-doc/NExT-OE's own evaluation (nltk 3.3, pywsd 1.2.4)."""

import json
from pathlib import Path

import pytest

from vpbench import metrics
from vpbench.errors import MissingDependencyError, PredictionFileError
from vpbench.metrics import nlp_data, qa

FIXTURES = Path(__file__).parent / "fixtures" / "metrics" / "nextqa"
EXPECTED = json.loads((FIXTURES / "expected_official.json").read_text())


def test_exact_match_normalisation():
    result = qa.exact_match_accuracy(["The dog.", "two", "A  Man!", "cat"], ["dog", "2", "man", "dog"])
    assert result["top1"] == 50.0 and result["num_items"] == 4


def test_exact_match_files(tmp_path):
    (tmp_path / "ref.json").write_text(json.dumps([{"answer": "man", "id": 0, "question": "who?", "video_id": 7010},
                                                   {"answer": "dog", "id": 1, "question": "what?", "video_id": 7010}]))
    (tmp_path / "pred.json").write_text(json.dumps({"0": "a man", "1": "cat"}))
    assert metrics.score_files("qa_exact_match", tmp_path / "pred.json", tmp_path / "ref.json")["top1"] == 50.0
    (tmp_path / "pred.json").write_text(json.dumps({"0": "a man"}))
    with pytest.raises(PredictionFileError, match="no answer for 1 question"):
        metrics.score_files("qa_exact_match", tmp_path / "pred.json", tmp_path / "ref.json")
    (tmp_path / "pred.json").write_text(json.dumps({"0": "a man", "1": 3}))
    with pytest.raises(PredictionFileError, match="id '1': prediction 3 is not a string"):
        metrics.score_files("qa_exact_match", tmp_path / "pred.json", tmp_path / "ref.json")


def test_each_question_matches_nextoe():
    """Per question, including yes/no, counts, an empty answer and additional reference answers."""
    extra = json.loads((FIXTURES / "add_reference_answer_test_subset.json").read_text())
    predictions = json.loads((FIXTURES / "predictions.json").read_text())
    records = qa.read_nextqa_references(FIXTURES / "test_subset.csv")
    assert len(records) == len(EXPECTED["items"])
    for record, expected in zip(records, EXPECTED["items"]):
        extra_answer = extra.get(record["video"], {}).get(record["qid"])
        result = qa.nextqa_wups([predictions[record["video"]][record["qid"]]], [record["answer"]], [record["type"]],
                                [extra_answer])
        assert qa.nextqa_preprocess(predictions[record["video"]][record["qid"]]) == expected["pred"]
        assert result["WUPS@0.0"] == pytest.approx(100 * expected["wups0"], abs=1e-9), record
        assert result["WUPS@0.9"] == pytest.approx(100 * expected["wups9"], abs=1e-9), record


def test_file_scores_match_nextoe_printout():
    result = metrics.score_files("wups", FIXTURES / "predictions.json", FIXTURES / "test_subset.csv",
                                 additional_references=FIXTURES / "add_reference_answer_test_subset.json")
    header, values = EXPECTED["evaluate_printout"].strip().splitlines()
    printed = dict(zip(header.split("\t"), map(float, values.split("\t"))))
    ours = {"CW": "WUPS@0.0_CW", "CH": "WUPS@0.0_CH", "WUPS_C": "WUPS@0.0_C", "TPN": "WUPS@0.0_TN",
            "TC": "WUPS@0.0_TC", "WUPS_T": "WUPS@0.0_T", "DB": "WUPS@0.0_DB", "DC": "WUPS@0.0_DC",
            "DL": "WUPS@0.0_DL", "DO": "WUPS@0.0_DO", "WUPS_D": "WUPS@0.0_D", "WUPS": "WUPS"}
    for name, key in ours.items():
        assert round(result[key], 2) == pytest.approx(printed[name], abs=1e-9), name


def test_wup_follows_nltk_3_3():
    assert qa.word_similarity("dog", "dog", 0.9) == 1.0
    assert qa.word_similarity("dog", "cat", 0.0) == pytest.approx(0.8571428571428571)
    assert qa.word_similarity("dog", "cat", 0.9) == pytest.approx(0.08571428571428572)  # below alpha: x 0.1
    assert qa.word_similarity("dog", "xqzv", 0.0) == 0.0
    # values from nltk 3.3's Synset.wup_similarity (the reference environment of NExT-OE)
    synset = nlp_data.wordnet().synset
    assert qa.wup_similarity_nltk33(synset("dog.n.01"), synset("run.v.01")) is None  # noun first: no simulated root
    assert qa.wup_similarity_nltk33(synset("run.v.01"), synset("dog.n.01")) == pytest.approx(0.14285714285714285)
    assert qa.wup_similarity_nltk33(synset("walk.v.01"), synset("run.v.01")) == pytest.approx(0.2857142857142857)
    assert qa.wup_similarity_nltk33(synset("big.a.01"), synset("large.a.01")) == 1.0
    assert qa.morphy_nltk33("focussed", "v") == ("focus",)  # nltk >= 3.5 finds nothing here


def test_missing_wordnet_names_the_install_step(monkeypatch, tmp_path):
    monkeypatch.setattr(nlp_data, "_candidate_roots", lambda: [tmp_path / "nowhere"])
    with pytest.raises(MissingDependencyError, match="apt-get install -y wordnet-base wordnet-sense-index"):
        nlp_data.wordnet.__wrapped__()


def test_missing_answer_names_the_question(tmp_path):
    (tmp_path / "pred.json").write_text(json.dumps({"9000000001": {"1": "yes"}}))
    with pytest.raises(PredictionFileError, match="no answer string for video '.*' question"):
        metrics.score_files("wups", tmp_path / "pred.json", FIXTURES / "test_subset.csv")
