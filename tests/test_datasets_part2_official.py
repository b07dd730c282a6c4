"""Readers of part 2 on the official files: real excerpts (tests/fixtures/datasets, sources in its README),
files built to the documented schema where no excerpt is public, and malformed files, whose errors must
name the file, the row or key, and the problem."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from vpbench.datasets import read_split
from vpbench.errors import AnnotationError, RegistryError
from vpbench.registry import load_registry

FIXTURES = Path(__file__).parent / "fixtures" / "datasets"
AVA_PBTXT = FIXTURES / "ava" / "ava_action_list_v2.1_for_activitynet_2018.pbtxt.txt"


def task(name: str, **dataset_changes):
    config = load_registry().task(name)
    if dataset_changes:
        config = type(config)(**{**config.__dict__, "dataset": {**config.dataset, **dataset_changes}})
    return config


def write(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return path


def touch(path: Path) -> Path:
    return write(path, b"")


# ---------------------------------------------------------------- AVA v2.2 (real rows and label map)

def ava_root(tmp_path: Path, rows: str | None = None, excluded: str = "KHHgQ_Pe4cI,1538\n") -> Path:
    folder = tmp_path / "ava" / "annotations"
    write(folder / "ava_val_v2.2.csv", rows if rows is not None else (FIXTURES / "ava" / "ava_val_v2.2.csv").read_text())
    shutil.copy(AVA_PBTXT, folder / "ava_action_list_v2.2_for_activitynet_2019.pbtxt")
    write(folder / "ava_val_excluded_timestamps_v2.2.csv", excluded)
    return tmp_path


def test_ava_real_rows_group_into_person_boxes(tmp_path):
    root = ava_root(tmp_path)
    touch(root / "ava" / "videos" / "1j20qq1JyX4.mkv")  # CVDF serves a mix of .mkv, .mp4 and .webm
    touch(root / "ava" / "videos" / "KHHgQ_Pe4cI.webm")
    split = read_split(task("ava-stal"), root, "val")
    assert len(split.class_names) == 60 and split.class_names[0] == "bend/bow (at the waist)"
    class_ids = split.samples[0].meta["class_ids"]
    assert class_ids[:4] == (1, 3, 4, 5) and split.class_names[class_ids.index(80)] == "watch (a person)"
    by_id = {s.sample_id: s for s in split.samples}
    assert list(by_id)[:3] == ["1j20qq1JyX4,0907", "1j20qq1JyX4,0908", "1j20qq1JyX4,0909"]
    assert len(by_id) == 9 + 3  # 9 keyframes of one movie, 4 of the other minus the excluded 1538
    boxes = {b.box_xyxy: b.action_ids for b in by_id["1j20qq1JyX4,0909"].boxes}
    assert boxes == {(0.025, 0.407, 0.376, 0.991): (12, 80), (0.238, 0.075, 0.993, 1.0): (12, 17, 80)}
    assert len(by_id["KHHgQ_Pe4cI,1540"].boxes) == 4
    assert {b.box_xyxy: b.action_ids for b in by_id["KHHgQ_Pe4cI,1540"].boxes}[(0.304, 0.247, 0.421, 0.789)] == (10, 38, 79)
    sample = by_id["1j20qq1JyX4,0915"]
    half = task("ava-stal").sampling["clip_s"] / 2  # the clip is sampling.clip_s seconds centred on the keyframe
    assert sample.keyframe_s == 915.0 and sample.clip_span_s == (915.0 - half, 915.0 + half)
    assert sample.meta["frame_key"] == "1j20qq1JyX4,915.000000" and sample.video_path.suffix == ".mkv"
    assert by_id["KHHgQ_Pe4cI,1537"].video_path.suffix == ".webm" and not split.missing
    assert any("excluded" in note for note in split.notes)
    assert any("no 'val_proposals'" in note and "ground-truth" in note for note in split.notes)


def test_ava_actions_outside_the_label_map_are_dropped_and_counted(tmp_path):
    rows = (FIXTURES / "ava" / "ava_val_v2.2.csv").read_text()
    rows += "1j20qq1JyX4,0907,0.041,0.145,0.992,0.985,2,4\n"  # crawl: one of the 20 actions not evaluated
    rows += "1j20qq1JyX4,0916,0.100,0.100,0.200,0.200,2,9\n"  # a keyframe whose only box has only "crawl"
    split = read_split(task("ava-stal"), ava_root(tmp_path, rows), "val")
    assert "1j20qq1JyX4,0916" not in {s.sample_id for s in split.samples}
    assert split.samples[0].boxes[0].action_ids == (12, 17, 80)
    notes = " | ".join(split.notes)
    assert "2 rows with an action id outside the label map" in notes and "1 keyframes left with no box" in notes
    assert len(split.missing) == len(split.samples)  # no movie on disk: reported, not raised
    assert split.missing[0].expected_path == tmp_path / "ava" / "videos" / "1j20qq1JyX4.mp4"


def test_ava_timestamp_offset_for_15_minute_cuts(tmp_path):
    root = ava_root(tmp_path)
    split = read_split(task("ava-stal", options={"timestamp_offset": 900}), root, "val")
    half = task("ava-stal").sampling["clip_s"] / 2
    assert split.samples[0].keyframe_s == 7.0 and split.samples[0].clip_span_s == (7.0 - half, 7.0 + half)
    with pytest.raises(AnnotationError, match=r"ava_val_v2.2.csv: line 1 .*timestamp 907 is before .*1000"):
        read_split(task("ava-stal", options={"timestamp_offset": 1000}), root, "val")


def test_ava_proposals_csv_slowfast_and_plain(tmp_path):
    root = ava_root(tmp_path)
    proposals = write(tmp_path / "boxes.csv", "1j20qq1JyX4,0907,0.040,0.140,0.990,0.980,,0.996\n"
                                              "1j20qq1JyX4,907,0.5,0.5,0.6,0.6,0.12\n"  # 7 fields, 907 = 0907
                                              "zzzzzzzzzzz,0902,0.1,0.1,0.2,0.2,,0.9\n")
    split = read_split(task("ava-stal"), root, "val", {"val_proposals": proposals})
    first = split.samples[0]
    assert [(p.box_xyxy, p.score) for p in first.proposals] == [((0.04, 0.14, 0.99, 0.98), 0.996),
                                                                 ((0.5, 0.5, 0.6, 0.6), 0.12)]
    assert split.samples[1].proposals == () and proposals in split.annotation_files
    assert any("1 proposal frames are not annotated keyframes" in note for note in split.notes)
    pickled = write(tmp_path / "ava_dense_proposals_val.FAIR.recall_93.9.pkl", b"\x80\x04garbage")
    with pytest.raises(AnnotationError, match="pickled proposal files are refused"):
        read_split(task("ava-stal"), root, "val", {"val_proposals": pickled})


@pytest.mark.parametrize("row, message", [
    ("1j20qq1JyX4,0907,0.041,0.145,1.992,0.985,12,4", r"line 2: box x1,y1,x2,y2 = 0.041,0.145,1.992,0.985"),
    ("1j20qq1JyX4,0907,0.5,0.145,0.2,0.985,12,4", r"line 2: box .* not a normalised box"),
    ("1j20qq1JyX4,09x7,0.041,0.145,0.992,0.985,12,4", r"line 2: timestamp '09x7' is not a number"),
    ("1j20qq1JyX4,0907,0.041,0.145,0.992", r"line 2: .*video_id,timestamp,x1,y1,x2,y2,action_id"),
    ("../../etc/passwd,0907,0.1,0.1,0.2,0.2,12,4", r"must be relative and stay inside"),
])
def test_ava_malformed_rows_name_file_and_line(tmp_path, row, message):
    root = ava_root(tmp_path, "1j20qq1JyX4,0906,0.175,0.001,0.995,1.000,11,3\n" + row + "\n")
    with pytest.raises(AnnotationError, match=message) as error:
        read_split(task("ava-stal"), root, "val")
    assert "ava_val_v2.2.csv" in str(error.value)


def test_ava_bad_proposal_box_names_the_row(tmp_path):
    proposals = write(tmp_path / "boxes.csv", "1j20qq1JyX4,0907,0.1,0.1,0.2,0.2,,0.9\n"
                                              "1j20qq1JyX4,0907,-0.1,0.1,0.2,0.2,,0.9\n")
    with pytest.raises(AnnotationError, match=r"boxes.csv: line 2: box x1,y1,x2,y2 = -0.1"):
        read_split(task("ava-stal"), ava_root(tmp_path), "val", {"val_proposals": proposals})


# ---------------------------------------------------------------- AVA-Kinetics and ChimpACT (documented schema)

def test_ava_kinetics_keyframes_resolve_to_the_clip_containing_them(tmp_path):
    root = tmp_path / "ava_kinetics"
    annotations = root / "annotations"
    write(annotations / "ava_val_v2.2.csv", "1j20qq1JyX4,0902,0.002,0.118,0.714,0.977,12,1\n")
    write(annotations / "kinetics_val_v1.0.csv", "abc_def-123,17,0.1,0.2,0.5,0.9,12\n"
                                                 "abc_def-123,17,0.1,0.2,0.5,0.9,80\n"
                                                 "-0abcdefghi,104.0,0.3,0.3,0.6,0.6,14\n"
                                                 "-0abcdefghi,300\n"
                                                 "nofilefound,50,0.3,0.3,0.6,0.6,14\n")
    shutil.copy(AVA_PBTXT, annotations / "ava_action_list_v2.2_for_activitynet_2019.pbtxt")
    write(annotations / "ava_val_excluded_timestamps_v2.2.csv", "")
    touch(root / "videos" / "kinetics" / "abc_def-123_000010_000020.mp4")
    touch(root / "videos" / "kinetics" / "abc_def-123_000030_000040.mp4")  # another clip of the same video
    touch(root / "videos" / "kinetics" / "riding a bike" / "-0abcdefghi_000100_000110.mkv")  # class folders
    split = read_split(task("ava-kinetics-stal"), tmp_path, "val")
    by_id = {s.sample_id: s for s in split.samples}
    assert list(by_id) == ["1j20qq1JyX4,0902", "abc_def-123,0017", "-0abcdefghi,0104", "nofilefound,0050"]
    clip = by_id["abc_def-123,0017"]
    assert clip.video_path.name == "abc_def-123_000010_000020.mp4" and clip.keyframe_s == 7.0
    half = task("ava-kinetics-stal").sampling["clip_s"] / 2
    assert clip.clip_span_s == (7.0 - half, 7.0 + half) and clip.boxes[0].action_ids == (12, 80)
    assert by_id["-0abcdefghi,0104"].video_path.name == "-0abcdefghi_000100_000110.mkv"
    assert by_id["-0abcdefghi,0104"].clip_span_s == (4.0 - half, 4.0 + half)
    assert {m.sample_id for m in split.missing} == {"1j20qq1JyX4,0902", "nofilefound,0050"}
    assert any("1 keyframes listed without boxes" in note for note in split.notes)


CHIMP = "Azibo_ObsChimp_2017_06_22_c_clip_44000_45000"  # a test clip of the release (create_coco_format.py)


def test_chimpact_rows_use_frame_indices_and_processed_videos(tmp_path):
    root = tmp_path / "ChimpACT_processed"
    action = root / "annotations" / "action"
    write(action / "test_action.csv", f"test/images/{CHIMP},120,0.512,0.301,0.733,0.902,1,3\n"
                                      f"test/images/{CHIMP},120,0.512,0.301,0.733,0.902,20,3\n"
                                      f"test/images/{CHIMP},10,0.100,0.100,0.300,0.500,9,4\n"
                                      f"test/images/Azibo_ObsChimp_2018_07_06_d_clip_0_696,5,0.1,0.1,0.3,0.5,21,1\n")
    write(action / "action_list.txt", 'item {\n  name: "moving"\n  id: 1\n}\nitem {\n  name: "being groomed"\n'
                                      '  id: 9\n}\nitem {\n  name: "touching"\n  id: 21\n}\n')
    write(action / "test_action_excluded_timestamps.csv", f"test/images/{CHIMP},0\n")
    touch(root / "test" / "videos" / f"{CHIMP}.mp4")
    (root / "test" / "images" / "Azibo_ObsChimp_2018_07_06_d_clip_0_696").mkdir(parents=True)  # only frames
    split = read_split(task("chimpact"), tmp_path, "test")
    assert split.class_names == ["moving", "being groomed", "touching"]
    first, second, third = split.samples
    assert first.sample_id == f"test/images/{CHIMP},0120" and first.frame_span == (88, 152)  # 64 frames
    assert first.meta["keyframe_frame"] == 120 and first.keyframe_s is None
    assert first.boxes[0].action_ids == (1,)  # behaviour 20 is not in this label map
    assert first.video_path == root / "test" / "videos" / f"{CHIMP}.mp4"
    # Keyframe 10: frames 10 - 32 .. 10 + 31; the sampler repeats frame 0 before the clip (mmaction2 clamps).
    assert second.frame_span == (-22, 42) and second.boxes[0].action_ids == (9,)
    assert third.video_path.is_dir() and not split.missing  # no .mp4: the extracted frame folder
    write(action / "test_action.csv", f"test/images/{CHIMP},12.5,0.1,0.1,0.3,0.5,1,3\n")
    with pytest.raises(AnnotationError, match=r"test_action.csv: line 1 .*timestamp 12.5 is not a frame index"):
        read_split(task("chimpact"), tmp_path, "test")


# ---------------------------------------------------------------- ActivityNet v1.3 (real database entries)

def test_activitynet_real_entries(tmp_path):
    shutil.copytree(FIXTURES / "activitynet", tmp_path / "activitynet", ignore=shutil.ignore_patterns("README.md"))
    touch(tmp_path / "activitynet" / "videos" / "v_UOswYEzeJ-M.mp4")
    touch(tmp_path / "activitynet" / "videos" / "vcRCId1-xdA.webm")
    split = read_split(task("activitynet-tal"), tmp_path, "training")
    assert len(split.samples) == 12 and len(split.class_names) == 11  # no taxonomy: the labels present
    by_id = {s.sample_id: s for s in split.samples}
    layup = by_id["UOswYEzeJ-M"]
    assert layup.duration_s == 85.33 and len(layup.segments) == 6
    assert split.class_names[layup.segments[0].label] == "Layup drill in basketball"
    assert (layup.segments[0].start_s, layup.segments[0].end_s) == (17.83879, 19.83567)
    assert layup.video_path.name == "v_UOswYEzeJ-M.mp4" and by_id["vcRCId1-xdA"].video_path.suffix == ".webm"
    assert len(split.missing) == 10
    with pytest.raises(AnnotationError, match=r"no video has subset 'validation' \(subsets present: \['training'\]\)"):
        read_split(task("activitynet-tal"), tmp_path, "validation")


def test_activitynet_taxonomy_leaves_are_the_classes(tmp_path):
    data = {"version": "VERSION 1.3", "taxonomy": [
        {"nodeId": 0, "nodeName": "Root", "parentId": None, "parentName": None},
        {"nodeId": 1, "nodeName": "Sports", "parentId": 0, "parentName": "Root"},
        {"nodeId": 2, "nodeName": "Rock climbing", "parentId": 1, "parentName": "Sports"},
        {"nodeId": 3, "nodeName": "Ballet", "parentId": 0, "parentName": "Root"}],
        "database": {"QOlSCBRmfWY": {"subset": "validation", "duration": 82.73, "annotations": [
            {"segment": [6.19, 77.73], "label": "Ballet"}]}, "x": {"subset": "testing", "duration": 3.0,
                                                                   "annotations": []}}}
    write(tmp_path / "activitynet" / "activity_net.v1-3.min.json", json.dumps(data))
    split = read_split(task("activitynet-tal"), tmp_path, "validation")
    assert split.class_names == ["Ballet", "Rock climbing"] and split.samples[0].segments[0].label == 0


@pytest.mark.parametrize("edit, message", [
    (lambda d: d.update(database=[]), r"key 'database' is \[\], expected a JSON object"),
    (lambda d: d["database"]["UOswYEzeJ-M"]["annotations"][2].update(label="Layup"),
     r"database\['UOswYEzeJ-M'\].annotations\[2\]: label 'Layup' is not one of the 11 classes"),
    (lambda d: d["database"]["UOswYEzeJ-M"]["annotations"][0].update(segment=[19.8, 17.8]),
     r"database\['UOswYEzeJ-M'\].annotations\[0\]: segment \[19.8, 17.8\] must satisfy 0 <= start <= end"),
    (lambda d: d["database"]["UOswYEzeJ-M"].pop("subset"), r"database\['UOswYEzeJ-M'\]: missing key 'subset'"),
    (lambda d: d["database"]["UOswYEzeJ-M"].update(duration="long"), r"duration 'long' is not a number"),
    (lambda d: d.update(taxonomy={"nodeId": 0}), r"key 'taxonomy' must be a list of nodes"),
])
def test_activitynet_malformed(tmp_path, edit, message):
    data = json.loads((FIXTURES / "activitynet" / "activity_net.v1-3.min.json").read_text())
    labels = sorted({a["label"] for entry in data["database"].values() for a in entry["annotations"]})
    data["taxonomy"] = [{"nodeId": 0, "nodeName": "Root", "parentId": None, "parentName": None}] + [
        {"nodeId": k + 1, "nodeName": label, "parentId": 0, "parentName": "Root"} for k, label in enumerate(labels)]
    edit(data)
    path = write(tmp_path / "activitynet" / "activity_net.v1-3.min.json", json.dumps(data))
    with pytest.raises(AnnotationError, match=message) as error:
        read_split(task("activitynet-tal"), tmp_path, "training")
    assert str(error.value).startswith(str(path))


# ---------------------------------------------------------------- ActivityNet Captions (documented example)

ANET_CAPTIONS = {"v_QOlSCBRmfWY": {"duration": 82.73, "timestamps": [[0.83, 19.86], [17.37, 60.81], [56.26, 79.42]],
                                   "sentences": ["A young woman is seen standing in a room and leads into her dancing.",
                                                 " The girl dances around the room while the camera captures her movements.",
                                                 " She continues dancing around the room and ends by laying on the floor."]}}


def test_activitynet_captions_paragraphs_and_sentences(tmp_path):
    write(tmp_path / "activitynet_captions" / "val_1.json", json.dumps(ANET_CAPTIONS))
    touch(tmp_path / "activitynet_captions" / "videos" / "QOlSCBRmfWY.mp4")  # CLIP4Clip strips "v_"
    (sample,) = read_split(task("activitynet-retrieval"), tmp_path, "val_1").samples
    assert sample.captions == ("A young woman is seen standing in a room and leads into her dancing. The girl dances "
                               "around the room while the camera captures her movements. She continues dancing around "
                               "the room and ends by laying on the floor.",)
    assert sample.video_id == "QOlSCBRmfWY" and sample.video_path.name == "QOlSCBRmfWY.mp4" and sample.clip_span_s is None
    dense = read_split(task("activitynet-retrieval", options={"paragraph": False}), tmp_path, "val_1").samples
    assert [s.clip_span_s for s in dense] == [(0.83, 19.86), (17.37, 60.81), (56.26, 79.42)]
    assert dense[1].captions == ("The girl dances around the room while the camera captures her movements.",)
    broken = {"v_QOlSCBRmfWY": {**ANET_CAPTIONS["v_QOlSCBRmfWY"], "timestamps": [[0.83, 19.86]]}}
    write(tmp_path / "activitynet_captions" / "val_1.json", json.dumps(broken))
    with pytest.raises(AnnotationError, match=r"val_1.json: key 'v_QOlSCBRmfWY': 1 timestamps but 3 sentences"):
        read_split(task("activitynet-retrieval"), tmp_path, "val_1")


# ---------------------------------------------------------------- MSR-VTT (real 1k-A rows; documented JSON schema)

def test_msrvtt_jsfusion_rows(tmp_path):
    source = (FIXTURES / "msrvtt" / "MSRVTT_JSFUSION_test.csv").read_text()
    # The public excerpt is a ';'-separated copy; the release separates with ',' (no sentence has one).
    write(tmp_path / "msrvtt" / "MSRVTT_JSFUSION_test.csv", source.replace(";", ","))
    touch(tmp_path / "msrvtt" / "videos" / "video9770.mp4")
    split = read_split(task("msrvtt-retrieval"), tmp_path, "test_1k")
    assert len(split.samples) == 40 and split.samples[1].captions == ("a little girl does gymnastics",)
    assert (split.samples[0].sample_id, split.samples[0].video_id) == ("ret0", "video9770")
    assert split.samples[0].video_path.name == "video9770.mp4" and len(split.missing) == 39
    write(tmp_path / "msrvtt" / "MSRVTT_JSFUSION_test.csv", "key,vid_key,video,sentence\nret0,msr1,video1,a\n")
    with pytest.raises(AnnotationError, match=r"JSFUSION_test.csv: header \(line 1\) .*missing required column 'video_id'"):
        read_split(task("msrvtt-retrieval"), tmp_path, "test_1k")


def videodatainfo(split_of: dict[str, str]) -> dict:
    videos = [{"category": 9, "url": "https://www.youtube.com/watch?v=9lZi22qLlEo", "video_id": video,
               "start time": 137.72, "end time": 149.44, "split": split, "id": int(video[5:])}
              for video, split in split_of.items()]
    sentences = [{"caption": f"caption {k} of {video}", "video_id": video, "sen_id": 100 - k}
                 for video in split_of for k in range(3)]
    return {"info": {"contributor": "MSRA MSM Group"}, "videos": videos, "sentences": sentences}


def test_msrvtt_videodatainfo_splits_and_9k_list(tmp_path):
    folder = tmp_path / "msrvtt"
    write(folder / "train_val_videodatainfo.json", json.dumps(videodatainfo({"video0": "train", "video6513": "validate"})))
    write(folder / "test_videodatainfo.json", json.dumps(videodatainfo({"video7010": "test"})))
    train = read_split(task("msrvtt-captioning"), tmp_path, "train").samples
    assert [s.sample_id for s in train] == ["video0"]
    assert train[0].captions == ("caption 2 of video0", "caption 1 of video0", "caption 0 of video0")  # sen_id order
    assert train[0].meta["start_s"] == 137.72
    assert [s.video_id for s in read_split(task("msrvtt-captioning"), tmp_path, "test").samples] == ["video7010"]
    write(folder / "MSRVTT_data.json", json.dumps(videodatainfo({"video0": "train", "video6513": "validate",
                                                                 "video7010": "test"})))
    write(folder / "MSRVTT_train.9k.csv", "video_id\nvideo0\nvideo6513\n")
    nine_k = read_split(task("msrvtt-retrieval"), tmp_path, "train_9k")
    assert [s.video_id for s in nine_k.samples] == ["video0", "video6513"] and len(nine_k.samples[1].captions) == 3
    write(folder / "MSRVTT_train.9k.csv", "video_id\nvideo0\nvideo42\n")
    with pytest.raises(AnnotationError, match=r"MSRVTT_train.9k.csv: row 2 \(line 3\): video 'video42' has no caption"):
        read_split(task("msrvtt-retrieval"), tmp_path, "train_9k")
    write(folder / "test_videodatainfo.json", json.dumps({"videos": {}, "sentences": []}))
    with pytest.raises(AnnotationError, match=r"test_videodatainfo.json: key 'videos' is \{\}, expected a JSON array"):
        read_split(task("msrvtt-captioning"), tmp_path, "test")


# ---------------------------------------------------------------- VATEX and YouCook2 (documented schema)

def test_vatex_ids_split_from_the_right_and_the_hgr_list(tmp_path):
    entries = [{"videoID": "Ptf_2VRj-V0_000122_000132", "enCap": [" A man plays.", "Someone plays."], "chCap": ["x"]},
               {"videoID": "5-xGskbsBgI_000055_000065", "enCap": ["A young man is showing the polish."]}]
    write(tmp_path / "vatex" / "vatex_validation_v1.0.json", json.dumps(entries))
    touch(tmp_path / "vatex" / "videos" / "Ptf_2VRj-V0_000122_000132.mp4")
    with pytest.raises(AnnotationError, match="HGR.*--user-file test_ids=PATH.*--variant val-3000"):
        read_split(task("vatex-retrieval"), tmp_path, "val")  # the default gallery is the HGR test list
    split = read_split(load_registry().task("vatex-retrieval").with_variant("val-3000"), tmp_path, "val")
    assert [s.sample_id for s in split.samples] == ["Ptf_2VRj-V0_000122_000132", "5-xGskbsBgI_000055_000065"]
    assert split.samples[0].captions == ("A man plays.", "Someone plays.") and len(split.missing) == 1
    assert any("whole val set" in note and "HGR" in note for note in split.notes)
    touch(tmp_path / "vatex" / "videos" / "Ptf_2VRj-V0.mp4")
    full = read_split(task("vatex-captioning", options={"full_videos": True}), tmp_path, "val").samples[0]
    assert full.video_path.name == "Ptf_2VRj-V0.mp4" and full.clip_span_s == (122.0, 132.0)
    ids = write(tmp_path / "test_ids.txt", "5-xGskbsBgI_000055_000065\n")
    chosen = read_split(task("vatex-retrieval"), tmp_path, "val", {"test_ids": ids})
    assert [s.sample_id for s in chosen.samples] == ["5-xGskbsBgI_000055_000065"] and len(chosen.missing) == 1
    write(ids, "5-xGskbsBgI_000055_000065\nnot_in_val_000001_000002\n")
    with pytest.raises(AnnotationError, match=r"test_ids.txt: line 2: videoID 'not_in_val_000001_000002' is not in"):
        read_split(task("vatex-retrieval"), tmp_path, "val", {"test_ids": ids})
    write(tmp_path / "vatex" / "vatex_validation_v1.0.json", json.dumps([{"videoID": "Ptf2VRjV0", "enCap": ["a"]}]))
    with pytest.raises(AnnotationError, match=r"validation_v1.0.json: \[0\]: videoID 'Ptf2VRjV0' is not '<youtube id>_<st"):
        read_split(load_registry().task("vatex-retrieval").with_variant("val-3000"), tmp_path, "val")


def test_youcook2_segments_and_official_video_layout(tmp_path):
    data = {"database": {"9GX8f5EwwE4": {"duration": 241.64, "subset": "validation", "recipe_type": "212",
                                         "video_url": "https://www.youtube.com/watch?v=9GX8f5EwwE4",
                                         "annotations": [
                                             {"id": 0, "segment": [25, 37], "sentence": "cut the onion in half and dice"},
                                             {"id": 1, "segment": [40, 52], "sentence": "fry the onion"}]},
                         "other": {"duration": 10, "subset": "training", "recipe_type": "113", "annotations": []}}}
    write(tmp_path / "youcook2" / "youcookii_annotations_trainval.json", json.dumps(data))
    touch(tmp_path / "youcook2" / "videos" / "validation" / "212" / "9GX8f5EwwE4.webm")
    split = read_split(task("youcook2-captioning"), tmp_path, "validation")
    assert [(s.sample_id, s.clip_span_s, s.captions) for s in split.samples] == [
        ("9GX8f5EwwE4_0", (25.0, 37.0), ("cut the onion in half and dice",)),
        ("9GX8f5EwwE4_1", (40.0, 52.0), ("fry the onion",))]
    assert split.samples[0].video_path.name == "9GX8f5EwwE4.webm" and not split.missing
    data["database"]["9GX8f5EwwE4"]["annotations"][1]["sentence"] = ""
    write(tmp_path / "youcook2" / "youcookii_annotations_trainval.json", json.dumps(data))
    with pytest.raises(AnnotationError, match=r"database\['9GX8f5EwwE4'\].annotations\[1\]: sentence '' is not a non-empty"):
        read_split(task("youcook2-captioning"), tmp_path, "validation")


# ---------------------------------------------------------------- MSRVTT-QA / MSVD-QA (real MSVD mapping)

def test_videoqa_msvd_mapping_and_msrvtt_pattern(tmp_path):
    folder = tmp_path / "msvd_qa"
    folder.mkdir()
    shutil.copy(FIXTURES / "msvd_qa" / "youtube_mapping.txt", folder / "youtube_mapping.txt")
    qa = [{"answer": "man", "id": 0, "question": "who is talking?", "video_id": 1},
          {"answer": "dog", "id": 1, "question": "What is running?", "video_id": 14}]
    write(folder / "test_qa.json", json.dumps(qa))
    touch(folder / "videos" / "-4wsuPCjDBc_5_15.avi")
    touch(folder / "videos" / "-_aaMGK6GGw_57_61.mp4")  # converted: another container is accepted
    split = read_split(task("msvd-qa"), tmp_path, "test")
    assert [(s.sample_id, s.video_path.name, s.question_type, s.answer) for s in split.samples] == [
        ("0", "-4wsuPCjDBc_5_15.avi", "who", "man"), ("1", "-_aaMGK6GGw_57_61.mp4", "what", "dog")]
    write(folder / "test_qa.json", json.dumps(qa + [{"answer": "x", "id": 2, "question": "what?", "video_id": 99}]))
    with pytest.raises(AnnotationError, match=r"test_qa.json: \[2\]: video_id 99 has no 'vid99' line in youtube_mapping"):
        read_split(task("msvd-qa"), tmp_path, "test")
    write(tmp_path / "msrvtt_qa" / "test_qa.json", json.dumps([{"answer": "man", "category_id": 1, "id": 5,
                                                                "question": "who is talking?", "video_id": 7010}]))
    (sample,) = read_split(task("msrvtt-qa"), tmp_path, "test").samples
    assert sample.video_path is None and sample.meta == {"category_id": 1}
    write(tmp_path / "msrvtt_qa" / "test_qa.json", json.dumps([{"answer": "man", "id": 5, "question": "who?"}]))
    with pytest.raises(AnnotationError, match=r"test_qa.json: \[0\]: missing key 'video_id'"):
        read_split(task("msrvtt-qa"), tmp_path, "test")
    with pytest.raises(RegistryError, match="video_pattern"):
        read_split(task("msrvtt-qa", options={}), tmp_path, "test")


# ---------------------------------------------------------------- NExT-QA (real rows of val.csv, NExT-OE val.csv)

def nextqa_root(tmp_path: Path) -> Path:
    shutil.copytree(FIXTURES / "nextqa", tmp_path / "nextqa", ignore=shutil.ignore_patterns("README.md"))
    touch(tmp_path / "nextqa" / "NExTVideo" / "0063" / "2435100235.mp4")
    return tmp_path


def test_nextqa_multiple_choice_real_rows_and_atp_hard(tmp_path):
    root = nextqa_root(tmp_path)
    with pytest.raises(AnnotationError, match=r"needs the user file 'atp_hard_ids'.*--user-file atp_hard_ids=PATH"):
        read_split(task("nextqa-atp-hard-zeroshot"), root, "val")
    ids = write(tmp_path / "atp_hard.csv", "video,qid\n4010069381,6\n2435100235,7\n")
    split = read_split(task("nextqa-atp-hard-zeroshot"), root, "val", {"atp_hard_ids": ids})
    first, second = split.samples
    assert (first.sample_id, first.question_type) == ("4010069381_6", "CH")
    assert first.question == "how do the two man play the instrument"
    assert first.candidates == ("roll the handle", "tap their feet", "strum the string", "hit with sticks", "pat with hand")
    assert (first.answer_index, first.answer) == (0, "roll the handle") and first.video_path is None
    assert second.answer == "show him the watch" and second.video_path.name == "2435100235.mp4"
    assert [m.sample_id for m in split.missing] == ["4010069381_6"]
    assert "2 of 40 questions" in split.notes[0] and ids in split.annotation_files
    write(ids, "4010069381,6\n4010069381,99\n")
    with pytest.raises(AnnotationError, match=r"atp_hard.csv: line 2: question \(video 4010069381, qid 99\) is not in"):
        read_split(task("nextqa-atp-hard-zeroshot"), root, "val", {"atp_hard_ids": ids})


def test_nextqa_open_ended_real_rows(tmp_path):
    root = nextqa_root(tmp_path)
    split = read_split(task("nextqa-oe"), root, "val")
    assert len(split.samples) == 40 and len(split.missing) == 40
    first = split.samples[0]
    assert (first.sample_id, first.question, first.answer, first.question_type) == (
        "3233088823_3", "how is the bulldozer controlled", "from the drivers cabin", "CH")
    assert split.missing[0].expected_path.relative_to(tmp_path / "nextqa" / "NExTVideo").parts[1] == "3233088823.mp4"


@pytest.mark.parametrize("edit, message", [
    (lambda rows: rows.replace("video,frame_count", "vid,frame_count"), r"missing required column 'video'"),
    (lambda rows: rows.replace(",0,6,CH,", ",7,6,CH,"), r"row 1 \(line 2\): answer 7 is not a candidate index"),
    (lambda rows: rows.replace("4882821564,2697", "99999,2697"), r"row 2 \(line 3\): video '99999' has no entry"),
    (lambda rows: rows + rows.splitlines()[1] + "\n",
     r"row 41 \(line 42\): question \(video 4010069381, qid 6\) appears twice"),
])
def test_nextqa_malformed(tmp_path, edit, message):
    root = nextqa_root(tmp_path)
    path = root / "nextqa" / "dataset" / "nextqa" / "val.csv"
    path.write_text(edit(path.read_text()))
    ids = write(tmp_path / "ids", "4010069381,6\n")
    with pytest.raises(AnnotationError, match=message):
        read_split(task("nextqa-atp-hard-zeroshot"), root, "val", {"atp_hard_ids": ids})


def test_video_ids_escaping_the_data_root_are_refused(tmp_path):
    write(tmp_path / "vatex" / "vatex_validation_v1.0.json", json.dumps([{"videoID": "../../../etc/x_000001_000002",
                                                                          "enCap": ["a"]}]))
    with pytest.raises(AnnotationError, match=r"must be relative and stay inside"):
        read_split(task("vatex-captioning"), tmp_path, "val")
