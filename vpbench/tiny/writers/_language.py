"""Text the tiny-suite writers derive from a clip's facts: captions, paraphrases, questions, candidates.

Every sentence names facts that are visible in the pixels (the subject's colour, shape and
direction), so a captioning, retrieval or QA head trained on the tiny subset can do better than
chance, and a caption attached to the wrong video is wrong in a checkable way. Paraphrases give
the multi-reference captions the real datasets have (20 per MSR-VTT video, 10 per VATEX clip).
It never writes a file.
"""

from __future__ import annotations

import numpy as np

from vpbench.tiny.video import COLOURS, DIRECTIONS, SHAPES, ShapeTrack

_TOWARDS = {"left": "to the left", "right": "to the right", "up": "upwards", "down": "downwards"}
_TEMPLATES = (
    "a {c} {s} moves {d}",
    "the {c} {s} is moving {t}",
    "a {s} that is {c} goes {d}",
    "there is a {c} {s} moving {d}",
    "a {c} {s} travels {t}",
    "the {s} is {c} and it moves {d}",
    "we see a {c} {s} moving {t}",
    "a {c} {s} slides {d}",
    "one {c} {s} drifts {t}",
    "a {c} {s} keeps moving {d}",
)


def towards(direction: str) -> str:
    """The adverbial form of a direction ("to the left", "upwards")."""
    return _TOWARDS[direction]


def paraphrases(track: ShapeTrack, count: int = 5) -> list[str]:
    """``count`` (at most 10) distinct descriptions of the object; the first is ``track.describe()``."""
    if not 1 <= count <= len(_TEMPLATES):
        raise ValueError(f"count must be 1..{len(_TEMPLATES)}, got {count}")
    return [template.format(c=track.colour, s=track.shape, d=track.direction, t=_TOWARDS[track.direction])
            for template in _TEMPLATES[:count]]


def questions(track: ShapeTrack) -> list[tuple[str, str]]:
    """Open-ended (question, one-word answer) pairs about colour, shape and direction."""
    return [
        (f"what color is the {track.shape} moving {track.direction}?", track.colour),
        (f"what shape is the {track.colour} object?", track.shape),
        (f"where does the {track.colour} {track.shape} move?", track.direction),
    ]


def image_questions(track: ShapeTrack, rng: np.random.Generator) -> list[tuple[str, str]]:
    """VQA-style (question, answer) pairs a single frame answers: colour, shape, and a yes/no on colour."""
    asked = list(COLOURS)[int(rng.integers(len(COLOURS)))]
    return [
        (f"what color is the {track.shape}?", track.colour),
        (f"what shape is the {track.colour} object?", track.shape),
        (f"is the {track.shape} {asked}?", "yes" if asked == track.colour else "no"),
    ]


def direction_choices(track: ShapeTrack, rng: np.random.Generator) -> tuple[list[str], int]:
    """Five candidate actions ("moves left", ..., "stays still") shuffled, and the true one's index."""
    options = [f"moves {d}" for d in DIRECTIONS] + ["stays still"]
    order = rng.permutation(len(options))
    shuffled = [options[i] for i in order]
    return shuffled, shuffled.index(f"moves {track.direction}")


def object_choices(track: ShapeTrack, rng: np.random.Generator) -> tuple[list[str], int]:
    """Five candidate objects ("a red circle", ...): the true one and four other colour-shape pairs."""
    true = f"a {track.colour} {track.shape}"
    others = [f"a {c} {s}" for c in COLOURS for s in SHAPES if (c, s) != (track.colour, track.shape)]
    picked = [others[i] for i in rng.choice(len(others), size=4, replace=False)]
    shuffled = [true, *picked]
    order = rng.permutation(5)
    shuffled = [shuffled[i] for i in order]
    return shuffled, shuffled.index(true)


def chinese_caption(track: ShapeTrack) -> str:
    """A Chinese caption of the same facts (VATEX ships ``chCap`` beside ``enCap``)."""
    colour = {"red": "红色", "green": "绿色", "blue": "蓝色", "yellow": "黄色"}[track.colour]
    shape = {"circle": "圆形", "square": "正方形", "triangle": "三角形"}[track.shape]
    direction = {"left": "向左", "right": "向右", "up": "向上", "down": "向下"}[track.direction]
    return f"一个{colour}的{shape}{direction}移动。"
