"""Reader for VATEX (``dataset.format: vatex_json``): one sample per clip with its English captions.

``vatex_training_v1.0.json`` / ``vatex_validation_v1.0.json`` are lists of ``{"videoID":
"<youtube id>_<start:06d>_<end:06d>", "enCap": [10 English captions], "chCap": [10 Chinese]}``;
YouTube ids may contain ``_``, so the id is split from the right. Videos are the 10-second clips
named ``<videoID>.<ext>``; with ``dataset.options.full_videos: true`` they are the full YouTube
videos ``<youtube id>.<ext>`` and the sample's clip span is ``[start, end]``.

Retrieval is evaluated on the 1,500-video test list of HGR (Chen et al. 2020), which is not part
of the release: the user file ``test_ids`` (one videoID per line) selects it from the validation
set, and ``dataset.options.gallery: hgr_test`` (the retrieval task's default) requires it. The
variant ``gallery: validation`` evaluates the whole validation set instead (a ``test_ids`` file
given anyway is not used, and the notes say so).
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
    gallery = task.dataset.get("options", {}).get("gallery")
    if gallery is not None and split == task.dataset["eval_split"]:
        samples = _select_gallery(task, str(gallery), user_files, samples, files, notes)
    kept = {s.sample_id for s in samples}
    return DatasetSplit(task=task.name, split=split, samples=samples, annotation_files=files, notes=notes,
                        missing=[m for m in finder.missing if m.sample_id in kept])


def split_video_id(video_id: str, where: str) -> tuple[str, int, int]:
    """``"Ptf_2VRj-V0_000122_000132"`` → ``("Ptf_2VRj-V0", 122, 132)``."""
    parts = video_id.rsplit("_", 2)
    if len(parts) != 3 or not (parts[1].isdigit() and parts[2].isdigit()) or not parts[0]:
        raise AnnotationError(f"{where}: videoID {video_id!r} is not '<youtube id>_<start>_<end>'")
    return parts[0], int(parts[1]), int(parts[2])


GALLERIES = ("hgr_test", "validation")


def _select_gallery(task: TaskConfig, gallery: str, user_files: dict, samples: list[Sample], files: list[Path],
                    notes: list[str]) -> list[Sample]:
    """The retrieval gallery: the HGR test list (user file ``test_ids``) or the whole validation set."""
    if gallery not in GALLERIES:
        raise AnnotationError(f"{task.source}: dataset.options.gallery is {gallery!r}; expected one of "
                              f"{list(GALLERIES)}")
    ids_path = user_file(task, user_files, "test_ids")
    if gallery == "validation":
        notes.append(f"gallery: the whole {task.dataset['eval_split']} set ({len(samples)} videos), not the "
                     "1,500-video HGR test list" + (f" (the given test_ids file {ids_path.name} is not used)"
                                                    if ids_path is not None else ""))
        return samples
    if ids_path is None:
        raise AnnotationError(
            f"{task.name}: the VATEX retrieval test list of HGR (Chen et al. 2020, 1,500 videoIDs of the validation "
            "set) is needed: pass it with --user-file test_ids=PATH (one videoID per line; HGR distributes it as "
            "public_split/tst_names.npy in its data release, github.com/cshizhe/hgr_v2t), or run --variant val-3000 "
            "to evaluate the whole validation set")
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
