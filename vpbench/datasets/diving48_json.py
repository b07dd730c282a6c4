"""Reader for Diving48 with the V2 labels (``dataset.format: diving48_json``).

Official files (svcl.ucsd.edu/projects/resound; checked against a committed copy of all
three): ``Diving48_vocab.json`` is a list of 48 four-tuples (takeoff, somersault, twist, flight
position), e.g. ``["Back", "15som", "05Twis", "FREE"]``; ``Diving48_V2_{train,test}.json`` are
lists of ``{"vid_name": "-mmq0PT-u8k_00155", "label": 0, "start_frame": 0, "end_frame": 48}``
whose ``label`` indexes the vocabulary. Each ``rgb/<vid_name>.mp4`` is already the trimmed dive,
so the whole file is the clip (the frame range is kept in ``meta`` only, as mmaction2 ignores
it too). The class name is the tuple joined by spaces. This reader must never accept the noisy
V1 label files silently: it only reads what the task names.
"""

from __future__ import annotations

from pathlib import Path

from vpbench.datasets.locate import VideoLocator
from vpbench.datasets.paths import annotation_path, video_dir
from vpbench.datasets.sample import DatasetSplit, MissingVideo, Sample
from vpbench.datasets.tabular import field, read_json
from vpbench.errors import AnnotationError
from vpbench.registry import TaskConfig


def read(task: TaskConfig, data_dir: Path, split: str, user_files: dict[str, Path]) -> DatasetSplit:
    vocab_path = annotation_path(task, data_dir, "vocab")
    names = read_vocab(vocab_path)
    path = annotation_path(task, data_dir, split)
    entries = read_json(path, list, what="a Diving48 split JSON (a list of {vid_name, label, start_frame, end_frame})")
    locator = VideoLocator(video_dir(task, data_dir, split))
    samples, missing, seen = [], [], set()
    for position, entry in enumerate(entries):
        where = f"{path}: entry [{position}]"
        name = field(entry, "vid_name", str, where).strip()
        label = field(entry, "label", int, f"{where} ({name})")
        if not 0 <= label < len(names):
            raise AnnotationError(f"{where} ({name}): label {label} is outside the {len(names)} classes of "
                                  f"{vocab_path.name}")
        if name in seen:
            raise AnnotationError(f"{where}: vid_name '{name}' appears twice")
        seen.add(name)
        found, expected = locator.locate([f"{name}.mp4"], source=path, where=where)
        if found is None:
            missing.append(MissingVideo(name, expected))
        samples.append(Sample(sample_id=name, video_id=name, video_path=found, label=label,
                              meta={"start_frame": entry.get("start_frame"), "end_frame": entry.get("end_frame")}))
    return DatasetSplit(task=task.name, split=split, samples=samples, class_names=names, missing=missing,
                        annotation_files=[vocab_path, path])


def read_vocab(path: Path) -> list[str]:
    """Class names: each vocabulary tuple joined by spaces ("Back 15som 05Twis FREE")."""
    vocab = read_json(path, list, what="Diving48_vocab.json (a list of [takeoff, somersault, twist, flight])")
    names = []
    for index, entry in enumerate(vocab):
        if not isinstance(entry, list) or not entry or not all(isinstance(part, str) for part in entry):
            raise AnnotationError(f"{path}: entry [{index}] is {entry!r}, expected a list of strings such as "
                                  f'["Back", "15som", "05Twis", "FREE"]')
        names.append(" ".join(part.strip() for part in entry))
    if len(set(names)) != len(names):
        raise AnnotationError(f"{path}: the vocabulary repeats a class")
    return names
