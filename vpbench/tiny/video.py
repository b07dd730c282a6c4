"""Procedural videos for the tiny suite: coloured shapes moving over a plain background.

Colour, shape, direction and speed are the latent facts of a clip. Every tiny label, caption,
answer and box is a function of these facts, so a probe that learns from the pixels must beat
chance, and a wiring bug (a shuffled label, the wrong video for a row) shows up as chance. Videos
are real encoded files (H.264 .mp4, or VP9 .webm like SSv2) so the real decoder path runs.
This module must never depend on torch: it runs in data-writing tools and decoder workers.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (230, 40, 40), "green": (40, 200, 60), "blue": (50, 80, 235), "yellow": (240, 220, 30),
}
SHAPES: tuple[str, ...] = ("circle", "square", "triangle")
DIRECTIONS: dict[str, tuple[int, int]] = {"left": (-1, 0), "right": (1, 0), "up": (0, -1), "down": (0, 1)}
SPEEDS: dict[str, float] = {"slowly": 0.4, "quickly": 1.0}
"""Pixels per frame at 48 px frame size; scaled with the frame size.

Frame sizes must keep 3 * width a multiple of 64: decord 0.6.0 pads rows to that alignment
and then fails to copy (48 px fails, 64 px works).
"""


@dataclass(frozen=True)
class ShapeTrack:
    """One moving object. Positions are in pixels of a ``size x size`` frame at frame t."""

    colour: str
    shape: str
    direction: str
    speed: str
    start_xy: tuple[float, float]
    radius_px: float

    def centre_at(self, t: int, size: int) -> tuple[float, float]:
        dx, dy = DIRECTIONS[self.direction]
        step = SPEEDS[self.speed] * size / 48
        x = float(np.clip(self.start_xy[0] + dx * step * t, self.radius_px, size - self.radius_px))
        y = float(np.clip(self.start_xy[1] + dy * step * t, self.radius_px, size - self.radius_px))
        return x, y

    def box_at(self, t: int, size: int) -> tuple[float, float, float, float]:
        """Normalised x1, y1, x2, y2 of the object's bounding box at frame t."""
        x, y = self.centre_at(t, size)
        r = self.radius_px
        return tuple(float(np.clip(v / size, 0.0, 1.0)) for v in (x - r, y - r, x + r, y + r))

    def describe(self) -> str:
        return f"a {self.colour} {self.shape} moves {self.direction}"


@dataclass(frozen=True)
class TinyClip:
    """A procedural clip: its objects (the first is the subject) and its raster geometry."""

    clip_id: str
    objects: tuple[ShapeTrack, ...]
    num_frames: int = 32
    fps: int = 8
    size: int = 64
    background: tuple[int, int, int] = (30, 30, 30)
    extra: dict = field(default_factory=dict, hash=False, compare=False)

    @property
    def subject(self) -> ShapeTrack:
        return self.objects[0]

    @property
    def duration_s(self) -> float:
        return self.num_frames / self.fps

    def caption(self) -> str:
        """The caption the tiny suite uses: it names exactly the subject's colour, shape and direction."""
        return self.subject.describe()


def fact_grid() -> list[tuple[str, str, str]]:
    """Every (colour, shape, direction) combination, in a fixed order."""
    return list(itertools.product(COLOURS, SHAPES, DIRECTIONS))


def random_clips(rng: np.random.Generator, count: int, *, prefix: str = "clip", num_objects: int = 1,
                 num_frames: int = 32, fps: int = 8, size: int = 64) -> list[TinyClip]:
    """``count`` clips whose subject facts cycle through the fact grid in a seeded order.

    Cycling (rather than drawing independently) keeps the classes balanced even in a subset of a
    few dozen clips, so chance level is known exactly.
    """
    grid = fact_grid()
    order = rng.permutation(len(grid))
    clips = []
    for index in range(count):
        objects = []
        for k in range(num_objects):
            colour, shape, direction = grid[order[(index + 7 * k) % len(grid)]] if k == 0 else (
                list(COLOURS)[rng.integers(len(COLOURS))], SHAPES[rng.integers(len(SHAPES))],
                list(DIRECTIONS)[rng.integers(len(DIRECTIONS))])
            radius = size * float(rng.uniform(0.12, 0.18))
            # Start away from the wall the object moves towards, so it visibly moves all clip long.
            dx, dy = DIRECTIONS[direction]
            margin = radius + 1
            start = [float(rng.uniform(margin, size - margin)) for _ in range(2)]
            for axis, d in enumerate((dx, dy)):
                if d:
                    start[axis] = margin if d > 0 else size - margin
            if num_objects > 1:  # keep objects apart on the other axis
                other = 1 if dx else 0
                lane = (k + 0.5) / num_objects
                start[other] = float(np.clip(lane * size, margin, size - margin))
            objects.append(ShapeTrack(colour, shape, direction, "quickly" if rng.random() < 0.5 else "slowly",
                                      (start[0], start[1]), radius))
        clips.append(TinyClip(f"{prefix}{index:04d}", tuple(objects), num_frames=num_frames, fps=fps, size=size))
    return clips


def render(clip: TinyClip, frame_indices: Sequence[int] | None = None) -> np.ndarray:
    """The clip's frames (all, or those at ``frame_indices``), uint8 [T, H, W, 3]."""
    size = clip.size
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5
    times = range(clip.num_frames) if frame_indices is None else [int(t) for t in frame_indices]
    frames = np.empty((len(times), size, size, 3), dtype=np.uint8)
    for index, t in enumerate(times):
        frame = np.empty((size, size, 3), dtype=np.uint8)
        frame[:] = clip.background
        for obj in clip.objects:
            cx, cy = obj.centre_at(t, size)
            frame[_mask(obj.shape, xs - cx, ys - cy, obj.radius_px)] = COLOURS[obj.colour]
        frames[index] = frame
    return frames


def _mask(shape: str, dx: np.ndarray, dy: np.ndarray, r: float) -> np.ndarray:
    if shape == "circle":
        return dx * dx + dy * dy <= r * r
    if shape == "square":
        return (np.abs(dx) <= r * 0.85) & (np.abs(dy) <= r * 0.85)
    if shape == "triangle":  # apex up, base at the bottom
        return (dy <= r * 0.8) & (dy >= -r) & (np.abs(dx) <= (dy + r) * 0.55)
    raise ValueError(f"unknown shape '{shape}'")


def write_video(path: str | Path, frames: np.ndarray, fps: int, codec: str = "h264") -> Path:
    """Encode uint8 [T, H, W, 3] frames to a real video file (``h264`` → .mp4, ``vp9`` → .webm)."""
    import av

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    encoder = {"h264": "libx264", "vp9": "libvpx-vp9"}[codec]
    tmp = path.with_name(f".{path.name}.partial{path.suffix}")
    with av.open(str(tmp), mode="w") as container:
        stream = container.add_stream(encoder, rate=fps)
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "yuv420p"
        if codec == "h264":
            stream.options = {"crf": "12", "preset": "veryfast", "g": "8"}
        else:
            stream.options = {"crf": "10", "b": "0", "deadline": "realtime", "cpu-used": "8", "g": "8"}
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    tmp.replace(path)
    return path


def write_clip(path: str | Path, clip: TinyClip, codec: str = "h264") -> Path:
    write_clips([(Path(path), clip, codec)])
    return Path(path)


def write_clips(jobs: Sequence[tuple[Path, TinyClip, str]]) -> None:
    """Write many clips; ``jobs`` are (path, clip, codec).

    decord 0.6.0 bundles its own FFmpeg libraries; once ``decord`` is imported, PyAV's VP9 encoder
    in the same process fails to open (``avcodec_open2 ... returned 22``). VP9 jobs then run in one
    fresh child process, so callers need not care what was imported before.
    """
    jobs = [(Path(path), clip, codec) for path, clip, codec in jobs]
    if "decord" in sys.modules and any(codec == "vp9" for _, _, codec in jobs):
        payload = json.dumps([[str(path), asdict(clip), codec] for path, clip, codec in jobs])
        done = subprocess.run([sys.executable, "-m", "vpbench.tiny.video"], input=payload, text=True,
                              capture_output=True)
        if done.returncode != 0:
            raise RuntimeError(f"tiny video writer subprocess failed: {done.stderr.strip()[-2000:]}")
        return
    for path, clip, codec in jobs:
        write_video(path, render(clip), clip.fps, codec)


def _clip_from_dict(data: dict) -> TinyClip:
    objects = tuple(ShapeTrack(**{**o, "start_xy": tuple(o["start_xy"])}) for o in data["objects"])
    return TinyClip(**{**data, "objects": objects, "background": tuple(data["background"])})


def write_frame_folder(folder: str | Path, clip: TinyClip, start_index: int = 0) -> Path:
    """Write the clip as numbered JPEG frames (the KABR images-in-folders layout)."""
    import av

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for t, frame in enumerate(render(clip)):
        av.VideoFrame.from_ndarray(frame, format="rgb24").to_image().save(folder / f"{start_index + t:06d}.jpg",
                                                                         quality=95)
    return folder


if __name__ == "__main__":  # child process of write_clips: JSON job list on stdin
    write_clips([(Path(path), _clip_from_dict(clip), codec) for path, clip, codec in json.load(sys.stdin)])
