"""Tiny video-text corpus in the layout :mod:`vpbench.datasets.video_text_corpus` reads (``adapter.corpus``).

The captioning/QA resampler is trained on this corpus and evaluated on the tiny targets, so the
corpus shares their world (coloured shapes, the same fact grid and caption paraphrases) but none
of their clips: its clips are drawn with their own prefix and seed. ``captions.csv`` (``video,
caption``) lists CORPUS_CAPTIONS paraphrases of each of TRAIN_CLIPS clips under ``videos/``;
the VQAv2 part is a questions and an annotations JSON in the official layout (``data_subtype``
``train2014``, ten human answers and ``multiple_choice_answer`` per question) over single-frame
JPEG images ``COCO_train2014_<image_id:012d>.jpg`` of other clips, three questions each (colour,
shape, yes/no on colour: what one frame shows; direction is not). File names come from the
task's ``adapter.corpus``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vpbench.registry import TaskConfig
from vpbench.tiny import TRAIN_CLIPS
from vpbench.tiny.video import random_clips, render, write_clip
from vpbench.tiny.writers._files import write_csv, write_json
from vpbench.tiny.writers._language import image_questions, paraphrases

CORPUS_CAPTIONS = 5
"""Captions per corpus clip (the tiny targets have 10 references per clip, YouCook2 one)."""
SUBTYPE = "train2014"


def write(task: TaskConfig, data_dir: Path, rng: np.random.Generator) -> None:
    spec = task.adapter["corpus"]
    clips = random_clips(rng, TRAIN_CLIPS, prefix="corpus", num_frames=32)
    rows = []
    for k, clip in enumerate(clips):
        name = f"{k // 16:02d}/{clip.clip_id}.mp4"  # WebVid-like sub-folders
        write_clip(data_dir / spec["videos"] / name, clip)
        rows += [[name, caption] for caption in paraphrases(clip.subject, count=CORPUS_CAPTIONS)]
    write_csv(data_dir / spec["captions"], ["video", "caption"], rows)
    if spec.get("vqa"):
        _write_vqa(data_dir, spec["vqa"], rng)


def _write_vqa(data_dir: Path, vqa: dict[str, str], rng: np.random.Generator) -> None:
    from PIL import Image

    questions, annotations = [], []
    for clip in random_clips(rng, TRAIN_CLIPS, prefix="vqa", num_frames=8):
        image_id = 100_000 + len(annotations) // 3 * 7  # sparse ids, as COCO's are
        frame = render(clip)[clip.num_frames // 2]
        path = data_dir / vqa["images"] / f"COCO_{SUBTYPE}_{image_id:012d}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(frame).save(path, quality=95)
        for question, answer in image_questions(clip.subject, rng):
            question_id = image_id * 1000 + len(annotations) % 3
            questions.append({"image_id": image_id, "question": question, "question_id": question_id})
            annotations.append({
                "question_type": " ".join(question.split()[:2]), "multiple_choice_answer": answer,
                "answers": [{"answer": answer, "answer_confidence": "yes", "answer_id": i + 1} for i in range(10)],
                "image_id": image_id, "answer_type": "yes/no" if answer in ("yes", "no") else "other",
                "question_id": question_id})
    info = {"description": "vpbench tiny suite, VQAv2 layout", "version": "2.0", "year": 2024}
    write_json(data_dir / vqa["questions"], {"info": info, "task_type": "Open-Ended", "data_type": "mscoco",
                                             "license": {}, "data_subtype": SUBTYPE, "questions": questions})
    write_json(data_dir / vqa["annotations"], {"info": info, "license": {}, "data_type": "mscoco",
                                               "data_subtype": SUBTYPE, "annotations": annotations})
