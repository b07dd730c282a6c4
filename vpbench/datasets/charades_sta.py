"""Reader for Charades-STA as zero-shot multiple choice (``dataset.format: charades_sta``).

Official file (Gao et al. 2017, jiyanggao/TALL): ``charades_sta_test.txt``, one query per line,
``<video id> <start s> <end s>##<sentence>``, e.g. ``3MSZA 24.3 30.4##person turn a light on.``
(3,720 test queries over 1,334 Charades test videos ``Charades_v1_480/<id>.mp4``, 2.8 per video).

The VideoPrism paper (App. F.2) turns Charades-STA into "multi-choice video-to-text retrieval
among each video's own sequential descriptions": each query is one sample whose clip is its own
segment, and its candidates are the distinct sentences of *the same video* (in file order, which
is the order of the video's descriptions; sentences equal up to case, spaces and the final period
are one candidate). The paper fixes no number of choices, so a video with K distinct sentences
gives K-way items, whatever K is: chance is the mean of 1/K, which the split's notes and the
result state. A query whose video has a single distinct sentence has no choice to make and is
left out (``dataset.options.min_candidates``, default 2), counted in the notes, as are the
queries whose video has fewer than 5 candidates (the classic 5-way setting does not apply to
them). A query whose end is not after its start is dropped and counted rather than failing the
split.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from vpbench.datasets.locate import VideoLocator
from vpbench.datasets.paths import annotation_path, video_dir
from vpbench.datasets.sample import DatasetSplit, MissingVideo, Sample
from vpbench.datasets.tabular import parse_number, read_lines
from vpbench.errors import AnnotationError
from vpbench.registry import TaskConfig

DEFAULT_MIN_CANDIDATES = 2
FEWER_THAN = 5
"""Videos with fewer distinct sentences than this are counted in the notes (the usual 5-way setting)."""


def read(task: TaskConfig, data_dir: Path, split: str, user_files: dict[str, Path]) -> DatasetSplit:
    path = annotation_path(task, data_dir, split)
    options = task.dataset.get("options", {})
    if "num_candidates" in options:
        raise AnnotationError(f"{task.source}: dataset.options.num_candidates is gone: the candidates are every "
                              "distinct sentence of the query's own video (paper App. F.2); use min_candidates")
    min_candidates = int(options.get("min_candidates", DEFAULT_MIN_CANDIDATES))
    queries, dropped = parse_queries(path)
    by_video = video_sentences(queries)
    locator = VideoLocator(video_dir(task, data_dir, split))
    samples, missing, occurrences, too_few = [], [], Counter(), []
    for video, start, end, sentence, line in queries:
        occurrences[video] += 1
        sample_id = f"{video}_q{occurrences[video]}"
        candidates = by_video[video]
        if len(candidates) < min_candidates:
            too_few.append(line)
            continue
        found, expected = locator.locate([f"{video}.mp4"], source=path, where=f"{path}: line {line}")
        if found is None:
            missing.append(MissingVideo(sample_id, expected))
        samples.append(Sample(sample_id=sample_id, video_id=video, video_path=found, clip_span_s=(start, end),
                              captions=(sentence,), candidates=candidates, answer=sentence,
                              answer_index=[_normalise(c) for c in candidates].index(_normalise(sentence))))
    return DatasetSplit(task=task.name, split=split, samples=samples, missing=missing, annotation_files=[path],
                        notes=split_notes(by_video, samples, too_few, dropped, min_candidates))


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


def video_sentences(queries: list[tuple[str, float, float, str, int]]) -> dict[str, tuple[str, ...]]:
    """Per video, its distinct sentences in file order (the first spelling of each kept)."""
    by_video: dict[str, dict[str, str]] = {}
    for video, _, _, sentence, _ in queries:
        by_video.setdefault(video, {}).setdefault(_normalise(sentence), sentence)
    return {video: tuple(sentences.values()) for video, sentences in by_video.items()}


def split_notes(by_video: dict[str, tuple[str, ...]], samples: list[Sample], too_few: list[int],
                dropped: list[int], min_candidates: int) -> list[str]:
    """What the result must say about this construction: sizes, chance, what was left out."""
    per_k = Counter(len(s.candidates) for s in samples)
    chance = 100.0 * sum(count / k for k, count in per_k.items()) / max(len(samples), 1)
    short = [video for video, sentences in by_video.items() if len(sentences) < FEWER_THAN]
    notes = [f"multiple choice among each query's own video's distinct sentences (paper App. F.2): "
             f"{len(samples)} queries; candidates per query {dict(sorted(per_k.items()))}; chance "
             f"{chance:.1f}% (mean of 1/K); clip = the query's segment",
             f"{len(short)} of {len(by_video)} videos have fewer than {FEWER_THAN} distinct sentences (their "
             f"queries are fewer-way; the paper fixes no number of choices)"]
    if too_few:
        notes.append(f"{len(too_few)} queries left out: their video has fewer than {min_candidates} distinct "
                     f"sentences, so there is no choice (lines {too_few[:10]})")
    if dropped:
        notes.append(f"{len(dropped)} queries dropped because end <= start (lines {dropped[:10]})")
    return notes


def _normalise(sentence: str) -> str:
    return " ".join(sentence.lower().split()).rstrip(".")
