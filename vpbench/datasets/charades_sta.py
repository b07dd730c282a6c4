"""Reader for Charades-STA as zero-shot multiple choice (``dataset.format: charades_sta``).

Official file (Gao et al. 2017, jiyanggao/TALL): ``charades_sta_test.txt``, one query per line,
``<video id> <start s> <end s>##<sentence>``, e.g. ``3MSZA 24.3 30.4##person turn a light on.``
(3,720 test queries over Charades test videos ``Charades_v1_480/<id>.mp4``).

The VideoPrism paper scores Charades-STA as multiple choice but does not publish how the
choices were built. Convention used here, stated in every split's notes: each query is one
sample whose clip is its own segment; its candidates are its own sentence plus
``dataset.options.num_candidates - 1`` distinct sentences drawn from queries of *other* videos
(a sentence equal to the query's own, ignoring case, spaces and the final period, is never a
distractor). The draw is a NumPy PCG64 generator seeded with the first 8 bytes of
``sha256(sample_id)`` over the sorted list of (sentence, video) pairs of the file, and the
right answer's position comes from the same generator; so the choices depend only on the file,
never on the order samples are read or on the run's seed. A distractor can happen to describe
the query's clip as well (two videos of someone sitting down); that is inherent to drawing from
other videos and equally true of any construction that does not filter by meaning. A query whose
end is not after its start is dropped and counted in the notes rather than failing the split.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from vpbench.datasets.locate import VideoLocator
from vpbench.datasets.paths import annotation_path, video_dir
from vpbench.datasets.sample import DatasetSplit, MissingVideo, Sample
from vpbench.datasets.tabular import parse_number, read_lines
from vpbench.errors import AnnotationError
from vpbench.registry import TaskConfig

DEFAULT_CANDIDATES = 5


def read(task: TaskConfig, data_dir: Path, split: str, user_files: dict[str, Path]) -> DatasetSplit:
    path = annotation_path(task, data_dir, split)
    num_candidates = int(task.dataset.get("options", {}).get("num_candidates", DEFAULT_CANDIDATES))
    queries, dropped = parse_queries(path)
    pool = sorted({(sentence, video) for video, _, _, sentence, _ in queries})
    locator = VideoLocator(video_dir(task, data_dir, split))
    samples, missing, occurrences = [], [], {}
    for video, start, end, sentence, line in queries:
        occurrences[video] = occurrences.get(video, 0) + 1
        sample_id = f"{video}_q{occurrences[video]}"
        candidates, answer = choices(sample_id, video, sentence, pool, num_candidates, where=f"{path}: line {line}")
        found, expected = locator.locate([f"{video}.mp4"], source=path, where=f"{path}: line {line}")
        if found is None:
            missing.append(MissingVideo(sample_id, expected))
        samples.append(Sample(sample_id=sample_id, video_id=video, video_path=found, clip_span_s=(start, end),
                              captions=(sentence,), candidates=candidates, answer=sentence, answer_index=answer))
    notes = [f"multiple choice built by vpbench (the paper's construction is not public): each query's own "
             f"sentence + {num_candidates - 1} sentences of other videos, drawn with a generator seeded by "
             f"sha256(sample id); clip = the query's segment"]
    if dropped:
        notes.append(f"{len(dropped)} queries dropped because end <= start (lines {dropped[:10]})")
    return DatasetSplit(task=task.name, split=split, samples=samples, missing=missing,
                        annotation_files=[path], notes=notes)


def parse_queries(path: Path) -> tuple[list[tuple[str, float, float, str, int]], list[int]]:
    """(video, start, end, sentence, line) per query, and the lines dropped for an empty span."""
    queries, dropped = [], []
    for line, text in read_lines(path, what="charades_sta_test.txt ('<vid> <start> <end>##<sentence>' per line)"):
        head, sep, sentence = text.partition("##")
        parts = head.split()
        if not sep or len(parts) != 3 or not sentence.strip():
            raise AnnotationError(f"{path}: line {line}: '{text.strip()[:80]}', expected "
                                  f"'<video id> <start> <end>##<sentence>'")
        start, end = parse_number(parts[1]), parse_number(parts[2])
        if start is None or end is None or start < 0:
            raise AnnotationError(f"{path}: line {line}: times '{parts[1]} {parts[2]}' must be seconds >= 0")
        if end <= start:
            dropped.append(line)
            continue
        queries.append((parts[0], start, end, sentence.strip(), line))
    return queries, dropped


def choices(sample_id: str, video: str, sentence: str, pool: list[tuple[str, str]], count: int,
            *, where: str) -> tuple[tuple[str, ...], int]:
    """The candidate sentences and the index of ``sentence`` among them (see the module docstring)."""
    seed = int.from_bytes(hashlib.sha256(sample_id.encode()).digest()[:8], "little")
    rng = np.random.default_rng(seed)
    own = _normalise(sentence)
    picked: list[str] = []
    seen = {own}
    for index in rng.permutation(len(pool)):
        other, other_video = pool[index]
        if other_video != video and _normalise(other) not in seen:
            picked.append(other)
            seen.add(_normalise(other))
            if len(picked) == count - 1:
                break
    if len(picked) < count - 1:
        raise AnnotationError(f"{where}: only {len(picked)} distinct sentences of other videos exist; "
                              f"{count - 1} distractors are needed")
    answer = int(rng.integers(count))
    picked.insert(answer, sentence)
    return tuple(picked), answer


def _normalise(sentence: str) -> str:
    return " ".join(sentence.lower().split()).rstrip(".")
