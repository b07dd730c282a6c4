"""Where a task's files sit under a data root, shared by readers and tiny-suite writers.

A task YAML names its annotation files and video folders relative to ``<data root>/<dataset.root>``.
Paths taken from annotation rows go through :func:`resolve_under`, which refuses anything that
would escape the dataset folder (``..``, absolute paths): an annotation file is data, and data
must not steer vpbench to read arbitrary files.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from vpbench.errors import AnnotationError, RegistryError
from vpbench.registry import TaskConfig


def annotation_path(task: TaskConfig, data_dir: Path, role: str) -> Path:
    """The annotation file a task declares under ``dataset.annotations.<role>``."""
    annotations = task.dataset["annotations"]
    if role not in annotations:
        raise RegistryError(f"{task.source}: task '{task.name}' declares no 'dataset.annotations.{role}' "
                            f"(it has {sorted(annotations)})")
    return data_dir / annotations[role]


def video_dir(task: TaskConfig, data_dir: Path, key: str | None = None) -> Path:
    """The video folder: ``dataset.videos`` is one folder, or a mapping split/source -> folder."""
    videos = task.dataset["videos"]
    if isinstance(videos, str):
        return data_dir / videos
    if key not in videos:
        raise RegistryError(f"{task.source}: task '{task.name}' has no 'dataset.videos.{key}' (it has {sorted(videos)})")
    return data_dir / videos[key]


def resolve_under(root: Path, relative: str, *, source: Path | str, where: str) -> Path:
    """``root / relative``, refusing a path that leaves ``root``. ``source``/``where`` name the row for errors."""
    rel = PurePosixPath(relative.replace("\\", "/"))
    if rel.is_absolute() or ".." in rel.parts or not rel.parts:
        raise AnnotationError(f"{source}: {where}: video path '{relative}' must be relative and stay inside "
                              f"{root} (no '..', no absolute path)")
    return root.joinpath(*rel.parts)


def user_file(task: TaskConfig, paths: dict[str, str | Path] | None, key: str) -> Path | None:
    """A user-supplied file (``dataset.user_files.<key>``) given on the command line, checked to exist."""
    spec = task.user_file_spec(key)
    value = (paths or {}).get(key)
    if value is None:
        return None
    path = Path(value)
    if not path.is_file():
        raise AnnotationError(f"user file '{key}' for task '{task.name}': {path} does not exist "
                              f"(expected: {spec.describe()})")
    return path
