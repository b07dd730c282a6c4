"""Loads torchcodec and its FFmpeg libraries in the decoding workers' fork server, once.

Imported through ``set_forkserver_preload`` when a run decodes with torchcodec, so that a worker
forked from the server does not pay the import (seconds) every time a loader starts. A failure
is left to the workers, which report it with its reason (:func:`load_torchcodec`): the fork
server only tolerates ImportError in a preloaded module.
"""

from vpbench.errors import VpbenchError
from vpbench.video.torchcodec_source import load_torchcodec

try:
    load_torchcodec()
except VpbenchError:
    pass
