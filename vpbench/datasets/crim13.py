"""Reader for CRIM13 resident-intruder videos, side or top view (``dataset.format: crim13``).

CRIM13 (Burgos-Artizzu et al., CVPR 2012) was annotated with Piotr Dollár's Caltech Behavior
Annotator, whose text files are verified from public parsers (MARS, SimBA's ``Caltech_2_DLC``)::

    Caltech Behavior Annotator - Annotation File

    Configuration file:
    approach    a
    attack      q
    ...

    S1:    start    end    type
    -----------------------------
        1    120    other
        121    300    sniff

Bouts are 1-based inclusive frame ranges; streams ``S2``... may follow (only ``S1`` is used).
Behaviours: approach, attack, copulation, chase, circle, drink, eat, clean, sniff, up,
walk_away, other.

Assumed layout (the release's folder structure was not verified; stated in the notes):
``splits/{train,test}.txt`` list video ids one per line; each id's annotation is
``annotations/<id>.txt`` (``dataset.options.annotation_dir`` changes the folder); the two
cameras are separate videos, converted from the release's ``.seq`` to ``videos/<id>_<view>.mp4``
(or ``videos/<view>/<id>.mp4``) with ``dataset.options.view`` = ``side`` or ``top``. Frames a
stream leaves unannotated count as the background behaviour (``dataset.options.background``).
Samples: every frame of a recording up to its last bout's end (every
``dataset.options.sample_every[split]``-th one), labelled with its S1 behaviour, its clip centred
on it (:mod:`vpbench.datasets.clips`; CRIM13 ships no clip-level benchmark code, so the
per-frame definition of the other behaviour sets is used). Classes: every behaviour named in the configurations and
bouts of the annotation files of all the task's split lists, sorted alphabetically, so train and
test agree whatever order a file's configuration lists them in. This reader never
reads the ``.seq`` files themselves.
"""

from __future__ import annotations

import re
from pathlib import Path

from vpbench.datasets.clips import centred_span, clip_geometry, sample_every, sampling_note
from vpbench.datasets.locate import VideoLocator
from vpbench.datasets.paths import annotation_path, resolve_under, video_dir
from vpbench.datasets.sample import DatasetSplit, MissingVideo, Sample
from vpbench.datasets.tabular import index_table, parse_number, read_lines, require_file
from vpbench.errors import AnnotationError, RegistryError
from vpbench.registry import TaskConfig
from vpbench.textio import read_text

HEADER = "caltech behavior annotator - annotation file"
STREAM = re.compile(r"^S(\d+):")
VIEWS = ("side", "top")


def read(task: TaskConfig, data_dir: Path, split: str, user_files: dict[str, Path]) -> DatasetSplit:
    options = task.dataset.get("options", {})
    frames, stride = clip_geometry(task)
    every = sample_every(task, split)
    view = options.get("view")
    if view not in VIEWS:
        raise RegistryError(f"{task.source}: key 'dataset.options.view' must be one of {list(VIEWS)}, got {view!r}")
    background = options.get("background", "other")
    split_path = annotation_path(task, data_dir, split)
    video_ids = read_split_list(split_path)
    annotation_dir = data_dir / options.get("annotation_dir", "annotations")
    bouts = {video_id: read_annotation(_annotation_file(annotation_dir, video_id, split_path, line))
             for line, video_id in video_ids}
    files = [split_path, *(annotation_dir / f"{video_id}.txt" for _, video_id in video_ids)]
    names = sorted({background} | _behaviours(bouts.values())
                   | _other_splits_behaviours(task, data_dir, split, annotation_dir, files))
    index = index_table(names)
    locator = VideoLocator(video_dir(task, data_dir, split))
    samples, missing = [], []
    for line, video_id in video_ids:
        _, rows = bouts[video_id]
        frame_labels = [index[background]] * max((end for _, end, _, _ in rows), default=0)
        for start, end, name, _ in rows:
            frame_labels[start - 1:end] = [index[name]] * (end - start + 1)
        found, expected = locator.locate([f"{video_id}_{view}.mp4", f"{view}/{video_id}.mp4"], source=split_path,
                                         where=f"line {line}")
        for frame in range(0, len(frame_labels), every):
            sample_id = f"{video_id}_{view}_{frame:06d}"
            if found is None:
                missing.append(MissingVideo(sample_id, expected))
            samples.append(Sample(sample_id=sample_id, video_id=video_id, video_path=found,
                                  frame_span=centred_span(frame, frames, stride), label=frame_labels[frame],
                                  labels=(frame_labels[frame],), meta={"label_frame": frame}))
    notes = [f"{view} view; annotations from stream S1 of {annotation_dir}/<id>.txt; videos assumed converted "
             f"from .seq to <id>_{view}.mp4; unannotated frames = '{background}'", sampling_note(task, split)]
    return DatasetSplit(task=task.name, split=split, samples=samples, class_names=names, missing=missing,
                        annotation_files=files, notes=notes)


def _annotation_file(annotation_dir: Path, video_id: str, split_path: Path, line: int) -> Path:
    return resolve_under(annotation_dir, f"{video_id}.txt", source=split_path, where=f"line {line}")


def _behaviours(annotations) -> set[str]:
    return {name for config, rows in annotations for name in [*config, *(row[2] for row in rows)]}


def _other_splits_behaviours(task: TaskConfig, data_dir: Path, split: str, annotation_dir: Path,
                             files: list[Path]) -> set[str]:
    """Behaviours named by the task's other split lists that exist, so train and test share one class list.

    The files read are appended to ``files``: they decide the class indices, so they belong to the
    split's fingerprint.
    """
    names: set[str] = set()
    for role in task.dataset["annotations"]:
        path = annotation_path(task, data_dir, role)
        if role == split or not path.is_file():
            continue
        others = [_annotation_file(annotation_dir, video_id, path, line) for line, video_id in read_split_list(path)]
        names |= _behaviours(read_annotation(file) for file in others)
        files += [path, *others]
    return names


def read_split_list(path: Path) -> list[tuple[int, str]]:
    """(line, video id) per non-blank line; a trailing ``.txt`` or ``.seq`` is ignored."""
    ids = []
    for line, text in read_lines(path, what="a CRIM13 split list (one video id per line)", comments=True):
        video_id = re.sub(r"\.(txt|seq)$", "", text.strip())
        if any(video_id == seen for _, seen in ids):
            raise AnnotationError(f"{path}: line {line}: video id '{video_id}' is listed twice")
        ids.append((line, video_id))
    if not ids:
        raise AnnotationError(f"{path}: no video ids")
    return ids


def read_annotation(path: Path) -> tuple[list[str], list[tuple[int, int, str, int]]]:
    """(configured behaviour names, S1 bouts as (start, end, behaviour, line)) of one annotator file."""
    what = "the video's Caltech Behavior Annotator file"
    raw = read_text(require_file(path, what), what=what, error=AnnotationError).splitlines()
    header_line = next((number for number, text in enumerate(raw, start=1) if text.strip()), 1)
    if not raw or raw[header_line - 1].strip().lower() != HEADER:
        raise AnnotationError(f"{path}: line {header_line}: expected the header "
                              f"'Caltech Behavior Annotator - Annotation File'")
    config: list[str] = []
    streams: dict[int, list[tuple[int, int, str, int]]] = {}
    current: int | None = None
    in_config = False
    for number, text in enumerate(raw[header_line:], start=header_line + 1):
        stripped = text.strip()
        if stripped.startswith("---"):
            continue
        if stripped.lower() == "configuration file:":
            in_config, current = True, None
            continue
        if not stripped:
            in_config = False
            continue
        match = STREAM.match(stripped)
        if match:
            in_config, current = False, int(match.group(1))
            streams.setdefault(current, [])
            continue
        if in_config:
            config.append(stripped.split()[0])
            continue
        if current is None:
            raise AnnotationError(f"{path}: line {number}: '{stripped}' comes before any 'S1:' stream header")
        parts = stripped.split()
        start, end = (parse_number(p, int) for p in parts[:2]) if len(parts) == 3 else (None, None)
        if start is None or end is None or start < 1 or end < start:
            raise AnnotationError(f"{path}: line {number}: '{stripped}', expected '<start> <end> <behaviour>' with "
                                  f"1-based frames, start <= end")
        if config and parts[2] not in config:
            raise AnnotationError(f"{path}: line {number}: behaviour '{parts[2]}' is not in the file's "
                                  f"configuration ({', '.join(config)})")
        streams[current].append((start, end, parts[2], number))
    if 1 not in streams:
        raise AnnotationError(f"{path}: no 'S1:' stream of bouts")
    return config, streams[1]
