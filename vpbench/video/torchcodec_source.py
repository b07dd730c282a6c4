"""The torchcodec frame source: a second video decoder beside decord, on the CPU or on NVDEC.

Why a second one: decord's last release is from 2021 and decodes on the CPU only; on a GPU node
16 cores decode ~60 clips/s while one H100 encodes ~400 (issue 17). torchcodec is maintained with
PyTorch and decodes on NVDEC with ``device="cuda"``.

It gives what :class:`vpbench.video.readers.DecordSource` gives (frame count, frame rate,
``read(indices) -> uint8 [N, H, W, 3]``) with the same failure reasons. It seeks in ``exact``
mode (the file is scanned once at open, as decord indexes it), so index ``i`` is the ``i``-th
decoded frame, the same frame decord returns for ``i`` (tests/test_video_torchcodec.py checks
this on the tiny suite; the RGB values may differ by the two libraries' YUV->RGB conversion,
within the tolerance that test asserts). CUDA frames are copied to the host: the views pipeline
resizes and crops NumPy arrays.

torchcodec needs FFmpeg's shared libraries (Debian/Ubuntu: the ``ffmpeg`` package pulls the
libavcodec/libavformat/... of the release, whatever their soname); a missing one is reported so.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from vpbench.errors import VpbenchError
from vpbench.video.readers import DECODE_ERROR, UNREADABLE, ZERO_FRAMES, VideoDecodeFailure, _first_line

FFMPEG_PACKAGES = "ffmpeg"


def load_torchcodec():
    """The ``torchcodec.decoders`` module, or an error saying how to install what it needs."""
    try:
        from torchcodec import decoders
    except ImportError as error:
        raise VpbenchError(f"--decoder torchcodec needs the torchcodec package (pip install torchcodec): {error}") from None
    except (OSError, RuntimeError) as error:
        raise VpbenchError(
            f"torchcodec is installed but cannot load its FFmpeg libraries or its torch build ({_first_line(error)}); "
            f"install FFmpeg's shared libraries (Debian: apt-get install {FFMPEG_PACKAGES}), and a torchcodec "
            f"wheel built for this torch (a CPU torch needs a CPU torchcodec: pyproject.toml pins one)") from None
    return decoders


def check_device(device: str) -> None:
    """Fail early, with the reason, when NVDEC decoding is asked for where there is no CUDA."""
    if device == "cpu":
        return
    if device != "cuda":
        raise VpbenchError(f"torchcodec decoder device {device!r}: expected 'cpu' or 'cuda'")
    import torch

    if not torch.cuda.is_available():
        raise VpbenchError("--decoder torchcodec:cuda decodes on the GPU's NVDEC, but this torch sees no CUDA device "
                           f"(torch {torch.__version__}); use --decoder torchcodec (CPU) or run on a CUDA machine "
                           "with a CUDA build of torch and torchcodec")


class TorchcodecSource:
    def __init__(self, path: Path, fps: float | None = None, device: str = "cpu") -> None:
        decoders = load_torchcodec()
        check_device(device)
        self.path = os.fspath(path)
        # Under torchrun each rank (and its decoding workers, which inherit the variable) decodes on its own GPU.
        self.device = device
        if device == "cuda":
            import torch

            self.device = f"cuda:{int(os.environ.get('LOCAL_RANK', '0')) % torch.cuda.device_count()}"
        try:
            self._decoder = decoders.VideoDecoder(self.path, dimension_order="NHWC", seek_mode="exact",
                                                  num_ffmpeg_threads=1, device=self.device)
        except (RuntimeError, ValueError) as error:
            message = _first_line(error)
            if "best video stream is unknown" in message:  # what torchcodec 0.13 says for no video stream
                raise VideoDecodeFailure(path, ZERO_FRAMES, "no video stream") from None
            raise VideoDecodeFailure(path, UNREADABLE, message.rpartition("Could not open input file: ")[2]) from None
        metadata = self._decoder.metadata
        self.num_frames = int(metadata.num_frames or 0)
        if self.num_frames == 0:
            raise VideoDecodeFailure(path, ZERO_FRAMES, "the video stream has no frames")
        native = metadata.average_fps
        self.fps = fps if fps is not None else (float(native) if native and np.isfinite(native) and native > 0 else None)

    def read(self, indices: np.ndarray) -> np.ndarray:
        unique, inverse = np.unique(np.asarray(indices, dtype=np.int64), return_inverse=True)
        try:
            frames = self._decoder.get_frames_at(unique.tolist()).data
        except (RuntimeError, ValueError, IndexError) as error:
            raise VideoDecodeFailure(self.path, DECODE_ERROR, _first_line(error)) from None
        frames = frames.cpu().numpy()
        if frames.shape[0] != len(unique) or frames.ndim != 4 or frames.shape[-1] != 3:
            raise VideoDecodeFailure(
                self.path, DECODE_ERROR, f"asked for {len(unique)} RGB frames, decoder returned shape {frames.shape}"
            )
        return frames[inverse]


def torchcodec_version() -> str:
    """torchcodec's version and the FFmpeg it decodes with (both can change decoded pixels)."""
    from importlib import metadata

    try:
        version = metadata.version("torchcodec")
    except metadata.PackageNotFoundError:
        raise VpbenchError("--decoder torchcodec needs the torchcodec package (pip install torchcodec)") from None
    load_torchcodec()
    from torchcodec._core import get_ffmpeg_library_versions

    libraries = get_ffmpeg_library_versions()
    ffmpeg = libraries.get("ffmpeg_version") or libraries.get("libavcodec", "?")
    return f"torchcodec=={version} ffmpeg {ffmpeg}"

