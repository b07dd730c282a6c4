"""Frame sources: a video file (decord or torchcodec), a folder of images or one image, by frame index.

Both give the same three things: a frame count, a frame rate (None when unknown) and
``read(indices) -> uint8 [N, H, W, 3]`` RGB, fetching only the frames asked for (decord seeks
to the nearest key frame, so 16 frames of a long video do not decode the whole file).

Every failure becomes a :class:`VideoDecodeFailure` carrying the path and one of the stable
reason strings below, which results count skipped items by. This module must never return
fewer frames than asked or guess a frame rate: a short read is an error, not a shorter clip.

Decord traps handled here (see shared/reference/env.md): its default threaded decoder fails on
VP9 .webm, so ``num_threads=1``; it raises ``DECORDError``, which is not a ``RuntimeError``;
it indexes every packet at open, so a cut-off file usually fails there rather than mid-read;
and 0.6.0 cannot copy frames of a few small widths (16, 48, 72 px seen), a ``decode_error``.
"""

from __future__ import annotations

import functools
import importlib
import os
import re
from pathlib import Path
from typing import Protocol

import numpy as np

from vpbench.errors import VideoDecodeError, VpbenchError

MISSING = "missing"
EMPTY_FILE = "empty_file"
UNREADABLE = "unreadable"  # exists but cannot be opened: not a video, header corrupt, moov lost
DECODE_ERROR = "decode_error"  # opened, then failed mid-stream: truncated or corrupt data
ZERO_FRAMES = "zero_frames"  # no video stream, zero frames, or an empty frame folder
TIMEOUT = "timeout"
BAD_SPAN = "bad_span"  # the item's clip span selects no frame of this video

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


class VideoDecodeFailure(VideoDecodeError):
    """A video that cannot give the requested frames, with a reason a result can count."""

    def __init__(self, path: str | os.PathLike, reason: str, detail: str = "") -> None:
        self.path = os.fspath(path)
        self.reason = reason
        self.detail = detail
        super().__init__(f"{self.path}: {reason}" + (f" ({detail})" if detail else ""))

    def __reduce__(self):
        # DataLoader workers send exceptions to the parent by pickling: keep the fields.
        return (type(self), (self.path, self.reason, self.detail))


class FrameSource(Protocol):
    path: str
    num_frames: int
    fps: float | None

    def read(self, indices: np.ndarray) -> np.ndarray: ...


DECODERS = ("decord", "torchcodec", "torchcodec:cuda")
"""Video file decoders: decord (the default), torchcodec on the CPU, torchcodec on NVDEC."""
DEFAULT_DECODER = "decord"


def check_decoder(decoder: str) -> str:
    """``decoder`` if it names a known backend, else an error listing them."""
    if decoder not in DECODERS:
        raise VpbenchError(f"decoder {decoder!r}: expected one of {', '.join(DECODERS)}")
    return decoder


def open_source(path: str | os.PathLike, fps: float | None = None, decoder: str = DEFAULT_DECODER) -> FrameSource:
    """Open a video file or a frame folder; ``fps`` overrides (or, for folders, supplies) the rate.

    ``decoder`` picks the video file backend (:data:`DECODERS`); frame folders and images are read
    with PIL whatever it says."""
    check_decoder(decoder)
    path = Path(path)
    if not path.exists():
        raise VideoDecodeFailure(path, MISSING, "no such file or directory")
    if path.is_dir():
        return FolderSource(path, fps)
    if path.is_file() and path.stat().st_size == 0:
        raise VideoDecodeFailure(path, EMPTY_FILE, "file has 0 bytes")
    if path.suffix.lower() in IMAGE_SUFFIXES:
        return ImageSource(path, fps)
    if decoder.startswith("torchcodec"):
        from vpbench.video.torchcodec_source import TorchcodecSource

        return TorchcodecSource(path, fps, device=decoder.partition(":")[2] or "cpu")
    return DecordSource(path, fps)


# Distributions that install each decoder module (env.md: three forks all install ``decord``).
_DECODER_DISTRIBUTIONS = {"decord": ("decord", "eva-decord", "decord2"), "PIL": ("pillow",)}


@functools.lru_cache(maxsize=None)
def decoder_versions(decoder: str = DEFAULT_DECODER) -> dict[str, str]:
    """The libraries ``decoder`` decodes with, whose versions can change decoded pixels (part of
    the cache key): decord or torchcodec (+ its FFmpeg and, for NVDEC, the device), and PIL.

    decord's is read from package metadata rather than by importing decord: its bundled FFmpeg,
    once loaded, breaks PyAV's VP9 encoder in the same process, and the parent of decoding
    workers need not load it at all. The default's entries are what they were before torchcodec
    existed, so caches written then stay valid.
    """
    from importlib import metadata

    check_decoder(decoder)
    versions = {}
    if decoder.startswith("torchcodec"):
        from vpbench.video.torchcodec_source import torchcodec_version

        versions["torchcodec"] = torchcodec_version() + (" nvdec" if decoder.endswith(":cuda") else "")
    for module, distributions in _DECODER_DISTRIBUTIONS.items():
        if module == "decord" and decoder != "decord":
            continue
        for distribution in distributions:
            try:
                versions[module] = f"{distribution}=={metadata.version(distribution)}"
                break
            except metadata.PackageNotFoundError:
                continue
        else:
            versions[module] = f"{module}=={importlib.import_module(module).__version__}"
    return versions


class DecordSource:
    def __init__(self, path: Path, fps: float | None = None) -> None:
        import decord

        _silence_decord(decord)
        self.path = os.fspath(path)
        self._decord_errors = (RuntimeError, decord.DECORDError)
        try:
            self._reader = decord.VideoReader(self.path, ctx=decord.cpu(0), num_threads=1)
        except self._decord_errors as error:
            message = _first_line(error)
            if "cannot find video stream" in message:
                raise VideoDecodeFailure(path, ZERO_FRAMES, "no video stream") from None
            if "av_read_frame failed" in message:
                # decord indexes every packet at open, so a cut-off stream fails here.
                raise VideoDecodeFailure(path, DECODE_ERROR, f"stream data truncated or corrupt: {message}") from None
            raise VideoDecodeFailure(path, UNREADABLE, message) from None
        self.num_frames = len(self._reader)
        if self.num_frames == 0:
            raise VideoDecodeFailure(path, ZERO_FRAMES, "the video stream has no frames")
        native = float(self._reader.get_avg_fps())
        self.fps = fps if fps is not None else (native if np.isfinite(native) and native > 0 else None)

    def read(self, indices: np.ndarray) -> np.ndarray:
        unique, inverse = np.unique(np.asarray(indices, dtype=np.int64), return_inverse=True)
        try:
            frames = self._reader.get_batch(unique.tolist()).asnumpy()
        except self._decord_errors as error:
            raise VideoDecodeFailure(self.path, DECODE_ERROR, _first_line(error)) from None
        if frames.shape[0] != len(unique) or frames.ndim != 4 or frames.shape[-1] != 3:
            raise VideoDecodeFailure(
                self.path, DECODE_ERROR, f"asked for {len(unique)} RGB frames, decoder returned shape {frames.shape}"
            )
        return frames[inverse]


class FolderSource:
    """A folder of images, one per frame, in natural order (frame_2 before frame_10)."""

    def __init__(self, path: Path, fps: float | None = None) -> None:
        self.path = os.fspath(path)
        self.files = frame_files(path)
        if not self.files:
            raise VideoDecodeFailure(path, ZERO_FRAMES, f"no image files ({', '.join(IMAGE_SUFFIXES)}) in the folder")
        self.num_frames = len(self.files)
        self.fps = fps

    def read(self, indices: np.ndarray) -> np.ndarray:
        from PIL import Image

        unique, inverse = np.unique(np.asarray(indices, dtype=np.int64), return_inverse=True)
        frames = []
        for index in unique:
            file = self.files[index]
            try:
                with Image.open(file) as image:
                    frames.append(np.asarray(image.convert("RGB")))
            except (OSError, ValueError) as error:
                raise VideoDecodeFailure(self.path, DECODE_ERROR, f"{file.name}: {error}") from None
            if frames[-1].shape != frames[0].shape:
                raise VideoDecodeFailure(
                    self.path, DECODE_ERROR, f"{file.name} is {frames[-1].shape[:2]}, earlier frames {frames[0].shape[:2]}"
                )
        return np.stack(frames)[inverse]


class ImageSource(FolderSource):
    """One image file as a one-frame video (image QA data, e.g. VQAv2, read as single-frame clips)."""

    def __init__(self, path: Path, fps: float | None = None) -> None:
        self.path = os.fspath(path)
        self.files = [Path(path)]
        self.num_frames = 1
        self.fps = fps


def frame_files(folder: str | os.PathLike) -> list[Path]:
    """A frame folder's images in frame order (natural sort; hidden files ignored)."""
    images = (p for p in Path(folder).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith("."))
    return sorted(images, key=lambda p: _natural_key(p.name))


def _natural_key(name: str) -> list:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def _first_line(error: BaseException) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[0] if lines else type(error).__name__


_silenced = False


def _silence_decord(decord) -> None:
    """Keep FFmpeg's per-file warnings off the console; failures are reported as exceptions."""
    global _silenced
    if not _silenced:
        decord.logging.set_level(decord.logging.QUIET)
        _silenced = True
