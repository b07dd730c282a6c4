"""vpbench: the VideoPrism evaluation harness.

Public entry points are kept lazy so that ``import vpbench`` (and the CLI's cheap commands)
never import torch.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"


def load_model(name_or_path: str, **kwargs: Any):
    """Build a VideoPrism model from a known name or an official checkpoint file.

    See :func:`vpbench.models.zoo.load_model`.
    """
    from vpbench.models.zoo import load_model as _load_model

    return _load_model(name_or_path, **kwargs)
