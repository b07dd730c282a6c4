"""The video-text corpus reader (vpbench.datasets.video_text_corpus): the three caption layouts and VQAv2
read to the same samples, the hash follows the data, and bad input names the file, the row and the fix."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vpbench.datasets.video_text_corpus import read_corpus
from vpbench.errors import AnnotationError, RegistryError

SPEC = {"root": "corpus", "captions": "captions.csv", "videos": "videos", "vqa": None}
VQA = {"questions": "vqa/questions.json", "annotations": "vqa/annotations.json", "images": "vqa/train2014"}


def write(path: Path, content: str | bytes = b"") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return path


def corpus_root(tmp_path: Path, videos=("a/1.mp4", "a/2.mp4", "b/3.webm")) -> Path:
    for video in videos:
        write(tmp_path / "corpus" / "videos" / video, b"x")
    return tmp_path


def by_video(corpus) -> dict[str, tuple[str, ...]]:
    return {s.video_id: s.captions for s in corpus.split.samples if s.captions}


def test_csv_jsonl_and_webvid_layouts_read_to_the_same_captioned_videos(tmp_path):
    root = corpus_root(tmp_path)
    write(root / "corpus" / "captions.csv", 'video,caption,source\na/1.mp4,a dog runs,x\na/2,"a cat, asleep",y\n'
                                            "a/1.mp4,the dog is running,x\nb/3,someone cooks,z\n")
    write(root / "corpus" / "captions.jsonl", "\n".join(json.dumps(r) for r in (
        {"video": "a/1.mp4", "caption": "a dog runs"}, {"video": "a/2", "caption": "a cat, asleep"},
        {"video": "a/1.mp4", "caption": "the dog is running"}, {"video": "b/3", "caption": "someone cooks"})) + "\n")
    # WebVid's results CSV: the download script saves <page_dir>/<videoid>.mp4
    write(root / "corpus" / "results_2M_train.csv", "videoid,contentUrl,duration,page_dir,name\n"
          "1,https://ak.picdn.net/1.mp4,PT00H00M10S,a,a dog runs\n2,https://ak.picdn.net/2.mp4,PT00H00M12S,a,"
          '"a cat, asleep"\n1,https://ak.picdn.net/1.mp4,PT00H00M10S,a,the dog is running\n'
          "3,https://ak.picdn.net/3.mp4,PT00H00M09S,b,someone cooks\n")
    expected = {"a/1.mp4": ("a dog runs", "the dog is running"), "a/2": ("a cat, asleep",), "b/3": ("someone cooks",)}
    webvid = {"a/1": expected["a/1.mp4"], "a/2": expected["a/2"], "b/3": expected["b/3"]}
    for name, want in (("captions.csv", expected), ("captions.jsonl", expected), ("results_2M_train.csv", webvid)):
        corpus = read_corpus(root, {**SPEC, "captions": name})
        assert by_video(corpus) == want, name
        assert [s.video_path.relative_to(root / "corpus" / "videos").as_posix() for s in corpus.split.samples] == [
            "a/1.mp4", "a/2.mp4", "b/3.webm"]
        assert corpus.summary["captions"] == 4 and corpus.summary["caption_videos"] == 3
        assert not corpus.split.missing and not corpus.vqa_missing


def test_the_hash_follows_the_captions_and_the_videos_found_and_missing_videos_are_listed(tmp_path):
    root = corpus_root(tmp_path, videos=("a/1.mp4",))
    captions = write(root / "corpus" / "captions.csv", "video,caption\na/1.mp4,a dog runs\na/2.mp4,a cat sleeps\n")
    first = read_corpus(root, SPEC)
    assert [m.expected_path.name for m in first.split.missing] == ["2.mp4"]
    assert [s.video_id for s in first.split.available] == ["a/1.mp4"]
    assert read_corpus(root, SPEC).sha256 == first.sha256  # deterministic
    write(root / "corpus" / "videos" / "a" / "2.mp4", b"x")
    with_video = read_corpus(root, SPEC)
    assert with_video.sha256 != first.sha256 and not with_video.split.missing
    captions.write_text("video,caption\na/1.mp4,a dog walks\na/2.mp4,a cat sleeps\n")
    assert read_corpus(root, SPEC).sha256 != with_video.sha256


def test_vqav2_questions_become_single_image_samples_with_the_consensus_answer(tmp_path):
    root = corpus_root(tmp_path, videos=("a/1.mp4",))
    write(root / "corpus" / "captions.csv", "video,caption\na/1.mp4,a dog runs\n")
    write(root / "corpus" / "vqa" / "questions.json", json.dumps({"data_subtype": "train2014", "questions": [
        {"image_id": 9, "question": "What color is the bus?", "question_id": 9000},
        {"image_id": 9, "question": "Is it raining?", "question_id": 9001},
        {"image_id": 25, "question": "How many dogs?", "question_id": 25000}]}))
    write(root / "corpus" / "vqa" / "annotations.json", json.dumps({"annotations": [
        {"question_id": 9000, "image_id": 9, "multiple_choice_answer": "red", "answers": []},
        {"question_id": 9001, "image_id": 9, "multiple_choice_answer": "no", "answers": []},
        {"question_id": 25000, "image_id": 25, "multiple_choice_answer": "2", "answers": []}]}))
    write(root / "corpus" / "vqa" / "train2014" / "COCO_train2014_000000000009.jpg", b"x")
    corpus = read_corpus(root, {**SPEC, "vqa": VQA})
    questions = [s for s in corpus.split.samples if s.question]
    assert [(q.question, q.answer, q.video_id) for q in questions] == [
        ("What color is the bus?", "red", "vqa-image/9"), ("Is it raining?", "no", "vqa-image/9"),
        ("How many dogs?", "2", "vqa-image/25")]
    assert questions[0].video_path == root / "corpus" / "vqa" / "train2014" / "COCO_train2014_000000000009.jpg"
    assert questions[2].video_path is None and corpus.split.missing[0].sample_id == "vqa/25000"
    assert corpus.summary["vqa_questions"] == 3 and corpus.summary["vqa_images"] == 2
    assert read_corpus(root, SPEC).sha256 != corpus.sha256  # the VQA files are part of the data


def test_declared_vqa_files_that_are_absent_are_reported_not_guessed(tmp_path):
    root = corpus_root(tmp_path, videos=("a/1.mp4",))
    write(root / "corpus" / "captions.csv", "video,caption\na/1.mp4,a dog runs\n")
    corpus = read_corpus(root, {**SPEC, "vqa": VQA})
    assert [p.name for p in corpus.vqa_missing] == ["questions.json", "annotations.json"]
    assert all(not s.question for s in corpus.split.samples) and "vqa_questions" not in corpus.summary


@pytest.mark.parametrize("content, message", [
    ("clip,text\na/1.mp4,a dog\n", "expected 'video' and 'caption'"),
    ("video,caption\na/1.mp4,   \n", r"row 1 \(line 2\): caption '   ' is not a non-empty string"),
    ("video,caption\n../../etc/passwd,a dog\n", "must be relative and stay inside"),
])
def test_a_bad_captions_file_names_the_row_and_what_was_expected(tmp_path, content, message):
    root = corpus_root(tmp_path)
    write(root / "corpus" / "captions.csv", content)
    with pytest.raises(AnnotationError, match=message):
        read_corpus(root, SPEC)


def test_a_bad_jsonl_line_and_a_vqa_question_without_annotation_are_named(tmp_path):
    root = corpus_root(tmp_path)
    write(root / "corpus" / "captions.jsonl", '{"video": "a/1.mp4", "caption": "a dog"}\n{"video": "a/2.mp4"}\n')
    with pytest.raises(AnnotationError, match=r"captions.jsonl: line 2: missing key 'caption'"):
        read_corpus(root, {**SPEC, "captions": "captions.jsonl"})
    write(root / "corpus" / "captions.csv", "video,caption\na/1.mp4,a dog runs\n")
    write(root / "corpus" / "vqa" / "questions.json", json.dumps({"data_subtype": "train2014", "questions": [
        {"image_id": 9, "question": "What color?", "question_id": 7}]}))
    write(root / "corpus" / "vqa" / "annotations.json", json.dumps({"annotations": []}))
    with pytest.raises(AnnotationError, match=r"questions\[0\]: question_id 7 has no entry in .*annotations.json"):
        read_corpus(root, {**SPEC, "vqa": VQA})


def test_a_missing_corpus_says_what_to_supply_and_names_the_in_domain_variant(tmp_path):
    with pytest.raises(AnnotationError, match=r"corpus/captions.csv: video-text corpus not found.*--variant in-domain"):
        read_corpus(tmp_path, SPEC)
    with pytest.raises(RegistryError, match="unknown key"):
        read_corpus(tmp_path, {**SPEC, "split": "train"})
    with pytest.raises(RegistryError, match="vqa must be null or a mapping"):
        read_corpus(tmp_path, {**SPEC, "vqa": {"questions": "q.json"}})


def test_an_image_decodes_as_a_single_frame_clip(tmp_path):
    """VQAv2 images are read as one-frame clips: every sampled index is frame 0, the rest reported as padding."""
    import numpy as np
    from PIL import Image

    from vpbench.video import SamplingSpec, decode_views

    pixels = np.zeros((64, 48, 3), dtype=np.uint8)
    pixels[:, :24] = (230, 40, 40)
    Image.fromarray(pixels).save(tmp_path / "COCO_train2014_000000000009.png")
    views, info = decode_views(tmp_path / "COCO_train2014_000000000009.png",
                               SamplingSpec(frames=4, resolution=32, policy="uniform"))
    assert views.shape == (1, 4, 32, 32, 3) and info.num_frames == 1 and info.padded_frames == (3,)
    assert set(info.indices[0]) == {0} and (views[0, 0] == views[0, 3]).all()
    assert views[0, 0, 16, 2, 0] > 200 and views[0, 0, 16, 30, 0] < 50  # the red left half survives the crop
