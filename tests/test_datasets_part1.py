"""Readers of part 1 (Kinetics, MiT, SSv2, Diving48, Charades, Charades-STA, Fly vs. Fly, CalMS21,
CRIM13, KABR): real excerpts of the official files, malformed files, and a write-then-read round
trip of every tiny writer whose labels are checked against the pixels of the videos."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest

from vpbench.datasets import read_split
from vpbench.errors import AnnotationError
from vpbench.registry import load_registry
from vpbench.tiny import EVAL_CLIPS, TRAIN_CLIPS, make_tiny, tiny_user_files
from vpbench.tiny.video import COLOURS

FIXTURES = Path(__file__).parent / "fixtures" / "datasets"


def task(name: str, tiny: bool = False):
    config = load_registry().task(name)
    return config.for_tiny() if tiny else config


def place(tmp_path: Path, fixture: str, root: str | None = None) -> Path:
    """Copy a fixture dataset folder to ``tmp_path/<root>`` and return the data root."""
    shutil.copytree(FIXTURES / fixture, tmp_path / (root or fixture), ignore=shutil.ignore_patterns("README.md"))
    return tmp_path


def touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    return path


# ---------------------------------------------------------------- real excerpts of official files

def test_kinetics400_crawler_csv(tmp_path):
    root = place(tmp_path, "kinetics400")
    videos = root / "kinetics400" / "videos" / "val"
    touch(videos / "abseiling" / "0wR5jVB-WPk_000417_000427.mp4")
    touch(videos / "air_drumming" / "--nQbRBEz2s_000104_000114.mp4")
    touch(videos / "-egPJubR-CE.mp4")  # a full-length download: the clip span comes from the row
    split = read_split(task("k400-probe"), root, "val")
    assert split.class_names == ["abseiling", "air drumming", "answering questions", "zumba"]
    assert len(split.samples) == 30 and len(split.missing) == 27
    by_id = {s.sample_id: s for s in split.samples}
    quoted = by_id["--nQbRBEz2s_000104_000114"]
    assert (quoted.video_id, quoted.label, quoted.clip_span_s) == ("--nQbRBEz2s", 1, None)
    assert quoted.video_path.name == "--nQbRBEz2s_000104_000114.mp4"
    full = by_id["-egPJubR-CE_000001_000011"]
    assert full.label == 2 and full.clip_span_s == (1.0, 11.0) and full.video_path.name == "-egPJubR-CE.mp4"
    assert by_id["3yaoNwz99xM_000062_000072"].meta["is_cc"] == "1"
    assert by_id["3caPS4FHFF8_000036_000046"].video_path is None
    assert any("kinetics-400_val.csv" in note and "validate.csv not found" in note for note in split.notes)
    missing = {m.sample_id: m.expected_path for m in split.missing}
    assert missing["3caPS4FHFF8_000036_000046"] == videos / "3caPS4FHFF8_000036_000046.mp4"


def test_kinetics600_bare_labels_without_is_cc(tmp_path):
    root = place(tmp_path, "kinetics600")
    split = read_split(task("k600-zeroshot"), root, "val")
    assert split.class_names == ["abseiling", "acting in play", "adjusting glasses", "air drumming", "zumba"]
    labels = {s.sample_id: s.label for s in split.samples}
    assert labels["-5ZUl3Z5yW0_000000_000010"] == 2 and labels["7F5BwlMrreM_004315_004325"] == 1
    assert len(split.samples) == 24 and all(s.meta["is_cc"] is None for s in split.samples)


def test_kinetics_classes_are_shared_by_train_and_val(tmp_path):
    """A class seen only in train still gets the same index in val (sorted over both files)."""
    folder = tmp_path / "kinetics400" / "annotations"
    folder.mkdir(parents=True)
    (folder / "train.csv").write_text("label,youtube_id,time_start,time_end,split,is_cc\n"
                                      "bowling,aaaaaaaaaaa,1,11,train,0\nzumba,bbbbbbbbbbb,2,12,train,0\n")
    (folder / "validate.csv").write_text("label,youtube_id,time_start,time_end,split,is_cc\n"
                                         "zumba,ccccccccccc,17.0,27.0,val,0\n")
    val = read_split(task("k400-probe"), tmp_path, "val")
    assert val.class_names == ["bowling", "zumba"] and val.samples[0].label == 1
    assert val.samples[0].sample_id == "ccccccccccc_000017_000027"


def test_charades_official_rows(tmp_path):
    raw = (FIXTURES / "charades" / "Charades_v1_train.csv").read_bytes()
    assert raw.count(b"\r\n") == raw.count(b"\n") > 20  # the excerpt keeps the release's CRLF
    root = place(tmp_path, "charades")
    touch(root / "charades" / "Charades_v1_480" / "46GP8.mp4")
    train = read_split(task("charades-probe"), root, "train")
    assert len(train.class_names) == 157 and train.class_names[92] == "Watching/Looking outside of a window"
    by_id = {s.sample_id: s for s in train.samples}
    assert len(by_id) == 27
    first = by_id["46GP8"]
    assert first.labels == (92, 147) and first.duration_s == 24.83 and first.video_path is not None
    assert [(s.label, s.start_s, s.end_s) for s in first.segments] == [(92, 11.9, 21.2), (147, 0.0, 12.6)]
    assert by_id["0IH69"].labels == () and by_id["0IH69"].segments == ()
    assert by_id["N11GT"].labels == (75, 98, 127, 153)  # a row whose quoted script contains commas
    assert "1 of 27 videos have no action" in train.notes[0]
    # Real rows whose actions end before they start: the video keeps the class (as the dataset
    # authors' loader does), the span, which covers no frame, is not a segment; the run says so.
    reversed_row = by_id["00SL4"]
    assert reversed_row.labels == (0, 1, 8, 71, 81, 112, 113)
    assert {s.label for s in reversed_row.segments} == {0, 1, 8, 112, 113}
    assert reversed_row.meta["reversed_spans"] == ["c071 18.00 10.00", "c081 18.00 10.00"]
    assert by_id["LEOL6"].labels == (9, 12, 107, 109, 128) and len(by_id["LEOL6"].segments) == 3
    assert train.notes[1].startswith("4 action span(s) in 2 video(s) end before they start (00SL4: c071 18.00 10.00")
    test = read_split(task("charades-zeroshot"), root, "test")
    assert len(test.samples) == 15 and test.samples[0].sample_id == "YSKX3"
    assert test.samples[0].labels == (75, 76, 77, 79, 80)


def test_charades_sta_candidates_are_the_sentences_of_the_querys_own_video(tmp_path):
    """The fixture's 32 official lines are 32 different videos, one sentence each: no query has a
    choice. Three lines added for two of those videos (a repeated sentence among them) give 2- and
    3-way items whose candidates are exactly their own video's distinct sentences, in file order."""
    root = place(tmp_path, "charades")
    alone = read_split(task("charades-sta-zeroshot"), root, "test")
    assert alone.samples == [] and any("32 queries left out" in note for note in alone.notes)
    path = root / "charades" / "charades_sta_test.txt"
    path.write_text(path.read_text() + "3MSZA 1.0 6.5##person sits on the bed.\n"
                    "3MSZA 10.0 14.0##Person turn a light on\nAMT7R 20.0 25.5##the person holds a cup.\n")
    split = read_split(task("charades-sta-zeroshot"), root, "test")
    by_id = {s.sample_id: s for s in split.samples}
    assert sorted(by_id) == ["3MSZA_q1", "3MSZA_q2", "3MSZA_q3", "AMT7R_q1", "AMT7R_q2"]
    assert by_id["3MSZA_q1"].candidates == ("person turn a light on.", "person sits on the bed.")
    assert by_id["3MSZA_q3"].answer_index == 0 and by_id["3MSZA_q3"].clip_span_s == (10.0, 14.0)
    assert by_id["AMT7R_q2"].candidates == ("a person is putting a picture onto the wall.", "the person holds a cup.")
    for sample in split.samples:
        assert sample.candidates[sample.answer_index].rstrip(".").lower() == sample.captions[0].rstrip(".").lower()
    assert any("30 queries left out" in note for note in split.notes)
    assert any("chance 50.0%" in note for note in split.notes)
    assert any("32 of 32 videos have fewer than 5" in note for note in split.notes)


def test_ssv2_official_entries(tmp_path):
    root = place(tmp_path, "ssv2")
    touch(root / "ssv2" / "videos" / "78687.webm")
    train = read_split(task("ssv2-probe"), root, "train")
    assert len(train.class_names) == 174 and train.class_names[19] == "Holding something next to something"
    assert [s.label for s in train.samples] == [19, 141, 40, 75]
    assert train.samples[0].video_path.name == "78687.webm" and len(train.missing) == 3
    val = read_split(task("ssv2-probe"), root, "val")
    assert [(s.sample_id, s.label) for s in val.samples] == [("74225", 140), ("116154", 127), ("117478", 45),
                                                             ("36585", 134)]


def test_ssv2_class_list_subset_reindexes_in_list_order(tmp_path):
    root = place(tmp_path, "ssv2")
    class_list = tmp_path / "temporal.txt"
    class_list.write_text("# two SSv2 classes\n[Something] falling like a feather or paper\n45\n")
    split = read_split(task("ssv2-temporal-zeroshot"), root, "val", {"class_list": class_list})
    assert split.class_names == ["Something falling like a feather or paper", "Moving something up"]
    assert [(s.sample_id, s.label) for s in split.samples] == [("117478", 1), ("36585", 0)]
    assert class_list in split.annotation_files
    assert "2 of 174 SSv2 classes, 2 of 4 val videos" in split.notes[-1]
    with pytest.raises(AnnotationError, match="--user-file class_list=PATH"):
        read_split(task("ssv2-events-zeroshot"), root, "val", {})
    class_list.write_text("Moving [something] up\nMoving [somthing] down\n")
    with pytest.raises(AnnotationError, match=r"temporal\.txt: line 2: unknown template 'Moving somthing down'.*"
                                              r"closest: 'Moving something down'"):
        read_split(task("ssv2-temporal-zeroshot"), root, "val", {"class_list": class_list})


def test_diving48_v2_entries(tmp_path):
    root = place(tmp_path, "diving48")
    train = read_split(task("diving48-probe"), root, "train")
    vocab = json.loads((FIXTURES / "diving48" / "Diving48_vocab.json").read_text())
    assert len(train.class_names) == 48 and train.class_names[0] == "Back 15som 05Twis FREE"
    assert train.class_names[17] == " ".join(vocab[17])
    assert [s.label for s in train.samples] == [0] * 8 + [17] * 8 + [47] * 8
    assert train.samples[0].sample_id == "-mmq0PT-u8k_00155"
    assert train.missing[0].expected_path == root / "diving48" / "rgb" / "-mmq0PT-u8k_00155.mp4"
    assert len(read_split(task("diving48-probe"), root, "test").samples) == 12


def test_kabr_frame_list_rows_become_frames_with_centred_stride_5_clips(tmp_path):
    root = place(tmp_path, "KABR")
    (root / "KABR" / "dataset" / "image" / "ZG0001.1").mkdir(parents=True)
    split = read_split(task("kabr"), root, "val")
    assert split.class_names[:4] == ["Walk", "Graze", "Browse", "Head Up"] and len(split.class_names) == 8
    assert len(split.samples) == 43  # one per labelled frame (frame_id 1..43)
    frame = split.samples[20]  # frame_id 21 = image 21.jpg = frame 20 of the folder
    assert (frame.sample_id, frame.label, frame.meta["label_frame"]) == ("ZG0001.1_000020", 0, 20)
    # kabr-tools get_sequence(20, 40, 5): frames 20 - 40, ..., 20 + 35 (16 frames); the sampler clamps at 0.
    assert frame.frame_span == (-20, 56)
    assert frame.video_path == root / "KABR" / "dataset" / "image" / "ZG0001.1"


def test_kabr_per_frame_labels_and_empty_labels(tmp_path):
    folder = tmp_path / "KABR" / "annotation"
    shutil.copytree(FIXTURES / "KABR" / "annotation", folder)
    rows = ["original_vido_id video_id frame_id path labels"]
    rows += [f"G0002 2 {i} G0002/{i}.jpg {label}" for i, label in enumerate(["5", "5", "7", '""', "7", "5"], 1)]
    rows += [f"G0003 3 {i} G0003/{i}.jpg {label}" for i, label in enumerate(["6", "2"], 1)]
    (folder / "val.csv").write_text("\n".join(rows) + "\n")
    labels = {s.sample_id: s.label for s in read_split(task("kabr"), tmp_path, "val").samples}
    assert labels == {"G0002_000000": 5, "G0002_000001": 5, "G0002_000002": 7, "G0002_000004": 7,
                      "G0002_000005": 5, "G0003_000000": 6, "G0003_000001": 2}  # "" (no label): not a sample
    every_other = task("kabr").with_variant(None)
    every_other.dataset["options"] = {"sample_every": {"val": 2}}
    kept = [s.sample_id for s in read_split(every_other, tmp_path, "val").samples]
    assert kept == ["G0002_000000", "G0002_000002", "G0002_000004", "G0003_000000"]


def test_mit_rows_and_categories(tmp_path):
    root = place(tmp_path, "moments_in_time")
    touch(root / "moments_in_time" / "validation" / "dancing" / "yt-5of6ffo6-Bw_205.mp4")
    split = read_split(task("mit-probe"), root, "val")
    assert split.class_names[:3] == ["blocking", "dancing", "yawning"]
    assert [(s.sample_id, s.label) for s in split.samples] == [
        ("blocking/getty-karate-video-id635808620_4.mp4", 0), ("dancing/yt-5of6ffo6-Bw_205.mp4", 1),
        ("yawning/_8zmP1e-EjU_2.mp4", 2)]
    assert [s.video_path is not None for s in split.samples] == [False, True, False]


# ---------------------------------------------------------------- documented formats without public excerpts

CBA = """Caltech Behavior Annotator - Annotation File

Configuration file:
approach\ta
attack\tq
sniff\ts
other\to

S1:\tstart\tend\ttype
-----------------------------
\t1\t20\tother
\t21\t30\tsniff
\t31\t40\tattack

S2:\tstart\tend\ttype
-----------------------------
\t1\t40\tapproach
"""


def _crim13(tmp_path: Path, annotation: str = CBA) -> Path:
    data = tmp_path / "crim13"
    (data / "splits").mkdir(parents=True)
    (data / "splits" / "test.txt").write_text("v001\n")
    (data / "annotations").mkdir()
    (data / "annotations" / "v001.txt").write_text(annotation)
    touch(data / "videos" / "v001_top.mp4")
    return tmp_path


def test_crim13_caltech_behavior_annotator_file(tmp_path):
    root = _crim13(tmp_path)
    side = read_split(task("crim13-side"), root, "test")
    assert side.class_names == ["approach", "attack", "other", "sniff"]
    # One sample per frame (1-based bouts: 1-20 other, 21-30 sniff, 31-40 attack), clip centred on it.
    assert len(side.samples) == 40
    assert [side.samples[k].labels for k in (0, 19, 20, 29, 30, 39)] == [(2,), (2,), (3,), (3,), (1,), (1,)]
    assert side.samples[20].frame_span == (12, 28) and side.samples[20].meta["label_frame"] == 20
    assert len(side.missing) == 40 and side.missing[0].expected_path.name == "v001_side.mp4"
    top = read_split(task("crim13-top"), root, "test")
    assert not top.missing and top.samples[0].video_path.name == "v001_top.mp4"
    # A behaviour only the train split's files name still gets its index in test: one class list.
    _write(root / "crim13" / "splits" / "train.txt", "v002\n")
    _write(root / "crim13" / "annotations" / "v002.txt", CBA.replace("approach\ta", "chase\th").replace(
        "\t1\t40\tapproach", "\t1\t40\tchase"))
    side = read_split(task("crim13-side"), root, "test")
    assert side.class_names == ["approach", "attack", "chase", "other", "sniff"]
    assert [side.samples[k].labels for k in (0, 20, 30)] == [(3,), (4,), (1,)]
    assert root / "crim13" / "annotations" / "v002.txt" in side.annotation_files


def test_calms21_frames_become_samples_with_centred_clips(tmp_path):
    frames = [3] * 10 + [1] * 12 + [0] * 10 + [2] * 8 + [3] * 5  # 45 annotated frames -> 45 samples
    data = {"annotator-id_0": {"task1/test/mouse001_task1_annotator1": {
        "keypoints": [[[[0] * 7] * 2] * 2] * len(frames), "annotations": frames,
        "metadata": {"vocab": {"attack": 0, "investigation": 1, "mount": 2, "other": 3}}}}}
    path = tmp_path / "calms21" / "calms21_task1_test.json"
    path.parent.mkdir()
    path.write_text(json.dumps(data))
    touch(tmp_path / "calms21" / "videos" / "mouse001_task1_annotator1.mp4")
    split = read_split(task("calms21"), tmp_path, "test")
    assert split.class_names == ["attack", "investigation", "mount", "other"]
    assert len(split.samples) == 45 and [s.labels[0] for s in split.samples] == frames
    # The frame at index 8 of 16 consecutive frames (SciVid: the label of the clip's middle frame).
    assert [(s.sample_id, s.frame_span) for s in split.samples[:1] + split.samples[30:31]] == [
        ("mouse001_task1_annotator1_000000", (-8, 8)), ("mouse001_task1_annotator1_000030", (22, 38))]
    assert all(s.video_path is not None for s in split.samples)
    slim = load_registry().task("calms21").with_variant("slim-train")
    train_path = tmp_path / "calms21" / "calms21_task1_train.json"
    train_path.write_text(json.dumps({"annotator-id_0": {"task1/train/mouse001_task1_annotator1": {
        "annotations": frames}}}))
    assert [s.meta["label_frame"] for s in read_split(slim, tmp_path, "train").samples] == [0, 16, 32]
    assert len(read_split(slim, tmp_path, "test").samples) == 45  # the variant thins training only


def test_flyvsfly_bouts_become_labelled_frames(tmp_path):
    data = tmp_path / "flyvsfly"
    data.mkdir()
    (data / "behaviours.txt").write_text("background\nlunge\nwing threat\n")
    # Overlapping bouts: frames 2-3 are lunge and wing threat; frames 6-7 no row covers (no valid trajectory).
    (data / "bouts_test.csv").write_text("video,start_frame,end_frame,labels\nmovie1,0,4,lunge\n"
                                         "movie1.mp4,2,6,wing threat\nmovie1,8,10,background\n")
    split = read_split(task("flyvsfly"), tmp_path, "test")
    assert [(s.sample_id, s.labels) for s in split.samples] == [
        ("movie1_000000", (1,)), ("movie1_000001", (1,)), ("movie1_000002", (1, 2)), ("movie1_000003", (1, 2)),
        ("movie1_000004", (2,)), ("movie1_000005", (2,)), ("movie1_000008", (0,)), ("movie1_000009", (0,))]
    assert split.samples[2].frame_span == (-6, 10)
    assert split.missing[0].expected_path == data / "videos" / "movie1.mp4"
    (data / "bouts_test.csv").write_text("video,start_frame,end_frame,labels\nmovie1,0,4,\n")
    with pytest.raises(AnnotationError, match=r"row 1 \(line 2\): column 'labels' is empty"):
        read_split(task("flyvsfly"), tmp_path, "test")


# ---------------------------------------------------------------- malformed files name file, row and problem

def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_missing_column_names_the_file_and_column(tmp_path):
    path = _write(tmp_path / "kinetics400" / "annotations" / "validate.csv",
                  "label,youtube_id,time_start,split\nabseiling,0wR5jVB-WPk,417,val\n")
    with pytest.raises(AnnotationError, match=r"validate\.csv: header \(line 1\).*missing required column "
                                              r"'time_end'") as error:
        read_split(task("k400-zeroshot"), tmp_path, "val")
    assert str(path) in str(error.value)


def test_bad_timestamp_names_row_and_column(tmp_path):
    _write(tmp_path / "kinetics400" / "annotations" / "validate.csv",
           "label,youtube_id,time_start,time_end,split,is_cc\nabseiling,aaaaaaaaaaa,1,11,val,0\n"
           "abseiling,0wR5jVB-WPk,4l7,427,val,0\n")
    with pytest.raises(AnnotationError, match=r"validate\.csv: row 2 \(line 3\): column 'time_start' is '4l7', "
                                              r"expected a number"):
        read_split(task("k400-zeroshot"), tmp_path, "val")


def test_wrong_json_type_names_the_file(tmp_path):
    root = place(tmp_path, "ssv2")
    _write(root / "ssv2" / "something-something-v2-validation.json", '{"id": "74225"}')
    with pytest.raises(AnnotationError, match=r"validation\.json: top level is a JSON object, expected a JSON array"):
        read_split(task("ssv2-probe"), root, "val")
    _write(root / "ssv2" / "something-something-v2-validation.json", '[{"id": "1", "template": 5}]')
    with pytest.raises(AnnotationError, match=r"entry \[0\] \(id 1\): key 'template' is 5, expected a JSON string"):
        read_split(task("ssv2-probe"), root, "val")


def test_unknown_class_names_row_and_class(tmp_path):
    root = place(tmp_path, "charades")
    path = root / "charades" / "Charades_v1_test.csv"
    path.write_bytes(path.read_bytes().replace(b"c077 12.10 18.00", b"c999 12.10 18.00"))
    with pytest.raises(AnnotationError, match=r"Charades_v1_test\.csv: row 1 \(line 2\): column 'actions': unknown "
                                              r"class id 'c999' \(not among the 157 in Charades_v1_classes\.txt"):
        read_split(task("charades-zeroshot"), root, "test")


@pytest.mark.parametrize("fixture, name, split, edit, message", [
    ("moments_in_time", "mit-probe", "val", ("validationSet.csv", "dancing/yt", "drinking/yt"),
     r"row 2 \(line 2\): label 'dancing' disagrees with the video's folder 'drinking'"),
    ("diving48", "diving48-probe", "test", ("Diving48_V2_test.json", '"label": 47', '"label": 48'),
     r"entry \[8\] \(.*\): label 48 is outside the 48 classes"),
    ("KABR", "kabr", "val", ("annotation/val.csv", "ZG0001.1/7.jpg 0", "ZG0001.1/7.jpg 8"),
     r"row 7 \(line 8\): column 'labels' is '8', expected class indices 0..7"),
    ("charades", "charades-sta-zeroshot", "test", ("charades_sta_test.txt", "3MSZA 24.3 30.4", "3MSZA 24.3s 30.4"),
     r"charades_sta_test\.txt: line 1: times '24.3s 30.4' must be seconds"),
    ("charades", "charades-sta-zeroshot", "test", ("charades_sta_test.txt", "##person turn", " person turn"),
     r"line 1: .*expected '<video id> <start> <end>##<sentence>'"),
])
def test_malformed_rows(tmp_path, fixture, name, split, edit, message):
    root = place(tmp_path, fixture)
    relative, old, new = edit
    path = root / fixture / relative
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    with pytest.raises(AnnotationError, match=message):
        read_split(task(name), root, split)


def test_malformed_behaviour_files(tmp_path):
    root = _crim13(tmp_path, CBA.replace("\t31\t40\tattack", "\t31\tforty\tattack"))
    with pytest.raises(AnnotationError, match=r"v001\.txt: line 13: '31\s+forty\s+attack', expected"):
        read_split(task("crim13-side"), root, "test")
    _write(tmp_path / "crim13" / "annotations" / "v001.txt", CBA.replace("\t21\t30\tsniff", "\t21\t30\tgroom"))
    with pytest.raises(AnnotationError, match=r"line 12: behaviour 'groom' is not in the file's configuration"):
        read_split(task("crim13-side"), root, "test")
    _write(tmp_path / "calms21" / "calms21_task1_test.json", json.dumps(
        {"annotator-id_0": {"task1/test/mouse001": {"annotations": [0, 1, "2"]}}}))
    with pytest.raises(AnnotationError, match=r"'task1/test/mouse001': annotations\[2\] is '2', expected a behaviour"):
        read_split(task("calms21"), tmp_path, "test")
    _write(tmp_path / "flyvsfly" / "behaviours.txt", "background\nlunge\n")
    _write(tmp_path / "flyvsfly" / "bouts_test.csv", "video,start_frame,end_frame,labels\nm1,0,16,lunge;tussle\n")
    with pytest.raises(AnnotationError, match=r"bouts_test\.csv: row 1 \(line 2\): column 'labels': unknown "
                                              r"behaviour 'tussle'"):
        read_split(task("flyvsfly"), tmp_path, "test")


@pytest.mark.parametrize("fixture, name, split, edit", [
    ("moments_in_time", "mit-probe", "val", ("validationSet.csv", "dancing/yt-5of6ffo6-Bw_205.mp4,dancing",
                                            "../dancing/x.mp4,")),
    ("KABR", "kabr", "val", ("annotation/val.csv", "ZG0001.1/1.jpg", "../../../etc/1.jpg")),
    ("kinetics400", "k400-probe", "val", ("annotations/kinetics-400_val.csv", "0wR5jVB-WPk", "../../0wR5jVB")),
])
def test_paths_escaping_the_data_root_are_refused(tmp_path, fixture, name, split, edit):
    root = place(tmp_path, fixture)
    relative, old, new = edit
    path = root / fixture / relative
    path.write_text(path.read_text().replace(old, new, 1))
    with pytest.raises(AnnotationError, match="must be relative and stay inside"):
        read_split(task(name), root, split)


# ---------------------------------------------------------------- tiny writers: write, read back, check pixels

TINY_TASKS = ["k400-probe", "k600-zeroshot", "mit-probe", "ssv2-probe", "ssv2-temporal-zeroshot", "diving48-probe",
              "charades-probe", "charades-sta-zeroshot", "flyvsfly", "calms21", "crim13-side", "crim13-top", "kabr"]


@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory):
    """One data root holding every part-1 tiny subset (tasks sharing a folder write it once)."""
    root = tmp_path_factory.mktemp("tiny-part1")
    for name in TINY_TASKS:
        make_tiny(task(name, tiny=True), root)
    return root


def _splits(name: str, root: Path):
    config = task(name, tiny=True)
    user_files = tiny_user_files(config, root)
    return {split: read_split(config, root, split, user_files)
            for split in dict.fromkeys(s for s in (config.dataset.get("train_split"), config.dataset["eval_split"])
                                       if s)}


def _frame(sample, which: str | int = "middle") -> np.ndarray:
    from vpbench.video import clip_range, open_source

    source = open_source(sample.video_path)
    start, end = clip_range(source.num_frames, source.fps, sample.clip_span_s, sample.frame_span)
    middle = sample.meta.get("label_frame", (start + end - 1) // 2)  # the labelled frame, when the clip has one
    index = which if isinstance(which, int) else {"first": max(start, 0), "middle": middle, "last": end - 1}[which]
    return source.read(np.array([index]))[0]


def _part_frames(sample, part: int = 16) -> list[int]:
    """The labelled frame and two others of its part of a tiny recording (parts of ``part`` frames)."""
    frame = sample.meta["label_frame"]
    first = frame - frame % part
    return sorted({first, frame, first + part - 5})


def colours_in(frame: np.ndarray, min_pixels: int = 12) -> set[str]:
    """The tiny palette colours visibly present in a decoded frame."""
    found = set()
    for name, rgb in COLOURS.items():
        close = np.abs(frame.astype(int) - np.array(rgb)).max(axis=-1) < 45
        if close.sum() >= min_pixels:
            found.add(name)
    return found


def _centroid(frame: np.ndarray) -> np.ndarray:
    ys, xs = np.nonzero(np.abs(frame.astype(int) - 30).max(axis=-1) > 60)
    return np.array([xs.mean(), ys.mean()])


PER_FRAME = {"calms21": (TRAIN_CLIPS // 4, 64), "crim13-side": (TRAIN_CLIPS // 4, 64),
             "crim13-top": (TRAIN_CLIPS // 4, 64), "flyvsfly": (TRAIN_CLIPS // 4, 60), "kabr": (TRAIN_CLIPS, 40)}
"""(recordings, labelled frames from frame 0 in each) of each tiny per-frame training split: four 16-frame parts
per recording (Fly vs. Fly leaves its last 4 frames untracked), one 40-frame mini-scene per KABR clip."""


@pytest.mark.parametrize("name", TINY_TASKS)
def test_tiny_round_trip_counts(tiny_root, name):
    splits = _splits(name, tiny_root)
    config = task(name, tiny=True)
    for split, data in splits.items():
        assert not data.missing and len(data.available) == len(data.samples)
        expected = TRAIN_CLIPS if split == config.dataset.get("train_split") else EVAL_CLIPS
        if name == "ssv2-temporal-zeroshot":
            assert 0 < len(data.samples) < expected and len(data.class_names) == 3
        elif name in PER_FRAME:  # one sample per labelled frame at a multiple of the tiny sample_every
            every = config.dataset["options"]["sample_every"][split]
            recordings, frames = PER_FRAME[name]
            recordings = recordings if split == config.dataset.get("train_split") else recordings // 2
            assert len(data.samples) == recordings * math.ceil(frames / every)
            assert all(s.meta["label_frame"] % every == 0 for s in data.samples)
        elif name == "charades-sta-zeroshot":  # the query of the video with one sentence has no choice
            assert len(data.samples) == expected - 1
        else:
            assert len(data.samples) == expected
        assert all(p.is_file() for p in data.annotation_files)


@pytest.mark.parametrize("name", ["k400-probe", "mit-probe", "diving48-probe", "kabr", "calms21", "crim13-side",
                                  "crim13-top", "charades-sta-zeroshot"])
def test_tiny_single_labels_match_the_subject_colour(tiny_root, name):
    """The label each reader returns names the colour actually drawn in that sample's frames."""
    colour_of_class = {
        "k400-probe": lambda c: c.split()[0], "mit-probe": lambda c: c,
        "diving48-probe": lambda c: sorted(COLOURS)[["Back 15som 05Twis FREE", "Back 15som 15Twis FREE",
                                                      "Back 15som 25Twis FREE", "Back 15som NoTwis PIKE"].index(c)],
        "kabr": {"Walk": "red", "Graze": "green", "Browse": "blue", "Head Up": "yellow"}.get,
        "calms21": {"attack": "red", "investigation": "green", "mount": "blue", "other": "yellow"}.get,
        "crim13-side": {"attack": "red", "sniff": "green", "approach": "blue", "other": "yellow"}.get,
    }
    colour_of_class["crim13-top"] = colour_of_class["crim13-side"]
    for data in _splits(name, tiny_root).values():
        for sample in data.samples[::3]:
            if name == "charades-sta-zeroshot":
                expected = sample.answer.split()[1]
            else:
                label = sample.label if sample.label is not None else sample.labels[0]
                expected = colour_of_class[name](data.class_names[label])
            assert colours_in(_frame(sample)) == {expected}, (name, sample.sample_id)


def test_tiny_ssv2_templates_match_the_motion(tiny_root):
    moves = {"Moving something up": (0, -1), "Moving something down": (0, 1),
             "Moving something from left to right": (1, 0), "Moving something from right to left": (-1, 0)}
    for data in [*_splits("ssv2-probe", tiny_root).values(), *_splits("ssv2-events-zeroshot", tiny_root).values()]:
        for sample in data.samples[::2]:
            shift = _centroid(_frame(sample, "last")) - _centroid(_frame(sample, "first"))
            expected = np.array(moves[data.class_names[sample.label]])
            assert shift @ expected > 5, (sample.sample_id, data.class_names[sample.label], shift)


def test_tiny_multilabels_match_the_colours_present(tiny_root):
    charades = {"Holding something red": "red", "Holding something green": "green", "Holding something blue": "blue"}
    fly = {"lunge": "red", "wing threat": "green", "tussle": "blue"}
    for name, table in (("charades-probe", charades), ("flyvsfly", fly)):
        for data in _splits(name, tiny_root).values():
            empty = 0
            for sample in data.samples[::2]:
                # Objects may cross each other: a colour hidden in one frame shows in another. A Fly vs.
                # Fly sample's labels are those of its labelled frame's part (16 frames): look only there.
                at = ("first", "middle", "last") if name == "charades-probe" else _part_frames(sample)
                present = set().union(*(colours_in(_frame(sample, which), min_pixels=6) for which in at))
                named = {table[data.class_names[i]] for i in sample.labels if data.class_names[i] in table}
                assert named == present - {"yellow"}, (name, sample.sample_id, sample.labels, present)
                empty += not sample.labels
            if name == "charades-probe" and data.split == "test":
                assert empty >= 2  # yellow-squares clips: Charades rows with an empty actions field


def test_tiny_charades_folder_is_shared_without_collisions(tiny_root):
    csv_ids = {s.video_id for d in _splits("charades-probe", tiny_root).values() for s in d.samples}
    sta_ids = {s.video_id for d in _splits("charades-sta-zeroshot", tiny_root).values() for s in d.samples}
    from vpbench.tiny.writers.charades_sta import MOMENTS_PER_VIDEO

    sta_videos = sum(1 for moments in MOMENTS_PER_VIDEO if moments > 1)  # a one-sentence video has no choice
    assert len(csv_ids) == TRAIN_CLIPS + EVAL_CLIPS and len(sta_ids) == sta_videos and not csv_ids & sta_ids
    raw = (tiny_root / "charades" / "Charades_v1_test.csv").read_bytes()
    assert raw.count(b"\r\n") == raw.count(b"\n") and b',"A ' in raw  # CRLF, quoted scripts with commas


def test_tiny_kinetics_files_look_official(tiny_root):
    k400 = (tiny_root / "kinetics400" / "annotations" / "train.csv").read_text().splitlines()
    k600 = (tiny_root / "kinetics600" / "annotations" / "validate.csv").read_text().splitlines()
    assert k400[0] == "label,youtube_id,time_start,time_end,split,is_cc" and k400[1].startswith('"')
    assert k600[0] == "label,youtube_id,time_start,time_end,split" and not k600[1].startswith('"')
    assert any(line.split(",")[1].startswith("-") for line in k400[1:])
    assert list((tiny_root / "kinetics400" / "videos" / "train").glob("*_*/*_0*_0*.mp4"))


def test_deleted_videos_are_reported_missing(tiny_root, tmp_path):
    root = tmp_path / "copy"
    shutil.copytree(tiny_root / "moments_in_time", root / "moments_in_time")
    shutil.copytree(tiny_root / "KABR" / "annotation", root / "KABR" / "annotation")
    shutil.copytree(tiny_root / "KABR" / "dataset", root / "KABR" / "dataset")
    val = read_split(task("mit-probe", tiny=True), root, "val")
    for sample in val.samples[:5]:
        sample.video_path.unlink()
    shutil.rmtree(read_split(task("kabr", tiny=True), root, "val").samples[0].video_path)
    again = read_split(task("mit-probe", tiny=True), root, "val")
    assert {m.sample_id for m in again.missing} == {s.sample_id for s in val.samples[:5]}
    assert len(again.available) == EVAL_CLIPS - 5 and all(m.expected_path.suffix == ".mp4" for m in again.missing)
    kabr = read_split(task("kabr", tiny=True), root, "val")
    gone = [s for s in kabr.samples if s.video_id == kabr.samples[0].video_id]
    assert {m.sample_id for m in kabr.missing} == {s.sample_id for s in gone} and gone[0].video_path is None
