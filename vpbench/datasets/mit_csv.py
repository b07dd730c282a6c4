"""Reader for Moments in Time v1 (``dataset.format: mit_csv``).

Layout as documented by the release's README.txt: ``trainingSet.csv`` / ``validationSet.csv``
without a header, one row per video ``filename,label,positive responses,negative responses``
where ``filename`` is ``<class>/<file>.mp4`` relative to ``training/`` or ``validation/``;
``moments_categories.txt`` lists ``name,index`` per line (339 classes, 0-based). mmaction2
reads only the first column and takes the class from its folder; this reader does the same and,
when the label column is present, refuses a row whose label disagrees with its folder (a sign
of a shifted or edited file). Raw rows of the CSVs were not available to check against; the
column order is the README's. This reader must never infer a class index from row order.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from vpbench.datasets.locate import VideoLocator
from vpbench.datasets.paths import annotation_path, video_dir
from vpbench.datasets.sample import DatasetSplit, MissingVideo, Sample
from vpbench.datasets.tabular import index_table, lookup, read_csv, read_lines
from vpbench.errors import AnnotationError
from vpbench.registry import TaskConfig

COLUMNS = ("filename", "label", "positive", "negative")


def read(task: TaskConfig, data_dir: Path, split: str, user_files: dict[str, Path]) -> DatasetSplit:
    classes_path = annotation_path(task, data_dir, "classes")
    names = read_categories(classes_path)
    classes = index_table(names)
    path = annotation_path(task, data_dir, split)
    rows = read_csv(path, required=COLUMNS[:1], fieldnames=COLUMNS,
                    what="a Moments in Time CSV (filename,label,positive,negative; no header)")
    locator = VideoLocator(video_dir(task, data_dir, split))
    samples, missing = [], []
    for row in rows:
        filename = row["filename"].strip()
        folder = PurePosixPath(filename).parent.name
        if not folder:
            raise row.error(f"column 1 is '{filename}', expected '<class>/<file>.mp4'")
        label_column = (row.get("label") or "").strip()
        if label_column and label_column != folder:
            raise row.error(f"label '{label_column}' disagrees with the video's folder '{folder}'")
        label = lookup(folder, classes, where=row.where, what="class", listed_in=classes_path)
        found, expected = locator.locate([filename], source=path, where=row.where)
        if found is None:
            missing.append(MissingVideo(filename, expected))
        samples.append(Sample(sample_id=filename, video_id=filename, video_path=found, label=label))
    return DatasetSplit(task=task.name, split=split, samples=samples, class_names=names, missing=missing,
                        annotation_files=[classes_path, path])


def read_categories(path: Path) -> list[str]:
    """``moments_categories.txt``: ``name,index`` lines; the indices must be exactly 0..N-1."""
    by_index: dict[int, str] = {}
    for line, text in read_lines(path, what="moments_categories.txt (name,index per line)"):
        name, sep, index_text = text.strip().rpartition(",")
        if not sep or not name or not index_text.strip().isdigit():
            raise AnnotationError(f"{path}: line {line}: '{text.strip()}', expected '<class name>,<index>'")
        index = int(index_text)
        if index in by_index:
            raise AnnotationError(f"{path}: line {line}: index {index} is used twice "
                                  f"('{by_index[index]}' and '{name}')")
        by_index[index] = name
    if sorted(by_index) != list(range(len(by_index))):
        gaps = sorted(set(range(len(by_index))) - set(by_index))[:5]
        raise AnnotationError(f"{path}: class indices must be 0..{len(by_index) - 1} without gaps; missing {gaps}")
    return [by_index[i] for i in range(len(by_index))]
