"""Reader of the video-text corpus the captioning/QA resampler is trained on (``adapter.corpus``).

The paper trains its resampler once, on its pretraining captions, a 4.4M-clip academic corpus and
VQAv2, and evaluates it zero-shot on every captioning and QA benchmark (App. G). The first two
are not public, so the user supplies a corpus, under ``<data root>/<corpus.root>/``:

``corpus.captions`` — one (video, caption) pair per row, in one of three layouts, told apart by
the file name and header:

* ``*.csv`` with a header holding ``video`` and ``caption`` (other columns are ignored);
* ``*.jsonl``, one object per line with ``"video"`` and ``"caption"``;
* a WebVid metadata CSV (``results_2M_train.csv``: ``videoid,name,page_idx,page_dir,duration,
  contentUrl``): the video is ``<page_dir>/<videoid>`` (``<videoid>`` without a ``page_dir``
  column), as the WebVid download script lays the files out, and the caption is ``name``.

A video is a path relative to ``corpus.videos``, with or without its extension; a video with
several captions is one sample with all of them (it is encoded once).

``corpus.vqa`` (optional) — VQAv2 image QA, each image a single-frame clip: ``questions``
(``v2_OpenEnded_mscoco_train2014_questions.json``: ``{"data_subtype", "questions": [{"image_id",
"question", "question_id"}]}``), ``annotations`` (``v2_mscoco_train2014_annotations.json``:
``{"annotations": [{"question_id", "image_id", "multiple_choice_answer", ...}]}``, the target is
``multiple_choice_answer``) and ``images``, the folder of ``COCO_<data_subtype>_<image_id:012d>.jpg``.
A declared VQA part whose files are absent is reported (``Corpus.vqa_missing``), not guessed.

The corpus hash (:attr:`Corpus.sha256`) covers the annotation files' bytes and the relative paths
of the videos and images found: the resampler trained on it is cached under it, and every result
records it. This module only reads; it never decides what a missing part means for a run.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from vpbench.datasets.fields import VideoFinder, integer, text
from vpbench.datasets.locate import VideoLocator
from vpbench.datasets.sample import DatasetSplit, MissingVideo, Sample
from vpbench.datasets.tabular import field as json_field
from vpbench.datasets.tabular import read_csv, read_json, require_file
from vpbench.errors import AnnotationError, RegistryError

CORPUS_KEYS = {"root", "captions", "videos", "vqa"}
VQA_KEYS = {"questions", "annotations", "images"}
WEBVID_COLUMNS = ("videoid", "name")


@dataclass
class Corpus:
    """The corpus as samples (captioned videos, then VQA questions), its hash and a summary for results."""

    split: DatasetSplit
    sha256: str
    summary: dict[str, Any]
    vqa_missing: list[Path] = field(default_factory=list)
    """Declared VQA files that do not exist (the VQA part was then left out)."""


def corpus_spec(spec: Any, where: str) -> dict[str, Any]:
    """``adapter.corpus`` checked: ``root``, ``captions``, ``videos`` strings, optional ``vqa`` mapping."""
    if not isinstance(spec, dict):
        raise RegistryError(f"{where}: expected a mapping with {sorted(CORPUS_KEYS - {'vqa'})} (and optional 'vqa')")
    unknown = sorted(set(spec) - CORPUS_KEYS)
    if unknown:
        raise RegistryError(f"{where}: unknown key(s) {unknown}; known: {sorted(CORPUS_KEYS)}")
    for key in ("root", "captions", "videos"):
        if not isinstance(spec.get(key), str) or not spec[key]:
            raise RegistryError(f"{where}.{key} must be a relative path, got {spec.get(key)!r}")
    vqa = spec.get("vqa")
    if vqa is not None:
        if not isinstance(vqa, dict) or set(vqa) != VQA_KEYS or not all(isinstance(v, str) and v for v in vqa.values()):
            raise RegistryError(f"{where}.vqa must be null or a mapping of {sorted(VQA_KEYS)} to relative paths, "
                                f"got {vqa!r}")
    return spec


def read_corpus(data_root: str | Path, spec: dict[str, Any], where: str = "adapter.corpus") -> Corpus:
    """Read the corpus ``spec`` (``adapter.corpus``) under ``data_root``."""
    spec = corpus_spec(spec, where)
    root = Path(data_root) / spec["root"]
    captions_path = root / spec["captions"]
    if not captions_path.is_file():
        raise AnnotationError(
            f"{captions_path}: video-text corpus not found. The captioning/QA tasks train their resampler on a "
            f"corpus that is none of the evaluated datasets (the paper's is not public): put a CSV with columns "
            f"'video,caption' (or a .jsonl of {{\"video\", \"caption\"}}, or a WebVid results_*.csv) there, with the "
            f"videos under {root / spec['videos']}; or run the variant that trains on the target's own train split "
            f"with --variant in-domain")
    finder = VideoFinder(root / spec["videos"], captions_path)
    captions: dict[str, list[str]] = {}
    paths: dict[str, Path | None] = {}
    for number, video, caption, where_row in _caption_rows(captions_path):
        if video not in paths:
            paths[video] = finder.find(f"caption-video/{video}", [video], where_row)
            captions[video] = []
        captions[video].append(caption)
    samples = [Sample(sample_id=f"caption-video/{video}", video_id=video, video_path=paths[video],
                      captions=tuple(texts), meta={"corpus_part": "captions"})
               for video, texts in captions.items()]
    files, missing = [captions_path], list(finder.missing)
    summary: dict[str, Any] = {"root": spec["root"], "captions_file": spec["captions"],
                               "caption_videos": len(samples), "captions": sum(map(len, captions.values())),
                               "caption_videos_missing": len(finder.missing)}
    vqa_missing: list[Path] = []
    if spec.get("vqa"):
        vqa = spec["vqa"]
        declared = [root / vqa["questions"], root / vqa["annotations"]]
        vqa_missing = [p for p in declared if not p.is_file()]
        if not vqa_missing:
            questions = _vqa_samples(root, vqa, missing)
            samples += questions
            files += declared
            summary.update({"vqa_questions": len(questions), "vqa_images": len({q.video_id for q in questions}),
                            "vqa_questions_missing_image": sum(1 for q in questions if q.video_path is None)})
    found = sorted(str(s.video_path.relative_to(root)) for s in samples if s.video_path is not None)
    split = DatasetSplit(task="video-text corpus", split=spec["root"], samples=samples, missing=missing,
                         annotation_files=files)
    digest = hashlib.sha256(split.split_sha256().encode())
    digest.update(json.dumps(found).encode())
    summary["annotation_files"] = [str(p.relative_to(root)) for p in files]
    return Corpus(split=split, sha256=digest.hexdigest(), summary=summary, vqa_missing=vqa_missing)


def _caption_rows(path: Path) -> Iterator[tuple[int, str, str, str]]:
    """(row number, video, caption, where) for every row of the captions file, in file order."""
    if path.suffix.lower() == ".jsonl":
        with open(require_file(path, "a JSON Lines corpus"), encoding="utf-8-sig") as f:
            for line_number, line in enumerate(f, start=1):
                if not line.strip():
                    continue
                where = f"{path}: line {line_number}"
                try:
                    entry = json.loads(line)
                except json.JSONDecodeError as error:
                    raise AnnotationError(f"{where}: not valid JSON ({error.msg}); expected "
                                          '{"video": ..., "caption": ...}') from None
                video = text(json_field(entry, "video", str, where), where, "video")
                yield line_number, video, text(json_field(entry, "caption", str, where), where, "caption"), where
        return
    rows = read_csv(path, required=(), what="a corpus CSV with columns 'video,caption' (or a WebVid results CSV)")
    columns = set(rows[0].values) if rows else set()
    if {"video", "caption"} <= columns:
        def video_of(row):
            return row["video"]
        caption_column = "caption"
    elif set(WEBVID_COLUMNS) <= columns:
        def video_of(row):
            page = (row.get("page_dir") or "").strip()
            return f"{page}/{row['videoid'].strip()}" if page else row["videoid"].strip()
        caption_column = "name"
    else:
        raise AnnotationError(f"{path}: header has columns {sorted(columns) or 'none'}; expected 'video' and "
                              f"'caption' (or WebVid's 'videoid' and 'name')")
    for row in rows:
        yield (row.number, text(video_of(row), row.where, "video"), text(row[caption_column], row.where, "caption"),
               row.where)


def _vqa_samples(root: Path, vqa: dict[str, str], missing: list[MissingVideo]) -> list[Sample]:
    """One sample per VQAv2 question, its image as the clip and ``multiple_choice_answer`` as the answer."""
    questions_path, annotations_path = root / vqa["questions"], root / vqa["annotations"]
    questions = read_json(questions_path, dict, what="VQAv2 questions ({'data_subtype', 'questions': [...]})")
    subtype = text(json_field(questions, "data_subtype", str, str(questions_path)), str(questions_path),
                   "data_subtype")
    annotations = read_json(annotations_path, dict, what="VQAv2 annotations ({'annotations': [...]})")
    answer_of: dict[int, str] = {}
    for k, entry in enumerate(json_field(annotations, "annotations", list, str(annotations_path))):
        where = f"{annotations_path}: annotations[{k}]"
        answer_of[integer(json_field(entry, "question_id", int, where), where, "question_id")] = text(
            json_field(entry, "multiple_choice_answer", str, where), where, "multiple_choice_answer")
    images = VideoLocator(root / vqa["images"])
    samples = []
    for k, entry in enumerate(json_field(questions, "questions", list, str(questions_path))):
        where = f"{questions_path}: questions[{k}]"
        question_id = integer(json_field(entry, "question_id", int, where), where, "question_id")
        image_id = integer(json_field(entry, "image_id", int, where), where, "image_id")
        if question_id not in answer_of:
            raise AnnotationError(f"{where}: question_id {question_id} has no entry in {annotations_path}")
        found, expected = images.locate([f"COCO_{subtype}_{image_id:012d}.jpg"], source=questions_path, where=where)
        sample_id = f"vqa/{question_id}"
        if found is None:
            missing.append(MissingVideo(sample_id, expected))
        samples.append(Sample(sample_id=sample_id, video_id=f"vqa-image/{image_id}", video_path=found,
                              question=text(json_field(entry, "question", str, where), where, "question"),
                              answer=answer_of[question_id], meta={"corpus_part": "vqa"}))
    return samples
