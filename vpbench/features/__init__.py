"""Feature extraction at scale: parallel decoding, a cache that cannot go stale, resume, sharding.

Family runners call :func:`extract_features` with :class:`WorkItem` records, a
:class:`~vpbench.video.SamplingSpec` and a token layout. Nothing here knows about datasets,
labels or adapters.
"""

from vpbench.features.cache import FeatureCache, default_cache_dir
from vpbench.features.encode import LAYOUTS
from vpbench.features.extract import ExtractionResult, FeatureMap, SkippedItem, extract_features
from vpbench.features.items import WorkItem
from vpbench.features.keys import FeatureSettings, model_fingerprint

__all__ = [
    "LAYOUTS",
    "ExtractionResult",
    "FeatureCache",
    "FeatureMap",
    "FeatureSettings",
    "SkippedItem",
    "WorkItem",
    "default_cache_dir",
    "extract_features",
    "model_fingerprint",
]
