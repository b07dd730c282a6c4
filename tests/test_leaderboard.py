"""`vpbench table`: published numbers exactly as in benchmarks.yaml, the 31-of-33 count, run columns,
protocol separation, the four text formats and the headless chart."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import statistics
from pathlib import Path

import pytest
import yaml

from vpbench.cli import main
from vpbench.errors import RegistryError, VpbenchError
from vpbench.leaderboard.published import load_published, model_size
from vpbench.leaderboard.render import (latex_escape, leaderboard_dict, readme_markdown, render_csv, render_latex,
                                        render_markdown, render_plain)
from vpbench.leaderboard.tables import build_leaderboard
from vpbench.registry import benchmarks_file

FIXTURES = Path(__file__).parent / "fixtures" / "leaderboard" / "results"
PAPER_KEYS = ("paper_b", "paper_g", "paper_b_1b", "paper_b_8b")
REFERENCE_KEYS = ("prev_best", "prev_best_base", "public_b", "public_l", "domain_expert")


@pytest.fixture(scope="module")
def yaml_rows() -> list[dict]:
    """benchmarks.yaml read independently of the code under test."""
    return yaml.safe_load(benchmarks_file().read_text(encoding="utf-8"))["benchmarks"]


@pytest.fixture(scope="module")
def published():
    return load_published()


@pytest.fixture(scope="module")
def board_with_runs(published):
    return build_leaderboard(published, FIXTURES)


def _write_yaml(tmp_path: Path, mutate) -> Path:
    data = yaml.safe_load(benchmarks_file().read_text(encoding="utf-8"))
    mutate(data)
    path = tmp_path / "benchmarks.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def _row(data: dict, bench_id: str) -> dict:
    return next(row for row in data["benchmarks"] if row["id"] == bench_id)


# ---------------------------------------------------------------- published numbers and the count


def test_every_published_number_matches_benchmarks_yaml(published, yaml_rows):
    board = leaderboard_dict(build_leaderboard(published))
    assert [b["id"] for b in board["benchmarks"]] == [row["id"] for row in yaml_rows]
    assert len(board["benchmarks"]) == 33
    for row, out in zip(yaml_rows, board["benchmarks"]):
        for key in (*PAPER_KEYS, *REFERENCE_KEYS):
            assert out[key] == row.get(key), (row["id"], key)
        assert (out["task"], out["group"], out["metric"], out["prev_best_model"]) == \
            (row["task"], row["group"], row["metric"], row["prev_best_model"])
        best = max(row[k] for k in PAPER_KEYS if k in row)
        assert out["best_videoprism"] == best
        assert out["delta"] == pytest.approx(best - row["prev_best"], abs=1e-9)


def test_markdown_rows_show_exactly_the_published_numbers(published, yaml_rows):
    text = render_markdown(build_leaderboard(published))
    lines = {line.split("|")[1].strip(): line for line in text.splitlines()
             if line.startswith("| ") and not line.startswith("| Benchmark")}
    for row in yaml_rows:
        cells = [c.strip() for c in lines[row["id"]].strip("|").split("|")]
        assert cells[1] == row["metric"]
        paper = [row[k] for k in PAPER_KEYS if k in row]
        assert cells[2:4] == [f"{v:.1f}" for v in paper], row["id"]
        assert cells[4] == f"{row['prev_best']:.1f} ({row['prev_best_model']})"
        for key in ("public_b", "public_l", "domain_expert"):
            if row.get(key) is not None:
                assert f"{row[key]:.1f}" in cells[7:], (row["id"], key)


def test_state_of_the_art_on_31_of_33(published, yaml_rows):
    summary = published.summary()
    assert (len(summary.wins), summary.total) == (31, 33)
    assert summary.ties == ("calms21",)
    assert summary.losses == ("vatex-cap",)
    assert summary.flag_disagreements == ()
    assert {row["id"] for row in yaml_rows if row.get("sota") is False} == {"calms21", "vatex-cap"}
    assert "state of the art on 31 of 33 benchmarks" in summary.line()
    assert "agrees with the paper's sota flags" in summary.line()


def test_count_is_computed_and_contradiction_with_sota_flag_is_reported(tmp_path):
    def calms21_becomes_a_win(data):
        _row(data, "calms21")["prev_best"] = 91.0

    summary = load_published(_write_yaml(tmp_path, calms21_becomes_a_win)).summary()
    assert len(summary.wins) == 32
    assert summary.flag_disagreements == ("calms21",)
    assert "DISAGREES with the paper's sota flags on calms21" in summary.line()


def test_a_group_mixing_encoder_and_lm_columns_is_rejected(tmp_path):
    def k400_gets_lm_columns(data):
        row = _row(data, "k400")
        row["paper_b_1b"], row["paper_b_8b"] = row.pop("paper_b"), row.pop("paper_g")

    with pytest.raises(RegistryError, match="group 'videoglue_frozen'.*'k400'"):
        load_published(_write_yaml(tmp_path, k400_gets_lm_columns))


@pytest.mark.parametrize("name, size", [
    ("videoprism-b", "b"), ("videoprism-lvt-b", "b"), ("videoprism-l", "l"), ("videoprism-lvt-l", "l"),
    ("google/videoprism-base-f16r288", "b"), ("google/videoprism-lvt-large-f8r288", "l"),
    ("tiny", None), ("/ckpt/my_model.npz", None)])
def test_model_size_from_name(name, size):
    assert model_size(name) == size


def test_group_mean_is_the_unweighted_mean_and_needs_every_benchmark(published, yaml_rows, board_with_runs):
    means = board_with_runs.aggregates("videoglue_frozen")
    glue = [row for row in yaml_rows if row["group"] == "videoglue_frozen"]
    assert means["paper_b"] == pytest.approx(statistics.fmean(r["paper_b"] for r in glue))
    assert means["prev_best"] == pytest.approx(statistics.fmean(r["prev_best"] for r in glue))
    assert means["public_l"] == pytest.approx(statistics.fmean(r["public_l"] for r in glue))
    assert board_with_runs.aggregates("zeroshot_classification")["public_b"] is None  # k600-zs has none
    assert means["videoprism-b:attentive/map"] is None  # the run covers 1 of 8 benchmarks
    retrieval = board_with_runs.aggregates("zeroshot_retrieval")
    assert retrieval["videoprism-lvt-b:lvt/released-text-tower"] is None


# ---------------------------------------------------------------- run columns


def test_run_columns_average_seeds_and_compare_with_paper_and_public(board_with_runs):
    ids = [c.id for c in board_with_runs.columns]
    assert ids == ["videoprism-b:attentive/map", "videoprism-b:attentive/map (protocol 2)",
                   "videoprism-lvt-b:lvt/released-text-tower"]
    k400 = board_with_runs.cell("k400", "videoprism-b:attentive/map")
    assert k400.result.value == pytest.approx((82.5 + 83.1) / 2)
    assert k400.result.std == pytest.approx(statistics.stdev([82.5, 83.1]))
    assert k400.result.seeds == (0, 1)
    assert k400.delta_paper == pytest.approx(82.8 - 84.2)  # paper_b
    assert k400.delta_public == pytest.approx(82.8 - 82.9)  # public_b
    t2v = board_with_runs.cell("msrvtt-t2v", "videoprism-lvt-b:lvt/released-text-tower")
    assert (t2v.result.value, t2v.delta_paper, t2v.delta_public) == (50.5, pytest.approx(-0.9), pytest.approx(0.4))
    assert board_with_runs.cell("mit", "videoprism-b:attentive/map") is None


def test_a_different_protocol_is_split_into_its_own_column_and_marked(board_with_runs):
    first = board_with_runs.cell("k400", "videoprism-b:attentive/map")
    second = board_with_runs.cell("k400", "videoprism-b:attentive/map (protocol 2)")
    assert second.result.value == 80.0 and second.result.seeds == (0,)
    assert first.result.fingerprint["frames"] == 16 and second.result.fingerprint["frames"] == 8
    assert (first.protocol_mark, second.protocol_mark) == ("p1", "p2")
    note, = board_with_runs.protocol_notes
    assert note.startswith("k400:") and "frames=16" in note and "frames=8" in note
    text = render_markdown(board_with_runs)
    assert "82.8 ±0.4 n=2 (-1.4 / -0.1) [p1]" in text and "80.0 (-4.2 / -2.9) [p2]" in text
    # cells of one protocol in a row carry no mark
    assert board_with_runs.cell("msrvtt-t2v", "videoprism-lvt-b:lvt/released-text-tower").protocol_mark is None


def test_a_repeated_seed_counts_once_and_the_newer_file_wins(tmp_path, published):
    shutil.copytree(FIXTURES, tmp_path / "results")
    original = FIXTURES / "run-a" / "k400-probe__videoprism-b__map__seed0.json"
    repeat = json.loads(original.read_text())
    repeat["benchmarks"]["k400"] = 90.0
    repeat["provenance"]["created"] = "2025-01-01T00:00:00+00:00"
    (tmp_path / "results" / "rerun").mkdir()
    (tmp_path / "results" / "rerun" / original.name).write_text(json.dumps(repeat))
    board = build_leaderboard(published, tmp_path / "results")
    cell = board.cell("k400", "videoprism-b:attentive/map")
    assert cell.result.seeds == (0, 1)
    assert cell.result.value == pytest.approx((90.0 + 83.1) / 2)
    assert any("repeats seed 0" in note and "rerun" in note for note in board.notes)


def test_tiny_runs_get_their_own_column_and_no_gap_to_the_paper(tmp_path, published):
    shutil.copytree(FIXTURES / "run-a", tmp_path / "results")
    path = tmp_path / "results" / "msrvtt-retrieval__videoprism-lvt-b__released-text-tower__seed0.json"
    data = json.loads(path.read_text())
    data["tiny"] = True
    path.write_text(json.dumps(data))
    board = build_leaderboard(published, tmp_path / "results")
    cell = board.cell("msrvtt-t2v", "videoprism-lvt-b:lvt/released-text-tower (tiny)")
    assert cell.result.value == 50.5 and cell.delta_paper is None and cell.delta_public is None
    assert cell.delta_prev_best == pytest.approx(50.5 - 43.9)


def test_a_saved_json_table_is_not_read_back_as_a_result(tmp_path, published):
    shutil.copytree(FIXTURES, tmp_path / "results")
    assert main(["table", "--results", str(tmp_path / "results"), "--format", "json",
                 "--output", str(tmp_path / "results" / "board.json")]) == 0
    again = build_leaderboard(published, tmp_path / "results")
    assert [c.id for c in again.columns] == [c.id for c in build_leaderboard(published, FIXTURES).columns]


def test_one_model_name_with_two_checkpoints_gets_two_columns(tmp_path, published):
    shutil.copytree(FIXTURES / "run-a", tmp_path / "results")
    path = tmp_path / "results" / "k400-probe__videoprism-b__map__seed1.json"
    data = json.loads(path.read_text())
    data["model"]["checkpoint_sha256"] = "beef" * 16
    path.write_text(json.dumps(data))
    board = build_leaderboard(published, tmp_path / "results")
    values = {c.id: board.cell("k400", c.id).result.value for c in board.columns if board.cell("k400", c.id)}
    assert values == {"videoprism-b@beefbeef:attentive/map": 83.1, "videoprism-b@c0ffee00:attentive/map": 82.5}


def test_unknown_benchmark_ids_are_named_not_shown(tmp_path, published):
    shutil.copytree(FIXTURES / "run-a", tmp_path / "results")
    path = tmp_path / "results" / "msrvtt-retrieval__videoprism-lvt-b__released-text-tower__seed0.json"
    data = json.loads(path.read_text())
    data["benchmarks"]["my-custom-bench"] = 1.0
    path.write_text(json.dumps(data))
    board = build_leaderboard(published, tmp_path / "results")
    assert any("my-custom-bench" in note for note in board.notes)
    assert all(bench != "my-custom-bench" for bench, _ in board.cells)


def test_a_malformed_result_names_the_file_and_key(tmp_path, published):
    shutil.copytree(FIXTURES / "run-a", tmp_path / "results")
    path = tmp_path / "results" / "k400-probe__videoprism-b__map__seed1.json"
    data = json.loads(path.read_text())
    del data["fingerprint_sha256"]
    path.write_text(json.dumps(data))
    with pytest.raises(VpbenchError, match=re.escape(str(path)) + ".*'fingerprint_sha256'"):
        build_leaderboard(published, tmp_path / "results")


# ---------------------------------------------------------------- formats


def test_markdown_tables_are_well_formed(board_with_runs):
    text = render_markdown(board_with_runs)
    tables = [block for block in text.split("\n\n") if block.startswith("| Benchmark")]
    assert len(tables) == 5
    rows = 0
    for table in tables:
        lines = table.splitlines()
        widths = {line.count("|") - line.count("\\|") for line in lines}
        assert len(widths) == 1, table  # every line of a table has the same number of cells
        assert re.fullmatch(r"\|---\|---\|(---:\|)+", lines[1])
        rows += len(lines) - 3  # header, separator, group mean
    assert rows == 33
    assert "state of the art on 31 of 33" in text


def test_readme_markdown_is_the_published_table_only(capsys):
    text = readme_markdown()
    assert main(["table", "--published-only", "--format", "markdown"]) == 0
    assert capsys.readouterr().out == text
    assert text.count("\n### ") + text.startswith("### ") == 5
    assert "videoprism-b:" not in text and "Run cells" not in text
    assert len([line for line in text.splitlines() if re.match(r"\| [a-z0-9-]+ \|", line)]) == 33


def test_csv_has_one_row_per_benchmark_with_unrounded_numbers(board_with_runs, yaml_rows):
    rows = list(csv.DictReader(io.StringIO(render_csv(board_with_runs))))
    assert [r["benchmark"] for r in rows] == [row["id"] for row in yaml_rows]
    for out, row in zip(rows, yaml_rows):
        for key in (*PAPER_KEYS, "prev_best", "public_b", "public_l"):
            assert out[key] == ("" if row.get(key) is None else str(float(row[key]))), (row["id"], key)
        assert out["outcome"] == ("win" if row.get("sota", True) else ("tie" if row["id"] == "calms21" else "loss"))
    k400 = rows[0]
    assert float(k400["videoprism-b:attentive/map value"]) == pytest.approx(82.8)
    assert k400["videoprism-b:attentive/map seeds"] == "0 1"
    assert k400["videoprism-b:attentive/map protocol_mark"] == "p1"
    assert rows[1]["videoprism-b:attentive/map value"] == ""


def test_json_round_trips_and_carries_versions(board_with_runs):
    data = json.loads(json.dumps(leaderboard_dict(board_with_runs)))
    assert data["summary"]["wins"] == 31 and data["summary"]["total"] == 33
    assert data["aggregate"] == {"name": "group mean", "version": 1}
    assert [g["id"] for g in data["groups"]] == ["videoglue_frozen", "zeroshot_retrieval", "zeroshot_classification",
                                                 "zeroshot_captioning_qa", "science"]
    captioning = data["groups"][3]
    assert [c["label"] for c in captioning["paper_columns"]] == ["B + PaLM-2 1B", "B + PaLM-2 8B"]
    run = data["benchmarks"][0]["runs"]["videoprism-b:attentive/map (protocol 2)"]
    assert run["value"] == 80.0 and run["protocol_mark"] == "p2" and run["delta_prev_best"] == pytest.approx(-2.8)


def _err(capsys) -> str:
    """stderr with rich's line wrapping undone (the CLI wraps error lines at 80 columns when piped)."""
    return capsys.readouterr().err.replace("\n", "")


def _unescaped(text: str, char: str) -> int:
    return len(re.findall(r"(?<!\\)" + re.escape(char), text))


def _check_latex_shape(text: str) -> None:
    assert text.count(r"\begin{tabular}") == text.count(r"\end{tabular}") == 5
    depth = 0
    for char in re.sub(r"\\[{}]", "", text):
        depth += {"{": 1, "}": -1}.get(char, 0)
        assert depth >= 0
    assert depth == 0
    assert _unescaped(text, "_") == 0 and _unescaped(text, "%") == 0 and _unescaped(text, "#") == 0
    for block in re.findall(r"\\begin\{tabular\}\{(\w+)\}(.*?)\\end\{tabular\}", text, flags=re.S):
        spec, body = block
        for line in body.strip().splitlines():
            if line.startswith(r"\hline") or line.startswith(r"\multicolumn"):
                continue
            assert line.endswith(r"\\"), line
            assert _unescaped(line, "&") == len(spec) - 1, line


def test_latex_has_balanced_tabulars_and_escapes_specials(board_with_runs):
    text = render_latex(board_with_runs)
    _check_latex_shape(text)
    assert r"avg\_mAP\_iou\_0.5\_0.95" in text
    assert r"in \% except CIDEr" in text
    assert r"videoprism-b:attentive/map" in text and r"$\pm$0.4" in text


def test_latex_escapes_hostile_names(tmp_path):
    def hostile(data):
        _row(data, "k400")["prev_best_model"] = "Net_50% & #1 {x}~^\\"

    board = build_leaderboard(load_published(_write_yaml(tmp_path, hostile)))
    text = render_latex(board)
    _check_latex_shape(text)
    assert latex_escape("Net_50% & #1 {x}~^\\") in text
    assert r"Net\_50\% \& \#1 \{x\}\textasciitilde{}\textasciicircum{}\textbackslash{}" in text


def test_rich_rendering_lists_all_rows(board_with_runs):
    text = render_plain(board_with_runs)
    for row in board_with_runs.published.rows:
        assert re.search(rf"│ {re.escape(row.id)} +│", text), row.id
    assert "videoprism-lvt-b:" in text and "50.5 (-0.9 / +0.4)" in text


# ---------------------------------------------------------------- chart


def test_chart_is_a_png_of_the_expected_size(tmp_path, board_with_runs):
    from PIL import Image

    from vpbench.leaderboard.plot import PLOT_SIZE_PX, plot_gains

    for name, run in (("paper.png", None), ("run.png", board_with_runs.find_column("protocol 2"))):
        path = plot_gains(board_with_runs, tmp_path / name, run)
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        with Image.open(path) as image:
            assert image.size == PLOT_SIZE_PX
            colours = image.convert("RGB").getcolors(maxcolors=1 << 16)
        assert colours is not None and len(colours) > 5  # bars and text drawn, not a blank canvas


# ---------------------------------------------------------------- CLI


def test_cli_table_with_results_output_file_and_plot(tmp_path, capsys):
    out_file, png = tmp_path / "board.csv", tmp_path / "chart.png"
    code = main(["table", "--results", str(FIXTURES), "--format", "csv", "--output", str(out_file),
                 "--plot", str(png), "--plot-run", "lvt-b"])
    assert code == 0
    assert png.stat().st_size > 10_000
    header = out_file.read_text().splitlines()[0]
    assert "videoprism-lvt-b:lvt/released-text-tower value" in header


def test_cli_table_rich_and_errors(tmp_path, capsys):
    assert main(["table", "--results", str(FIXTURES)]) == 0
    out = capsys.readouterr().out
    assert "state of the art on 31 of 33" in out and "videoprism-b:" in out
    assert main(["table", "--plot-run", "x"]) == 2
    assert "--plot-run needs --plot" in _err(capsys)
    assert main(["table", "--results", "/nonexistent/results"]) == 2
    assert "results directory not found" in _err(capsys)
    plot = ["--plot", str(tmp_path / "x.png"), "--plot-run", "videoprism"]
    assert main(["table", "--results", str(FIXTURES), *plot]) == 2
    assert "matches several" in _err(capsys)


# ---------------------------------------------------------------- protocol honesty

K400_SEEDS = ("k400-probe__videoprism-b__map__seed0.json", "k400-probe__videoprism-b__map__seed1.json")
MSRVTT = "msrvtt-retrieval__videoprism-lvt-b__released-text-tower__seed0.json"
LVT = "videoprism-lvt-b:lvt/released-text-tower"
FULL_SPLIT = ("full-split", "the 2,990-video full test split, not the paper's 1K-A")


@pytest.fixture()
def run_a(tmp_path):
    shutil.copytree(FIXTURES / "run-a", tmp_path / "results")
    return tmp_path / "results"


def test_a_variant_run_gets_its_own_column_no_delta_and_its_deviations_under_the_table(
        run_a, published, set_result_protocol):
    set_result_protocol(run_a / MSRVTT, variant="full-split", deviations=[FULL_SPLIT])
    board = build_leaderboard(published, run_a)
    column = board.find_column("variant full-split")
    assert column.id == f"{LVT} (variant full-split)" and column.variant == "full-split"
    cell = board.cell("msrvtt-t2v", column.id)
    assert cell.result.value == 50.5 and not cell.comparable
    assert (cell.delta_paper, cell.delta_public, cell.delta_prev_best) == (None, None, None)
    assert cell.deviation_mark == "d1" and board.cell("msrvtt-v2t", column.id).deviation_mark == "d1"
    note, = board.deviation_notes
    assert note.startswith("[d1] not the paper's protocol") and f"{column.id}: msrvtt-t2v, msrvtt-v2t" in note
    assert "variant 'full-split'" in note and "full-split: the 2,990-video full test split" in note
    # the clean k400 run beside it keeps its difference to the paper
    k400 = board.cell("k400", "videoprism-b:attentive/map")
    assert k400.comparable and k400.deviation_mark is None and k400.delta_paper == pytest.approx(82.8 - 84.2)

    for text in (render_markdown(board), render_plain(board)):
        assert "50.5 [d1]" in text and "50.5 (" not in text  # no Δ, not even a missing one
        assert "82.8 ±0.4 n=2 (-1.4 / -0.1)" in text
        assert "the 2,990-video full test split" in text  # the deviation is listed under the table
    latex = render_latex(board)
    _check_latex_shape(latex)
    assert "50.5 [d1]" in latex and "variant 'full-split'" in latex
    rows = {r["benchmark"]: r for r in csv.DictReader(io.StringIO(render_csv(board)))}
    t2v = {key[len(column.id) + 1:]: value for key, value in rows["msrvtt-t2v"].items()
           if key.startswith(column.id + " ")}
    assert (t2v["variant"], t2v["deviations"], t2v["deviation_mark"], t2v["delta_paper"]) == \
        ("full-split", "full-split", "d1", "")
    data = json.loads(json.dumps(leaderboard_dict(board)))
    run = next(b for b in data["benchmarks"] if b["id"] == "msrvtt-t2v")["runs"][column.id]
    assert run["protocol"] == {"variant": "full-split", "deviations": [{"id": FULL_SPLIT[0], "text": FULL_SPLIT[1]}]}
    assert run["comparable"] is False and run["delta_paper"] is None and run["deviation_mark"] == "d1"
    assert data["deviation_notes"] == [note] and data["leaderboard_version"] == 2
    assert next(c for c in data["columns"] if c["id"] == column.id)["variant"] == "full-split"


def test_a_run_time_deviation_like_limit_gets_no_delta_in_the_same_column(run_a, published, set_result_protocol):
    limit = ("limit", "--limit 5: a seeded random subset of each split")
    for name in K400_SEEDS:
        set_result_protocol(run_a / name, deviations=[limit])
    board = build_leaderboard(published, run_a)
    assert [c.id for c in board.columns] == ["videoprism-b:attentive/map", LVT]  # no variant: same column
    cell = board.cell("k400", "videoprism-b:attentive/map")
    assert cell.delta_paper is None and cell.delta_public is None and cell.deviation_mark == "d1"
    assert "82.8 ±0.4 n=2 [d1]" in render_markdown(board)
    assert "limit: --limit 5: a seeded random subset" in board.deviation_notes[0]
    clean = board.cell("msrvtt-t2v", LVT)  # a clean run still gets its delta
    assert clean.comparable and clean.delta_paper == pytest.approx(50.5 - 51.4)


def test_results_without_a_protocol_record_load_as_unknown_protocol(run_a, published, set_result_protocol):
    set_result_protocol(run_a / MSRVTT, deviations=None)  # as written by a vpbench before protocol records
    assert "protocol" not in json.loads((run_a / MSRVTT).read_text())
    board = build_leaderboard(published, run_a)
    cell = board.cell("msrvtt-t2v", LVT)
    assert cell.protocol is None and not cell.comparable and cell.deviation_mark == "d?"
    assert (cell.delta_paper, cell.delta_public, cell.delta_prev_best) == (None, None, None)
    note, = board.deviation_notes
    assert note.startswith("[d?]") and "record no protocol" in note
    assert "50.5 [d?]" in render_markdown(board)
    row = next(r for r in csv.DictReader(io.StringIO(render_csv(board))) if r["benchmark"] == "msrvtt-t2v")
    assert row[f"{LVT} variant"] == "?" and row[f"{LVT} deviation_mark"] == "d?"


@pytest.mark.parametrize("protocol, key", [
    ("in-domain", "'protocol' must be a mapping"),
    ({"variant": 3, "deviations": []}, "'protocol.variant' must be a variant name or null"),
    ({"variant": None, "deviations": [{"id": "lm"}]}, r"'protocol.deviations\[0\]' must be"),
])
def test_a_malformed_protocol_record_names_the_file_and_key(run_a, published, protocol, key):
    path = run_a / MSRVTT
    data = json.loads(path.read_text())
    data["protocol"] = protocol
    path.write_text(json.dumps(data))
    with pytest.raises(VpbenchError, match=re.escape(str(path)) + ".*" + key):
        build_leaderboard(published, run_a)


def test_chart_draws_no_bar_for_a_deviating_run(run_a, tmp_path, published, set_result_protocol):
    from vpbench.leaderboard.plot import plot_gains

    set_result_protocol(run_a / MSRVTT, variant="full-split", deviations=[FULL_SPLIT])
    board = build_leaderboard(published, run_a)
    assert all(board.cell(b, board.find_column("full-split").id).delta_prev_best is None
               for b in ("msrvtt-t2v", "msrvtt-v2t"))
    assert plot_gains(board, tmp_path / "chart.png", board.find_column("full-split")).stat().st_size > 10_000
