"""Reader for the Kinetics-400 / Kinetics-600 CSV releases (``dataset.format: kinetics_csv``).

Verified against the crawler release (activitynet/ActivityNet ``Crawler/Kinetics/data``):
K400 train/val columns ``label,youtube_id,time_start,time_end,split,is_cc``, K600 without
``is_cc``, test files without ``label``; labels containing spaces are double-quoted in K400 and
bare in K600; YouTube ids may begin with ``-``; times are integer seconds (some re-releases
write ``17.0``). The DeepMind tarball names the files ``train.csv``/``validate.csv``, the CVDF
mirror ``train.csv``/``val.csv``, the crawler ``kinetics-400_val.csv``, mmaction2
``kinetics_val.csv``: when the file the task names is absent, these names are tried beside it
and in the dataset folder, and the one used is stated in the split's notes.

Class index = position in the alphabetically sorted set of label names (mmaction2's
``label_map_k400.txt`` order), taken over the train and val files the task declares that exist,
so the two splits of a probe always agree. A row repeating an earlier clip is counted once and
reported in the notes. Videos: ``{id}_{start:06d}_{end:06d}.mp4``
(crawler/mmaction2 trimmed clips), flat or inside a ``label`` or ``label_with_underscores``
folder; a full-length ``{id}.mp4`` is accepted too, and then the clip span is the row's times.
This reader never downloads anything and never drops a row without saying so.
"""

from __future__ import annotations

from pathlib import Path

from vpbench.datasets.locate import VideoLocator
from vpbench.datasets.paths import annotation_path, video_dir
from vpbench.datasets.sample import DatasetSplit, MissingVideo, Sample
from vpbench.datasets.tabular import Row, index_table, read_csv
from vpbench.errors import AnnotationError
from vpbench.registry import TaskConfig

REQUIRED = ("youtube_id", "time_start", "time_end")
RELEASE_NAMES = {"train": ("train.csv", "kinetics-{n}_train.csv", "kinetics_train.csv"),
                 "val": ("validate.csv", "val.csv", "kinetics-{n}_val.csv", "kinetics_val.csv"),
                 "test": ("test.csv", "kinetics-{n}_test.csv", "kinetics_test.csv")}
"""Names a split's file has in the DeepMind, CVDF, crawler and mmaction2 releases ({n}: 400 or 600)."""
CLIP_SUFFIXES = (".mp4", ".mkv", ".webm")


def read(task: TaskConfig, data_dir: Path, split: str, user_files: dict[str, Path]) -> DatasetSplit:
    notes: list[str] = []
    path = _split_file(task, data_dir, split)
    if path is None:
        declared = annotation_path(task, data_dir, split)
        raise AnnotationError(f"{declared}: file not found (expected the Kinetics {split} CSV; also looked for "
                              f"{', '.join(_release_names(task, split))} in {declared.parent} and {data_dir})")
    if path != annotation_path(task, data_dir, split):
        notes.append(f"{split} annotations read from {path} ({annotation_path(task, data_dir, split).name} "
                     f"not found)")
    rows = _rows(path)
    label_files = [p for p in (_split_file(task, data_dir, role) for role in _label_roles(task)) if p] or [path]
    names = sorted({_label(row) for p in label_files for row in (rows if p == path else _rows(p))
                    if "label" in row.values})
    classes = index_table(names)
    notes.append(f"{len(names)} classes: sorted label names of {', '.join(p.name for p in label_files)} "
                 f"(mmaction2 order)")

    locator = VideoLocator(video_dir(task, data_dir, split))
    samples, missing, duplicates = [], [], []
    seen: set[str] = set()
    for row in rows:
        youtube_id = row["youtube_id"].strip()
        if not youtube_id:
            raise row.error("column 'youtube_id' is empty")
        start = row.numeric("time_start", float)
        end = row.numeric("time_end", float)
        if end <= start:
            raise row.error(f"time_end {end:g} is not after time_start {start:g}")
        clip = f"{youtube_id}_{int(start):06d}_{int(end):06d}"
        if clip in seen:
            duplicates.append(row.number)
            continue
        seen.add(clip)
        label_name = _label(row) if "label" in row.values else None
        label = classes[label_name] if label_name is not None else None
        candidates = _candidates(clip, youtube_id, label_name)
        found, expected = locator.locate(candidates, source=path, where=row.where)
        full_video = found is not None and found.stem == youtube_id
        if found is None:
            missing.append(MissingVideo(clip, expected))
        samples.append(Sample(
            sample_id=clip, video_id=youtube_id, video_path=found, label=label,
            clip_span_s=(start, end) if full_video else None,
            meta={"time_start": start, "time_end": end, "is_cc": row.get("is_cc")}))
    if duplicates:
        notes.append(f"{len(duplicates)} rows repeat an earlier clip and were not counted twice "
                     f"(rows {duplicates[:10]})")
    return DatasetSplit(task=task.name, split=split, samples=samples, class_names=names, missing=missing,
                        annotation_files=list(dict.fromkeys([path, *label_files])), notes=notes)


def _rows(path: Path) -> list[Row]:
    return read_csv(path, required=REQUIRED, what="a Kinetics CSV (label,youtube_id,time_start,time_end,split)")


def _label_roles(task: TaskConfig) -> list[str]:
    return [role for role in task.dataset["annotations"] if role in ("train", "val")]


def _release_names(task: TaskConfig, split: str) -> list[str]:
    variant = "600" if "600" in task.dataset["name"] else "400"
    return [name.format(n=variant) for name in RELEASE_NAMES.get(split, ())]


def _split_file(task: TaskConfig, data_dir: Path, split: str) -> Path | None:
    """The declared file, else the first release alias found beside it or in the dataset folder."""
    declared = annotation_path(task, data_dir, split)
    if declared.is_file():
        return declared
    for folder in dict.fromkeys((declared.parent, data_dir)):
        for name in _release_names(task, split):
            if (folder / name).is_file():
                return folder / name
    return None


def _label(row: Row) -> str:
    label = row["label"].strip()
    if not label:
        raise row.error("column 'label' is empty (expected a Kinetics class name)")
    return label


def _candidates(clip: str, youtube_id: str, label: str | None) -> list[str]:
    folders = [""] + ([f"{label.replace(' ', '_')}/", f"{label}/"] if label else [])
    paths = [f"{folder}{clip}{suffix}" for suffix in CLIP_SUFFIXES for folder in folders]
    return paths + [f"{folder}{youtube_id}.mp4" for folder in folders]
