"""Sample records: what every dataset reader produces and every family runner consumes.

A reader turns one official annotation format into these records and nothing else, so that the
rest of vpbench never sees a dataset's file layout. Records hold references (resolved paths,
spans, targets), never pixels or features.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class PersonBox:
    """One person (or animal) box on a keyframe, normalised [0, 1] x1, y1, x2, y2."""

    box_xyxy: tuple[float, float, float, float]
    action_ids: tuple[int, ...] = ()
    person_id: int | None = None
    score: float | None = None


@dataclass(frozen=True)
class Segment:
    """A temporal segment of a video in seconds, with a class index and/or a sentence."""

    start_s: float
    end_s: float
    label: int | None = None
    sentence: str | None = None


@dataclass(frozen=True)
class Sample:
    """One evaluation or training item.

    ``video_path`` is the resolved file (or frame folder, for image-folder layouts); it is None
    when the video is missing under the data root, which the reader also lists in
    :attr:`DatasetSplit.missing`. Spans: ``clip_span_s`` in seconds within the file, or
    ``frame_span`` as [start, end) frame indices; both None means the whole video.
    """

    sample_id: str
    video_id: str
    video_path: Path | None
    clip_span_s: tuple[float, float] | None = None
    frame_span: tuple[int, int] | None = None
    label: int | None = None
    labels: tuple[int, ...] = ()
    captions: tuple[str, ...] = ()
    question: str | None = None
    candidates: tuple[str, ...] = ()
    answer: str | None = None
    answer_index: int | None = None
    question_type: str | None = None
    keyframe_s: float | None = None
    boxes: tuple[PersonBox, ...] = ()
    proposals: tuple[PersonBox, ...] = ()
    segments: tuple[Segment, ...] = ()
    duration_s: float | None = None
    meta: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)


@dataclass(frozen=True)
class MissingVideo:
    sample_id: str
    expected_path: Path


@dataclass
class DatasetSplit:
    """The records of one split of one task, plus what the reader noticed on the way.

    ``class_names[i]`` names class index i (empty for tasks without classes). ``annotation_files``
    are the files whose bytes define the split: their hash goes into every result's fingerprint.
    ``notes`` are statements a result must carry (e.g. "whole validation set used: no HGR list").
    """

    task: str
    split: str
    samples: list[Sample]
    class_names: list[str] = field(default_factory=list)
    missing: list[MissingVideo] = field(default_factory=list)
    annotation_files: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def available(self) -> list[Sample]:
        """Samples whose video exists on disk."""
        return [s for s in self.samples if s.video_path is not None]

    def split_sha256(self) -> str:
        """Hash of the annotation files' bytes, in order, so a result records exactly what it evaluated."""
        digest = hashlib.sha256()
        for path in self.annotation_files:
            digest.update(Path(path).name.encode() + b"\0")
            with open(path, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    digest.update(chunk)
        return digest.hexdigest()
