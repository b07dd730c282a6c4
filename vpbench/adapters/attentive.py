"""Attention building blocks for heads on frozen tokens, and the MAP (multi-head attention pooling) head.

The MAP head is the VideoPrism paper's frozen-probe head, in the VideoGLUE form (``heads/simple.py``,
``AttentionPoolerClassificationHead``): LayerNorm on the tokens, one learned query attending to
all of them through one multi-head attention (``heads`` heads, width ``hidden``), dropout, a
linear classifier; no MLP, no residual. The V-JEPA attentive probe is reachable from the same
module through its variant switches: ``mlp=True`` adds the residual MLP of a full cross-attention
block, ``depth > 1`` adds ``depth - 1`` self-attention blocks over the queries, ``queries > 1``
uses several learned queries whose outputs are averaged. The variant is part of the result.
VideoGLUE's optional learned temporal position embedding is not added: VideoPrism's tokens
already carry their space-time position from the encoder.

This module holds only math: no training loop, no file access, no knowledge of datasets.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

LN_EPSILON = 1e-6


class CrossAttention(nn.Module):
    """Multi-head attention of a few queries (width ``hidden``) over many tokens (width ``token_dim``)."""

    def __init__(self, hidden: int, token_dim: int, heads: int) -> None:
        super().__init__()
        if hidden % heads:
            raise ValueError(f"hidden width {hidden} is not divisible by {heads} heads")
        self.heads = heads
        self.query = nn.Linear(hidden, hidden)
        self.key_value = nn.Linear(token_dim, 2 * hidden)
        self.out = nn.Linear(hidden, hidden)

    def forward(self, queries: Tensor, tokens: Tensor, token_mask: Tensor | None = None) -> Tensor:
        """queries [B, Q, hidden], tokens [B, L, token_dim], token_mask [B, L] (True = attend) -> [B, Q, hidden]."""
        batch, num_queries, hidden = queries.shape
        q = self.query(queries).reshape(batch, num_queries, self.heads, -1).transpose(1, 2)
        k, v = self.key_value(tokens).reshape(batch, tokens.shape[1], 2, self.heads, -1).permute(2, 0, 3, 1, 4)
        mask = None if token_mask is None else token_mask[:, None, None, :]
        attended = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        return self.out(attended.transpose(1, 2).reshape(batch, num_queries, hidden))


class MLP(nn.Module):
    def __init__(self, dim: int, ratio: float = 4.0) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, int(dim * ratio))
        self.fc2 = nn.Linear(int(dim * ratio), dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(F.gelu(self.fc1(x)))


class SelfAttentionBlock(nn.Module):
    """Pre-LN transformer block over a short sequence (the queries of a deeper probe)."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=LN_EPSILON)
        self.attn = CrossAttention(dim, dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=LN_EPSILON)
        self.mlp = MLP(dim)

    def forward(self, x: Tensor) -> Tensor:
        h = self.norm1(x)
        x = x + self.attn(h, h)
        return x + self.mlp(self.norm2(x))


class CrossAttentionBlock(nn.Module):
    """Pre-LN cross-attention + MLP, both residual: queries read from tokens (RoI and deep MAP heads)."""

    def __init__(self, hidden: int, token_dim: int, heads: int) -> None:
        super().__init__()
        self.norm_q = nn.LayerNorm(hidden, eps=LN_EPSILON)
        self.attn = CrossAttention(hidden, token_dim, heads)
        self.norm2 = nn.LayerNorm(hidden, eps=LN_EPSILON)
        self.mlp = MLP(hidden)

    def forward(self, queries: Tensor, tokens: Tensor, token_mask: Tensor | None = None) -> Tensor:
        x = queries + self.attn(self.norm_q(queries), tokens, token_mask)
        return x + self.mlp(self.norm2(x))


@dataclass(frozen=True)
class MAPConfig:
    """Variant and size of a MAP head; ``as_dict`` goes into the result's adapter record."""

    heads: int = 12
    hidden: int = 768
    queries: int = 1
    depth: int = 1
    mlp: bool = False
    dropout: float = 0.5

    def as_dict(self) -> dict:
        return asdict(self)

    @property
    def variant(self) -> str:
        """Short name for result files: ``map`` for the VideoGLUE head, suffixes for anything else."""
        parts = ["map"]
        if self.depth != 1:
            parts.append(f"d{self.depth}")
        if self.queries != 1:
            parts.append(f"q{self.queries}")
        if self.mlp:
            parts.append("mlp")
        return "-".join(parts)


class MAPHead(nn.Module):
    """tokens [B, L, D] -> logits [B, C] through learned-query attention pooling."""

    def __init__(self, dim: int, num_classes: int, config: MAPConfig) -> None:
        super().__init__()
        if config.queries < 1 or config.depth < 1:
            raise ValueError("a MAP head needs queries >= 1 and depth >= 1")
        self.config = config
        self.token_norm = nn.LayerNorm(dim, eps=LN_EPSILON)
        self.query = nn.Parameter(torch.zeros(1, config.queries, config.hidden))
        nn.init.trunc_normal_(self.query, std=0.02)
        if config.mlp:
            self.pool = CrossAttentionBlock(config.hidden, dim, config.heads)
        else:
            self.pool = CrossAttention(config.hidden, dim, config.heads)
        self.blocks = nn.ModuleList(SelfAttentionBlock(config.hidden, config.heads) for _ in range(config.depth - 1))
        self.dropout = nn.Dropout(config.dropout)
        self.classifier = nn.Linear(config.hidden, num_classes)

    def pooled(self, tokens: Tensor) -> Tensor:
        """The pooled embedding [B, hidden] before dropout and the classifier."""
        queries = self.query.expand(tokens.shape[0], -1, -1)
        x = self.pool(queries, self.token_norm(tokens))
        for block in self.blocks:
            x = block(x)
        return x.mean(dim=1)

    def forward(self, tokens: Tensor) -> Tensor:
        return self.classifier(self.dropout(self.pooled(tokens)))
