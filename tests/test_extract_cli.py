"""`vpbench extract` and `vpbench cache`, and a 2-process torchrun (gloo) run equal to a
1-process run bit for bit. Uses the zoo's random-weight ``tiny`` model (8 frames of 32 px)."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from vpbench.cli import main
from vpbench.commands.cache import parse_size
from vpbench.tiny.video import write_video

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli_videos")
    rng = np.random.default_rng(3)
    for k in range(4):
        frames = np.repeat(np.repeat(rng.integers(0, 256, (12 + 4 * k, 8, 12, 3), np.uint8), 8, 1), 8, 2)
        write_video(folder / f"c{k}.mp4", frames, fps=8)
    (folder / "list.txt").write_text(
        "# comment line\n"
        "c0.mp4\n"
        "c1.mp4\t0.25\t1.5\n"
        '{"id": "third", "path": "c2.mp4", "start_frame": 2, "end_frame": 12}\n'
        "gone.mp4\n"
        "c3.mp4\n"
    )
    return folder


def extract(args, capsys):
    assert main(["extract", *map(str, args)]) == 0
    return json.loads(capsys.readouterr().out)


def test_extract_writes_arrays_summary_and_reuses_the_cache(clips, tmp_path, capsys):
    args = ["--list", clips / "list.txt", "--model", "tiny", "--layout", "global", "--workers", "0",
            "--cache-dir", tmp_path / "cache", "--out", tmp_path / "out", "--no-progress", "--json"]
    summary = extract(args, capsys)
    assert (summary["items"], summary["extracted"], summary["cache_misses"]) == (5, 4, 4)
    assert summary["skipped_by_reason"] == {"missing": 1}
    assert summary["skipped_items"][0]["path"] == str(clips / "gone.mp4")
    assert summary["settings"]["spec"]["frames"] == 8 and summary["settings"]["spec"]["resolution"] == 32
    assert sorted(summary["files"].values()) == ["c0.mp4.npy", "c1.mp4@0.25-1.5s.npy", "c3.mp4.npy", "third.npy"]
    third = np.load(tmp_path / "out" / "third.npy", allow_pickle=False)
    assert third.shape == (1, 64) and third.dtype == np.float32
    on_disk = json.loads((tmp_path / "out" / "extraction.json").read_text())
    assert on_disk["extracted"] == 4
    again = extract(args + ["--format", "safetensors", "--out", tmp_path / "out2"], capsys)
    assert (again["cache_hits"], again["cache_misses"]) == (4, 0)
    from safetensors.numpy import load_file

    assert np.array_equal(load_file(tmp_path / "out2" / "third.safetensors")["features"], third)


def test_single_video_and_options(clips, tmp_path, capsys):
    summary = extract([clips / "c3.mp4", "--model", "tiny", "--layout", "frame_pooled", "--temporal-views", "2",
                       "--spatial-views", "3", "--dtype", "float16", "--workers", "0", "--cache-dir", tmp_path,
                       "--out", tmp_path / "out", "--no-progress", "--json"], capsys)
    assert summary["extracted"] == 1
    name = next(iter(summary["files"].values()))
    array = np.load(tmp_path / "out" / name, allow_pickle=False)
    assert array.shape == (6, 8, 64) and array.dtype == np.float16


def test_bad_list_lines_and_output_name_clashes_are_reported(clips, tmp_path, capsys):
    bad = tmp_path / "bad.txt"
    bad.write_text("c0.mp4\nc1.mp4\t1.0\n")
    assert main(["extract", "--list", str(bad), "--model", "tiny", "--cache-dir", str(tmp_path)]) == 2
    assert f"{bad}, line 2" in capsys.readouterr().err
    clash = tmp_path / "clash.txt"
    clash.write_text('{"id": "a/b", "path": "c0.mp4"}\n{"id": "a_b", "path": "c1.mp4"}\n')
    assert main(["extract", "--list", str(clash), "--model", "tiny", "--cache-dir", str(tmp_path)]) == 2
    assert "both map to output file a_b.npy" in capsys.readouterr().err
    assert main(["extract", "--model", "tiny"]) == 2
    assert "no videos" in capsys.readouterr().err


def test_cache_info_and_prune(clips, tmp_path, capsys):
    cache = tmp_path / "cache"
    extract(["--list", clips / "list.txt", "--model", "tiny", "--layout", "global", "--workers", "0",
             "--cache-dir", cache, "--out", tmp_path / "out", "--no-progress", "--json"], capsys)
    assert main(["cache", "info", "--cache-dir", str(cache), "--json"]) == 0
    (group,) = json.loads(capsys.readouterr().out)["groups"]
    assert (group["entries"], group["layout"], group["frames"], group["views"]) == (4, "global", 8, "1x1")
    # Least recently used first: age the entries 1..4 days, keep room for two.
    entries = sorted(cache.rglob("*.safetensors"))
    now = time.time()
    for age_days, entry in enumerate(entries, 1):
        os.utime(entry, (now - age_days * 86400, now - age_days * 86400))
    old_temp, new_temp = entries[0].parent / ".x.safetensors.abc.tmp", entries[0].parent / ".y.safetensors.def.tmp"
    old_temp.write_bytes(b"partial")
    new_temp.write_bytes(b"partial")
    os.utime(old_temp, (now - 7200, now - 7200))
    room = entries[0].stat().st_size + entries[1].stat().st_size  # the two most recently used
    assert main(["cache", "prune", "--cache-dir", str(cache), "--max-size", f"{room}B", "--dry-run", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["files"] == 3  # two entries + the stale temp file
    assert len(list(cache.rglob("*.safetensors"))) == 4
    assert main(["cache", "prune", "--cache-dir", str(cache), "--max-size", f"{room}B", "--json"]) == 0
    assert sorted(cache.rglob("*.safetensors")) == entries[:2]
    assert not old_temp.exists() and new_temp.exists()  # a live writer's temp file stays
    assert main(["cache", "prune", "--cache-dir", str(cache), "--older-than", "1.5", "--json"]) == 0
    assert sorted(cache.rglob("*.safetensors")) == entries[:1]
    capsys.readouterr()
    new_temp.unlink()  # its writer finished
    assert main(["cache", "prune", "--cache-dir", str(cache), "--group", group["digest"][:8], "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["files"] == 1 and report["groups_removed"] == 1
    assert [p.name for p in cache.rglob("*")] == ["v1"]
    assert main(["cache", "info", "--cache-dir", str(cache), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["groups"] == []
    assert parse_size("50G") == 50 * 10**9 and parse_size("1.5 MB") == 1_500_000 and parse_size("512") == 512
    assert main(["cache", "prune", "--max-size", "lots"]) == 2


@pytest.mark.slow
def test_torchrun_two_processes_equal_one_process_bit_for_bit(clips, tmp_path, capsys):
    common = ["--list", clips / "list.txt", "--model", "tiny", "--layout", "tokens", "--workers", "0",
              "--batch-size", "2", "--no-progress", "--json"]
    single = extract(common + ["--cache-dir", tmp_path / "one", "--out", tmp_path / "out1"], capsys)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               "-m", "vpbench", "extract", *map(str, common), "--cache-dir", str(tmp_path / "two"),
               "--out", str(tmp_path / "out2")]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    sharded = json.loads((tmp_path / "out2" / "extraction.json").read_text())
    for key in ("items", "extracted", "cache_misses", "skipped_by_reason", "files"):
        assert sharded[key] == single[key], key
    one = {p.relative_to(tmp_path / "one"): p.read_bytes() for p in (tmp_path / "one").rglob("*.safetensors")}
    two = {p.relative_to(tmp_path / "two"): p.read_bytes() for p in (tmp_path / "two").rglob("*.safetensors")}
    assert len(one) == 4 and one == two
    for name in single["files"].values():
        assert (tmp_path / "out1" / name).read_bytes() == (tmp_path / "out2" / name).read_bytes()
