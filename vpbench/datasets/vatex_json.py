"""Reader for VATEX (``dataset.format: vatex_json``): one sample per clip with its English captions.

``vatex_training_v1.0.json`` / ``vatex_validation_v1.0.json`` are lists of ``{"videoID":
"<youtube id>_<start:06d>_<end:06d>", "enCap": [10 English captions], "chCap": [10 Chinese]}``;
YouTube ids may contain ``_``, so the id is split from the right. Videos are the 10-second clips
named ``<videoID>.<ext>``; with ``dataset.options.full_videos: true`` they are the full YouTube
videos ``<youtube id>.<ext>`` and the sample's clip span is ``[start, end]``.

Retrieval is evaluated on the 1,500-video test list of HGR (Chen et al. 2020), which is not part
of the release: the user file ``test_ids`` (one videoID per line) selects it from the validation
set. Without it the whole validation set is used, and the split's notes say so: the evaluated set
is never changed silently.
"""

from __future__ import annotations

from pathlib import Path

from vpbench.datasets.fields import VideoFinder, text
from vpbench.datasets.paths import annotation_path, user_file, video_dir
from vpbench.datasets.sample import DatasetSplit, Sample
from vpbench.datasets.tabular import field, read_json, read_lines
from vpbench.errors import AnnotationError
from vpbench.registry import TaskConfig


def read(task: TaskConfig, data_dir: Path, split: str, user_files: dict) -> DatasetSplit:
    path = annotation_path(task, data_dir, split)
    full_videos = bool(task.dataset.get("options", {}).get("full_videos", False))
    finder = VideoFinder(video_dir(task, data_dir), path)
    samples = []
    for k, entry in enumerate(read_json(path, list, what="a VATEX JSON (vatex_validation_v1.0.json)")):
        where = f"{path}: [{k}]"
        video_id = text(field(entry, "videoID", str, where), where, "videoID")
        youtube_id, start, end = split_video_id(video_id, where)
        captions = field(entry, "enCap", list, where)
        if not captions:
            raise AnnotationError(f"{where}: 'enCap' is empty; expected the English captions")
        name = youtube_id if full_videos else video_id
        samples.append(Sample(
            sample_id=video_id, video_id=video_id, video_path=finder.find(video_id, [name], where),
            clip_span_s=(float(start), float(end)) if full_videos else None,
            captions=tuple(text(c, where, f"enCap[{i}]") for i, c in enumerate(captions))))
    files, notes = [path], []
    if "test_ids" in task.dataset.get("user_files", {}) and split == task.dataset["eval_split"]:
        samples = _select_test_ids(task, user_files, samples, files, notes)
    kept = {s.sample_id for s in samples}
    return DatasetSplit(task=task.name, split=split, samples=samples, annotation_files=files, notes=notes,
                        missing=[m for m in finder.missing if m.sample_id in kept])


def split_video_id(video_id: str, where: str) -> tuple[str, int, int]:
    """``"Ptf_2VRj-V0_000122_000132"`` → ``("Ptf_2VRj-V0", 122, 132)``."""
    parts = video_id.rsplit("_", 2)
    if len(parts) != 3 or not (parts[1].isdigit() and parts[2].isdigit()) or not parts[0]:
        raise AnnotationError(f"{where}: videoID {video_id!r} is not '<youtube id>_<start>_<end>'")
    return parts[0], int(parts[1]), int(parts[2])


def _select_test_ids(task: TaskConfig, user_files: dict, samples: list[Sample], files: list[Path],
                     notes: list[str]) -> list[Sample]:
    ids_path = user_file(task, user_files, "test_ids")
    if ids_path is None:
        notes.append(f"no 'test_ids' user file: the whole {task.dataset['eval_split']} set ({len(samples)} videos) "
                     "is evaluated, not the 1,500-video HGR test list")
        return samples
    by_id = {s.sample_id: s for s in samples}
    selected: dict[str, Sample] = {}
    for line, content in read_lines(ids_path, what="the HGR test list (one videoID per line)"):
        video_id = content.strip()
        if video_id not in by_id:
            raise AnnotationError(f"{ids_path}: line {line}: videoID {video_id!r} is not in the "
                                  f"{task.dataset['eval_split']} annotations")
        if video_id in selected:
            raise AnnotationError(f"{ids_path}: line {line}: videoID {video_id!r} is listed twice")
        selected[video_id] = by_id[video_id]
    files.append(ids_path)
    notes.append(f"test list from user file 'test_ids' ({ids_path.name}): {len(selected)} of {len(samples)} videos")
    return list(selected.values())
