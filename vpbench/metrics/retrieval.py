"""Text↔video retrieval: R@1/5/10 (percent), median and mean rank, from embeddings or a similarity matrix.

Conventions (ArrowLuo/CLIP4Clip ``metrics.py`` and ``main_task_retrieval.py``, which mmaction2
copies): ranks are 0-based, R@K is the percent of queries with rank < K, MdR = median(rank) + 1,
MnR = mean(rank) + 1.

- text→video: every caption is a query over all videos; its target is its own video.
- video→text with several captions per video (MSR-VTT full, VATEX, ActivityNet paragraphs are
  one each): ``v2t="group_max"`` (default, CLIP4Clip's ``tensor_video_to_text_sim``) scores each
  video's caption group by the MAX similarity over that group's captions and ranks the query
  video's own group among all groups. ``v2t="any_caption"`` (ALBEF/BLIP style) ranks the query
  video's best own caption among ALL captions, other own captions not counted. The two give
  different numbers; the result records which one ran. A video without any caption is still a
  t2v candidate but neither a v2t query nor a v2t group (counted in the result).

Ties (the one place where we differ from CLIP4Clip): its ``compute_metrics`` takes every sorted
position equal to the target's score, so a tie adds extra entries and changes the
denominator. vpbench ranks PESSIMISTICALLY: rank = number of OTHER candidates scoring >= the
target, so a model never gains from a tie (constant scores give the worst rank, not R@1 = 100).
On tie-free scores this equals CLIP4Clip.

Scale: nothing of size n_text × n_video is ever held; ranks are computed in row chunks of about
``chunk_elements`` similarities, so 100k × 100k runs in bounded memory. This module never prints.
"""

from __future__ import annotations

import os
from typing import Literal

import numpy as np

from vpbench.errors import PredictionFileError
from vpbench.metrics.files import check_finite, load_npz

V2TConvention = Literal["group_max", "any_caption"]
DEFAULT_CHUNK_ELEMENTS = 1 << 25  # ~128 MiB of float32 similarities per chunk


def rank_metrics(ranks: np.ndarray, prefix: str) -> dict[str, float]:
    """R@1/5/10 in percent and MdR / MnR (1-based) from 0-based ranks."""
    ranks = np.asarray(ranks)
    return {
        f"{prefix}_R@1": 100.0 * float(np.mean(ranks < 1)),
        f"{prefix}_R@5": 100.0 * float(np.mean(ranks < 5)),
        f"{prefix}_R@10": 100.0 * float(np.mean(ranks < 10)),
        f"{prefix}_MdR": float(np.median(ranks)) + 1.0,
        f"{prefix}_MnR": float(np.mean(ranks)) + 1.0,
    }


class _Similarity:
    """Rows of the text × video similarity, from embeddings (computed per chunk) or a given matrix."""

    def __init__(self, similarity=None, text_embeddings=None, video_embeddings=None):
        if similarity is not None:
            self.matrix = np.asarray(similarity)
            if self.matrix.ndim != 2:
                raise ValueError(f"similarity must be [n_text, n_video]; got shape {self.matrix.shape}")
            self.num_text, self.num_video = self.matrix.shape
        else:
            self.matrix = None
            self.text = np.asarray(text_embeddings)
            self.video = np.asarray(video_embeddings)
            if self.text.ndim != 2 or self.video.ndim != 2 or self.text.shape[1] != self.video.shape[1]:
                raise ValueError(f"embeddings must be [N, D] with the same D; got {self.text.shape} and {self.video.shape}")
            self.num_text, self.num_video = len(self.text), len(self.video)

    def text_rows(self, rows: slice) -> np.ndarray:
        """Similarities [rows, n_video]."""
        if self.matrix is not None:
            return np.asarray(self.matrix[rows])
        return self.text[rows] @ self.video.T

    def video_rows(self, rows: np.ndarray) -> np.ndarray:
        """Similarities [videos, n_text] for the given video indices (never the whole transpose)."""
        if self.matrix is not None:
            return np.asarray(self.matrix[:, rows]).T
        return self.video[rows] @ self.text.T


def retrieval_metrics(caption_to_video: np.ndarray, similarity: np.ndarray | None = None,
                      text_embeddings: np.ndarray | None = None, video_embeddings: np.ndarray | None = None,
                      v2t: V2TConvention = "group_max", chunk_elements: int = DEFAULT_CHUNK_ELEMENTS) -> dict:
    """t2v and v2t metrics. Give either ``similarity`` [n_text, n_video] or both embedding arrays.

    ``caption_to_video[i]`` is the video index of caption ``i``. With one caption per video and
    ``caption_to_video = arange(n)`` this is the MSR-VTT 1k-A setting.
    """
    if v2t not in ("group_max", "any_caption"):
        raise ValueError(f"v2t must be 'group_max' or 'any_caption', not {v2t!r}")
    if (similarity is None) == (text_embeddings is None or video_embeddings is None):
        raise ValueError("give either similarity or both text_embeddings and video_embeddings")
    sim = _Similarity(similarity, text_embeddings, video_embeddings)
    caption_to_video = np.asarray(caption_to_video, dtype=np.int64)
    if caption_to_video.shape != (sim.num_text,):
        raise ValueError(f"caption_to_video must have one entry per caption ({sim.num_text}); got {caption_to_video.shape}")
    if sim.num_text == 0 or caption_to_video.min() < 0 or caption_to_video.max() >= sim.num_video:
        raise ValueError(f"caption_to_video must index the {sim.num_video} videos")
    t2v_ranks = _t2v_ranks(sim, caption_to_video, chunk_elements)
    v2t_ranks, num_without_caption = _v2t_ranks(sim, caption_to_video, v2t, chunk_elements)
    result = rank_metrics(t2v_ranks, "t2v")
    result.update(rank_metrics(v2t_ranks, "v2t"))
    result.update({
        "num_text": int(sim.num_text), "num_video": int(sim.num_video),
        "num_videos_without_caption": num_without_caption,
        "v2t_convention": v2t, "ties": "pessimistic",
    })
    return result


def _rows_per_chunk(width: int, chunk_elements: int) -> int:
    return max(1, chunk_elements // max(width, 1))


def _t2v_ranks(sim: _Similarity, caption_to_video: np.ndarray, chunk_elements: int) -> np.ndarray:
    ranks = np.empty(sim.num_text, dtype=np.int64)
    step = _rows_per_chunk(sim.num_video, chunk_elements)
    for start in range(0, sim.num_text, step):
        rows = slice(start, min(start + step, sim.num_text))
        block = sim.text_rows(rows)
        _require_finite(block, "similarity", start)
        target = block[np.arange(block.shape[0]), caption_to_video[rows]]
        ranks[rows] = (block >= target[:, None]).sum(axis=1) - 1
    return ranks


def _v2t_ranks(sim: _Similarity, caption_to_video: np.ndarray, v2t: V2TConvention,
               chunk_elements: int) -> tuple[np.ndarray, int]:
    order = np.argsort(caption_to_video, kind="stable")
    grouped_video = caption_to_video[order]
    group_start = np.flatnonzero(np.r_[True, grouped_video[1:] != grouped_video[:-1]])
    group_video = grouped_video[group_start]  # videos that have captions, ascending
    group_of_video = np.full(sim.num_video, -1, dtype=np.int64)
    group_of_video[group_video] = np.arange(len(group_video))
    ranks = np.empty(len(group_video), dtype=np.int64)
    step = _rows_per_chunk(sim.num_text, chunk_elements)
    for start in range(0, len(group_video), step):
        queries = group_video[start:start + step]
        block = sim.video_rows(queries)[:, order]  # captions grouped by video
        _require_finite(block, "similarity (video row)", start)
        own_group = start + np.arange(len(queries))
        group_scores = np.maximum.reduceat(block, group_start, axis=1)
        target = group_scores[np.arange(len(queries)), own_group]  # best own caption
        if v2t == "group_max":
            ranks[start:start + len(queries)] = (group_scores >= target[:, None]).sum(axis=1) - 1
        else:
            at_least = block >= target[:, None]
            own_at_least = np.add.reduceat(at_least, group_start, axis=1)[np.arange(len(queries)), own_group]
            ranks[start:start + len(queries)] = at_least.sum(axis=1) - own_at_least
    return ranks, int(sim.num_video - len(group_video))


def _require_finite(block: np.ndarray, what: str, start: int) -> None:
    if not np.isfinite(block).all():
        row = start + int(np.argwhere(~np.isfinite(block))[0][0])
        raise ValueError(f"{what} row {row} contains NaN or inf")


def score_files(metric: str, predictions: str | os.PathLike, references: str | os.PathLike,
                v2t: V2TConvention = "group_max") -> dict:
    """Score an ``.npz`` of ``similarity`` (or ``text_embeddings`` + ``video_embeddings``).

    ``references`` gives each caption's video index (row of the similarity / video embeddings):
    a ``.npy``/``.npz`` integer array, or a text file with one integer per line.
    """
    arrays = load_npz(predictions)
    caption_to_video = _read_caption_index(references)
    if "similarity" in arrays:
        _require_matrix(arrays, "similarity", predictions, "[n_text, n_video]")
        check_finite(arrays["similarity"], predictions, "similarity")
        kwargs = {"similarity": arrays["similarity"]}
    elif {"text_embeddings", "video_embeddings"} <= arrays.keys():
        for key in ("text_embeddings", "video_embeddings"):
            _require_matrix(arrays, key, predictions, f"[n_{key.split('_')[0]}, D]")
            check_finite(arrays[key], predictions, key)
        text_width, video_width = arrays["text_embeddings"].shape[1], arrays["video_embeddings"].shape[1]
        if text_width != video_width:
            raise PredictionFileError(
                f"{predictions}: 'text_embeddings' are {text_width} wide and 'video_embeddings' {video_width}; "
                "expected one embedding width D for both (embeddings of one video-text model)")
        kwargs = {"text_embeddings": arrays["text_embeddings"], "video_embeddings": arrays["video_embeddings"]}
    else:
        raise PredictionFileError(
            f"{predictions}: arrays {sorted(arrays)}; expected 'similarity' [n_text, n_video] or "
            "'text_embeddings' [n_text, D] and 'video_embeddings' [n_video, D]")
    num_text = len(kwargs.get("similarity", kwargs.get("text_embeddings")))
    num_video = (kwargs["similarity"].shape[1] if "similarity" in kwargs else len(kwargs["video_embeddings"]))
    if len(caption_to_video) != num_text:
        raise PredictionFileError(
            f"{references}: {len(caption_to_video)} caption entries; {predictions} has {num_text} text rows")
    if caption_to_video.min() < 0 or caption_to_video.max() >= num_video:
        bad = int(np.argmax((caption_to_video < 0) | (caption_to_video >= num_video)))
        raise PredictionFileError(
            f"{references}: entry {bad + 1} is video {int(caption_to_video[bad])}; expected 0..{num_video - 1}")
    return retrieval_metrics(caption_to_video, v2t=v2t, **kwargs)


def _require_matrix(arrays: dict[str, np.ndarray], key: str, path: str | os.PathLike, layout: str) -> None:
    """A 2-D numeric array with at least one row and column, or an error naming the file and array."""
    array = arrays[key]
    if array.ndim != 2 or 0 in array.shape or not np.issubdtype(array.dtype, np.number):
        raise PredictionFileError(f"{path}: array {key!r} has shape {list(array.shape)} and dtype {array.dtype}; "
                                  f"expected a non-empty numeric {layout} matrix")


def _read_caption_index(path: str | os.PathLike) -> np.ndarray:
    if str(path).endswith((".npy", ".npz")):
        arrays = load_npz(path)
        array = arrays.get("caption_to_video", arrays.get("array"))
        if array is None or array.ndim != 1 or not np.issubdtype(array.dtype, np.integer):
            raise PredictionFileError(f"{path}: expected a 1-D integer array (caption_to_video)")
        return array.astype(np.int64)
    from vpbench.metrics.files import csv_rows, parse_int

    return np.array([parse_int(fields[0], path, line, "video index") for line, fields in csv_rows(path, None)],
                    dtype=np.int64)
