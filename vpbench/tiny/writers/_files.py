"""Small pieces the tiny-suite writers share: train/eval clip sets, ids, text and video files.

Writers differ only in the official layout they reproduce; drawing clips, making YouTube-like
ids and writing bytes with an exact line ending live here once. Nothing here knows a dataset's
format, and nothing here reads back what it wrote.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from vpbench.tiny import EVAL_CLIPS, TRAIN_CLIPS, USER_FILES_DIR
from vpbench.tiny.video import TinyClip, random_clips, render, write_video

ID_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"
PART_FRAMES = 16
"""Frames of one part of a long tiny recording (the behaviour sets: a recording is parts whose
subjects, hence per-frame labels, differ)."""


def train_eval_clips(rng: np.random.Generator, prefix: str, **kwargs: Any) -> tuple[list[TinyClip], list[TinyClip]]:
    """TRAIN_CLIPS and EVAL_CLIPS clips, each set cycling through the fact grid on its own."""
    return (random_clips(rng, TRAIN_CLIPS, prefix=f"{prefix}train", **kwargs),
            random_clips(rng, EVAL_CLIPS, prefix=f"{prefix}eval", **kwargs))


def youtube_ids(rng: np.random.Generator, count: int) -> list[str]:
    """Distinct 11-character YouTube-like ids; every fourth begins with '-' (as real ones can)."""
    ids: list[str] = []
    while len(ids) < count:
        text = "".join(ID_CHARS[i] for i in rng.integers(len(ID_CHARS), size=11))
        if len(ids) % 4 == 0:
            text = "-" + text[1:]
        if text not in ids:
            ids.append(text)
    return ids


def short_ids(rng: np.random.Generator, count: int, first: str) -> list[str]:
    """Distinct 5-character upper-case ids (Charades style) whose first letter is drawn from ``first``."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    ids: list[str] = []
    while len(ids) < count:
        text = first[rng.integers(len(first))] + "".join(alphabet[i] for i in rng.integers(len(alphabet), size=4))
        if text not in ids:
            ids.append(text)
    return ids


def write_text(path: Path, lines: Iterable[str], newline: str = "\n") -> Path:
    """Lines joined and terminated by ``newline`` exactly (CRLF files stay CRLF on any OS)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes("".join(f"{line}{newline}" for line in lines).encode("utf-8"))
    return path


def write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[str]], newline: str = "\n") -> Path:
    """A CSV quoted only where needed (fields with commas or quotes), as the official files are."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator=newline)
    writer.writerow(header)
    writer.writerows(rows)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buffer.getvalue().encode("utf-8"))
    return path


def write_json(path: Path, data: Any, indent: int | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=indent), encoding="utf-8")
    return path


def write_user_file(data_dir: Path, key: str, lines: Iterable[str]) -> Path:
    """A file the real user would pass with ``--user-file KEY=PATH``."""
    return write_text(data_dir / USER_FILES_DIR / key, lines)


def write_parts(path: Path, parts: Sequence[TinyClip]) -> Path:
    """One video made of consecutive clips (a long recording whose segments differ in facts)."""
    return write_video(path, np.concatenate([render(part) for part in parts]), parts[0].fps)


def chunks(items: Sequence[Any], size: int) -> list[Sequence[Any]]:
    return [items[i:i + size] for i in range(0, len(items), size)]
