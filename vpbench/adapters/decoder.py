"""Perceiver Resampler + frozen causal LM: the captioning / QA adapter of the VideoPrism paper.

The paper froze VideoPrism-B and PaLM-2 and trained only a one-layer Perceiver Resampler (256
output tokens) between them. PaLM-2 is not public, so any Hugging Face ``AutoModelForCausalLM``
stands in. The LM's weights stay frozen (LoRA through ``peft`` is an explicit, recorded option);
only the resampler learns, with the LM's loss on the target tokens alone. The LM reads
``[BOS] [resampler tokens] [prompt] [target]``; decoding is greedy.

``tiny-gpt2`` is the tiny suite's stand-in for a pretrained LM: a small GPT-2 trained here, on the
resampler's training texts only (the video-text corpus's, or in-domain the target's train split),
before the resampler is trained against it frozen (see :func:`train_tiny_language_model` for why
its pre-training puts words in a soft prefix). Both can be saved and reloaded
(:func:`save_adapter` / :func:`load_adapter`, :func:`save_tiny_language_model`), so a resampler
trained once is reused.

This module holds the modules, training and decoding; it never reads datasets, features files
or metrics, and never writes results.
"""

from __future__ import annotations

import inspect
import math
import random
from collections import Counter, OrderedDict, defaultdict
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from vpbench.errors import MissingDependencyError, RegistryError, VpbenchError

TINY_LM = "tiny-gpt2"
"""``adapter.lm`` value for a small GPT-2 built from a config and trained on the training texts."""

FeatureLoader = Callable[[Sequence[int]], Tensor]
"""``positions -> [B, N, D_video]`` float tokens (e.g. :class:`vpbench.families.common.FeatureTable`)."""


# --- the resampler ----------------------------------------------------------------------------

class ResamplerLayer(nn.Module):
    """Latents attend to [video tokens; latents] (Flamingo's Perceiver Resampler), then an MLP; pre-LN."""

    def __init__(self, dim: int, heads: int, mlp_ratio: int = 4):
        super().__init__()
        self.norm_media = nn.LayerNorm(dim)
        self.norm_latents = nn.LayerNorm(dim)
        self.attention = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.mlp = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, mlp_ratio * dim), nn.GELU(),
                                 nn.Linear(mlp_ratio * dim, dim))

    def forward(self, latents: Tensor, media: Tensor) -> Tensor:
        queries = self.norm_latents(latents)
        keys = torch.cat([self.norm_media(media), queries], dim=1)
        latents = latents + self.attention(queries, keys, keys, need_weights=False)[0]
        return latents + self.mlp(latents)


class PerceiverResampler(nn.Module):
    """``[B, N, D_video]`` frozen tokens → ``[B, latents, D_lm]`` soft prompt for the LM."""

    def __init__(self, video_dim: int, lm_dim: int, latents: int = 256, layers: int = 1, heads: int = 8):
        super().__init__()
        if video_dim % heads:
            raise RegistryError(f"adapter.heads={heads} does not divide the video feature width {video_dim}")
        self.latents = nn.Parameter(torch.randn(latents, video_dim) * video_dim ** -0.5)
        self.layers = nn.ModuleList(ResamplerLayer(video_dim, heads) for _ in range(layers))
        self.norm = nn.LayerNorm(video_dim)
        self.project = nn.Linear(video_dim, lm_dim)

    def forward(self, tokens: Tensor) -> Tensor:
        latents = self.latents.unsqueeze(0).expand(tokens.shape[0], -1, -1)
        for layer in self.layers:
            latents = layer(latents, tokens)
        return self.project(self.norm(latents))


# --- the language model -----------------------------------------------------------------------

@dataclass
class LanguageModel:
    """A frozen causal LM and its tokenizer; ``info`` says where they came from (recorded in results)."""

    model: Any
    tokenizer: Any
    info: dict[str, Any]

    @property
    def width(self) -> int:
        return self.model.get_input_embeddings().weight.shape[1]

    @property
    def dtype(self) -> torch.dtype:
        return self.model.get_input_embeddings().weight.dtype

    @property
    def eos_id(self) -> int:
        return self.tokenizer.eos_token_id

    @property
    def pad_id(self) -> int:
        return self.tokenizer.pad_token_id

    @property
    def bos_ids(self) -> list[int]:
        """The BOS token that starts every sequence, for LMs that were trained with one."""
        bos = getattr(self.tokenizer, "bos_token_id", None)
        return [] if bos is None else [bos]

    @property
    def max_positions(self) -> int | None:
        return getattr(self.model.config, "max_position_embeddings", None)

    def encode(self, texts: Sequence[str]) -> list[list[int]]:
        return [self.tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]

    def embed(self, ids: Tensor) -> Tensor:
        return self.model.get_input_embeddings()(ids)

    def decode(self, ids: Sequence[int]) -> str:
        return self.tokenizer.decode(list(ids), skip_special_tokens=True)


def load_language_model(spec: str, *, device: str, lora: dict[str, Any] | None = None) -> LanguageModel:
    """A Hugging Face causal LM and its tokenizer from a local folder or hub id, frozen.

    bf16 on a GPU, fp32 on CPU. ``lora`` (``{"r": 8, "alpha": 16, "dropout": 0.0}``) wraps the LM
    with trainable LoRA adapters through ``peft``; the LM's own weights stay frozen either way.
    Nothing is downloaded when ``HF_HUB_OFFLINE=1`` (then ``spec`` must be a folder or cached).
    """
    try:
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError:  # pragma: no cover - transformers is a declared dependency
        raise MissingDependencyError("captioning/QA need `transformers`: pip install transformers") from None
    dtype = torch.bfloat16 if str(device).startswith("cuda") else torch.float32
    try:
        tokenizer = AutoTokenizer.from_pretrained(spec)
        model = AutoModelForCausalLM.from_pretrained(spec, dtype=dtype)
    except (OSError, ValueError) as error:
        raise MissingDependencyError(
            f"causal LM '{spec}' could not be loaded ({str(error).strip().splitlines()[0]}). Pass a local folder "
            f"holding a Hugging Face causal LM and its tokenizer with --option lm=PATH (write one with "
            f"`model.save_pretrained(PATH); tokenizer.save_pretrained(PATH)`), or download it once where there "
            f"is network into the Hugging Face cache.") from None
    if tokenizer.eos_token_id is None:
        raise VpbenchError(f"causal LM '{spec}': its tokenizer defines no EOS token, so a generated text cannot end")
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    model.to(device).eval().requires_grad_(False)
    info = {"source": str(spec), "class": type(model).__name__,
            "name_or_path": getattr(model.config, "_name_or_path", None),
            "commit": getattr(model.config, "_commit_hash", None),
            "parameters": int(sum(p.numel() for p in model.parameters())),
            "vocabulary": len(tokenizer), "dtype": str(dtype).replace("torch.", ""), "lora": None}
    lm = LanguageModel(model, tokenizer, info)
    return with_lora(lm, lora) if lora else lm


def with_lora(lm: LanguageModel, settings: dict[str, Any]) -> LanguageModel:
    """The LM wrapped with trainable LoRA adapters (``peft``) on its linear layers."""
    try:
        from peft import LoraConfig, get_peft_model
    except ImportError:
        raise MissingDependencyError(
            "adapter.lora needs the `peft` package, which vpbench does not install: `pip install peft`, "
            "or set adapter.lora: false (the paper's setting: a frozen LM)") from None
    config = LoraConfig(r=int(settings.get("r", 8)), lora_alpha=int(settings.get("alpha", 16)),
                        lora_dropout=float(settings.get("dropout", 0.0)), target_modules="all-linear",
                        task_type="CAUSAL_LM")
    model = get_peft_model(lm.model, config)
    model.eval()
    info = {**lm.info, "lora": {"r": config.r, "alpha": config.lora_alpha, "dropout": config.lora_dropout,
                                "target_modules": "all-linear"}}
    return LanguageModel(model, lm.tokenizer, info)


def lm_trainable_parameters(lm: LanguageModel) -> list[nn.Parameter]:
    """LoRA parameters when the LM has them, else nothing: the LM itself is never trained."""
    return [p for name, p in lm.model.named_parameters() if "lora_" in name and p.requires_grad]


_TINY_LMS: "OrderedDict[str, tuple[LanguageModel, Any]]" = OrderedDict()
_TINY_LMS_KEPT = 2


def build_tiny_language_model(examples: Sequence["Example"], *, prefix_length: int, seed: int, device: str,
                              steps: int = 300, width: int = 128, layers: int = 2, heads: int = 4,
                              batch_size: int = 32, lr: float = 1e-3) -> LanguageModel:
    """:func:`train_tiny_language_model`, trained once per process for the same inputs: a run and
    its control (which builds the LM from the same, unshuffled texts) or six tasks on one corpus
    get a copy of the first one's LM, and the random number generator is left as training left it,
    so what follows (LoRA's initialisation) is the same as after a fresh build."""
    import copy
    import hashlib
    import json

    settings = [prefix_length, seed, device, steps, width, layers, heads, batch_size, lr]
    key = hashlib.sha256(json.dumps([settings, [[e.video, e.prompt, e.target] for e in examples]]).encode()).hexdigest()
    if key not in _TINY_LMS:
        lm = train_tiny_language_model(examples, prefix_length=prefix_length, seed=seed, device=device, steps=steps,
                                       width=width, layers=layers, heads=heads, batch_size=batch_size, lr=lr)
        _TINY_LMS[key] = (lm, _rng_state(device))
        while len(_TINY_LMS) > _TINY_LMS_KEPT:
            _TINY_LMS.popitem(last=False)
    _TINY_LMS.move_to_end(key)
    lm, state = _TINY_LMS[key]
    _set_rng_state(device, state)
    return copy.deepcopy(lm)


def _rng_state(device: str) -> tuple[Tensor, Tensor | None]:
    cuda = torch.cuda.get_rng_state(torch.device(device)) if device.startswith("cuda") else None
    return torch.get_rng_state(), cuda


def _set_rng_state(device: str, state: tuple[Tensor, Tensor | None]) -> None:
    torch.set_rng_state(state[0])
    if state[1] is not None:
        torch.cuda.set_rng_state(state[1], torch.device(device))


def train_tiny_language_model(examples: Sequence["Example"], *, prefix_length: int, seed: int, device: str,
                              steps: int = 300, width: int = 128, layers: int = 2, heads: int = 4,
                              batch_size: int = 32, lr: float = 1e-3) -> LanguageModel:
    """A 2-layer GPT-2 over the words of ``examples`` (prompt + target), pre-trained here, then frozen.

    A real LM arrives already able to use what precedes the prompt; a tiny one trained on the
    captions alone learns that nothing before "A video of" matters, and no soft prompt can then
    steer it (a resampler trained against such an LM stays at the caption prior). So each
    pre-training sequence is ``[prefix of prefix_length vectors] prompt target`` with the loss on
    the target, where the prefix holds, at random slots among noise vectors, the embeddings of the
    words that set this video's texts apart (words of its targets that occur in fewer than half of
    the training videos' texts: colour, shape, direction in the tiny suite; template words are
    left out), some of them dropped at random. The LM learns to copy facts from soft tokens,
    which is exactly what the resampler must then supply from the video. Only training texts are
    used. Width 128 and no dropout: narrower models learned the copy (pick the colour word when
    asked for a colour) only after several times more steps, or not at all.
    """
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    pre_tokenizer = pre_tokenizers.Whitespace()

    def words(text: str) -> list[str]:
        return [w for w, _ in pre_tokenizer.pre_tokenize_str(text)]

    vocabulary = sorted({w for e in examples for w in words(e.prompt) + words(e.target)})
    vocab = {"<pad>": 0, "<unk>": 1, "<eos>": 2, **{w: i + 3 for i, w in enumerate(vocabulary)}}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizer
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, pad_token="<pad>", unk_token="<unk>",
                                        eos_token="<eos>")
    longest = max(len(words(e.prompt)) + len(words(e.target)) for e in examples)
    torch.manual_seed(seed)
    config = GPT2Config(vocab_size=len(vocab), n_layer=layers, n_head=heads, n_embd=width,
                        n_positions=prefix_length + max(longest, 32) + 64, bos_token_id=None, eos_token_id=2,
                        pad_token_id=0, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)
    model = GPT2LMHeadModel(config).to(device)
    facts = _distinctive_words(examples, words)
    info = {"source": TINY_LM, "class": "GPT2LMHeadModel", "parameters": int(sum(p.numel() for p in model.parameters())),
            "vocabulary": len(vocab), "dtype": "float32", "lora": None,
            "pretraining": {"texts": len(examples), "steps": steps, "width": width, "layers": layers,
                            "prefix_length": prefix_length, "seed": seed}}
    lm = LanguageModel(model, tokenizer, info)
    fact_ids = [[vocab[w] for w in facts[e.video]] for e in examples]
    prompts = lm.encode([e.prompt for e in examples])
    targets = [t + [lm.eos_id] for t in lm.encode([" " + e.target for e in examples])]
    _pretrain_tiny(model, fact_ids, prompts, targets, prefix_length=prefix_length, steps=steps,
                   batch_size=batch_size, lr=lr, seed=seed, device=device)
    model.eval().requires_grad_(False)
    return lm


def _distinctive_words(examples: Sequence["Example"], words: Callable[[str], list[str]]) -> dict[int, list[str]]:
    """Per training video, the words of its targets found in fewer than half of the videos' targets."""
    by_video: dict[int, set[str]] = defaultdict(set)
    for e in examples:
        by_video[e.video].update(words(e.target))
    frequency = Counter(w for ws in by_video.values() for w in ws)
    return {video: sorted(w for w in ws if frequency[w] < len(by_video) / 2) for video, ws in by_video.items()}


def _pretrain_tiny(model: nn.Module, fact_ids: Sequence[list[int]], prompts: Sequence[list[int]],
                   targets: Sequence[list[int]], *, prefix_length: int, steps: int, batch_size: int, lr: float,
                   seed: int, device: str) -> None:
    """Train on ``[facts among noise | prompt | target]`` with the loss on the target tokens, as the resampler's."""
    embeddings = model.get_input_embeddings()
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=steps, pct_start=0.1)
    rng = random.Random(seed)
    model.train()
    for _ in range(steps):
        batch = [rng.randrange(len(targets)) for _ in range(batch_size)]
        ids, mask, labels = _with_labels([prompts[i] for i in batch], [targets[i] for i in batch], 0, device)
        noise_scale = float(embeddings.weight.detach().std())
        prefix = torch.randn(len(batch), prefix_length, embeddings.weight.shape[1], device=device) * noise_scale
        rows, slots, tokens = [], [], []
        for row, i in enumerate(batch):
            kept = [w for w in fact_ids[i] if rng.random() > 0.2][:prefix_length]
            rows += [row] * len(kept)
            slots += rng.sample(range(prefix_length), len(kept))
            tokens += kept
        if tokens:
            prefix = prefix.index_put((torch.tensor(rows), torch.tensor(slots)),
                                      embeddings(torch.tensor(tokens, device=device)))
        inputs = torch.cat([prefix, embeddings(ids)], dim=1)
        attention = torch.cat([torch.ones(len(batch), prefix_length, dtype=torch.long, device=device), mask], dim=1)
        labels = torch.cat([torch.full((len(batch), prefix_length), -100, device=device), labels], dim=1)
        loss = model(inputs_embeds=inputs, attention_mask=attention, labels=labels).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()


def _with_labels(prompts: Sequence[list[int]], targets: Sequence[list[int]], pad_id: int,
                 device: str | torch.device) -> tuple[Tensor, Tensor, Tensor]:
    """``prompt + target`` ids padded on the right, their mask, and labels that are -100 but on the target."""
    ids, mask = _pad([p + t for p, t in zip(prompts, targets)], pad_id, device)
    labels = torch.full_like(ids, -100)
    for row, (p, t) in enumerate(zip(prompts, targets)):
        labels[row, len(p):len(p) + len(t)] = torch.tensor(t, device=ids.device)
    return ids, mask, labels


def _pad(sequences: Sequence[Sequence[int]], pad_id: int, device: str | torch.device,
         left: bool = False) -> tuple[Tensor, Tensor]:
    """Token ids ``[B, L]`` and attention mask, padded on the right (or the left)."""
    length = max(len(s) for s in sequences)
    ids = torch.full((len(sequences), length), pad_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), length), dtype=torch.long)
    for row, seq in enumerate(sequences):
        if seq:
            span = slice(length - len(seq), length) if left else slice(0, len(seq))
            ids[row, span] = torch.tensor(list(seq), dtype=torch.long)
            mask[row, span] = 1
    return ids.to(device), mask.to(device)


# --- video → text -----------------------------------------------------------------------------

class VideoToText(nn.Module):
    """The trainable resampler in front of a frozen LM: loss, greedy generation, candidate scoring."""

    def __init__(self, lm: LanguageModel, video_dim: int, *, latents: int, layers: int, heads: int):
        super().__init__()
        self.lm = lm
        self.resampler = PerceiverResampler(video_dim, lm.width, latents=latents, layers=layers, heads=heads)
        # Start the soft prompt at the scale of the LM's own token embeddings: a prompt far louder
        # than any token the LM was trained on swamps its attention and stalls training.
        embedding_std = float(lm.model.get_input_embeddings().weight.detach().float().std())
        nn.init.normal_(self.resampler.project.weight, std=embedding_std / math.sqrt(video_dim))
        nn.init.zeros_(self.resampler.project.bias)
        self.resampler.to(lm.model.device)

    @property
    def device(self) -> torch.device:
        return self.resampler.latents.device

    def trainable_parameters(self) -> list[nn.Parameter]:
        return list(self.resampler.parameters()) + lm_trainable_parameters(self.lm)

    def _prefix(self, tokens: Tensor) -> Tensor:
        """``[B, (BOS +) latents, D_lm]``: the LM's BOS embedding (if it has one), then the soft prompt."""
        video = self.resampler(tokens.to(self.device, torch.float32)).to(self.lm.dtype)
        if not self.lm.bos_ids:
            return video
        bos = self.lm.embed(torch.tensor(self.lm.bos_ids, device=self.device)).expand(len(video), -1, -1)
        return torch.cat([bos, video], dim=1)

    def _teacher_forced(self, tokens: Tensor, prompts: Sequence[list[int]], targets: Sequence[list[int]]):
        """``[prefix | prompt | target | pad]`` embeddings, attention mask and labels (targets only)."""
        prefix = self._prefix(tokens)
        ids, mask, labels = _with_labels(prompts, targets, self.lm.pad_id, self.device)
        ones = torch.ones(prefix.shape[:2], dtype=torch.long, device=self.device)
        return (torch.cat([prefix, self.lm.embed(ids)], dim=1), torch.cat([ones, mask], dim=1),
                torch.cat([torch.full_like(ones, -100), labels], dim=1))

    def loss(self, tokens: Tensor, prompts: Sequence[list[int]], targets: Sequence[list[int]]) -> Tensor:
        """Mean LM cross-entropy over the target tokens (the video and prompt are context only)."""
        embeds, mask, labels = self._teacher_forced(tokens, prompts, targets)
        logits = self.lm.model(inputs_embeds=embeds, attention_mask=mask).logits
        return nn.functional.cross_entropy(logits[:, :-1].flatten(0, 1).float(), labels[:, 1:].flatten(),
                                           ignore_index=-100)

    @torch.no_grad()
    def generate(self, tokens: Tensor, prompts: Sequence[list[int]], max_new_tokens: int) -> list[list[int]]:
        """Greedy decoding (the paper's setting): new token ids per video, up to EOS or ``max_new_tokens``.

        An explicit argmax loop over the LM's key/value cache rather than ``model.generate``: a
        checkpoint's ``generation_config`` may ask for sampling, a repetition penalty or n-gram
        blocking, which ``generate`` would merge in; the protocol is plain greedy decoding. Prompts
        of different lengths are padded on the left, in front of the video, so every prompt's last
        token sits right before the first generated one; positions count real tokens only.
        """
        prefix = self._prefix(tokens)
        ids, mask = _pad(prompts, self.lm.pad_id, self.device, left=True)
        embeds = torch.cat([prefix, self.lm.embed(ids)], dim=1)
        attention = torch.cat([torch.ones(prefix.shape[:2], dtype=torch.long, device=self.device), mask], dim=1)
        if (mask == 0).any():  # move each row's padding to its front: [pad | prefix | prompt]
            order = torch.argsort(attention, dim=1, stable=True)
            embeds = torch.gather(embeds, 1, order.unsqueeze(-1).expand_as(embeds))
            attention = torch.gather(attention, 1, order)
        positions = (attention.cumsum(dim=1) - 1).clamp(min=0)
        logits, cache = _cached_forward(self.lm.model, None, inputs_embeds=embeds, attention_mask=attention,
                                        position_ids=positions)
        finished = torch.zeros(len(prompts), dtype=torch.bool, device=self.device)
        generated = []
        for _ in range(max_new_tokens):
            next_ids = logits[:, -1].argmax(dim=-1).masked_fill(finished, self.lm.eos_id)
            generated.append(next_ids)
            finished |= next_ids == self.lm.eos_id
            if bool(finished.all()):
                break
            attention = torch.cat([attention, torch.ones_like(attention[:, :1])], dim=1)
            positions = positions[:, -1:] + 1
            logits, cache = _cached_forward(self.lm.model, cache, input_ids=next_ids[:, None],
                                            attention_mask=attention, position_ids=positions)
        rows = torch.stack(generated, dim=1).tolist() if generated else [[] for _ in prompts]
        return [row[:row.index(self.lm.eos_id)] if self.lm.eos_id in row else row for row in rows]

    @torch.no_grad()
    def candidate_log_likelihoods(self, tokens: Tensor, prompt: list[int], candidates: Sequence[list[int]]) -> Tensor:
        """``[K]`` log p(candidate + EOS | video, prompt) for one video: closed-vocabulary QA.

        The video and prompt run once; their key/value cache is then repeated for the K
        candidates, which cost only their own few tokens (250 answers x 300 context tokens would
        otherwise be 250 full passes per question).
        """
        if tokens.shape[0] != 1:
            raise ValueError("candidate_log_likelihoods scores one video at a time")
        prefix = self._prefix(tokens)
        embeds = torch.cat([prefix, self.lm.embed(torch.tensor([prompt], device=self.device))], dim=1)
        first, cache = _cached_forward(self.lm.model, None, inputs_embeds=embeds)
        if not hasattr(cache, "batch_repeat_interleave"):
            raise VpbenchError(f"{type(self.lm.model).__name__}: its key/value cache ({type(cache).__name__}) cannot "
                               "be repeated per candidate; set adapter.closed_vocabulary: 0 for this LM")
        sequences = [list(c) + [self.lm.eos_id] for c in candidates]
        ids, mask = _pad(sequences, self.lm.pad_id, self.device)
        cache.batch_repeat_interleave(len(sequences))
        context = torch.ones((len(sequences), embeds.shape[1]), dtype=torch.long, device=self.device)
        logits, _ = _cached_forward(self.lm.model, cache, input_ids=ids, attention_mask=torch.cat([context, mask], 1))
        log_probs = torch.log_softmax(torch.cat([first[:, -1:].expand(len(sequences), -1, -1), logits[:, :-1]],
                                                dim=1).float(), dim=-1)
        picked = log_probs.gather(-1, ids.unsqueeze(-1)).squeeze(-1)
        return (picked * mask).sum(dim=1)


def _cached_forward(model: Any, cache: Any, **inputs: Tensor) -> tuple[Tensor, Any]:
    """One forward pass that reads and extends a key/value cache: (logits, cache).

    transformers 5.x names the argument and output ``cache``, 4.x ``past_key_values``; a model
    whose forward takes no ``position_ids`` derives positions from the cache itself.
    """
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    parameters = inspect.signature(base.forward).parameters
    if "position_ids" not in parameters:
        inputs.pop("position_ids", None)
    keyword = "cache" if "cache" in parameters else "past_key_values"
    out = model(**inputs, use_cache=True, **({keyword: cache} if cache is not None else {}))
    return out.logits, out[keyword]


# --- training and prediction ------------------------------------------------------------------

@dataclass(frozen=True)
class Example:
    """One training or evaluation item: which video (a feature-table position), the prompt, the target."""

    video: int
    prompt: str
    target: str = ""


@dataclass(frozen=True)
class TrainSettings:
    steps: int
    batch_size: int
    lr: float
    seed: int
    grad_clip: float = 1.0


def train_resampler(model: VideoToText, features: FeatureLoader, examples: Sequence[Example],
                    settings: TrainSettings, progress: bool = False) -> list[float]:
    """``settings.steps`` Adam steps on the resampler (and LoRA, if any); the mean loss of each pass.

    The paper names Adam and a peak learning rate (App. G); the schedule shape is not given, so the
    rate warms up over the first 10% of the steps and then anneals (one-cycle, cosine). Passes over
    the examples are reshuffled; the last may be partial. Targets end with the LM's EOS, so the
    resampler also learns where a caption or answer stops.
    """
    lm = model.lm
    prompts = lm.encode([e.prompt for e in examples])
    targets = [ids + [lm.eos_id] for ids in lm.encode([" " + e.target for e in examples])]
    _check_length(model, max(len(p) + len(t) for p, t in zip(prompts, targets)))
    parameters = model.trainable_parameters()
    optimizer = torch.optim.Adam(parameters, lr=settings.lr)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=settings.lr, total_steps=settings.steps,
                                                    pct_start=0.1)
    generator = torch.Generator().manual_seed(settings.seed)
    passes = math.ceil(settings.steps / math.ceil(len(examples) / settings.batch_size))
    history, done = [], 0
    model.resampler.train()
    for _ in _bar(range(passes), progress, "resampler", "pass"):
        order = torch.randperm(len(examples), generator=generator).tolist()
        losses = []
        for start in range(0, len(order), settings.batch_size):
            if done == settings.steps:
                break
            batch = order[start:start + settings.batch_size]
            tokens = features([examples[i].video for i in batch])
            loss = model.loss(tokens, [prompts[i] for i in batch], [targets[i] for i in batch])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(parameters, settings.grad_clip)
            optimizer.step()
            scheduler.step()
            losses.append(float(loss.detach()))
            done += 1
        history.append(float(np.mean(losses)))
    model.resampler.eval()
    return history


def _bar(iterable, enabled: bool, description: str, unit: str):
    if not enabled:
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, desc=description, unit=unit, leave=False)


def _check_length(model: VideoToText, text_tokens: int) -> None:
    limit = model.lm.max_positions
    needed = len(model.lm.bos_ids) + model.resampler.latents.shape[0] + text_tokens
    if limit is not None and needed > limit:
        raise VpbenchError(f"causal LM '{model.lm.info['source']}' takes {limit} positions; the resampler's "
                           f"{model.resampler.latents.shape[0]} tokens plus {text_tokens} text tokens need {needed} "
                           "(use fewer adapter.latents, a shorter prompt or fewer few-shot examples)")


def generate_texts(model: VideoToText, features: FeatureLoader, examples: Sequence[Example], *,
                   max_new_tokens: int, batch_size: int, progress: bool = False) -> list[str]:
    """Greedy text for each example, cut at the first line break (few-shot prompts go on with new lines)."""
    prompts = model.lm.encode([e.prompt for e in examples])
    _check_length(model, max(len(p) for p in prompts) + max_new_tokens)
    texts = []
    for start in _bar(range(0, len(examples), batch_size), progress, "generate", "batch"):
        chunk = range(start, min(start + batch_size, len(examples)))
        ids = model.generate(features([examples[i].video for i in chunk]), [prompts[i] for i in chunk],
                             max_new_tokens)
        texts += [model.lm.decode(row).split("\n")[0].strip() for row in ids]
    return texts


def choose_answers(model: VideoToText, features: FeatureLoader, examples: Sequence[Example],
                   vocabulary: Sequence[str], progress: bool = False) -> list[str]:
    """For each example, the vocabulary answer the LM finds most likely after the video and prompt."""
    candidates = model.lm.encode([" " + answer for answer in vocabulary])
    prompts = model.lm.encode([e.prompt for e in examples])
    _check_length(model, max(len(p) for p in prompts) + max(len(c) for c in candidates) + 1)
    answers = []
    for example, prompt in _bar(list(zip(examples, prompts)), progress, "closed vocabulary", "question"):
        scores = model.candidate_log_likelihoods(features([example.video]), prompt, candidates)
        answers.append(vocabulary[int(torch.argmax(scores))])
    return answers


def closed_vocabulary(answers: Sequence[str], k: int) -> list[str]:
    """The ``k`` most frequent training answers (lower-cased; ties alphabetical, so the list is stable)."""
    counts = Counter(a.strip().lower() for a in answers if a.strip())
    return [a for a, _ in sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:k]]


def few_shot_prefix(examples: Sequence[tuple[str, str]], template: str) -> str:
    """Text-only demonstrations (the paper's two-shot prompt): ``template`` + answer, one per line."""
    return "".join(f"{template.format(question=q)} {a}\n" for q, a in examples)


# --- settings and saving ----------------------------------------------------------------------

TRAIN_ON = ("corpus", "target")
"""``adapter.train_on``: the video-text corpus (the paper's zero-shot protocol) or the target's train split."""


@dataclass(frozen=True)
class DecoderSettings:
    """The ``adapter:`` section of a captioning / QA task, validated."""

    lm: str
    latents: int
    layers: int
    heads: int
    steps: int
    batch_size: int
    lr: float
    caption_prompt: str
    question_prompt: str
    max_new_tokens: int = 32
    lora: dict[str, Any] | None = None
    few_shot: int = 0
    closed_vocabulary: int = 0
    train_on: str = "corpus"
    corpus: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        return {**self.training_dict(), "type": "resampler", "max_new_tokens": self.max_new_tokens,
                "decoding": "greedy", "closed_vocabulary": self.closed_vocabulary, "train_on": self.train_on,
                "corpus": self.corpus}

    def training_dict(self) -> dict[str, Any]:
        """Every setting that changes the trained resampler (and nothing that only changes decoding)."""
        return {"lm": self.lm, "latents": self.latents, "layers": self.layers, "heads": self.heads,
                "steps": self.steps, "batch_size": self.batch_size, "lr": self.lr, "optimizer": "adam",
                "caption_prompt": self.caption_prompt, "question_prompt": self.question_prompt,
                "few_shot": self.few_shot, "lora": self.lora or False}


_INTEGER_KEYS = ("latents", "layers", "heads", "steps", "batch_size", "max_new_tokens")
_KNOWN_KEYS = {"type", "lm", "lr", "caption_prompt", "question_prompt", "decoding", "lora", "few_shot",
               "closed_vocabulary", "train_on", "corpus", *_INTEGER_KEYS}


def decoder_settings(adapter: dict[str, Any], where: str, lm_override: str | None = None) -> DecoderSettings:
    """Read and check ``adapter:``; ``lm_override`` is ``--option lm=...`` (it wins over ``adapter.lm``)."""
    unknown = sorted(set(adapter) - _KNOWN_KEYS)
    if unknown:
        raise RegistryError(f"{where}: unknown key(s) {unknown}; known: {sorted(_KNOWN_KEYS)}")
    if adapter.get("type", "resampler") != "resampler":
        raise RegistryError(f"{where}.type is {adapter['type']!r}; the captioning/QA families take 'resampler'")
    if adapter.get("decoding", "greedy") != "greedy":
        raise RegistryError(f"{where}.decoding is {adapter['decoding']!r}; only 'greedy' (the paper's) is implemented")
    values: dict[str, Any] = {}
    for key in _INTEGER_KEYS:
        value = adapter.get(key, 32 if key == "max_new_tokens" else None)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise RegistryError(f"{where}.{key} must be a positive integer, got {value!r}")
        values[key] = value
    for key in ("few_shot", "closed_vocabulary"):
        value = adapter.get(key, 0)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise RegistryError(f"{where}.{key} must be a non-negative integer, got {value!r}")
        values[key] = value
    lr = adapter.get("lr")
    if not isinstance(lr, (int, float)) or isinstance(lr, bool) or lr <= 0:
        raise RegistryError(f"{where}.lr must be a positive number, got {lr!r}")
    lm = lm_override or adapter.get("lm")
    if not isinstance(lm, str) or not lm:
        raise RegistryError(f"{where}.lm must name a causal LM (hub id, folder, or '{TINY_LM}'), got {lm!r}")
    for key in ("caption_prompt", "question_prompt"):
        if not isinstance(adapter.get(key), str):
            raise RegistryError(f"{where}.{key} must be a string, got {adapter.get(key)!r}")
    if "{question}" not in adapter["question_prompt"]:
        raise RegistryError(f"{where}.question_prompt {adapter['question_prompt']!r} must contain '{{question}}'")
    lora = adapter.get("lora", False)
    if lora is True:
        lora = {"r": 8, "alpha": 16, "dropout": 0.0}
    if lora is not False and not isinstance(lora, dict):
        raise RegistryError(f"{where}.lora must be false, true or {{r, alpha, dropout}}, got {lora!r}")
    train_on = adapter.get("train_on", "corpus")
    if train_on not in TRAIN_ON:
        raise RegistryError(f"{where}.train_on is {train_on!r}; expected one of {list(TRAIN_ON)}")
    corpus = adapter.get("corpus")
    if train_on == "corpus" and not isinstance(corpus, dict):
        raise RegistryError(f"{where}.corpus must describe the video-text corpus the resampler trains on "
                            f"(root, captions, videos, vqa), got {corpus!r}")
    return DecoderSettings(lm=lm, lr=float(lr), caption_prompt=adapter["caption_prompt"],
                           question_prompt=adapter["question_prompt"], lora=lora or None, train_on=train_on,
                           corpus=corpus, **values)


def build_language_model(settings: DecoderSettings, training: Sequence[Example], *, seed: int,
                         device: str) -> LanguageModel:
    """The LM ``settings.lm`` names: a Hugging Face causal LM, or the tiny one trained on ``training``."""
    if settings.lm == TINY_LM:
        lm = build_tiny_language_model(training, prefix_length=settings.latents, seed=seed, device=device)
        return with_lora(lm, settings.lora) if settings.lora else lm
    return load_language_model(settings.lm, device=device, lora=settings.lora)


def fit_decoder(settings: DecoderSettings, features: FeatureLoader, video_dim: int, examples: Sequence[Example], *,
                seed: int, device: str, shuffle_videos: bool = False, progress: bool = False,
                lm: LanguageModel | None = None) -> tuple[VideoToText, dict[str, Any]]:
    """Build the LM (unless given), then train a fresh resampler against it; the model and what to record.

    ``shuffle_videos`` is the control run: each training video's texts go to another (seeded)
    video, so the resampler can learn nothing about the pixels; the tiny LM is still built from
    the unshuffled texts (its pre-training never sees a video).
    """
    lm = lm or build_language_model(settings, examples, seed=seed, device=device)
    torch.manual_seed(seed)
    model = VideoToText(lm, video_dim, latents=settings.latents, layers=settings.layers, heads=settings.heads)
    if shuffle_videos:
        permutation = np.random.default_rng([seed, 31337]).permutation(max(e.video for e in examples) + 1)
        examples = [replace(e, video=int(permutation[e.video])) for e in examples]
    losses = train_resampler(model, features, examples, TrainSettings(settings.steps, settings.batch_size,
                                                                      settings.lr, seed), progress=progress)
    return model, {"lm": lm.info, "train_examples": len(examples), "train_loss_by_pass": [round(v, 5) for v in losses]}


def save_adapter(model: VideoToText, path: Path, metadata: dict[str, Any] | None = None) -> Path:
    """The trained weights (resampler, and LoRA if any) as safetensors, never pickle; ``metadata``
    (JSON) goes into the file's header."""
    import json

    from safetensors.torch import save

    from vpbench.atomic import atomic_write_bytes

    tensors = {f"resampler.{k}": v.detach().contiguous().cpu() for k, v in model.resampler.state_dict().items()}
    tensors.update({f"lm.{name}": p.detach().contiguous().cpu() for name, p in model.lm.model.named_parameters()
                    if "lora_" in name})
    header = {"record": json.dumps(metadata, default=str)} if metadata is not None else None
    return atomic_write_bytes(path, save(tensors, metadata=header))


def load_adapter(lm: LanguageModel, path: Path, settings: DecoderSettings, video_dim: int) -> VideoToText:
    """A resampler saved by :func:`save_adapter`, in front of ``lm`` (whose LoRA weights it restores)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        tensors = load_file(str(path))
    except (OSError, SafetensorError) as error:
        raise VpbenchError(f"{path}: not a readable resampler file ({error})") from None
    model = VideoToText(lm, video_dim, latents=settings.latents, layers=settings.layers, heads=settings.heads)
    resampler = {k[len("resampler."):]: v for k, v in tensors.items() if k.startswith("resampler.")}
    lora = {k[len("lm."):]: v for k, v in tensors.items() if k.startswith("lm.")}
    try:
        model.resampler.load_state_dict(resampler)
        if lora:
            missing = set(lora) - {name for name, _ in lm.model.named_parameters()}
            if missing:
                raise RuntimeError(f"LoRA weights {sorted(missing)[:3]} do not exist in the LM")
            lm.model.load_state_dict(lora, strict=False)
    except RuntimeError as error:
        raise VpbenchError(f"{path}: the saved resampler does not fit these settings ({str(error).splitlines()[0]})") \
            from None
    model.resampler.to(lm.model.device).eval()
    return model


def save_tiny_language_model(lm: LanguageModel, folder: Path) -> Path:
    """The tiny LM as a Hugging Face folder (safetensors weights, tokenizer JSON), reloadable offline."""
    lm.model.save_pretrained(folder)
    lm.tokenizer.save_pretrained(folder)
    return folder


def load_tiny_language_model(folder: Path, info: dict[str, Any], *, device: str) -> LanguageModel:
    """A tiny LM saved by :func:`save_tiny_language_model`; ``info`` is what was recorded when it was built."""
    loaded = load_language_model(str(folder), device=device)
    return LanguageModel(loaded.model, loaded.tokenizer, dict(info))
