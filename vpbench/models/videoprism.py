"""VideoPrism in PyTorch: the factorized video encoder, the LvT video-text model, the classifier.

This module holds only the math of the official JAX/Flax model (google-deepmind/videoprism,
``encoders.py`` and ``layers.py``), written so that an official checkpoint reproduces the
official outputs to float32 rounding. It must never read checkpoint files or know hub names
(``checkpoint.py`` and ``zoo.py`` do that), and it must never take a fast path that changes
numbers: the attention logit cap ``cap * tanh(x / cap)`` comes before masking, and masking
*replaces* logits (a fully masked row becomes uniform attention, not NaN), so plain
``scaled_dot_product_attention`` is used only where neither applies (the poolers).

Video input everywhere is ``[B, T, H, W, 3]`` float in [0, 1]; tokens come out time-major
(index ``t * h * w + n``), the layout of the official encoder. Each model also implements
vpbench's encoder interface (:class:`vpbench.models.encoder.VideoEncoder`: ``card``,
``video_tokens``, ``video_embedding``, ``encode_text``) on top of ``encode_video``, without
changing a number.
"""

from __future__ import annotations

import contextlib
import functools
import math
import warnings
from typing import Any, Callable, Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vpbench.models.config import AttentionBackend, Precision, VideoPrismConfig
from vpbench.models.encoder import EncoderCard, Preprocessing, unsupported, weights_fingerprint


_LN_EPSILON = 1e-6
# The official masks replace a masked logit by this value (layers._get_large_negative_number).
_MASKED_LOGIT = -0.7 * float(np.finfo(np.float32).max)
# FlexAttention multiplies scores by log2(e) inside its kernel; -0.7*max would overflow to -inf
# there and turn a fully masked row into NaN/zeros. Any finite value whose exp underflows to
# exactly 0 next to a real logit (|capped logit| <= cap) gives the same probabilities, uniform
# rows included; fp16 needs one it can represent.
_FLEX_MASKED_LOGIT = {torch.float16: -3e4}
_FLEX_MASKED_LOGIT_DEFAULT = -1e30
# Query chunking bound for the math path: keeps the [B, heads, q, k] logits under ~256 MiB.
_MATH_LOGITS_BUDGET_ELEMENTS = 64 * 1024 * 1024
# 1 / softplus(0), as hard-coded by the official PerDimScale.
_R_SOFTPLUS_0 = 1.442695041


# --------------------------------------------------------------------------------------------
# Attention


def _flex_attention() -> Callable[..., Tensor] | None:
    try:
        from torch.nn.attention.flex_attention import flex_attention
    except ImportError:  # pragma: no cover - torch without FlexAttention
        return None
    return flex_attention


_FLEX_FAILURES: list[str] = []  # set once the compiled FlexAttention path has failed in this process


@functools.cache
def _compiled_flex_attention() -> Callable[..., Tensor]:
    # FlexAttention is only fused when compiled; eager mode runs a reference implementation.
    return torch.compile(_flex_attention())


def _math_attention(q: Tensor, k: Tensor, v: Tensor, logit_cap: float, allowed: Tensor | None) -> Tensor:
    """Reference attention in the official order: logits, cap, replace masked, fp32 softmax."""
    num_queries = q.shape[-2]
    per_query = q.shape[0] * q.shape[1] * k.shape[-2]
    chunk = max(1, _MATH_LOGITS_BUDGET_ELEMENTS // max(per_query, 1))
    outputs = []
    for start in range(0, num_queries, chunk):
        q_chunk = q[..., start : start + chunk, :]
        logits = torch.matmul(q_chunk, k.transpose(-1, -2)).float()
        if logit_cap > 0:
            logits = logit_cap * torch.tanh(logits / logit_cap)
        if allowed is not None:
            mask = allowed if allowed.shape[-2] == 1 else allowed[..., start : start + chunk, :]
            logits = logits.masked_fill(~mask, _MASKED_LOGIT)
        probs = torch.softmax(logits, dim=-1).to(v.dtype)
        outputs.append(torch.matmul(probs, v))
    return outputs[0] if len(outputs) == 1 else torch.cat(outputs, dim=-2)


def _flex_score_attention(q: Tensor, k: Tensor, v: Tensor, logit_cap: float, allowed: Tensor | None) -> Tensor:
    """Same semantics as ``_math_attention`` through FlexAttention's score_mod (fused on GPU).

    Masking stays a score replacement (not a block mask) so that fully masked rows keep the
    official uniform attention.
    """
    batch, _, num_queries, _ = q.shape
    dense_allowed = None
    if allowed is not None:
        dense_allowed = allowed.expand(batch, 1, num_queries, k.shape[-2])[:, 0].contiguous()
    masked_logit = _FLEX_MASKED_LOGIT.get(q.dtype, _FLEX_MASKED_LOGIT_DEFAULT)

    def score_mod(score: Tensor, b: Tensor, h: Tensor, q_idx: Tensor, kv_idx: Tensor) -> Tensor:
        if logit_cap > 0:
            score = logit_cap * torch.tanh(score / logit_cap)
        if dense_allowed is not None:
            score = torch.where(dense_allowed[b, q_idx, kv_idx], score, masked_logit)
        return score

    flex = _compiled_flex_attention() if q.is_cuda else _flex_attention()
    return flex(q, k, v, score_mod=score_mod, scale=1.0)


def attention(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    *,
    logit_cap: float,
    allowed: Tensor | None = None,
    backend: AttentionBackend = "auto",
) -> Tensor:
    """Multi-head attention with the official logit cap and masking.

    ``q``, ``k``, ``v`` are ``[B, heads, L, head_dim]`` with the query already scaled;
    ``allowed`` is a bool mask broadcastable to ``[B, 1, Lq, Lk]`` (True = may attend).
    ``auto`` uses compiled FlexAttention on CUDA (falling back to math, with a warning, if it
    fails to compile) and the chunked math path elsewhere.
    """
    if logit_cap <= 0 and allowed is None:
        return F.scaled_dot_product_attention(q, k, v, scale=1.0)
    if backend == "auto":
        if not (q.is_cuda and _flex_attention() is not None and not _FLEX_FAILURES):
            return _math_attention(q, k, v, logit_cap, allowed)
        try:
            return _flex_score_attention(q, k, v, logit_cap, allowed)
        except Exception as exc:  # a compiler failure must cost speed, not the run; said once, loudly
            _FLEX_FAILURES.append(repr(exc))
            warnings.warn(
                f"FlexAttention failed ({exc!r}); using the math attention path from now on "
                "(same numbers, slower). Pass attention='math' to silence this.",
                RuntimeWarning,
                stacklevel=2,
            )
            return _math_attention(q, k, v, logit_cap, allowed)
    if backend == "flex":
        return _flex_score_attention(q, k, v, logit_cap, allowed)
    if backend == "math":
        return _math_attention(q, k, v, logit_cap, allowed)
    raise ValueError(f"unknown attention backend {backend!r}; expected auto, math or flex")


# --------------------------------------------------------------------------------------------
# Layers


class LayerNorm(nn.Module):
    """Official LayerNorm: eps 1e-6, biased variance, gain stored as an offset (``1 + scale``)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.zeros(dim))
        self.bias = nn.Parameter(torch.zeros(dim))

    def forward(self, x: Tensor) -> Tensor:
        return F.layer_norm(x, x.shape[-1:], 1.0 + self.scale, self.bias, _LN_EPSILON)


class SelfAttention(nn.Module):
    """Self-attention with a query scale of ``head_dim ** -0.5`` and no per-dim scale."""

    def __init__(self, dim: int, num_heads: int, logit_cap: float) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.logit_cap = logit_cap
        self.backend: AttentionBackend = "auto"
        self.qkv = nn.Linear(dim, 3 * dim)  # query, key, value fused: one GEMM
        self.post = nn.Linear(dim, dim)

    def forward(self, x: Tensor, allowed: Tensor | None) -> Tensor:
        batch, length, dim = x.shape
        qkv = self.qkv(x).view(batch, length, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        q = q * self.head_dim**-0.5
        out = attention(q, k, v, logit_cap=self.logit_cap, allowed=allowed, backend=self.backend)
        return self.post(out.transpose(1, 2).reshape(batch, length, dim))


class FeedForward(nn.Module):
    """Pre-LN FFN block with its residual; padded positions get no FFN update (official)."""

    def __init__(self, dim: int, hidden_dim: int, activation: Callable[[Tensor], Tensor]) -> None:
        super().__init__()
        self.layer_norm = LayerNorm(dim)
        self.ffn_layer1 = nn.Linear(dim, hidden_dim)
        self.ffn_layer2 = nn.Linear(hidden_dim, dim)
        self.activation = activation

    def forward(self, x: Tensor, keep: Tensor | None) -> Tensor:
        hidden = self.activation(self.ffn_layer1(self.layer_norm(x)))
        if keep is not None:
            hidden = hidden * keep.to(hidden.dtype)
        out = self.ffn_layer2(hidden)
        if keep is not None:
            out = out * keep.to(out.dtype)
        return x + out


class TransformerLayer(nn.Module):
    def __init__(
        self, dim: int, num_heads: int, mlp_dim: int, activation: Callable[[Tensor], Tensor], logit_cap: float
    ) -> None:
        super().__init__()
        self.layer_norm = LayerNorm(dim)
        self.self_attention = SelfAttention(dim, num_heads, logit_cap)
        self.ff_layer = FeedForward(dim, mlp_dim, activation)

    def forward(self, x: Tensor, allowed: Tensor | None, keep: Tensor | None) -> Tensor:
        x = x + self.self_attention(self.layer_norm(x), allowed)
        return self.ff_layer(x, keep)


def _exact_gelu(x: Tensor) -> Tensor:
    return F.gelu(x, approximate="none")


class TransformerStack(nn.Module):
    """A stack of pre-LN layers with no final LN (the callers apply their own).

    ``paddings`` ([B, L], 1 = padded) mask padded keys. In a causal stack the official mask
    merge also masks padded *queries* entirely, so those rows become uniform attention.
    """

    def __init__(
        self,
        num_layers: int,
        dim: int,
        num_heads: int,
        mlp_dim: int,
        activation: Callable[[Tensor], Tensor],
        logit_cap: float,
        causal: bool = False,
    ) -> None:
        super().__init__()
        self.causal = causal
        self.layers = nn.ModuleList(
            TransformerLayer(dim, num_heads, mlp_dim, activation, logit_cap) for _ in range(num_layers)
        )

    def forward(self, x: Tensor, paddings: Tensor | None = None) -> Tensor:
        allowed = self._allowed(x.shape[1], paddings, x.device)
        keep = None if paddings is None else (1.0 - paddings.float()).unsqueeze(-1)
        for layer in self.layers:
            x = layer(x, allowed, keep)
        return x

    def _allowed(self, length: int, paddings: Tensor | None, device: torch.device) -> Tensor | None:
        allowed = None
        if paddings is not None:
            valid = paddings < 0.5
            allowed = valid[:, None, None, :]
            if self.causal:
                allowed = allowed & valid[:, None, :, None]
        if self.causal:
            causal = torch.ones(length, length, dtype=torch.bool, device=device).tril()[None, None]
            allowed = causal if allowed is None else allowed & causal
        return allowed


class PoolingAttention(nn.Module):
    """Attention of the pooler: learned per-dim query scale, no logit cap, no mask."""

    def __init__(self, dim: int, hidden_dim: int, num_heads: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = hidden_dim // num_heads
        self.query = nn.Linear(dim, hidden_dim)
        self.key_value = nn.Linear(dim, 2 * hidden_dim)
        self.per_dim_scale = nn.Parameter(torch.zeros(self.head_dim))
        self.post = nn.Linear(hidden_dim, dim)

    def forward(self, queries: Tensor, tokens: Tensor) -> Tensor:
        batch, length, _ = tokens.shape
        num_queries = queries.shape[0]
        q = self.query(queries).view(1, num_queries, self.num_heads, self.head_dim).transpose(1, 2)
        scale = _R_SOFTPLUS_0 / math.sqrt(self.head_dim) * F.softplus(self.per_dim_scale.float())
        q = (q.float() * scale).to(q.dtype).expand(batch, -1, -1, -1)
        kv = self.key_value(tokens).view(batch, length, 2, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        k, v = kv.unbind(0)
        out = F.scaled_dot_product_attention(q.to(k.dtype), k, v, scale=1.0)
        return self.post(out.transpose(1, 2).reshape(batch, num_queries, -1))


class AttentionPooler(nn.Module):
    """Official ``AttenTokenPoolingLayer`` with one query: [B, L, D] -> [B, 1, D], no residual."""

    def __init__(self, dim: int, hidden_dim: int, num_heads: int) -> None:
        super().__init__()
        self.pooling_attention_query = nn.Parameter(torch.zeros(1, dim))
        self.pooling_attention = PoolingAttention(dim, hidden_dim, num_heads)
        self.pooling_attention_layer_norm = LayerNorm(dim)

    def forward(self, tokens: Tensor) -> Tensor:
        pooled = self.pooling_attention(self.pooling_attention_query, tokens)
        return self.pooling_attention_layer_norm(pooled)


# --------------------------------------------------------------------------------------------
# Positional embeddings


def _resize_matrix(in_size: int, out_size: int, device: torch.device) -> Tensor:
    """[out, in] weights of ``jax.image.resize(method='bilinear')`` along one axis.

    A triangle filter on half-pixel centres, widened by the scale factor when downsampling
    (anti-aliasing) and renormalised at the borders, as ``jax.image.scale_and_translate`` does.
    Built here rather than through ``F.interpolate(antialias=True)``, whose CPU path is wrong
    for an input of width 1 in some torch versions.
    """
    inv_scale = in_size / out_size
    kernel_scale = max(inv_scale, 1.0)
    sample = (torch.arange(out_size, dtype=torch.float64, device=device) + 0.5) * inv_scale - 0.5
    source = torch.arange(in_size, dtype=torch.float64, device=device)
    weights = (1.0 - (sample[:, None] - source[None, :]).abs() / kernel_scale).clamp(min=0.0)
    total = weights.sum(dim=1, keepdim=True)
    weights = torch.where(total.abs() > 1000 * float(np.finfo(np.float32).eps), weights / total, 0.0)
    inside = (sample >= -0.5) & (sample <= in_size - 0.5)
    return (weights * inside[:, None]).float()


def resize_temporal_pos_emb(table: Tensor, num_frames: int) -> Tensor:
    """Resize a [T0, D] table to [num_frames, D] (identity when the length already matches)."""
    if table.shape[0] == num_frames:
        return table
    return _resize_matrix(table.shape[0], num_frames, table.device).to(table.dtype) @ table


def resize_spatial_pos_emb(table: Tensor, source_grid: tuple[int, int], target_grid: tuple[int, int]) -> Tensor:
    """Resize a row-major [rows*cols, D] table to the target grid, separably per axis."""
    if tuple(source_grid) == tuple(target_grid):
        return table
    rows, cols = source_grid
    out_rows, out_cols = target_grid
    grid = table.reshape(rows, cols, -1)
    row_weights = _resize_matrix(rows, out_rows, table.device).to(table.dtype)
    col_weights = _resize_matrix(cols, out_cols, table.device).to(table.dtype)
    resized = torch.einsum("ir,jc,rcd->ijd", row_weights, col_weights, grid)
    return resized.reshape(out_rows * out_cols, -1)


def sinusoidal_position_embedding(length: int, dim: int, device: torch.device | None = None) -> Tensor:
    """[1, length, dim] fixed text position embedding: concat[sin, cos] (not interleaved)."""
    num_timescales = dim // 2
    log_increment = math.log(10_000.0) / max(num_timescales - 1, 1)
    inv_timescales = torch.exp(torch.arange(num_timescales, dtype=torch.float32, device=device) * -log_increment)
    scaled = torch.arange(length, dtype=torch.float32, device=device)[:, None] * inv_timescales[None, :]
    emb = torch.cat([torch.sin(scaled), torch.cos(scaled)], dim=-1)
    return F.pad(emb, (0, dim % 2))[None]


# --------------------------------------------------------------------------------------------
# Encoders


def _check_video(video: Tensor, patch_size: int) -> None:
    if video.ndim != 5 or video.shape[-1] != 3:
        raise ValueError(f"video must be [B, T, H, W, 3] float in [0, 1], got shape {tuple(video.shape)}")
    if not video.is_floating_point():
        raise ValueError(f"video must be a float tensor in [0, 1], got dtype {video.dtype}")
    height, width = video.shape[2:4]
    if height % patch_size or width % patch_size:
        raise ValueError(f"frame size {height}x{width} is not a multiple of the patch size {patch_size}")


def _check_frame_paddings(frame_paddings: Tensor | None, batch: int, frames: int) -> None:
    if frame_paddings is not None and tuple(frame_paddings.shape) != (batch, frames):
        raise ValueError(f"frame_paddings must be [B, T] = [{batch}, {frames}], got {tuple(frame_paddings.shape)}")


class FactorizedEncoder(nn.Module):
    """ViViT model-2 encoder: a spatial ViT per frame, then a temporal transformer per patch."""

    def __init__(self, config: VideoPrismConfig) -> None:
        super().__init__()
        dim, patch = config.model_dim, config.patch_size
        frames, rows, cols = config.pos_emb_shape
        self.patch_size = patch
        self.pos_grid = (rows, cols)
        self.patch_projection = nn.Linear(patch * patch * 3, dim)
        self.spatial_pos_emb = nn.Parameter(torch.zeros(rows * cols, dim))
        self.temporal_pos_emb = nn.Parameter(torch.zeros(frames, dim))
        stack = functools.partial(
            TransformerStack,
            dim=dim,
            num_heads=config.num_heads,
            mlp_dim=config.mlp_dim,
            activation=_exact_gelu,
            logit_cap=config.atten_logit_cap,
        )
        self.spatial_encoder = stack(config.num_spatial_layers)
        self.spatial_ln = LayerNorm(dim)
        self.temporal_encoder = stack(config.num_temporal_layers)
        self.temporal_ln = LayerNorm(dim)

    def token_grid(self, num_frames: int, height: int, width: int) -> tuple[int, int, int]:
        """(T, h, w) of the output tokens for a clip of that many frames and that frame size."""
        return num_frames, height // self.patch_size, width // self.patch_size

    def _patchify(self, video: Tensor) -> Tensor:
        """[B, T, H, W, 3] -> [B*T, h*w, P*P*3], patches row-major, values (row, col, channel)."""
        batch, frames, height, width, channels = video.shape
        patch = self.patch_size
        rows, cols = height // patch, width // patch
        patches = video.reshape(batch * frames, rows, patch, cols, patch, channels)
        return patches.permute(0, 1, 3, 2, 4, 5).reshape(batch * frames, rows * cols, patch * patch * channels)

    def forward(self, video: Tensor, frame_paddings: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Returns (tokens, spatial_features), both [B, T*h*w, D] time-major."""
        _check_video(video, self.patch_size)
        batch, frames, height, width, _ = video.shape
        _check_frame_paddings(frame_paddings, batch, frames)
        _, rows, cols = self.token_grid(frames, height, width)
        num_patches = rows * cols

        # The residual stream stays float32 under autocast; only the matmuls drop precision.
        x = self.patch_projection(self._patchify(video)).float()  # [B*T, N, D]
        x = x + resize_spatial_pos_emb(self.spatial_pos_emb, self.pos_grid, (rows, cols))

        spatial_paddings = temporal_paddings = None
        if frame_paddings is not None:
            frame_paddings = frame_paddings.to(device=video.device, dtype=torch.float32)
            spatial_paddings = frame_paddings.reshape(batch * frames, 1).expand(-1, num_patches)
            temporal_paddings = frame_paddings[:, None, :].expand(batch, num_patches, frames).reshape(-1, frames)

        x = self.spatial_ln(self.spatial_encoder(x, spatial_paddings))
        dim = x.shape[-1]
        spatial_features = x.reshape(batch, frames * num_patches, dim)

        x = x.reshape(batch, frames, num_patches, dim).transpose(1, 2).reshape(batch * num_patches, frames, dim)
        x = x + resize_temporal_pos_emb(self.temporal_pos_emb, frames)
        x = self.temporal_ln(self.temporal_encoder(x, temporal_paddings))
        tokens = x.reshape(batch, num_patches, frames, dim).transpose(1, 2).reshape(batch, frames * num_patches, dim)
        return tokens, spatial_features


class ScaledEmbedding(nn.Embedding):
    """Token embedding multiplied by sqrt(dim), as the official text encoder does."""

    def forward(self, ids: Tensor) -> Tensor:
        if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= self.num_embeddings):
            raise ValueError(
                f"token ids must lie in [0, {self.num_embeddings}), got [{int(ids.min())}, {int(ids.max())}]: "
                "was the text tokenised with this model's vocabulary?"
            )
        return super().forward(ids) * math.sqrt(self.embedding_dim)


class TextEncoder(nn.Module):
    """CoCa-style causal text encoder with a class token appended after the last position."""

    def __init__(self, config: VideoPrismConfig) -> None:
        super().__init__()
        dim = config.model_dim
        self.token_emb = ScaledEmbedding(config.vocabulary_size, dim)
        self.cls_emb = nn.Parameter(torch.zeros(1, 1, dim))
        self.unimodal_transformer = TransformerStack(
            config.num_unimodal_layers,
            dim,
            config.num_heads,
            4 * dim,  # the official LvT fixes the text FFN at 4*D whatever mlp_dim is
            F.relu,
            config.atten_logit_cap,
            causal=True,
        )
        self.unimodal_ln = LayerNorm(dim)

    def forward(self, token_ids: Tensor, paddings: Tensor) -> Tensor:
        """[B, L] ids and paddings (1 = pad) -> [B, L+1, D]; the last position is the class token."""
        batch, length = token_ids.shape
        dim = self.cls_emb.shape[-1]
        x = self.token_emb(token_ids) + sinusoidal_position_embedding(length, dim, token_ids.device)
        cls = (self.cls_emb * math.sqrt(dim)).expand(batch, -1, -1)
        x = torch.cat([x, cls], dim=1)
        paddings = torch.cat([paddings.float(), paddings.new_zeros(batch, 1, dtype=torch.float32)], dim=1)
        return self.unimodal_ln(self.unimodal_transformer(x, paddings))


def l2_normalize(x: Tensor) -> Tensor:
    """``x / sqrt(sum(x^2) + 1e-12)`` in float32, as the official ``_l2_normalize``."""
    x = x.float()
    return x / torch.sqrt((x * x).sum(dim=-1, keepdim=True) + 1e-12)


# --------------------------------------------------------------------------------------------
# Models

PREPROCESSING = Preprocessing(
    source="VideoPrism: RGB in [0, 1] without normalisation (google-deepmind/videoprism README); any frame "
           "count and any frame size divisible by the patch (position tables resized), so the task's sampling")


class _VideoPrismModel(nn.Module):
    """What every model exposes to the rest of vpbench: sizes, precision, attention backend, its card."""

    outputs: tuple[str, ...] = ("tokens",)

    def __init__(self, config: VideoPrismConfig) -> None:
        super().__init__()
        self.config = config
        self.precision: Precision = "fp32"
        self.checkpoint_sha256: str | None = None  # set by the loader; feature caches key on it

    @property
    def card(self) -> EncoderCard:
        """What this model states about itself (computed on access: precision can change)."""
        config = self.config
        return EncoderCard(
            backend="videoprism", embed_dim=config.model_dim, patch_px=config.patch_size, preprocessing=PREPROCESSING,
            outputs=self.outputs, text=isinstance(self, VideoPrismLvT), checkpoint_sha256=self.checkpoint_sha256,
            weights=weights_fingerprint(self), precision=self.precision,
            text_vocab_size=config.vocabulary_size or None, details={"model_type": config.model_type})

    def _grid(self, tokens: Tensor, video: Tensor) -> Tensor:
        """[B, T*h*w, D] time-major tokens -> [B, T, h, w, D] (a view: same numbers)."""
        batch, frames, height, width = video.shape[:4]
        return tokens.reshape(batch, frames, height // self.patch_size, width // self.patch_size, tokens.shape[-1])

    def video_tokens(self, video: Tensor, **kwargs: Any) -> Tensor:
        return self._grid(self.encode_video(video, **kwargs), video)

    def video_embedding(self, video: Tensor) -> Tensor:
        raise unsupported(self.card, "video embedding (use videoprism-lvt-b/-l for one)")

    def encode_text(self, token_ids: Any, paddings: Any) -> Tensor:
        raise unsupported(self.card, "text tower (use videoprism-lvt-b/-l, or a LiT tower: --option text_tower=lit)")

    def text_tokenizer(self, max_length: int) -> None:
        """None: the task picks the SentencePiece vocabulary (``c4_en`` for the released LvT models)."""
        return None

    @property
    def num_frames(self) -> int:
        return self.config.num_frames

    @property
    def image_size(self) -> int:
        return self.config.image_size

    @property
    def patch_size(self) -> int:
        return self.config.patch_size

    @property
    def embed_dim(self) -> int:
        return self.config.model_dim

    def token_grid(self, num_frames: int | None = None, image_size: int | None = None) -> tuple[int, int, int]:
        """(T, h, w) of the encoder tokens; defaults to the native clip (e.g. 16, 16, 16)."""
        num_frames = self.num_frames if num_frames is None else num_frames
        image_size = self.image_size if image_size is None else image_size
        return num_frames, image_size // self.patch_size, image_size // self.patch_size

    def set_attention_backend(self, backend: AttentionBackend) -> None:
        """``math`` (reference), ``flex`` (FlexAttention score_mod, fused on CUDA) or ``auto``."""
        if backend not in ("auto", "math", "flex"):
            raise ValueError(f"unknown attention backend {backend!r}; expected auto, math or flex")
        for module in self.modules():
            if isinstance(module, SelfAttention):
                module.backend = backend

    def set_precision(self, precision: Precision) -> None:
        """fp32 is the reference; bf16/fp16 run matmuls under autocast (LN and softmax stay fp32)."""
        if precision not in ("fp32", "bf16", "fp16"):
            raise ValueError(f"unknown precision {precision!r}; expected fp32, bf16 or fp16")
        self.precision = precision

    @contextlib.contextmanager
    def _inference(self, device: torch.device) -> Iterator[None]:
        dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(self.precision)
        with torch.no_grad(), torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            yield

    def _as_input(self, video: Any) -> Tensor:
        video = torch.as_tensor(video)
        if not video.is_floating_point():
            raise ValueError(f"video must be float in [0, 1], got dtype {video.dtype} (uint8 frames: divide by 255)")
        return video.to(device=next(self.parameters()).device, dtype=torch.float32)


class VideoPrismEncoder(_VideoPrismModel):
    """The released video encoder (``videoprism_public_v1_{base,large}``)."""

    def __init__(self, config: VideoPrismConfig) -> None:
        super().__init__(config)
        self.encoder = FactorizedEncoder(config)

    def forward(self, video: Tensor, frame_paddings: Tensor | None = None) -> tuple[Tensor, Tensor]:
        return self.encoder(video, frame_paddings)

    def encode_video(
        self, video: Tensor, frame_paddings: Tensor | None = None, *, return_intermediate: bool = False
    ) -> Tensor | dict[str, Tensor]:
        """Tokens [B, T*h*w, D] (time-major), in float32, without gradients.

        With ``return_intermediate`` a dict: ``embeddings`` (the tokens) and ``spatial_features``
        (after the spatial stack and its LN, before the temporal position embedding).
        """
        video = self._as_input(video)
        with self._inference(video.device):
            tokens, spatial = self(video, frame_paddings)
        if return_intermediate:
            return {"embeddings": tokens.float(), "spatial_features": spatial.float()}
        return tokens.float()


class VideoPrismLvT(_VideoPrismModel):
    """The LvT video-text model (``FactorizedVideoCLIP``): contrastive video and text embeddings."""

    outputs = ("embedding", "tokens")

    def __init__(self, config: VideoPrismConfig) -> None:
        super().__init__(config)
        dim = config.model_dim
        self.vision_encoder = FactorizedEncoder(config)
        self.auxiliary_encoder = (
            TransformerStack(
                config.num_auxiliary_layers, dim, config.num_heads, config.mlp_dim, _exact_gelu, config.atten_logit_cap
            )
            if config.num_auxiliary_layers
            else None
        )
        self.contrastive_vision_pooler = AttentionPooler(dim, 4 * dim, config.num_heads)
        self.text_encoder = TextEncoder(config)

    def forward_video(self, video: Tensor, frame_paddings: Tensor | None = None) -> dict[str, Tensor]:
        """Unnormalised outputs: video_embeddings [B, D], frame_embeddings [B, T, D], features."""
        tokens, spatial = self.vision_encoder(video, frame_paddings)
        # The official auxiliary encoder and pooler take no paddings.
        features = tokens if self.auxiliary_encoder is None else self.auxiliary_encoder(tokens)
        video_embeddings = self.contrastive_vision_pooler(features)[:, 0]
        batch, frames = video.shape[:2]
        per_frame = features.reshape(batch * frames, -1, features.shape[-1])
        frame_embeddings = self.contrastive_vision_pooler(per_frame)[:, 0].reshape(batch, frames, -1)
        return {
            "video_embeddings": video_embeddings,
            "frame_embeddings": frame_embeddings,
            "spatial_features": spatial,
            "spatiotemporal_features": tokens,
        }

    def forward_text(self, token_ids: Tensor, paddings: Tensor) -> Tensor:
        """Unnormalised text embeddings [B, D]: the class token after the final LN."""
        return self.text_encoder(token_ids, paddings)[:, -1]

    def forward(
        self, video: Tensor, token_ids: Tensor, paddings: Tensor, frame_paddings: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        """L2-normalised (video, text) embeddings; differentiable, in the caller's precision."""
        video_embeddings = self.forward_video(video, frame_paddings)["video_embeddings"]
        return l2_normalize(video_embeddings), l2_normalize(self.forward_text(token_ids, paddings))

    def encode_video(
        self,
        video: Tensor,
        frame_paddings: Tensor | None = None,
        *,
        normalize: bool = True,
        return_intermediate: bool = False,
    ) -> Tensor | dict[str, Tensor]:
        """Video embeddings [B, D] (L2-normalised unless ``normalize=False``), float32.

        With ``return_intermediate`` a dict of ``video_embeddings``, ``frame_embeddings``
        [B, T, D] (normalised alike), ``spatial_features`` and ``spatiotemporal_features``.
        """
        video = self._as_input(video)
        with self._inference(video.device):
            outputs = {name: value.float() for name, value in self.forward_video(video, frame_paddings).items()}
        if normalize:
            outputs["video_embeddings"] = l2_normalize(outputs["video_embeddings"])
            outputs["frame_embeddings"] = l2_normalize(outputs["frame_embeddings"])
        return outputs if return_intermediate else outputs["video_embeddings"]

    def video_embedding(self, video: Tensor) -> Tensor:
        return self.encode_video(video)

    def video_tokens(self, video: Tensor, **kwargs: Any) -> Tensor:
        """The video tower's tokens (before the auxiliary encoder and the pooler)."""
        tokens = self.encode_video(video, return_intermediate=True, **kwargs)["spatiotemporal_features"]
        return self._grid(tokens, video)

    def encode_text(self, token_ids: Any, paddings: Any, *, normalize: bool = True) -> Tensor:
        """Text embeddings [B, D] from ``Tokenizer`` output (arrays or tensors), float32."""
        device = next(self.parameters()).device
        token_ids, paddings = torch.as_tensor(token_ids), torch.as_tensor(paddings)
        if token_ids.ndim != 2 or token_ids.shape != paddings.shape:
            raise ValueError(
                f"token_ids and paddings must both be [B, L], got {tuple(token_ids.shape)} and {tuple(paddings.shape)}"
            )
        with self._inference(device):
            embeddings = self.forward_text(token_ids.to(device).long(), paddings.to(device).float()).float()
        return l2_normalize(embeddings) if normalize else embeddings


class VideoPrismClassifier(_VideoPrismModel):
    """Encoder -> attention pooler (hidden D) -> linear, as ``FactorizedVideoClassifier``."""

    def __init__(self, config: VideoPrismConfig) -> None:
        super().__init__(config)
        dim = config.model_dim
        self.encoder = FactorizedEncoder(config)
        self.atten_pooler = AttentionPooler(dim, dim, config.num_heads)
        self.projection = nn.Linear(dim, config.num_classes)

    def forward(self, video: Tensor, frame_paddings: Tensor | None = None) -> dict[str, Tensor]:
        tokens, spatial = self.encoder(video, frame_paddings)
        global_embeddings = self.atten_pooler(tokens)[:, 0]
        return {
            "logits": self.projection(global_embeddings),
            "global_embeddings": global_embeddings,
            "spatial_features": spatial,
            "spatiotemporal_features": tokens,
        }

    def encode_video(
        self, video: Tensor, frame_paddings: Tensor | None = None, *, return_intermediate: bool = False
    ) -> Tensor | dict[str, Tensor]:
        """Encoder tokens [B, T*h*w, D]; with ``return_intermediate`` every output incl. logits."""
        video = self._as_input(video)
        with self._inference(video.device):
            outputs = {name: value.float() for name, value in self(video, frame_paddings).items()}
        return outputs if return_intermediate else outputs["spatiotemporal_features"]

    def classify(self, video: Tensor, frame_paddings: Tensor | None = None) -> Tensor:
        """Logits [B, num_classes], float32."""
        return self.encode_video(video, frame_paddings, return_intermediate=True)["logits"]


MODEL_CLASSES: dict[str, type[_VideoPrismModel]] = {
    "encoder": VideoPrismEncoder,
    "lvt": VideoPrismLvT,
    "classifier": VideoPrismClassifier,
}


def build_model(config: VideoPrismConfig) -> _VideoPrismModel:
    """An uninitialised model of the config's type (weights come from ``checkpoint.py``)."""
    return MODEL_CLASSES[config.model_type](config)
