"""Reader for MSR-VTT (``dataset.format: msrvtt_json``): captioning splits and the 1k-A retrieval split.

What a split is depends on the file its role (``dataset.annotations.<split>``) names:

- ``*_videodatainfo.json`` (``train_val_videodatainfo.json``, ``test_videodatainfo.json``) or
  CLIP4Clip's ``MSRVTT_data.json``: ``{"info", "videos": [{"video_id": "video0", "split":
  "train"|"validate"|"test", "url", "start time", "end time", "category", "id"}],
  "sentences": [{"sen_id", "video_id", "caption"}]}`` (keys with spaces). One sample per video of
  the split named by the role (``train`` → "train", ``val`` → "validate", ``test``/``test_full``
  → "test"), with all its captions (20 per video) in ``sen_id`` order.
- ``MSRVTT_JSFUSION_test.csv`` (1k-A test; header ``key,vid_key,video_id,sentence``): one sample
  per row, the row's sentence as the single caption (1,000 video-caption pairs).
- ``MSRVTT_train.9k.csv`` (column ``video_id``): one sample per listed video, with its captions
  from the ``data`` role (``MSRVTT_data.json``).

Videos are ``video<N>.<ext>`` (already trimmed clips, so no clip span). A listed video without a
caption is an error: the reader never drops or invents one.
"""

from __future__ import annotations

from pathlib import Path

from vpbench.datasets.fields import VideoFinder, integer, text
from vpbench.datasets.paths import annotation_path, video_dir
from vpbench.datasets.sample import DatasetSplit, Sample
from vpbench.datasets.tabular import field, read_csv, read_header, read_json
from vpbench.errors import AnnotationError
from vpbench.registry import TaskConfig

_SPLIT_FIELD = {"train": "train", "val": "validate", "validate": "validate", "test": "test", "test_full": "test"}
"""Split name in a task → value of ``videos[].split`` in a videodatainfo file."""


def read(task: TaskConfig, data_dir: Path, split: str, user_files: dict) -> DatasetSplit:
    path = annotation_path(task, data_dir, split)
    finder = VideoFinder(video_dir(task, data_dir), path)
    files = [path]
    if path.suffix.lower() == ".json":
        samples = _videodatainfo_split(path, split, finder)
    else:
        columns = read_header(path, what="an MSR-VTT split CSV")
        if "key" in columns or "sentence" in columns:  # the 1k-A pairs (key,vid_key,video_id,sentence)
            samples = _pair_rows(path, finder)
        else:
            data_path = annotation_path(task, data_dir, "data")
            files.append(data_path)
            samples = _listed_videos(path, data_path, finder)
    return DatasetSplit(task=task.name, split=split, samples=samples, missing=finder.missing, annotation_files=files)


def captions_by_video(path: Path) -> tuple[list, dict[str, list[str]]]:
    """The ``videos`` list of a videodatainfo-style file and each video's captions in ``sen_id`` order."""
    data = read_json(path, dict, what="an MSR-VTT videodatainfo JSON")
    videos = field(data, "videos", list, f"{path}")
    sentences = field(data, "sentences", list, f"{path}")
    by_video: dict[str, list[tuple[int, str]]] = {}
    for k, sentence in enumerate(sentences):
        where = f"{path}: sentences[{k}]"
        video_id = field(sentence, "video_id", str, where)
        sen_id = integer(field(sentence, "sen_id", (int, str), where), where, "sen_id")
        caption = text(field(sentence, "caption", str, where), where, "caption")
        by_video.setdefault(video_id, []).append((sen_id, caption))
    return videos, {video: [c for _, c in sorted(captions)] for video, captions in by_video.items()}


def _videodatainfo_split(path: Path, split: str, finder: VideoFinder) -> list[Sample]:
    videos, captions = captions_by_video(path)
    wanted = _SPLIT_FIELD.get(split, split)
    samples, seen = [], set()
    for k, video in enumerate(videos):
        where = f"{path}: videos[{k}]"
        video_id = field(video, "video_id", str, where)
        seen.add(field(video, "split", str, where))
        if video["split"] != wanted:
            continue
        if video_id not in captions:
            raise AnnotationError(f"{where}: video '{video_id}' has no sentence in 'sentences'")
        samples.append(Sample(
            sample_id=video_id, video_id=video_id, video_path=finder.find(video_id, [video_id], where),
            captions=tuple(captions[video_id]),
            meta={"url": video.get("url"), "start_s": video.get("start time"), "end_s": video.get("end time"),
                  "category": video.get("category")}))
    if not samples:
        raise AnnotationError(f"{path}: no video has split '{wanted}' (for split '{split}'; splits present: "
                              f"{sorted(seen)})")
    return samples


def _pair_rows(path: Path, finder: VideoFinder) -> list[Sample]:
    samples = []
    for row in read_csv(path, required=["key", "video_id", "sentence"],
                        what="the 1k-A test pairs (MSRVTT_JSFUSION_test.csv)"):
        key, video_id = text(row["key"], row.where, "key"), text(row["video_id"], row.where, "video_id")
        samples.append(Sample(sample_id=key, video_id=video_id, video_path=finder.find(key, [video_id], row.where),
                              captions=(text(row["sentence"], row.where, "sentence"),)))
    return samples


def _listed_videos(path: Path, data_path: Path, finder: VideoFinder) -> list[Sample]:
    _, captions = captions_by_video(data_path)
    samples = []
    for row in read_csv(path, required=["video_id"], what="a video list with a video_id column (MSRVTT_train.9k.csv)"):
        video_id = text(row["video_id"], row.where, "video_id")
        if video_id not in captions:
            raise AnnotationError(f"{row.where}: video '{video_id}' has no caption in {data_path.name}")
        samples.append(Sample(sample_id=video_id, video_id=video_id, captions=tuple(captions[video_id]),
                              video_path=finder.find(video_id, [video_id], row.where)))
    return samples
