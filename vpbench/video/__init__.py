"""Video decoding and view sampling: from a file or frame folder to model-ready uint8 views.

``decode_views(path, SamplingSpec(...))`` is the entry point; it never touches a model or a
cache. See :mod:`vpbench.video.sampling` for the exact index conventions and
:mod:`vpbench.video.augment` for augmented training views.
"""

from vpbench.video.augment import AugmentedView
from vpbench.video.readers import VideoDecodeFailure, decoder_versions, open_source
from vpbench.video.sampling import AugmentSpec, SamplingSpec, clip_range, temporal_indices
from vpbench.video.views import PIXELS_VERSION, ViewInfo, decode_views

__all__ = [
    "PIXELS_VERSION",
    "AugmentSpec",
    "AugmentedView",
    "SamplingSpec",
    "ViewInfo",
    "VideoDecodeFailure",
    "clip_range",
    "decode_views",
    "decoder_versions",
    "open_source",
    "temporal_indices",
]
