"""The linear probe: mean of the frozen tokens, LayerNorm, dropout, one linear layer.

The cheapest head, and the control for the MAP head: if a linear probe on the averaged tokens
already does as well, the attention pooling is not what the number measures. Accepts tokens
``[B, L, D]`` or one global feature per clip ``[B, D]``. Math only.
"""

from __future__ import annotations

from torch import Tensor, nn

from vpbench.adapters.attentive import LN_EPSILON


class LinearHead(nn.Module):
    def __init__(self, dim: int, num_classes: int, dropout: float = 0.0) -> None:
        super().__init__()
        # No affine parameters: the norm only standardises features, the classifier does the rest.
        self.norm = nn.LayerNorm(dim, eps=LN_EPSILON, elementwise_affine=False)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(dim, num_classes)

    def forward(self, features: Tensor) -> Tensor:
        pooled = features.mean(dim=1) if features.ndim == 3 else features
        return self.classifier(self.dropout(self.norm(pooled)))
