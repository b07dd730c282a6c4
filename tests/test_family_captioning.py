"""The captioning family end to end on the tiny suite: the paper's zero-shot protocol (a resampler trained
once on the tiny video-text corpus, cached, then evaluated on other datasets), with a user's causal LM from
a folder (`--option lm=PATH`) and with the tiny LM against its shuffled-video control; and the `in-domain`
variant. Files in the COCO formats, the score they re-score to, and what the result records."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch

from vpbench import metrics
from vpbench.families import RunContext, run_task
from vpbench.registry import load_registry
from vpbench.results import build_result
from vpbench.tiny import make_tiny

TINY_WORDS = ("a the there is one we see that it and to of video red green blue yellow circle square triangle "
              "moves moving goes travels slides drifts keeps left right up down upwards downwards question "
              "answer what color shape where does move which direction object yes no").split()
CORPUS_EXAMPLES = 48 * 5 + 48 * 3
"""The tiny corpus: 48 clips with 5 captions each, 48 VQA images with 3 questions each."""


def save_user_lm(folder: Path, seed: int = 0) -> Path:
    """A small random GPT-2 and a word-level tokenizer written with save_pretrained (nothing downloaded)."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    vocab = {"<pad>": 0, "<unk>": 1, "<eos>": 2, **{w: i + 3 for i, w in enumerate(TINY_WORDS)}}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    PreTrainedTokenizerFast(tokenizer_object=backend, pad_token="<pad>", unk_token="<unk>",
                            eos_token="<eos>").save_pretrained(folder)
    torch.manual_seed(seed)
    GPT2LMHeadModel(GPT2Config(vocab_size=len(vocab), n_layer=2, n_head=2, n_embd=32, n_positions=256,
                               bos_token_id=None, eos_token_id=2, pad_token_id=0)).save_pretrained(folder)
    return folder


def run_tiny_task(name: str, tmp_path: Path, *, adapter: dict | None = None, metrics_list: list | None = None,
                  options: dict | None = None, variant: str | None = None,
                  session_cache: bool = False) -> tuple[dict, RunContext]:
    """`vpbench run --task NAME --tiny` in-process with a few settings changed to keep the test short.

    The cache is the test's own folder, or with ``session_cache`` the test session's $VPBENCH_CACHE,
    which `vpbench run --tiny` (the tiny gate) uses too.
    """
    task = load_registry().task(name).with_variant(variant).for_tiny()
    task = dataclasses.replace(task, adapter={**task.adapter, **(adapter or {})}, metrics=metrics_list or task.metrics)
    context = RunContext(data_root=make_tiny(task, tmp_path / "data"), output_dir=tmp_path / "predictions",
                         model=task.model, tiny=True, workers=0, device="cpu",
                         cache_dir=None if session_cache else tmp_path / "cache", options=options or {})
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        record = run_task(task, context)
    finally:
        torch.set_num_threads(threads)
    return build_result(task, record, seed=0, tiny=True), context


@pytest.mark.slow
def test_zero_shot_captioning_trains_the_resampler_once_on_the_corpus_and_another_task_reuses_it(tmp_path):
    lm_folder = save_user_lm(tmp_path / "my-gpt2")
    cider_only = [{"name": "CIDEr", "keys": ["CIDEr"]}]
    options = {"lm": str(lm_folder)}
    result, context = run_tiny_task("msrvtt-captioning", tmp_path, adapter={"steps": 6}, metrics_list=cider_only,
                                    options=options)

    # Trained on the corpus, a dataset that is not the one evaluated; no training video of MSR-VTT is read.
    data = result["fingerprint"]["training_data"]
    assert data["source"] == "corpus" and data["root"] == "video_text_corpus" and data["captions"] == 240
    assert data["corpus_sha256"] != result["fingerprint"]["splits"]["eval"]["sha256"]
    assert "train" not in result["fingerprint"]["splits"] and set(result["counts"]["features"]) == {"eval", "corpus"}
    assert result["counts"]["features"]["corpus"]["items"] == 96  # 48 captioned clips + 48 VQA images, once each
    assert result["counts"]["train_items"] == CORPUS_EXAMPLES and result["adapter"]["train_examples"] == CORPUS_EXAMPLES
    resampler = result["adapter"]["resampler"]
    assert resampler["reused"] is False and Path(resampler["path"]).is_file()
    assert Path(resampler["path"]).is_relative_to(context.cache_dir)
    assert result["adapter"]["lm"]["source"] == str(lm_folder)
    assert result["fingerprint"]["lm"]["class"] == "GPT2LMHeadModel"
    assert len(result["adapter"]["train_loss_by_pass"]) == 1  # 6 steps of 16: part of one pass
    protocol = result["protocol"]
    assert protocol["variant"] is None and {"lm", "corpus", "lm_option"} <= {d["id"] for d in protocol["deviations"]}
    assert {"read_corpus", "extract", "adapter", "generate", "score"} <= set(result["timings_s"])

    assert result["counts"]["evaluated"] == 24 and result["counts"]["samples"] == {"eval": 24}
    files = result["extra"]["predictions"]
    captions = json.loads(Path(files["captions"]).read_text())
    references = json.loads(Path(files["references"]).read_text())
    assert [set(c) for c in captions] == [{"image_id", "caption"}] * 24
    assert {c["image_id"] for c in captions} == set(references) and all(len(r) == 10 for r in references.values())
    assert all(len(c["caption"].split()) <= 32 for c in captions)
    rescored = metrics.score_files("CIDEr", files["captions"], files["references"])
    assert rescored["CIDEr"] == pytest.approx(result["scores"]["CIDEr"])
    assert result["benchmarks"] == {"msrvtt-cap": result["scores"]["CIDEr"]}

    # Another target (its own tiny data root holds the same corpus): the cached resampler, not retrained.
    other, _ = run_tiny_task("vatex-captioning", tmp_path, adapter={"steps": 6}, metrics_list=cider_only,
                             options=options)
    assert other["adapter"]["resampler"] == {**resampler, "reused": True}
    assert other["fingerprint"]["training_data"] == data
    assert "adapter" not in other["timings_s"] and "adapter_load" in other["timings_s"]
    assert set(other["counts"]["features"]) == {"eval"} and "train_items" not in other["counts"]
    assert other["fingerprint"]["splits"]["eval"]["annotation_files"] == ["vatex_public_test_english_v1.1.json"]
    # A setting that changes the trained resampler is a new cache entry, never the old one.
    changed, _ = run_tiny_task("vatex-captioning", tmp_path, adapter={"steps": 7}, metrics_list=cider_only,
                               options=options)
    assert changed["adapter"]["resampler"]["reused"] is False
    assert changed["adapter"]["resampler"]["key"] != resampler["key"]


@pytest.mark.slow
def test_in_domain_variant_trains_on_the_target_train_split_and_says_so(tmp_path):
    lm_folder = save_user_lm(tmp_path / "my-gpt2")
    result, context = run_tiny_task("youcook2-captioning", tmp_path, adapter={"steps": 4},
                                    metrics_list=[{"name": "CIDEr", "keys": ["CIDEr"]}], variant="in-domain",
                                    options={"lm": str(lm_folder)})
    assert result["protocol"]["variant"] == "in-domain"
    assert "in-domain" in {d["id"] for d in result["protocol"]["deviations"]}
    data = result["fingerprint"]["training_data"]
    assert data == {"source": "target", "task": "youcook2-captioning", "split": "training",
                    "split_sha256": result["fingerprint"]["splits"]["train"]["sha256"]}
    assert set(result["counts"]["features"]) == {"train", "eval"} and "read_corpus" not in result["timings_s"]
    assert result["counts"]["train_items"] == 48  # one caption per training segment
    weights = Path(result["adapter"]["resampler"]["path"])
    assert weights.is_file() and weights.parent == context.output_dir  # beside the predictions, not in the cache
    assert "@in-domain" in Path(result["extra"]["predictions"]["captions"]).name
    assert any("IN-DOMAIN" in note for note in result["notes"])


@pytest.mark.slow
def test_zero_shot_tiny_lm_run_beats_its_shuffled_video_control_on_another_dataset(tmp_path):
    """The tiny LM and the random tiny encoder, the resampler trained on the tiny corpus and evaluated on
    YouCook2: captions name what the clips show, and a resampler trained on the corpus's captions moved to
    other clips (the control) does far worse, so corpus videos, features and texts are wired to each other.
    The session cache is used, so the tiny gate's msrvtt-captioning and msrvtt-qa find this resampler."""
    cider_only = [{"name": "CIDEr", "keys": ["CIDEr"]}]
    trained, _ = run_tiny_task("youcook2-captioning", tmp_path, metrics_list=cider_only, session_cache=True)
    control, _ = run_tiny_task("youcook2-captioning", tmp_path, metrics_list=cider_only, session_cache=True,
                               options={"shuffle_train_labels": "true"})
    assert trained["adapter"]["lm"]["source"] == "tiny-gpt2" and trained["adapter"]["lm"]["pretraining"]["steps"] > 0
    assert any("tiny-gpt2" in note for note in trained["notes"])
    assert control["adapter"]["variant"] == "resampler-tiny-gpt2-shuffled-videos"
    assert control["adapter"]["resampler"]["key"] != trained["adapter"]["resampler"]["key"]
    assert control["fingerprint"]["shuffled_train_labels"] is True
    assert trained["scores"]["CIDEr"] >= control["scores"]["CIDEr"] + 150, (trained["scores"], control["scores"])
    assert Path(trained["extra"]["predictions"]["captions"]) != Path(control["extra"]["predictions"]["captions"])
