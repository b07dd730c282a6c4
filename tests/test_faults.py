"""Fault injection: what a hostile user or a crashing machine does to vpbench, one case at a time.

Categories (each with its own cases):

1. bad input gets a named error: exit code and a message naming the file and the line or field;
2. silent wrong results are refused: a file that parses but means something else;
3. corrupt caches are recomputed and counted, never trusted and never fatal;
4. stopped runs leave no process behind and no half-written result.

Everything runs on fixtures, a few tiny videos and the zoo's random ``tiny`` model, so the module
stays fast; the process tests run a real ``vpbench extract`` in a subprocess.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from vpbench.cli import main

FIXTURES = Path(__file__).parent / "fixtures" / "datasets"
REPO = Path(__file__).resolve().parents[1]


def fixture_root(tmp_path: Path, *names: str) -> Path:
    """A data root holding copies of the named fixture dataset folders."""
    root = tmp_path / "data"
    for name in names:
        shutil.copytree(FIXTURES / name, root / name, ignore=shutil.ignore_patterns("README.md"))
    return root


def run_cli(capsys, *argv) -> tuple[int, str]:
    """(exit code, stderr) of ``vpbench ARGV`` run in this process."""
    code = main([str(a) for a in argv])
    return code, capsys.readouterr().err


def one_line(text: str) -> str:
    return " ".join(text.split())


# ------------------------------------------------------------------ 1. named errors for bad input

def test_non_utf8_annotation_csv_names_file_and_line(tmp_path, capsys):
    root = fixture_root(tmp_path, "charades")
    path = root / "charades" / "Charades_v1_train.csv"
    data = path.read_bytes().split(b"\r\n")
    data[4] = data[4][:10] + b"\xe4" + data[4][10:]  # a Latin-1 byte in the 4th data row
    path.write_bytes(b"\r\n".join(data))
    code, err = run_cli(capsys, "run", "--task", "charades-probe", "--data-root", root, "--model", "tiny",
                        "--output", tmp_path / "out")
    assert code == 1 and f"{path}: line 5, column 11: byte(s) b'\\xe4' are not UTF-8" in one_line(err)


def test_non_utf8_annotation_json_names_file_and_line(tmp_path, capsys):
    root = fixture_root(tmp_path, "diving48")
    path = root / "diving48" / "Diving48_V2_train.json"
    path.write_bytes(path.read_bytes().replace(b"\n", b"\n\xff", 1))
    code, err = run_cli(capsys, "run", "--task", "diving48-probe", "--data-root", root, "--model", "tiny",
                        "--output", tmp_path / "out")
    assert code == 1 and f"{path}: line 2, column 1: byte(s) b'\\xff' are not UTF-8" in one_line(err)


def test_unclosed_quote_is_an_error_at_its_line_not_a_swallowed_file(tmp_path, capsys):
    root = fixture_root(tmp_path, "kinetics400")
    path = root / "kinetics400" / "annotations" / "train.csv"
    rows = (FIXTURES / "kinetics400" / "annotations" / "kinetics-400_val.csv").read_text().splitlines()
    quoted = next(k for k, row in enumerate(rows) if '"' in row)  # the release quotes labels with commas
    broken = list(rows)
    broken[3] = broken[3].replace("abseiling", '"abseiling', 1)  # opened, closed only by the next quote
    path.write_text("\n".join(broken) + "\n")
    code, err = run_cli(capsys, "run", "--task", "k400-probe", "--data-root", root, "--model", "tiny",
                        "--output", tmp_path / "out")
    assert code == 1
    assert f"{path}: line 4: a quoted field of this record closes at line {quoted + 1} and is followed by text" \
        in one_line(err)
    broken = list(rows)
    broken[-1] = '"' + broken[-1]  # opened on the last row: the file ends inside it
    path.write_text("\n".join(broken) + "\n")
    code, err = run_cli(capsys, "run", "--task", "k400-probe", "--data-root", root, "--model", "tiny",
                        "--output", tmp_path / "out")
    assert code == 1
    assert f"{path}: line {len(rows)}: a quoted field starts in this record and is never closed" in one_line(err)


def test_field_over_the_csv_size_limit_is_named(tmp_path, capsys):
    root = fixture_root(tmp_path, "kinetics400")
    path = root / "kinetics400" / "annotations" / "train.csv"
    text = (FIXTURES / "kinetics400" / "annotations" / "kinetics-400_val.csv").read_text()
    path.write_text(text + '"' + "x" * 200_000 + '",y,1,2,val,0\n')
    code, err = run_cli(capsys, "run", "--task", "k400-probe", "--data-root", root, "--model", "tiny",
                        "--output", tmp_path / "out")
    line = len(text.splitlines()) + 1
    assert code == 1 and f"{path}: line {line}: a field longer than 131072 characters" in one_line(err)


def test_non_utf8_list_file_and_duplicate_ids_name_the_list_and_lines(tmp_path, capsys):
    listed = tmp_path / "videos.txt"
    listed.write_bytes(b"a.mp4\nb\xe9.mp4\n")
    code, err = run_cli(capsys, "extract", "--list", listed, "--model", "tiny", "--cache-dir", tmp_path / "c")
    assert code == 2 and f"{listed}: line 2, column 2: byte(s) b'\\xe9'" in one_line(err)
    listed.write_text('a.mp4\n{"id": "x", "path": "b.mp4"}\n{"id": "x", "path": "c.mp4"}\n')
    code, err = run_cli(capsys, "extract", "--list", listed, "--model", "tiny", "--cache-dir", tmp_path / "c")
    assert code == 2 and f"{listed}, line 3: id 'x' is already used at line 2" in one_line(err)


@pytest.mark.parametrize("command", ["score", "table"])
def test_non_utf8_prediction_and_result_files_are_named(tmp_path, capsys, command):
    bad = tmp_path / "results" / "k400-probe__tiny__map__seed0.json"
    bad.parent.mkdir()
    bad.write_bytes(b'{"task": "k400-probe",\n "note": "caf\xe9"}\n')
    if command == "score":
        argv = ["score", "--metric", "activitynet_tal", "--predictions", bad, "--references", bad]
    else:
        argv = ["table", "--results", bad.parent]
    code, err = run_cli(capsys, *argv)
    assert code == 2 and f"{bad}: line 2, column 14: byte(s) b'\\xe9' are not UTF-8" in one_line(err)


def test_non_utf8_benchmarks_yaml_is_named(tmp_path, capsys):
    benchmarks = tmp_path / "benchmarks.yaml"
    benchmarks.write_bytes((REPO / "benchmarks.yaml").read_bytes().replace(b"\n", b"\n# \xfc\n", 1))
    code, err = run_cli(capsys, "validate", "--benchmarks", benchmarks)
    assert code == 2 and f"{benchmarks}: line 2, column 3: byte(s) b'\\xfc' are not UTF-8" in one_line(err)


def test_directory_given_as_a_prediction_file(tmp_path, capsys):
    folder = tmp_path / "predictions.csv"
    folder.mkdir()
    for metric in ("classification", "multilabel_map", "retrieval", "activitynet_tal", "ava_frame_map", "wups"):
        options = ["--label-map", folder] if metric == "ava_frame_map" else []
        code, err = run_cli(capsys, "score", "--metric", metric, "--predictions", folder, "--references", folder,
                            *options)
        assert code == 2 and f"{folder}: is a directory" in one_line(err), metric


def _retrieval_score(capsys, tmp_path, arrays: dict, *, raw: bytes | None = None) -> tuple[int, str, Path]:
    predictions = tmp_path / "sims.npz"
    if raw is None:
        np.savez(predictions, **arrays, allow_pickle=True)
    else:
        predictions.write_bytes(raw)
    references = tmp_path / "captions.txt"
    references.write_text("0\n1\n2\n")
    code, err = run_cli(capsys, "score", "--metric", "retrieval", "--predictions", predictions,
                        "--references", references)
    return code, one_line(err), predictions


def test_truncated_and_pickled_npz_are_named(tmp_path, capsys):
    code, err, path = _retrieval_score(capsys, tmp_path, {"similarity": np.eye(3)})
    assert code == 0
    whole = path.read_bytes()
    code, err, path = _retrieval_score(capsys, tmp_path, {}, raw=whole[: len(whole) // 2])
    assert code == 2 and f"{path}: unreadable or truncated NumPy file" in err
    code, err, path = _retrieval_score(capsys, tmp_path, {"similarity": np.array([{"rm -rf": 1}] * 3, dtype=object)})
    assert code == 2 and f"{path}: array 'similarity' holds Python objects (pickled), which are never loaded" in err


@pytest.mark.parametrize("arrays, expected", [
    ({"text_embeddings": np.ones((3, 4)), "video_embeddings": np.ones((3, 5))},
     "'text_embeddings' are 4 wide and 'video_embeddings' 5"),
    ({"similarity": np.ones(3)}, "array 'similarity' has shape [3]"),
    ({"similarity": np.ones((3, 3, 2))}, "array 'similarity' has shape [3, 3, 2]"),
    ({"text_embeddings": np.ones((3, 4, 1)), "video_embeddings": np.ones((3, 4))},
     "array 'text_embeddings' has shape [3, 4, 1]"),
])
def test_retrieval_arrays_of_the_wrong_shape_are_named(tmp_path, capsys, arrays, expected):
    code, err, path = _retrieval_score(capsys, tmp_path, arrays)
    assert code == 2 and f"{path}: " in err and expected in err


def test_rich_markup_in_an_error_is_printed_verbatim(tmp_path, capsys):
    root = fixture_root(tmp_path, "activitynet")
    path = root / "activitynet" / "activity_net.v1-3.min.json"
    path.write_text(path.read_text().replace('"segment": [10.91225, 41.60295]', '"segment": [10.91225]', 1))
    code, err = run_cli(capsys, "run", "--task", "activitynet-tal", "--data-root", root, "--model", "tiny",
                        "--output", tmp_path / "out")
    assert code == 1 and "segment [10.91225] is not a [start, end] pair" in one_line(err)


def test_nan_weight_in_a_checkpoint_is_refused_naming_the_array(tmp_path, capsys):
    from vpbench.models.checkpoint import _npz_bytes
    from vpbench.models.zoo import resolve_checkpoint

    arrays = dict(np.load(resolve_checkpoint("tiny"), allow_pickle=False))
    name = sorted(arrays)[5]
    arrays[name] = arrays[name].copy()
    arrays[name].flat[7] = np.inf
    checkpoint = tmp_path / "damaged.npz"
    checkpoint.write_bytes(_npz_bytes(arrays))
    video = tmp_path / "v.mp4"
    video.write_bytes(b"")
    code, err = run_cli(capsys, "extract", video, "--model", checkpoint, "--cache-dir", tmp_path / "c")
    assert code == 2 and f"{checkpoint}: array '{name}' holds 1 non-finite value(s)" in one_line(err)


# ------------------------------------------------------------------ 2. silent wrong results refused

def test_retrieval_csv_without_its_sentence_column_is_refused(tmp_path, capsys):
    root = tmp_path / "data"
    pairs = root / "msrvtt" / "MSRVTT_JSFUSION_test.csv"
    pairs.parent.mkdir(parents=True)
    rows = (FIXTURES / "msrvtt" / "MSRVTT_JSFUSION_test.csv").read_text().replace(";", ",").splitlines()
    pairs.write_text("\n".join(",".join(row.split(",")[:3]) for row in rows) + "\n")
    # Captions the reader could fall back to (the 9k list's 20 per video): the run once succeeded on them.
    videos = [row.split(",")[2] for row in rows[1:]]
    (root / "msrvtt" / "MSRVTT_data.json").write_text(json.dumps({"videos": [], "sentences": [
        {"sen_id": k, "video_id": video, "caption": f"caption {k}"} for k, video in enumerate(videos * 20)]}))
    code, err = run_cli(capsys, "run", "--task", "msrvtt-retrieval", "--data-root", root, "--model", "tiny-lvt",
                        "--output", tmp_path / "out")
    assert code == 1 and f"{pairs}: header (line 1)" in one_line(err) and "missing required column 'sentence'" in err


@pytest.mark.parametrize("argv, option", [
    (["extract", "x.mp4", "--frames", "0"], "--frames"),
    (["extract", "x.mp4", "--resolution", "-288"], "--resolution"),
    (["extract", "x.mp4", "--temporal-views", "0"], "--temporal-views"),
    (["extract", "x.mp4", "--workers", "-1"], "--workers"),
    (["extract", "x.mp4", "--batch-size", "0"], "--batch-size"),
    (["extract", "x.mp4", "--timeout", "nan"], "--timeout"),
    (["extract", "x.mp4", "--policy", "fps", "--fps", "0"], "--fps"),
    (["run", "--task", "k400-probe", "--limit", "0"], "--limit"),
    (["cache", "prune", "--older-than", "-5"], "--older-than"),
    (["cache", "prune", "--older-than", "inf"], "--older-than"),
    (["cache", "prune", "--group", ""], "--group"),
    (["cache", "prune", "--group", "xyz!"], "--group"),
])
def test_numeric_and_selector_options_are_validated(tmp_path, capsys, argv, option):
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == 2
    assert f"argument {option}" in capsys.readouterr().err


def test_prune_by_a_prefix_that_names_no_group_or_several_deletes_nothing(tmp_path, capsys):
    cache = tmp_path / "cache"
    groups = []
    for prefix in ("abcd01", "abcd02"):
        group = cache / "v1" / f"{prefix}{'0' * 14}"
        (group / "aa").mkdir(parents=True)
        (group / "settings.json").write_text(json.dumps({"digest": prefix + "0" * 58}))
        (group / "aa" / "entry.safetensors").write_bytes(b"x")
        groups.append(group)
    for prefix, found in (("abcd", "2 groups"), ("ffff", "no group")):
        code, err = run_cli(capsys, "cache", "prune", "--cache-dir", cache, "--group", prefix)
        assert code == 2 and f"--group {prefix}: matches {found}" in one_line(err)
    assert all((g / "aa" / "entry.safetensors").exists() for g in groups)
    assert run_cli(capsys, "cache", "prune", "--cache-dir", cache, "--group", "ABCD01")[0] == 0
    assert [g.exists() for g in groups] == [False, True]
    from vpbench.errors import VpbenchError
    from vpbench.features import FeatureCache

    for bad in ({"digest_prefixes": ("",)}, {"older_than_s": -1.0}, {"max_bytes": -5}):
        with pytest.raises(VpbenchError, match="prune: "):
            FeatureCache(cache).prune(**bad)
    assert groups[1].exists()


@pytest.mark.parametrize("umask", [0o022, 0o002])
def test_atomic_writes_honour_the_umask(tmp_path, umask):
    from vpbench.atomic import atomic_write_json

    before = os.umask(umask)
    try:
        path = atomic_write_json(tmp_path / "shared" / "result.json", {"a": 1})
    finally:
        os.umask(before)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask


# ------------------------------------------------------------------ 3. corrupt caches: recomputed and counted

@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """Three small distinct videos for the ``tiny`` model (8 frames of 32 px)."""
    from vpbench.tiny.video import write_video

    folder = tmp_path_factory.mktemp("fault_clips")
    rng = np.random.default_rng(5)
    for k in range(3):
        frames = np.repeat(np.repeat(rng.integers(0, 256, (10 + 2 * k, 8, 12, 3), np.uint8), 8, 1), 8, 2)
        write_video(folder / f"c{k}.mp4", frames, fps=8)
    return folder


def extract_json(capsys, clips: Path, cache: Path, out: Path, *extra) -> dict:
    code, err = run_cli(capsys, "extract", *sorted(clips.glob("c*.mp4")), "--model", "tiny", "--layout", "global",
                        "--workers", "0", "--cache-dir", cache, "--out", out, "--no-progress", "--json", *extra)
    assert code == 0, err
    return json.loads((out / "extraction.json").read_text())


def entries(cache: Path) -> list[Path]:
    return sorted(cache.rglob("*.safetensors"))


def arrays(out: Path) -> dict[str, np.ndarray]:
    return {p.name: np.load(p, allow_pickle=False) for p in sorted(out.glob("*.npy"))}


def flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x04
    path.write_bytes(bytes(data))


def test_flipped_bytes_in_cache_entries_are_recomputed_and_counted(clips, tmp_path, capsys):
    cache = tmp_path / "cache"
    first = extract_json(capsys, clips, cache, tmp_path / "out1")
    assert (first["cache_misses"], first["cache_recomputed"]) == (3, 0)
    reference = arrays(tmp_path / "out1")
    good = {p: p.read_bytes() for p in entries(cache)}
    feature_entry, header_entry, cut_entry = entries(cache)
    flip(feature_entry, -5)  # a bit of a stored feature value
    flip(header_entry, 60)  # a bit of the JSON record (key, item, sampling info)
    cut_entry.write_bytes(cut_entry.read_bytes()[:-40])  # a truncated write from another tool
    second = extract_json(capsys, clips, cache, tmp_path / "out2")
    assert (second["cache_hits"], second["cache_misses"], second["cache_recomputed"]) == (0, 3, 3)
    assert sum(second["cache_recomputed_by_reason"].values()) == 3
    assert second["cache_recomputed_by_reason"]["checksum"] >= 1
    assert {item["path"] for item in second["cache_recomputed_items"]} == {str(p) for p in good}
    assert {name: a.tobytes() for name, a in arrays(tmp_path / "out2").items()} == \
        {name: a.tobytes() for name, a in reference.items()}
    assert {p: p.read_bytes() for p in entries(cache)} == good  # rewritten bit for bit
    third = extract_json(capsys, clips, cache, tmp_path / "out3")
    assert (third["cache_hits"], third["cache_recomputed"]) == (3, 0)


def test_entry_of_right_key_but_wrong_shape_or_no_checksum_is_recomputed(clips, tmp_path, capsys):
    import torch
    from safetensors.torch import save

    from vpbench.features.cache import FeatureCache, read_metadata

    cache = tmp_path / "cache"
    extract_json(capsys, clips, cache, tmp_path / "out1")
    reference = arrays(tmp_path / "out1")
    misshapen, old = entries(cache)[:2]
    record = read_metadata(misshapen)
    key = record.pop("key")
    record.pop("vpbench_sha256")
    FeatureCache(cache).write(misshapen, key, torch.zeros(1, 7), record)  # valid checksum, shape [1, 7] not [1, 64]
    old_record = read_metadata(old)
    old_record.pop("vpbench_sha256")
    old.write_bytes(save({"features": torch.zeros(1, 64)}, metadata={"vpbench": json.dumps(old_record)}))
    second = extract_json(capsys, clips, cache, tmp_path / "out2")
    assert second["cache_recomputed_by_reason"] == {"no_checksum": 1, "shape": 1}
    shape_item = next(i for i in second["cache_recomputed_items"] if i["reason"] == "shape")
    assert "has shape [1, 7]; these settings give [1, 64]" in shape_item["detail"]
    assert shape_item["path"] == str(misshapen)
    assert all(np.array_equal(a, reference[name]) for name, a in arrays(tmp_path / "out2").items())


def test_unreadable_entry_is_recomputed_and_an_unwritable_one_is_a_named_error(clips, tmp_path, capsys, monkeypatch):
    cache = tmp_path / "cache"
    extract_json(capsys, clips, cache, tmp_path / "out1")
    reference = arrays(tmp_path / "out1")
    victim = entries(cache)[1]
    read_bytes = Path.read_bytes

    failures = []

    def failing_read(self):
        if self == victim and not failures:  # the first read, while the run checks its cache
            failures.append(self)
            raise OSError(5, "Input/output error")
        return read_bytes(self)

    with monkeypatch.context() as patch:
        patch.setattr(Path, "read_bytes", failing_read)
        second = extract_json(capsys, clips, cache, tmp_path / "out2")
    assert second["cache_recomputed_by_reason"] == {"unreadable": 1}
    assert "Input/output error" in second["cache_recomputed_items"][0]["detail"]
    assert all(np.array_equal(a, reference[name]) for name, a in arrays(tmp_path / "out2").items())
    victim.unlink()
    victim.mkdir()  # what sits there can be neither read nor replaced
    code, err = run_cli(capsys, "extract", *sorted(clips.glob("c*.mp4")), "--model", "tiny", "--layout", "global",
                        "--workers", "0", "--cache-dir", cache, "--out", tmp_path / "out3", "--no-progress")
    assert code == 2 and f"cannot write feature cache entry {victim}" in one_line(err)


def test_entry_changed_after_verification_is_a_named_error(clips, tmp_path):
    from vpbench.features import FeatureCache, WorkItem, extract_features
    from vpbench.models import load_model
    from vpbench.video import SamplingSpec

    items = [WorkItem(p.stem, str(p)) for p in sorted(clips.glob("c*.mp4"))]
    result = extract_features(load_model("tiny"), items, SamplingSpec(frames=8, resolution=32), "global",
                              FeatureCache(tmp_path))
    flip(entries(tmp_path)[0], -3)
    with pytest.raises(Exception, match="changed after this run verified it: .* fails its checksum"):
        [result.features[i.item_id] for i in items]


# ------------------------------------------------------------------ 4. stopped runs: no process, no half-written result

def session_processes(sid: int) -> list[tuple[int, str]]:
    """(pid, command) of every live (not zombie) process in session ``sid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")[:120]
        except OSError:
            continue
        state, session = fields[0], int(fields[3])
        if session == sid and state != "Z":
            found.append((int(entry.name), command))
    return found


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads the process table from /proc")
@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_stopped_extraction_leaves_no_process_and_no_partial_output(clips, tmp_path, stop):
    videos = sorted(clips.glob("c*.mp4"))
    listed = tmp_path / "list.txt"
    # Many distinct clips (spans differ), so the run is still extracting when it is stopped.
    listed.write_text("".join(json.dumps({"id": f"x{k}", "path": str(videos[k % 3]), "start_s": 0.0,
                                          "end_s": 1.0 + k / 1000}) + "\n" for k in range(300)))
    cache, out = tmp_path / "cache", tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    child = subprocess.Popen(
        [sys.executable, "-m", "vpbench", "extract", "--list", str(listed), "--model", "tiny", "--workers", "2",
         "--batch-size", "2", "--cache-dir", str(cache), "--out", str(out), "--no-progress"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while len(entries(cache)) < 3:  # workers are decoding, the encoder is writing
            assert child.poll() is None, child.stderr.read().decode()[-2000:]
            assert time.monotonic() < deadline, "no cache entry after 120 s"
            time.sleep(0.05)
        helpers = session_processes(child.pid)
        assert len(helpers) >= 4, helpers  # vpbench, fork server, resource tracker, 2 workers
        child.send_signal(stop)
        code = child.wait(30)
        # A worker inside a decord call notices only when the call returns: allow for a loaded machine.
        deadline = time.monotonic() + 10
        while session_processes(child.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        survivors = session_processes(child.pid)
    finally:
        child.kill()
    assert survivors == [], f"alive 10 s after {stop.name}: {survivors}"
    assert 3 <= len(entries(cache)) < 300
    assert not (out / "extraction.json").exists()
    temps = list(cache.rglob("*.tmp"))
    if stop == signal.SIGKILL:
        # A write cut by SIGKILL may leave its hidden temp file: never read as an entry, removed by
        # `vpbench cache prune`. SIGTERM unwinds, so it leaves none.
        assert all(t.name.startswith(".") for t in temps) and not set(temps) & set(entries(cache))
    else:
        assert not temps
    if stop == signal.SIGTERM:
        assert code == 128 + signal.SIGTERM
        assert "stopped: SIGTERM received" in child.stderr.read().decode()
    else:
        assert code == -signal.SIGKILL


def test_sigterm_during_a_run_writes_no_result_and_exits_143(tmp_path, capsys, monkeypatch):
    import vpbench.families

    def interrupted(task, context):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the handler raises here
        raise AssertionError("SIGTERM did not stop the run")

    monkeypatch.setattr(vpbench.families, "run_task", interrupted)
    root = fixture_root(tmp_path, "kinetics400")
    code, err = run_cli(capsys, "run", "--task", "k400-probe,diving48-probe", "--data-root", root,
                        "--output", tmp_path / "results")
    assert code == 143 and "stopped: SIGTERM received" in err
    assert not (tmp_path / "results").exists() or not list((tmp_path / "results").rglob("*.json"))
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL  # the handler does not outlive the command


def test_unexpected_error_in_one_task_is_logged_and_the_other_tasks_run(tmp_path, capsys, monkeypatch):
    from vpbench.datasets import kinetics_csv

    def broken(*args, **kwargs):
        raise ZeroDivisionError("a bug in a reader")

    monkeypatch.setattr(kinetics_csv, "read", broken)
    root = fixture_root(tmp_path, "kinetics400", "diving48")
    code, err = run_cli(capsys, "run", "--task", "k400-probe,diving48-probe", "--data-root", root, "--model", "tiny",
                        "--output", tmp_path / "results")
    text = one_line(err)
    assert code == 1 and "k400-probe failed unexpectedly: ZeroDivisionError: a bug in a reader (traceback:" in text
    assert "Traceback" not in err
    (log,) = (tmp_path / "results" / "logs").glob("k400-probe-*.log")
    assert "Traceback (most recent call last)" in log.read_text() and "a bug in a reader" in log.read_text()
    assert "diving48-probe failed:" in text and "2 of 2 task(s) failed: k400-probe, diving48-probe" in text


def test_duplicate_sample_id_names_the_annotation_file(tmp_path, capsys):
    root = tmp_path / "data"
    pairs = root / "msrvtt" / "MSRVTT_JSFUSION_test.csv"
    pairs.parent.mkdir(parents=True)
    rows = (FIXTURES / "msrvtt" / "MSRVTT_JSFUSION_test.csv").read_text().replace(";", ",").splitlines()
    rows[5] = rows[5].replace("ret4,", "ret1,", 1)  # a second row keyed ret1
    pairs.write_text("\n".join(rows) + "\n")
    code, err = run_cli(capsys, "run", "--task", "msrvtt-retrieval", "--data-root", root, "--model", "tiny-lvt",
                        "--output", tmp_path / "out")
    assert code == 1 and f"{pairs}: sample id 'ret1' appears twice in split 'test_1k' (samples 2 and 5 of" in one_line(err)


def test_left_out_items_are_listed_by_id_capped_with_the_full_list_beside_the_result(tmp_path):
    from types import SimpleNamespace

    from vpbench.commands.run import LEFT_OUT_LISTED, list_left_out
    from vpbench.datasets import DatasetSplit, MissingVideo
    from vpbench.families.common import LoadedSplit, RunLog
    from vpbench.features.extract import ExtractionResult, SkippedItem

    log = RunLog(SimpleNamespace(name="k400-probe"), SimpleNamespace(limit=None, options={}))
    missing = [MissingVideo(f"m{k:03d}", tmp_path / f"m{k:03d}.mp4") for k in range(150)]
    split = DatasetSplit(task="k400-probe", split="val", samples=[], missing=missing)
    log.add_split(LoadedSplit("eval", "val", split, samples=[], total=150, without_video=150, limited=False))
    broken = [SkippedItem("eval/bad", "bad.mp4", "decode_error", "truncated at frame 40")]
    log.add_extraction("eval", ExtractionResult({}, broken, 0, 1, {}, {}), "eval")
    record = log.record({}, adapter={"variant": "map"}, model={"name": "tiny"})
    result = {"task": "k400-probe", "model": {"name": "tiny"}, "adapter": {"variant": "map"}, "seed": 0,
              "counts": record.counts, "extra": record.extra}
    list_left_out(result, tmp_path)
    left_out = result["extra"]["left_out"]
    assert (left_out["count"], left_out["listed"], len(left_out["items"])) == (151, LEFT_OUT_LISTED, LEFT_OUT_LISTED)
    assert left_out["items"][0] == {"split": "eval", "reason": "missing_video", "item": "m000",
                                    "detail": f"expected at {tmp_path / 'm000.mp4'}"}
    side = json.loads((tmp_path / left_out["file"]).read_text())
    assert left_out["file"] == "k400-probe__tiny__map__seed0.left_out.json" and side["count"] == 151
    assert side["items"][-1] == {"split": "eval", "reason": "video_decode_error", "item": "eval/bad", "stage": "eval",
                                 "detail": "truncated at frame 40"}
    assert record.counts["skipped"] == {"missing_video": 150, "video_decode_error": 1}
