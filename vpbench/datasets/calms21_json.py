"""Reader for CalMS21 task 1 (``dataset.format: calms21_json``).

Official files (data.caltech.edu, ``calms21_task1_{train,test}.json``), structure verified from
public loaders: ``{"annotator-id_0": {"task1/train/mouse001_task1_annotator1": {"keypoints":
[T][2][2][7], "scores": [T][2][7], "annotations": [T ints], "metadata": {"vocab": {"attack": 0,
"investigation": 1, "mount": 2, "other": 3}, ...}}}}``. Keypoints and scores are not used.
Every annotated frame is a sample (every ``dataset.options.sample_every[split]``-th one), its
target the frame's behaviour, its clip centred on it (:mod:`vpbench.datasets.clips`), as the
SciVid CalMS21 records the official classification colab trains on: one ``clip/label/index``
per frame. ``other`` stays a class (the task's metric excludes it). Class order = the
vocabulary's indices.

Videos are released separately from the keypoint JSON. Assumed naming (not verified; stated in
the notes): the sequence id as a relative path, ``videos/task1/train/mouse001_task1_annotator1.mp4``
(train and test both number their sequences from ``mouse001``, so the split folder keeps them
apart), or else its last part, ``videos/mouse001_task1_annotator1.mp4``.
The JSON files are large (hundreds of MB): they are parsed once per split read. This reader
must never take labels from the keypoint arrays.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from vpbench.datasets.clips import centred_span, clip_geometry, sample_every, sampling_note
from vpbench.datasets.locate import VideoLocator
from vpbench.datasets.paths import annotation_path, video_dir
from vpbench.datasets.sample import DatasetSplit, MissingVideo, Sample
from vpbench.datasets.tabular import field, read_json
from vpbench.errors import AnnotationError
from vpbench.registry import TaskConfig

DEFAULT_VOCAB = {"attack": 0, "investigation": 1, "mount": 2, "other": 3}
"""The task-1 vocabulary of the CalMS21 paper, used when a file's metadata carries none."""


def read(task: TaskConfig, data_dir: Path, split: str, user_files: dict[str, Path]) -> DatasetSplit:
    frames, stride = clip_geometry(task)
    every = sample_every(task, split)
    path = annotation_path(task, data_dir, split)
    data = read_json(path, dict, what="a CalMS21 task-1 JSON ({annotator: {sequence id: {annotations, ...}}})")
    groups = {}
    for annotator, sequences in data.items():
        if not isinstance(sequences, dict):
            raise AnnotationError(f"{path}: key '{annotator}' holds a JSON {type(sequences).__name__}, expected an "
                                  f"object of sequences")
        groups[annotator] = sequences
    vocab, vocab_source = _vocabulary(path, groups)
    names = [name for name, _ in sorted(vocab.items(), key=lambda item: item[1])]
    locator = VideoLocator(video_dir(task, data_dir, split))
    samples, missing = [], []
    for annotator, sequences in groups.items():
        for sequence_id, sequence in sequences.items():
            where = f"{path}: key '{annotator}' / '{sequence_id}'"
            frame_labels = field(sequence, "annotations", list, where)
            for frame, value in enumerate(frame_labels):
                if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < len(names):
                    raise AnnotationError(f"{where}: annotations[{frame}] is {value!r}, expected a behaviour index "
                                          f"0..{len(names) - 1} ({', '.join(names)})")
            base = PurePosixPath(sequence_id).name
            stem = base if len(groups) == 1 else f"{annotator}_{base}"
            found, expected = locator.locate([f"{sequence_id}.mp4", f"{base}.mp4"], source=path, where=where)
            for frame in range(0, len(frame_labels), every):
                sample_id = f"{stem}_{frame:06d}"
                if found is None:
                    missing.append(MissingVideo(sample_id, expected))
                samples.append(Sample(sample_id=sample_id, video_id=sequence_id, video_path=found,
                                      frame_span=centred_span(frame, frames, stride),
                                      label=frame_labels[frame], labels=(frame_labels[frame],),
                                      meta={"label_frame": frame}))
    notes = [f"behaviour vocabulary from {vocab_source}: {', '.join(names)}", sampling_note(task, split),
             "videos assumed at <videos>/<sequence id>.mp4 or <videos>/<sequence name>.mp4 (CalMS21 ships videos "
             "apart from the keypoint JSON)"]
    return DatasetSplit(task=task.name, split=split, samples=samples, class_names=names, missing=missing,
                        annotation_files=[path], notes=notes)


def _vocabulary(path: Path, groups: dict[str, dict]) -> tuple[dict[str, int], str]:
    """The ``metadata.vocab`` all sequences share, or the paper's vocabulary if none carries one."""
    found: dict[str, int] | None = None
    for annotator, sequences in groups.items():
        for sequence_id, sequence in sequences.items():
            metadata = sequence.get("metadata") if isinstance(sequence, dict) else None
            vocab = metadata.get("vocab") if isinstance(metadata, dict) else None
            if vocab is None:
                continue
            where = f"{path}: key '{annotator}' / '{sequence_id}' / 'metadata' / 'vocab'"
            if not isinstance(vocab, dict) or not all(isinstance(v, int) for v in vocab.values()):
                raise AnnotationError(f"{where}: expected an object of behaviour name -> index, got {vocab!r}")
            if sorted(vocab.values()) != list(range(len(vocab))):
                raise AnnotationError(f"{where}: indices must be 0..{len(vocab) - 1} without gaps, got {vocab}")
            if found is not None and vocab != found:
                raise AnnotationError(f"{where}: {vocab} differs from an earlier sequence's {found}")
            found = vocab
    if found is None:
        return dict(DEFAULT_VOCAB), "the CalMS21 paper (no metadata.vocab in the file)"
    return found, f"{path.name} metadata.vocab"
