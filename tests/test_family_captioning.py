"""The captioning family end to end on the tiny MSR-VTT subset, with a user's causal LM from a folder
(`--option lm=PATH`): files in the COCO formats, the score they re-score to, and what the result records."""

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
              "answer what color shape where does move which direction object").split()


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


def run_tiny_task(name: str, tmp_path: Path, *, adapter: dict, metrics_list: list | None = None,
                  options: dict | None = None) -> tuple[dict, RunContext]:
    """`vpbench run --task NAME --tiny` in-process with a few settings changed to keep the test short."""
    task = load_registry().task(name).for_tiny()
    task = dataclasses.replace(task, adapter={**task.adapter, **adapter}, metrics=metrics_list or task.metrics)
    context = RunContext(data_root=make_tiny(task, tmp_path / "data"), output_dir=tmp_path / "predictions",
                         model=task.model, tiny=True, workers=0, device="cpu", cache_dir=tmp_path / "cache",
                         options=options or {})
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        record = run_task(task, context)
    finally:
        torch.set_num_threads(threads)
    return build_result(task, record, seed=0, tiny=True), context


@pytest.mark.slow
def test_msrvtt_captioning_with_a_user_lm_folder_writes_coco_files_that_rescore_to_the_result(tmp_path):
    lm_folder = save_user_lm(tmp_path / "my-gpt2")
    result, context = run_tiny_task("msrvtt-captioning", tmp_path, adapter={"epochs": 2},
                                    metrics_list=[{"name": "CIDEr", "keys": ["CIDEr"]}],
                                    options={"lm": str(lm_folder)})

    assert result["counts"]["evaluated"] == 24 and result["counts"]["samples"] == {"train": 44, "eval": 24}
    assert result["counts"]["train_items"] == 440  # every (training clip, caption) pair: 10 captions each
    assert result["adapter"]["variant"] == "resampler-my-gpt2"
    assert result["adapter"]["lm"]["source"] == str(lm_folder) and result["adapter"]["lm"]["lora"] is None
    assert len(result["adapter"]["train_loss_by_epoch"]) == 2
    fingerprint = result["fingerprint"]
    assert fingerprint["lm"]["source"] == str(lm_folder) and fingerprint["lm"]["class"] == "GPT2LMHeadModel"
    assert fingerprint["adapter"]["latents"] == 8 and fingerprint["adapter"]["max_new_tokens"] == 32
    assert fingerprint["closed_vocabulary"] == 0 and fingerprint["shuffled_train_labels"] is False
    assert {"read", "extract", "adapter", "generate", "score"} <= set(result["timings_s"])

    files = result["extra"]["predictions"]
    captions = json.loads(Path(files["captions"]).read_text())
    references = json.loads(Path(files["references"]).read_text())
    assert [set(c) for c in captions] == [{"image_id", "caption"}] * 24
    assert {c["image_id"] for c in captions} == set(references) and all(len(r) == 10 for r in references.values())
    assert all(len(c["caption"].split()) <= 32 for c in captions)
    rescored = metrics.score_files("CIDEr", files["captions"], files["references"])
    assert rescored["CIDEr"] == pytest.approx(result["scores"]["CIDEr"]) and result["benchmarks"] == {
        "msrvtt-cap": result["scores"]["CIDEr"]}
    weights = Path(result["extra"]["adapter_weights"])
    assert weights.is_file() and weights.parent == context.output_dir


@pytest.mark.slow
def test_youcook2_tiny_lm_run_beats_its_shuffled_video_control(tmp_path):
    """The tiny suite's own LM and the random tiny encoder: captions name what the clips show, and a
    resampler trained on other clips' captions (the control) does far worse, so video, features and
    texts are wired to each other."""
    cider_only = [{"name": "CIDEr", "keys": ["CIDEr"]}]
    trained, _ = run_tiny_task("youcook2-captioning", tmp_path, adapter={}, metrics_list=cider_only)
    control, _ = run_tiny_task("youcook2-captioning", tmp_path, adapter={}, metrics_list=cider_only,
                               options={"shuffle_train_labels": "true"})
    assert trained["adapter"]["lm"]["source"] == "tiny-gpt2" and trained["adapter"]["lm"]["pretraining"]["steps"] > 0
    assert any("tiny-gpt2" in note for note in trained["notes"])
    assert control["adapter"]["variant"] == "resampler-tiny-gpt2-shuffled-videos"
    assert control["counts"]["features"]["train"]["cache_hits"] == 48  # same clips: every feature from the cache
    assert trained["scores"]["CIDEr"] >= control["scores"]["CIDEr"] + 100, (trained["scores"], control["scores"])
    assert Path(trained["extra"]["predictions"]["captions"]) != Path(control["extra"]["predictions"]["captions"])
