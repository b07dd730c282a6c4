"""Retrieval: CLIP4Clip metrics.py values, multi-caption conventions, ties, chunking, bad files."""

import json
import re
from pathlib import Path

import numpy as np
import pytest

from vpbench import metrics
from vpbench.errors import PredictionFileError
from vpbench.metrics.retrieval import retrieval_metrics

FIXTURES = Path(__file__).parent / "fixtures" / "metrics" / "retrieval"
EXPECTED = json.loads((FIXTURES / "expected_official.json").read_text())
NAMES = {"R1": "R@1", "R5": "R@5", "R10": "R@10", "MR": "MdR", "MeanR": "MnR"}


def _assert_official(result, expected, tolerance):
    for direction in ("t2v", "v2t"):
        for official, ours in NAMES.items():
            assert result[f"{direction}_{ours}"] == pytest.approx(expected[direction][official], abs=tolerance), (direction, ours)


def test_single_caption_matches_clip4clip():
    similarity = np.load(FIXTURES / "single_similarity.npy")
    _assert_official(retrieval_metrics(np.arange(15), similarity=similarity), EXPECTED["single"], 1e-9)


def test_multi_caption_group_max_matches_clip4clip_with_a_20_caption_video():
    similarity = np.load(FIXTURES / "multi_similarity.npy")
    caption_to_video = np.load(FIXTURES / "multi_caption_to_video.npy")
    assert np.bincount(caption_to_video).max() == 20
    # CLIP4Clip's t2v numbers are float32 torch values: compare to 1e-5
    _assert_official(retrieval_metrics(caption_to_video, similarity=similarity), EXPECTED["multi"], 1e-5)


def test_caption_order_does_not_matter():
    similarity = np.load(FIXTURES / "multi_similarity.npy")
    caption_to_video = np.load(FIXTURES / "multi_caption_to_video.npy")
    shuffle = np.random.default_rng(1).permutation(len(caption_to_video))
    a = retrieval_metrics(caption_to_video, similarity=similarity)
    b = retrieval_metrics(caption_to_video[shuffle], similarity=similarity[shuffle])
    assert {k: v for k, v in a.items()} == {k: v for k, v in b.items()}


def test_any_caption_convention_hand_computed():
    # 2 videos; video 0 has captions 0, 1; video 1 has caption 2.
    similarity = np.array([[0.9, 0.1],   # caption 0
                           [0.2, 0.3],   # caption 1
                           [0.95, 0.5]])  # caption 2
    c2v = np.array([0, 0, 1])
    group = retrieval_metrics(c2v, similarity=similarity)
    anyc = retrieval_metrics(c2v, similarity=similarity, v2t="any_caption")
    # video 0 column: own best 0.9; group max of video 1 = 0.95 -> rank 1 in both conventions
    # video 1 column: own 0.5; video 0's group max 0.3 -> group rank 0; among all captions none of the others >= 0.5 -> 0
    assert group["v2t_R@1"] == 50.0 and anyc["v2t_R@1"] == 50.0
    similarity[1, 1] = 0.6  # now video 0's second caption beats video 1's only caption for video 1
    assert retrieval_metrics(c2v, similarity=similarity)["v2t_MnR"] == 2.0
    assert retrieval_metrics(c2v, similarity=similarity, v2t="any_caption")["v2t_MnR"] == 2.0
    similarity[0, 1] = 0.7  # two captions of video 0 above: group_max still rank 1, any_caption rank 2
    assert retrieval_metrics(c2v, similarity=similarity)["v2t_MnR"] == 2.0
    assert retrieval_metrics(c2v, similarity=similarity, v2t="any_caption")["v2t_MnR"] == 2.5
    assert anyc["v2t_convention"] == "any_caption" and group["v2t_convention"] == "group_max"


def test_ties_rank_pessimistically():
    result = retrieval_metrics(np.arange(4), similarity=np.ones((4, 4)))
    assert result["t2v_R@1"] == 0.0 and result["t2v_MdR"] == 4.0 and result["v2t_MnR"] == 4.0


def test_embeddings_in_small_chunks_equal_the_full_matrix():
    rng = np.random.default_rng(3)
    text, video = rng.normal(size=(37, 8)), rng.normal(size=(11, 8))
    c2v = rng.integers(0, 11, size=37)
    c2v[:11] = np.arange(11)  # every video has a caption
    full = retrieval_metrics(c2v, similarity=text @ video.T)
    for v2t in ("group_max", "any_caption"):
        chunked = retrieval_metrics(c2v, text_embeddings=text, video_embeddings=video, v2t=v2t, chunk_elements=20)
        reference = retrieval_metrics(c2v, similarity=text @ video.T, v2t=v2t)
        assert chunked == reference
    assert full["num_videos_without_caption"] == 0


def test_video_without_caption_is_only_a_t2v_candidate():
    similarity = np.array([[0.9, 0.1, 0.95], [0.2, 0.8, 0.1]])
    result = retrieval_metrics(np.array([0, 1]), similarity=similarity)
    assert result["num_videos_without_caption"] == 1
    assert result["t2v_R@1"] == 50.0 and result["v2t_R@1"] == 100.0


def test_files(tmp_path):
    similarity = np.load(FIXTURES / "single_similarity.npy")
    np.savez(tmp_path / "sim.npz", similarity=similarity)
    (tmp_path / "c2v.txt").write_text("".join(f"{i}\n" for i in range(15)))
    result = metrics.score_files("retrieval", tmp_path / "sim.npz", tmp_path / "c2v.txt")
    assert result["t2v_R@1"] == pytest.approx(EXPECTED["single"]["t2v"]["R1"])
    similarity[3, 4] = np.nan
    np.savez(tmp_path / "nan.npz", similarity=similarity)
    with pytest.raises(PredictionFileError, match=re.escape(f"{tmp_path / 'nan.npz'}: row 3: similarity contains NaN")):
        metrics.score_files("retrieval", tmp_path / "nan.npz", tmp_path / "c2v.txt")
    (tmp_path / "short.txt").write_text("0\n1\n")
    with pytest.raises(PredictionFileError, match="2 caption entries"):
        metrics.score_files("retrieval", tmp_path / "sim.npz", tmp_path / "short.txt")
    np.savez(tmp_path / "wrong.npz", scores=similarity)
    with pytest.raises(PredictionFileError, match="expected 'similarity'"):
        metrics.score_files("retrieval", tmp_path / "wrong.npz", tmp_path / "c2v.txt")
