"""Reader for ActivityNet Captions (``dataset.format: activitynet_captions``).

``train.json`` / ``val_1.json`` / ``val_2.json`` map ``v_<youtube id>`` to ``{"duration": s,
"timestamps": [[start, end], ...], "sentences": [...]}`` (one sentence per timestamp; sentences
often start with a space). The split name is the annotation role (``dataset.annotations``).

With ``dataset.options.paragraph: true`` (paragraph-to-video retrieval, the VideoPrism and
CLIP4Clip protocol) a video is one sample whose single caption is its sentences, stripped, joined
with one space in file order, over the whole video; otherwise each sentence is a sample with its
timestamp as the clip span. Videos are found as ``v_<id>.<ext>`` or ``<id>.<ext>`` (CLIP4Clip
strips the prefix). Sentences are never reordered or rewritten beyond trimming their spaces.
"""

from __future__ import annotations

from pathlib import Path

from vpbench.datasets.fields import VideoFinder, number, text, time_span
from vpbench.datasets.paths import annotation_path, video_dir
from vpbench.datasets.sample import DatasetSplit, Sample, Segment
from vpbench.datasets.tabular import field, read_json
from vpbench.errors import AnnotationError
from vpbench.registry import TaskConfig


def read(task: TaskConfig, data_dir: Path, split: str, user_files: dict) -> DatasetSplit:
    path = annotation_path(task, data_dir, split)
    paragraph = bool(task.dataset.get("options", {}).get("paragraph", False))
    finder = VideoFinder(video_dir(task, data_dir), path)
    samples = []
    for key, entry in read_json(path, dict, what="an ActivityNet Captions JSON (train.json, val_1.json)").items():
        where = f"{path}: key '{key}'"
        bare = key[2:] if key.startswith("v_") else key
        duration = number(field(entry, "duration", (int, float, str), where), where, "duration")
        stamps = field(entry, "timestamps", list, where)
        sentences = field(entry, "sentences", list, where)
        if len(stamps) != len(sentences):
            raise AnnotationError(f"{where}: {len(stamps)} timestamps but {len(sentences)} sentences; "
                                  "expected one timestamp per sentence")
        segments = tuple(Segment(*time_span(stamp, where, f"timestamps[{k}]"),
                                 sentence=text(sentence, where, f"sentences[{k}]"))
                         for k, (stamp, sentence) in enumerate(zip(stamps, sentences)))
        candidates = [key, bare] if key != bare else [f"v_{key}", key]
        if paragraph:
            samples.append(Sample(
                sample_id=key, video_id=bare, video_path=finder.find(key, candidates, where),
                captions=(" ".join(s.sentence for s in segments),), segments=segments, duration_s=duration))
            continue
        for k, segment in enumerate(segments):
            samples.append(Sample(
                sample_id=f"{key}#{k}", video_id=bare, video_path=finder.find(f"{key}#{k}", candidates, where),
                clip_span_s=(segment.start_s, segment.end_s), captions=(segment.sentence,), duration_s=duration))
    notes = ["paragraph retrieval: one caption per video, its sentences joined in order"] if paragraph else []
    return DatasetSplit(task=task.name, split=split, samples=samples, missing=finder.missing,
                        annotation_files=[path], notes=notes)
