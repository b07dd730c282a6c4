"""The resampler + frozen causal LM adapter (vpbench.adapters.decoder): sequence layout, loss, greedy
decoding, closed-vocabulary scoring, settings, a user-supplied LM folder, and the tiny LM recipe learning
planted facts where a shuffled-video control cannot."""

from __future__ import annotations

import functools
import itertools
import json

import numpy as np
import pytest
import torch

from vpbench.adapters import decoder
from vpbench.adapters.decoder import Example, TrainSettings, VideoToText
from vpbench.errors import MissingDependencyError, RegistryError

WORDS = ["a", "video", "of", "red", "green", "blue", "yellow", "circle", "square", "triangle", "moves", "left",
         "right", "up", "down", "question", "what", "color", "shape", "is", "it", "answer", ":", "?"]


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def word_tokenizer():
    """A word-level fast tokenizer over WORDS (the `tokenizers` library; nothing downloaded)."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {"<pad>": 0, "<unk>": 1, "<eos>": 2, **{w: i + 3 for i, w in enumerate(WORDS)}}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    return PreTrainedTokenizerFast(tokenizer_object=backend, pad_token="<pad>", unk_token="<unk>", eos_token="<eos>")


def random_gpt2(seed: int = 0, width: int = 32):
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(seed)
    config = GPT2Config(vocab_size=len(WORDS) + 3, n_layer=2, n_head=2, n_embd=width, n_positions=128,
                        bos_token_id=None, eos_token_id=2, pad_token_id=0)
    return GPT2LMHeadModel(config).eval().requires_grad_(False)


def random_lm(seed: int = 0) -> decoder.LanguageModel:
    return decoder.LanguageModel(random_gpt2(seed), word_tokenizer(), {"source": "test", "lora": None})


def video_to_text(lm, video_dim: int = 16, latents: int = 4, seed: int = 0) -> VideoToText:
    torch.manual_seed(seed)
    return VideoToText(lm, video_dim, latents=latents, layers=1, heads=2)


# ----------------------------------------------------------------------------- sequence mechanics


def test_loss_is_the_cross_entropy_of_the_target_tokens_only_and_trains_only_the_resampler():
    lm = random_lm()
    model = video_to_text(lm)
    tokens = torch.randn(2, 6, 16)
    prompts = lm.encode(["a video of", "what color is it ? answer :"])
    targets = [ids + [lm.eos_id] for ids in lm.encode([" red circle", " blue"])]
    loss = model.loss(tokens, prompts, targets)

    prefix = model._prefix(tokens)  # [2, 4, D]
    expected = []
    for row in range(2):
        ids = torch.tensor(prompts[row] + targets[row])
        logits = lm.model(inputs_embeds=torch.cat([prefix[row:row + 1], lm.embed(ids)[None]], dim=1)).logits[0]
        start = prefix.shape[1] + len(prompts[row])  # first target position
        log_probs = torch.log_softmax(logits[start - 1:start - 1 + len(targets[row])], dim=-1)
        expected += [-log_probs[k, t] for k, t in enumerate(targets[row])]
    torch.testing.assert_close(loss, torch.stack(expected).mean(), rtol=1e-5, atol=1e-5)

    loss.backward()
    assert all(p.grad is None for p in lm.model.parameters())
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.resampler.parameters())
    assert model.trainable_parameters() == list(model.resampler.parameters())


def _plain_greedy(model: VideoToText, tokens, prompt: list[int], steps: int) -> list[int]:
    """One video, no padding, no cache: argmax of the full sequence's last logits, step by step."""
    embeds = torch.cat([model._prefix(tokens), model.lm.embed(torch.tensor([prompt]))], dim=1)
    out = []
    for _ in range(steps):
        token = int(model.lm.model(inputs_embeds=embeds).logits[0, -1].argmax())
        if token == model.lm.eos_id:
            break
        out.append(token)
        embeds = torch.cat([embeds, model.lm.embed(torch.tensor([[token]]))], dim=1)
    return out


def test_batched_greedy_generation_with_left_padded_prompts_equals_one_by_one_decoding():
    lm = random_lm(seed=3)
    # A checkpoint's own generation settings must not leak into the protocol's plain greedy decoding.
    lm.model.generation_config.no_repeat_ngram_size = 1
    lm.model.generation_config.repetition_penalty = 5.0
    model = video_to_text(lm, seed=3)
    tokens = torch.randn(3, 6, 16)
    prompts = lm.encode(["a video of", "what shape is it ? answer :", "of"])
    batched = model.generate(tokens, prompts, max_new_tokens=7)
    for row in range(3):
        assert batched[row] == _plain_greedy(model, tokens[row:row + 1], prompts[row], 7)
    assert any(len(row) == 7 for row in batched)  # the cap holds
    assert any(len(set(row)) < len(row) for row in batched)  # repeats: the checkpoint's n-gram block was ignored


def test_closed_vocabulary_scores_equal_full_teacher_forced_log_likelihoods():
    lm = random_lm(seed=5)
    model = video_to_text(lm, seed=5)
    tokens = torch.randn(1, 6, 16)
    prompt = lm.encode(["what color is it ? answer :"])[0]
    candidates = lm.encode([" red", " blue square", " left", " green circle moves"])
    scores = model.candidate_log_likelihoods(tokens, prompt, candidates)
    prefix = model._prefix(tokens)
    for k, candidate in enumerate(candidates):
        ids = prompt + candidate + [lm.eos_id]
        logits = lm.model(inputs_embeds=torch.cat([prefix, lm.embed(torch.tensor([ids]))], dim=1)).logits[0]
        log_probs = torch.log_softmax(logits, dim=-1)
        start = prefix.shape[1] + len(prompt)
        expected = sum(log_probs[start - 1 + j, t] for j, t in enumerate(candidate + [lm.eos_id]))
        torch.testing.assert_close(scores[k], expected, rtol=1e-4, atol=1e-4)
    answers = decoder.choose_answers(model, lambda positions: tokens[[0 for _ in positions]],
                                     [Example(0, "what color is it ? answer :")], ["red", "blue square", "left",
                                                                                    "green circle moves"])
    assert answers == [["red", "blue square", "left", "green circle moves"][int(scores.argmax())]]


def test_closed_vocabulary_and_few_shot_prompt():
    assert decoder.closed_vocabulary(["Dog", "cat", "dog ", "man", "cat", "dog", "bird"], 3) == ["dog", "cat", "bird"]
    prefix = decoder.few_shot_prefix([("what is it?", "dog"), ("who runs?", "man")], "Question: {question} Answer:")
    assert prefix == "Question: what is it? Answer: dog\nQuestion: who runs? Answer: man\n"


SETTINGS = {"type": "resampler", "latents": 8, "layers": 1, "heads": 2, "lm": "gpt2", "lora": False,
            "max_new_tokens": 32, "decoding": "greedy", "steps": 30, "batch_size": 4, "lr": 1e-3,
            "caption_prompt": "A video of", "question_prompt": "Question: {question} Answer:", "few_shot": 2,
            "closed_vocabulary": 250, "train_on": "corpus",
            "corpus": {"root": "corpus", "captions": "captions.csv", "videos": "videos", "vqa": None}}


def test_settings_are_checked_and_the_lm_option_wins():
    settings = decoder.decoder_settings(SETTINGS, "t.yaml: adapter", lm_override="/models/my-lm")
    assert settings.lm == "/models/my-lm" and settings.closed_vocabulary == 250 and settings.lora is None
    assert settings.as_dict()["decoding"] == "greedy" and settings.train_on == "corpus"
    # what trains the resampler, and nothing that only changes decoding, keys the cached resampler
    assert "closed_vocabulary" not in settings.training_dict() and "max_new_tokens" not in settings.training_dict()
    assert settings.training_dict()["optimizer"] == "adam" and settings.training_dict()["steps"] == 30
    assert decoder.decoder_settings({**SETTINGS, "lora": True}, "x").lora == {"r": 8, "alpha": 16, "dropout": 0.0}
    in_domain = decoder.decoder_settings({**SETTINGS, "train_on": "target", "corpus": None}, "x")
    assert in_domain.train_on == "target" and in_domain.corpus is None
    for bad, message in (({"latents": 0}, "adapter.latents"), ({"decoding": "beam"}, "only 'greedy'"),
                         ({"lr": "fast"}, "adapter.lr"), ({"beam_size": 4}, "unknown key"),
                         ({"closed_vocabulary": -1}, "closed_vocabulary"), ({"epochs": 3}, "unknown key"),
                         ({"question_prompt": "Q:"}, "must contain '{question}'"),
                         ({"train_on": "test"}, "expected one of"), ({"corpus": None}, "adapter.corpus")):
        with pytest.raises(RegistryError, match=message):
            decoder.decoder_settings({**SETTINGS, **bad}, "t.yaml: adapter")


def test_lora_without_peft_says_how_to_install_it(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_peft(name, *args, **kwargs):
        if name == "peft" or name.startswith("peft."):
            raise ImportError("No module named 'peft'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_peft)
    with pytest.raises(MissingDependencyError, match="pip install peft"):
        decoder.with_lora(random_lm(), {"r": 4})


def test_a_sequence_longer_than_the_lm_takes_is_refused_with_the_numbers():
    lm = random_lm()
    model = video_to_text(lm, latents=120)
    with pytest.raises(decoder.VpbenchError, match="takes 128 positions"):
        decoder.generate_texts(model, lambda p: torch.randn(len(p), 6, 16), [Example(0, "a video of")],
                               max_new_tokens=32, batch_size=1)


# ----------------------------------------------------------------------------- a user's LM on disk


def test_a_causal_lm_saved_with_save_pretrained_loads_frozen_and_only_the_resampler_trains(tmp_path):
    folder = tmp_path / "my-lm"
    random_gpt2(seed=1).save_pretrained(folder)
    word_tokenizer().save_pretrained(folder)

    lm = decoder.load_language_model(str(folder), device="cpu")
    assert lm.info["source"] == str(folder) and lm.info["class"] == "GPT2LMHeadModel"
    assert lm.info["dtype"] == "float32" and lm.info["lora"] is None and lm.info["parameters"] > 0
    assert not any(p.requires_grad for p in lm.model.parameters())
    assert lm.encode(["a red circle"])[0] == [3, 6, 10]

    before = {k: v.clone() for k, v in lm.model.state_dict().items()}
    features = torch.randn(4, 6, 16)
    examples = [Example(i % 4, "a video of", caption) for i, caption in
                enumerate(["red circle", "blue square", "green triangle", "yellow circle"] * 2)]
    model = video_to_text(lm)
    start = model.resampler.project.weight.detach().clone()
    losses = decoder.train_resampler(model, lambda p: features[list(p)], examples, TrainSettings(5, 4, 1e-3, 0))
    assert len(losses) == 3 and all(np.isfinite(losses))  # 5 steps of 4 of the 8 examples: 2 passes, then 1 step
    assert not torch.equal(start, model.resampler.project.weight)
    assert all(torch.equal(before[k], v) for k, v in lm.model.state_dict().items())
    texts = decoder.generate_texts(model, lambda p: features[list(p)], [Example(i, "a video of") for i in range(4)],
                                   max_new_tokens=5, batch_size=3)
    assert len(texts) == 4 and all(isinstance(t, str) and len(t.split()) <= 5 for t in texts)

    weights = decoder.save_adapter(model, tmp_path / "resampler.safetensors")
    from safetensors.torch import load_file

    saved = load_file(weights)
    assert set(saved) == {f"resampler.{k}" for k in model.resampler.state_dict()}
    settings = decoder.decoder_settings({**SETTINGS, "latents": 4}, "x")
    reloaded = decoder.load_adapter(lm, weights, settings, video_dim=16)
    assert decoder.generate_texts(reloaded, lambda p: features[list(p)], [Example(i, "a video of") for i in range(4)],
                                  max_new_tokens=5, batch_size=3) == texts
    with pytest.raises(decoder.VpbenchError, match="does not fit these settings"):
        decoder.load_adapter(lm, weights, settings, video_dim=32)


def test_a_missing_lm_folder_names_the_option_to_use(tmp_path):
    with pytest.raises(MissingDependencyError, match="--option lm=PATH"):
        decoder.load_language_model(str(tmp_path / "nothing-here"), device="cpu")


# ----------------------------------------------------------------------------- learning from video


COLOURS, SHAPES, DIRECTIONS = ("red", "green", "blue", "yellow"), ("circle", "square", "triangle"), \
    ("left", "right", "up", "down")


def planted_features(count: int, seed: int, offset: int = 0):
    """Noise tokens [count, 16, 32] plus one fixed random vector per colour, shape and direction."""
    grid = list(itertools.product(range(4), range(3), range(4)))
    fixed = np.random.default_rng(123)
    vectors = [fixed.normal(size=(n, 32)) for n in (4, 3, 4)]
    rng = np.random.default_rng(seed)
    tokens, facts = [], []
    for i in range(count):
        c, s, d = grid[(i + offset) % len(grid)]
        tokens.append(rng.normal(size=(16, 32)) + vectors[0][c] + vectors[1][s] + vectors[2][d])
        facts.append((COLOURS[c], SHAPES[s], DIRECTIONS[d]))
    return torch.tensor(np.stack(tokens), dtype=torch.float32), facts


def _train_pair(examples, train_tokens, steps: int, epochs: int):
    """The tiny LM built once from the texts; a resampler trained on the true and on shuffled videos."""
    lm = decoder.build_tiny_language_model(examples, prefix_length=8, seed=0, device="cpu", steps=steps)
    shuffled = np.random.default_rng(7).permutation(len(train_tokens))
    models = []
    for mapping in (np.arange(len(train_tokens)), shuffled):
        model = video_to_text(lm, video_dim=32, latents=8)
        moved = [Example(int(mapping[e.video]), e.prompt, e.target) for e in examples]
        resampler_steps = epochs * -(-len(moved) // 16)
        decoder.train_resampler(model, lambda p: train_tokens[list(p)], moved,
                                TrainSettings(resampler_steps, 16, 1e-3, 0))
        models.append(model)
    return models


def test_the_tiny_lm_is_trained_once_per_process_and_each_caller_gets_its_own_copy():
    """A run and its control build the same tiny LM: the second build is a copy of the first, equal to a fresh
    training, leaves the random generator where a fresh training leaves it, and is not shared with the first."""
    examples = [Example(i, "A video of", f"a {c} square moves left") for i, c in enumerate(COLOURS)]
    build = functools.partial(decoder.build_tiny_language_model, examples, prefix_length=4, seed=0, device="cpu")
    fresh = decoder.train_tiny_language_model(examples, prefix_length=4, seed=0, device="cpu", steps=3)
    after_training = torch.get_rng_state()
    first = build(steps=3)
    torch.manual_seed(12345)  # what other code did in between
    second = build(steps=3)
    assert torch.equal(torch.get_rng_state(), after_training)
    assert first.model is not second.model and first.info == second.info == fresh.info
    for a, b, c in zip(first.model.parameters(), second.model.parameters(), fresh.model.parameters()):
        assert torch.equal(a, b) and torch.equal(a, c)
    second.model.get_input_embeddings().weight.data.add_(1.0)  # LoRA wrapping or training would change it
    assert torch.equal(build(steps=3).model.get_input_embeddings().weight, first.model.get_input_embeddings().weight)
    other = build(steps=4)  # other settings: trained anew
    assert not torch.equal(other.model.get_input_embeddings().weight, first.model.get_input_embeddings().weight)


def test_tiny_lm_and_resampler_caption_planted_facts_far_above_a_shuffled_video_control(tmp_path):
    from vpbench.metrics.cider import cider_d  # the captions are lower-case words: PTB tokenising changes nothing

    train_tokens, train_facts = planted_features(48, seed=0)
    eval_tokens, eval_facts = planted_features(24, seed=1, offset=5)
    examples = [Example(i, "A video of", f"a {c} {s} moves {d}") for i, (c, s, d) in enumerate(train_facts)]
    trained, control = _train_pair(examples, train_tokens, steps=150, epochs=15)
    references = [[f"a {c} {s} moves {d}"] for c, s, d in eval_facts]

    def caption(model):
        return decoder.generate_texts(model, lambda p: eval_tokens[list(p)],
                                      [Example(i, "A video of") for i in range(24)], max_new_tokens=32, batch_size=8)

    captions = [caption(model) for model in (trained, control)]
    cider = [100 * cider_d(texts, references)[0] for texts in captions]
    assert cider[0] >= 250 and cider[0] >= cider[1] + 150, cider

    # Saved and reloaded as the cache keeps a corpus-trained resampler, the tiny LM and resampler caption alike.
    folder = decoder.save_tiny_language_model(trained.lm, tmp_path / "lm")
    weights = decoder.save_adapter(trained, tmp_path / "resampler.safetensors", metadata={"note": "test"})
    lm = decoder.load_tiny_language_model(folder, trained.lm.info, device="cpu")
    reloaded = decoder.load_adapter(lm, weights, decoder.decoder_settings({**SETTINGS, "latents": 8}, "x"), 32)
    assert lm.info == trained.lm.info and caption(reloaded) == captions[0]


def test_tiny_lm_and_resampler_answer_planted_questions_far_above_a_shuffled_video_control():
    from vpbench.metrics.qa import exact_match_accuracy

    train_tokens, train_facts = planted_features(48, seed=2)
    eval_tokens, eval_facts = planted_features(24, seed=3, offset=11)
    template = "question : what {} is it ? answer :"
    kinds = ("color", "shape", "way")

    def qa(facts):
        return [(i, template.format(kind), fact[k]) for i, fact in enumerate(facts) for k, kind in enumerate(kinds)]

    examples = [Example(i, q, a) for i, q, a in qa(train_facts)]
    trained, control = _train_pair(examples, train_tokens, steps=150, epochs=10)
    questions = qa(eval_facts)
    vocabulary = decoder.closed_vocabulary([a for _, _, a in qa(train_facts)], 250)
    accuracy = []
    for model in (trained, control):
        features = lambda p: eval_tokens[list(p)]  # noqa: E731
        generated = decoder.generate_texts(model, features, [Example(i, q) for i, q, _ in questions],
                                           max_new_tokens=32, batch_size=24)
        chosen = decoder.choose_answers(model, features, [Example(i, q) for i, q, _ in questions], vocabulary)
        truth = [a for _, _, a in questions]
        accuracy.append((exact_match_accuracy(generated, truth)["top1"], exact_match_accuracy(chosen, truth)["top1"]))
    (generated, chosen), (generated_control, chosen_control) = accuracy
    assert generated >= 80 and chosen >= 80, json.dumps(accuracy)
    assert generated >= generated_control + 40 and chosen >= chosen_control + 40, json.dumps(accuracy)
