"""The QA family end to end on tiny subsets, zero-shot as in the paper: the resampler trained on the tiny
video-text corpus, the target's training split read as text only (two-shot demonstrations, closed
vocabulary). MSRVTT-QA with the closed vocabulary (exact match) and NExT-OE with free generation (WUPS,
with the release's additional references), each with a user's causal LM from a folder; the files re-score
to the result, every question of a video shares one feature row, and the control run says what it is."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from test_family_captioning import CORPUS_EXAMPLES, run_tiny_task, save_user_lm

from vpbench import metrics


@pytest.mark.slow
def test_msrvtt_qa_closed_vocabulary_run_writes_answers_that_rescore_to_the_result(tmp_path):
    lm_folder = save_user_lm(tmp_path / "qa-lm")
    result, context = run_tiny_task("msrvtt-qa", tmp_path, adapter={"steps": 4}, options={"lm": str(lm_folder)})

    assert result["counts"]["evaluated"] == 72  # 3 questions a clip
    assert result["counts"]["train_items"] == CORPUS_EXAMPLES
    assert result["fingerprint"]["training_data"]["source"] == "corpus"
    features = result["counts"]["features"]
    assert set(features) == {"eval", "corpus"} and features["eval"]["items"] == 24  # each video encoded once
    train = result["fingerprint"]["splits"]["train"]  # the target's train split: text only
    assert train["samples_used"] == 144 and train["used_as"].startswith("text only")
    adapter = result["adapter"]
    assert adapter["variant"] == "resampler-qa-lm-closedvocab250" and adapter["closed_vocabulary"] == 250
    assert adapter["closed_vocabulary_size"] == 11  # 4 colours + 3 shapes + 4 directions in the training answers
    assert adapter["eval_answers_in_vocabulary"] == 1.0 and len(adapter["few_shot_examples"]) == 2
    assert {e["question"] for e in adapter["few_shot_examples"]} <= {
        q["question"] for q in json.loads((context.data_root / "msrvtt_qa" / "train_qa.json").read_text())}
    assert result["fingerprint"]["closed_vocabulary"] == 250 and result["fingerprint"]["lm"]["source"] == str(lm_folder)
    assert any("closed vocabulary" in note for note in result["notes"])

    files = result["extra"]["predictions"]
    answers = json.loads(Path(files["qa_exact_match_answers"]).read_text())
    references = json.loads(Path(files["qa_exact_match_references"]).read_text())
    assert len(answers) == 72 and [a["id"] for a in answers] == [r["id"] for r in references]
    vocabulary = {"red", "green", "blue", "yellow", "circle", "square", "triangle", "left", "right", "up", "down"}
    assert {a["answer"] for a in answers} <= vocabulary
    rescored = metrics.score_files("qa_exact_match", files["qa_exact_match_answers"], files["qa_exact_match_references"])
    assert rescored["top1"] == pytest.approx(result["scores"]["top1"])
    assert result["benchmarks"] == {"msrvtt-qa": result["scores"]["top1"]}


@pytest.mark.slow
def test_nextqa_oe_generation_run_scores_the_test_split_with_additional_references_and_the_control_is_labelled(
        tmp_path):
    lm_folder = save_user_lm(tmp_path / "qa-lm", seed=1)
    result, context = run_tiny_task("nextqa-oe", tmp_path, adapter={"steps": 4, "max_new_tokens": 3},
                              options={"lm": str(lm_folder), "shuffle_train_labels": "true"})

    assert result["counts"]["evaluated"] == 96  # 4 questions a video
    assert result["fingerprint"]["splits"]["eval"]["annotation_files"][0] == "test.csv"
    assert result["adapter"]["variant"] == "resampler-qa-lm-shuffled-videos"
    assert result["adapter"]["closed_vocabulary"] == 0 and "closed_vocabulary_size" not in result["adapter"]
    assert result["fingerprint"]["shuffled_train_labels"] is True
    assert any("CONTROL RUN" in note for note in result["notes"])
    assert result["fingerprint"]["additional_references"]["file"] == "add_reference_answer_test.json"
    assert "nextqa_single_reference" not in {d["id"] for d in result["protocol"]["deviations"]}

    files = result["extra"]["predictions"]
    answers = json.loads(Path(files["wups_answers"]).read_text())  # NExT-OE results: {video: {qid: answer}}
    with open(files["wups_references"], newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 96 and sum(len(v) for v in answers.values()) == 96
    assert all(isinstance(answers[row["video"]][row["qid"]], str) for row in rows)
    assert all(len(answers[row["video"]][row["qid"]].split()) <= 3 for row in rows)
    assert {row["type"] for row in rows} == {"DO", "TN", "DB"}
    extra = context.data_root / "nextqa" / "nextoe" / "add_reference_answer_test.json"
    rescored = metrics.score_files("wups", files["wups_answers"], files["wups_references"], additional_references=extra)
    assert rescored["WUPS"] == pytest.approx(result["scores"]["WUPS"])
    assert result["benchmarks"] == {"nextqa-oe": result["scores"]["WUPS"]}
