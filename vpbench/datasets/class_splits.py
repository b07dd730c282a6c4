"""Class splits: several label spaces over one evaluation split, each scored on its own.

Zero-shot protocols that evaluate on new classes report the mean and standard deviation over a
few published class splits (Kinetics-600: ER-ZSAR's three splits of 160 of the 220 classes not in
Kinetics-400). A split file is YAML::

    splits:
      - name: split1
        classes: [acting in play, adjusting glasses, ...]

``dataset.class_splits`` names a file shipped in ``vpbench/datasets/data/`` (whose header states
its source) and the user file ``class_splits`` replaces it. The file's hash goes into the result.
This module only reads and checks files; the family runner decides what to do with the splits.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import yaml

from vpbench.errors import AnnotationError
from vpbench.yamlsafe import safe_load

DATA_DIR = Path(__file__).parent / "data"


@dataclass(frozen=True)
class ClassSplit:
    name: str
    classes: tuple[str, ...]


@dataclass(frozen=True)
class ClassSplits:
    path: Path
    sha256: str
    splits: tuple[ClassSplit, ...]

    def record(self) -> dict:
        """What a result states about the splits it was scored on."""
        return {"file": self.path.name, "sha256": self.sha256,
                "splits": {split.name: len(split.classes) for split in self.splits}}


def shipped_path(name: str) -> Path:
    """The split file vpbench ships under ``name`` (``kinetics600_zeroshot_splits``)."""
    path = DATA_DIR / f"{name}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in DATA_DIR.glob("*.yaml"))
        raise AnnotationError(f"dataset.class_splits: no shipped split file {name!r} (known: {known})")
    return path


def check_classes(splits: ClassSplits, class_names: list[str]) -> None:
    """Every class of every split must be a label of the annotation files read."""
    known = set(class_names)
    for split in splits.splits:
        unknown = [c for c in split.classes if c not in known]
        if unknown:
            raise AnnotationError(f"{splits.path}: split {split.name!r}: {len(unknown)} classes are not labels of the "
                                  f"annotation files, e.g. {unknown[:3]}")


def read_class_splits(path: str | Path) -> ClassSplits:
    """Read and check a split file (names, at least two distinct classes per split)."""
    path = Path(path)
    try:
        data = path.read_bytes()
        document = safe_load(data.decode("utf-8"))
    except OSError as error:
        raise AnnotationError(f"{path}: cannot read the class split file ({error.strerror})") from None
    except (UnicodeDecodeError, yaml.YAMLError) as error:
        raise AnnotationError(f"{path}: not a YAML class split file ({error})") from None
    entries = document.get("splits") if isinstance(document, dict) else None
    if not isinstance(entries, list) or not entries:
        raise AnnotationError(f"{path}: expected a key 'splits' with a list of {{name, classes}} entries")
    splits, names = [], set()
    for index, entry in enumerate(entries):
        where = f"{path}: splits[{index}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str) or not entry["name"].strip():
            raise AnnotationError(f"{where}: expected a mapping with a non-empty 'name' and a list 'classes'")
        name = entry["name"].strip()
        classes = entry.get("classes")
        if not isinstance(classes, list) or len(classes) < 2 or not all(isinstance(c, str) for c in classes):
            raise AnnotationError(f"{where} ({name}): 'classes' must list at least two class names")
        if name in names:
            raise AnnotationError(f"{where}: split name {name!r} is used twice")
        if len(set(classes)) != len(classes):
            twice = sorted({c for c in classes if classes.count(c) > 1})
            raise AnnotationError(f"{where} ({name}): classes listed twice: {twice[:5]}")
        names.add(name)
        splits.append(ClassSplit(name, tuple(classes)))
    return ClassSplits(path=path, sha256=hashlib.sha256(data).hexdigest(), splits=tuple(splits))
