"""Dataset readers: one module per official annotation format, named by ``dataset.format``.

``vpbench/datasets/<format>.py`` exposes
``read(task, data_dir, split, user_files) -> DatasetSplit`` where ``data_dir`` is
``<data root>/<dataset.root>`` and ``user_files`` maps ``dataset.user_files`` keys to the paths the
user gave (``--user-file KEY=PATH``). This package only dispatches; it never parses a file itself.
"""

from __future__ import annotations

from pathlib import Path

from vpbench.datasets.sample import DatasetSplit, MissingVideo, PersonBox, Sample, Segment
from vpbench.errors import AnnotationError
from vpbench.plugins import named_module
from vpbench.registry import TaskConfig

__all__ = ["DatasetSplit", "MissingVideo", "PersonBox", "Sample", "Segment", "read_split", "reader_module"]


def reader_module(format_name: str):
    """The reader module for a format; a clear error if this version has none."""
    return named_module("vpbench.datasets", format_name,
                        f"no reader for dataset format '{format_name}' in this version of vpbench")


def read_split(task: TaskConfig, data_root: str | Path, split: str,
               user_files: dict[str, Path] | None = None) -> DatasetSplit:
    """Read one split of a task's dataset from ``data_root / task.dataset['root']``.

    Sample ids must be unique within a split (features, predictions and scores are keyed by
    them): a repeated id is an error naming the split's annotation files, whatever the reader.
    """
    data_dir = Path(data_root) / task.dataset["root"]
    result = reader_module(task.dataset["format"]).read(task, data_dir, split, dict(user_files or {}))
    first: dict[str, int] = {}
    for position, sample in enumerate(result.samples, start=1):
        if sample.sample_id in first:
            files = ", ".join(str(p) for p in result.annotation_files) or str(data_dir)
            raise AnnotationError(f"{files}: sample id {sample.sample_id!r} appears twice in split '{split}' "
                                  f"(samples {first[sample.sample_id]} and {position} of {len(result.samples)}); "
                                  "every annotated clip needs its own id")
        first[sample.sample_id] = position
    return result
