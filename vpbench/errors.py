"""Exception types a user can act on.

One type per failure a user can fix. Every message names the file, row or key and what was
expected. The CLI turns these into a one-line error and exit code 2; anything else is a bug
and keeps its traceback.
"""


class VpbenchError(Exception):
    """Base class: an error caused by input or environment, with an actionable message."""


class RegistryError(VpbenchError):
    """A task or benchmark YAML is malformed (unknown key, missing field, dangling reference)."""


class AnnotationError(VpbenchError):
    """An official annotation file does not have the expected format."""


class CheckpointError(VpbenchError):
    """A checkpoint file is missing, truncated, or does not match a known architecture."""


class VideoDecodeError(VpbenchError):
    """A video could not be decoded (corrupt, truncated, zero frames, missing)."""


class PredictionFileError(VpbenchError):
    """A prediction or reference file given to a metric is malformed."""


class MissingDependencyError(VpbenchError):
    """A system dependency (Java, WordNet data, a tokenizer file) is absent; says how to install it."""


class NotImplementedYetError(VpbenchError):
    """The requested feature exists in the design but is not implemented in this version."""
