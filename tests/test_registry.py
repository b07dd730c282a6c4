"""The registry holds exactly the paper's 33 benchmarks and 30 tasks, and rejects broken YAML by name."""

import json
import re
import shutil
from pathlib import Path

import pytest
import yaml

from vpbench.errors import RegistryError
from vpbench.registry import PROJECT_ROOT, load_registry, load_registry_from, load_task

PAPER = Path(__file__).parent / "fixtures" / "paper" / "videoprism_tables.yaml"


def test_registry_has_33_benchmarks_and_30_tasks():
    registry = load_registry()
    assert len(registry.benchmarks) == 33
    assert len(registry.tasks) == 30
    for bench in registry.benchmarks.values():
        assert bench.metric in registry.tasks[bench.task].score_keys
    assert sum(len(t.benchmarks) for t in registry.tasks.values()) == 33


def test_published_numbers_equal_the_paper_fact_sheet():
    paper = yaml.safe_load(PAPER.read_text())["benchmarks"]
    registry = load_registry()
    assert [b["id"] for b in paper] == list(registry.benchmarks)
    for row in paper:
        bench = registry.benchmarks[row["id"]]
        assert (bench.task, bench.group, bench.metric) == (row["task"], row["group"], row["metric"])
        assert bench.published == {k: v for k, v in row.items() if k not in ("id", "task", "group", "metric")}
    assert sorted(b.id for b in registry.benchmarks.values() if not b.sota) == ["calms21", "vatex-cap"]


def test_includes_merge_per_key():
    registry = load_registry()
    k400 = registry.task("k400-probe")
    assert k400.sampling["frames"] == 16 and k400.sampling["temporal_views"] == 4  # _base + _probe
    assert k400.adapter["heads"] == 12
    tiny = k400.for_tiny()
    assert tiny.sampling["frames"] == 8 and tiny.sampling["temporal_views"] == 2
    assert tiny.adapter["heads"] == 2 and tiny.adapter["dropout"] == 0.5
    assert tiny.model == "tiny" and registry.task("msrvtt-retrieval").for_tiny().model == "tiny-lvt"
    crim_top = registry.task("crim13-top")
    assert crim_top.dataset["options"] == {"view": "top", "background": "other"}


def test_resolve_specs():
    registry = load_registry()
    assert [t.name for t in registry.resolve("k400-probe,msrvtt-retrieval")] == ["k400-probe", "msrvtt-retrieval"]
    assert len(registry.resolve("science")) == 6  # the group includes chimpact (stal family)
    assert {t.family for t in registry.resolve("retrieval")} == {"retrieval"}
    assert len(registry.resolve("all")) == 30
    with pytest.raises(RegistryError, match="unknown task 'k400'.*k400-probe"):
        registry.resolve("k400")


@pytest.fixture
def tree(tmp_path):
    shutil.copytree(PROJECT_ROOT / "tasks", tmp_path / "tasks")
    shutil.copy(PROJECT_ROOT / "benchmarks.yaml", tmp_path / "benchmarks.yaml")
    return tmp_path


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"fixture text '{old}' not in {path}"
    path.write_text(text.replace(old, new, 1))


@pytest.mark.parametrize("file, old, new, message", [
    ("tasks/k400-probe.yaml", "eval_split: val", "eval_split: val\n  eval_splitt: val",
     r"k400-probe.yaml: unknown key 'dataset.eval_splitt'"),
    ("tasks/k400-probe.yaml", "  format: kinetics_csv\n", "",
     r"k400-probe.yaml: missing required key 'dataset.format'"),
    ("tasks/msrvtt-retrieval.yaml", "family:", "famly:", r"msrvtt-retrieval.yaml: unknown key 'famly'"),
    ("tasks/_videoglue.yaml", "  temporal_views: 4\n", "  temporal_views: four\n",
     r"-probe.yaml: key 'sampling.temporal_views' must be an integer, got 'four'"),
    ("tasks/k400-probe.yaml", "include: _videoglue.yaml", "include: _nope.yaml",
     r"k400-probe.yaml: key 'include' names '_nope.yaml', which does not exist"),
    ("tasks/kabr.yaml", "name: classification", "name: accuracy", r"kabr.yaml: key 'metrics\[0\].name' is 'accuracy'"),
    ("tasks/kabr.yaml", "task: kabr", "task: kabr2", r"kabr.yaml: key 'task' is 'kabr2' but the file is named"),
    ("tasks/k400-probe.yaml", "description:", "description: [unclosed\n  x:",
     r"k400-probe.yaml: line \d+, column \d+: not valid YAML"),
    ("tasks/k400-probe.yaml", "description:", "task: k400-probe\ndescription:",  # PyYAML would keep the last
     r"k400-probe.yaml: line \d+, column 1: not valid YAML \(key 'task' appears twice \(first at line 1\)\)"),
    ("benchmarks.yaml", "task: k400-probe,", "task: k400-probes,",
     r"benchmarks.yaml: benchmark 'k400': key 'task' names 'k400-probes', which is not a task"),
    ("benchmarks.yaml", "task: kabr, group: science, metric: macro_accuracy",
     "task: kabr, group: science, metric: mAP",
     r"benchmark 'kabr': key 'metric' is 'mAP', but task 'kabr' produces only \['macro_accuracy', 'top1'\]"),
    ("benchmarks.yaml", "paper_b: 84.2,", "paper_b: high,", r"benchmarks\[0\] \('k400'\): key 'paper_b' must be"),
    ("benchmarks.yaml", "{id: mit,", "{id: mit, colour: red,", r"benchmarks\[1\] \('mit'\): unknown key 'colour'"),
    ("benchmarks.yaml", "    title: CV for science\n", "    title: CV for science\n    protocol: VideoGLUE augmentation\n",
     r"key 'groups.science.protocol': a group's protocol is not written here but generated"),
])
def test_broken_yaml_is_named(tree, file, old, new, message):
    _edit(tree / file, old, new)
    with pytest.raises(RegistryError, match=message):
        load_registry_from(tree / "tasks", tree / "benchmarks.yaml")


def test_include_cycle(tree):
    _edit(tree / "tasks/_base.yaml", "version: 1", "include: _probe.yaml\nversion: 1")
    with pytest.raises(RegistryError, match="include cycle"):
        load_registry_from(tree / "tasks", tree / "benchmarks.yaml")


def test_yaml_is_never_executed(tree):
    _edit(tree / "tasks/k400-probe.yaml", "description:", "evil: !!python/object/apply:os.system ['true']\ndescription:")
    with pytest.raises(RegistryError, match="not valid YAML"):
        load_registry_from(tree / "tasks", tree / "benchmarks.yaml")


def test_every_task_has_a_reader_a_tiny_writer_and_a_runner():
    from vpbench.datasets import reader_module
    from vpbench.families import family_module
    from vpbench.tiny import writer_module

    for task in load_registry().tasks.values():
        assert callable(reader_module(task.dataset["format"]).read), task.name
        assert callable(writer_module(task.dataset["format"]).write), task.name
        assert callable(family_module(task.family).run), task.name


PROTOCOL_YAML = """
protocol:
  sources:
    frames: "16 frames at 288x288 (paper App. B)"
  deviations:
    lm: "GPT-2 stands in for PaLM-2"
variants:
  trial:
    description: "a shorter run on the validation split"
    deviations: {trial: "fewer steps, validation split"}
    overrides: {adapter: {steps: 3}, dataset: {eval_split: val}}
"""


def _with_protocol_yaml(path: Path) -> None:
    """PROTOCOL_YAML in place of the task file's own top-level ``protocol:`` block, if it has one."""
    text = re.sub(r"^protocol:\n(?:[ #].*\n)*", "", path.read_text(), flags=re.M)
    path.write_text(text.replace("description:", PROTOCOL_YAML.strip() + "\ndescription:", 1))


PROTOCOL_BASE_YAML = """
version: 1
family: probe
description: a base with a protocol record
model: videoprism-b
tiny_model: tiny
dataset: {name: D, format: kinetics_csv, root: d, annotations: {}, videos: v, eval_split: val}
sampling: {frames: 16, resolution: 288, policy: uniform, temporal_views: 1, spatial_views: 1}
features: {layout: tokens}
adapter: {type: map}
metrics: [{name: classification, keys: [top1]}]
protocol:
  sources: {head: 'App. E.1'}
  deviations: {a: 'base deviation'}
"""


def test_protocol_sources_merge_through_includes_and_null_drops(tmp_path):
    # Synthetic files, so the test does not depend on the protocol records the real tasks carry.
    (tmp_path / "_base.yaml").write_text(PROTOCOL_BASE_YAML)
    (tmp_path / "t1.yaml").write_text("task: t1\ninclude: _base.yaml\nprotocol:\n  sources: {split: 'VideoGLUE k400.yaml'}\n"
                                      "  deviations: {a: null}\n")
    (tmp_path / "t2.yaml").write_text("task: t2\ninclude: _base.yaml\n")
    record = load_task(tmp_path / "t1.yaml").protocol_record()
    assert record == {"variant": None, "sources": [{"choice": "head", "source": "App. E.1"},
                                                   {"choice": "split", "source": "VideoGLUE k400.yaml"}],
                      "deviations": []}
    assert load_task(tmp_path / "t2.yaml").protocol_record()["deviations"] == [{"id": "a", "text": "base deviation"}]


def test_variant_merges_overrides_and_adds_its_deviations(tree):
    _with_protocol_yaml(tree / "tasks/msrvtt-captioning.yaml")
    task = load_registry_from(tree / "tasks", tree / "benchmarks.yaml").task("msrvtt-captioning")
    variant = task.with_variant("trial")
    assert variant.variant == "trial" and variant.adapter["steps"] == 3 and task.adapter["steps"] == 200000
    assert variant.adapter["lm"] == task.adapter["lm"] and variant.dataset["eval_split"] == "val"
    deviations = [d["id"] for d in variant.protocol_record()["deviations"]]
    assert deviations[0] == "lm" and deviations[-1] == "trial" and "trial" not in [
        d["id"] for d in task.protocol_record()["deviations"]]
    assert variant.config_sha256() != task.config_sha256()
    assert variant.for_tiny().adapter["lm"] == "tiny-gpt2" and variant.for_tiny().variant == "trial"
    with pytest.raises(RegistryError, match="has no variant 'nope'.*trial"):
        task.with_variant("nope")
    with pytest.raises(RegistryError, match="do not stack"):
        variant.with_variant("trial")


@pytest.mark.parametrize("old, new, message", [
    ("deviations: {trial: \"fewer steps, validation split\"}", "deviations: {}",
     r"variants.trial.deviations' must name at least one deviation"),
    ("overrides: {adapter: {steps: 3}, dataset: {eval_split: val}}", "overrides: {sampling: {frames: many}}",
     r"key 'sampling.frames' must be an integer.*with variant 'trial'"),
    ("overrides: {adapter: {steps: 3}, dataset: {eval_split: val}}", "overrides: {model: other}",
     r"unknown key 'variants.trial.overrides.model'"),
    ("lm: \"GPT-2 stands in for PaLM-2\"", "lm: ''", r"key 'protocol.deviations.lm' must be a non-empty text"),
    ("  trial:\n", "  a trial:\n", r"variant name 'a trial'"),
    ("overrides: {adapter: {steps: 3}, dataset: {eval_split: val}}", "overrides: {sampling: {policy: bogus}}",
     r"key 'sampling.policy' is 'bogus'.*with variant 'trial'"),  # a variant is checked like a task
])
def test_broken_protocol_or_variant_is_named(tree, old, new, message):
    _with_protocol_yaml(tree / "tasks/msrvtt-captioning.yaml")
    _edit(tree / "tasks/msrvtt-captioning.yaml", old, new)
    with pytest.raises(RegistryError, match=message):
        load_registry_from(tree / "tasks", tree / "benchmarks.yaml")


def test_every_task_shows_a_protocol_record_whose_sources_name_a_source(capsys):
    from vpbench.cli import main

    registry = load_registry()
    assert len(registry.tasks) == 30
    for name in registry.tasks:
        assert main(["show", name, "--json"]) == 0
        shown = json.loads(capsys.readouterr().out)
        assert set(shown["protocol"]) == {"variant", "sources", "deviations"}, name
        assert shown["protocol"]["variant"] is None
        assert shown["protocol"]["sources"], f"{name}: no protocol sources"
        for entry in shown["protocol"]["sources"]:
            assert set(entry) == {"choice", "source"}, name
            assert entry["choice"].strip() and entry["source"].strip(), f"{name}: {entry}"
        for entry in shown["protocol"]["deviations"]:
            assert entry["id"].strip() and entry["text"].strip(), f"{name}: {entry}"
        assert isinstance(shown["variants"], dict), name
        for variant, spec in shown["variants"].items():
            assert spec["description"].strip() and spec["deviations"], f"{name}: variant {variant}"


def test_a_task_without_protocol_sources_is_refused_by_validate(tree, capsys):
    from vpbench.cli import main

    args = ["validate", "--tasks-dir", str(tree / "tasks"), "--benchmarks", str(tree / "benchmarks.yaml")]
    assert main(args) == 0
    assert "every task names its protocol sources" in capsys.readouterr().out
    # Null out every source the task inherits or states: what is left is an empty record.
    choices = [entry["choice"] for entry in load_registry_from(tree / "tasks", tree / "benchmarks.yaml")
               .task("k400-probe").protocol_record()["sources"]]
    path = tree / "tasks/k400-probe.yaml"
    data = yaml.safe_load(path.read_text())
    data.setdefault("protocol", {})["sources"] = {choice: None for choice in choices}
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    assert main(args) == 2
    err = capsys.readouterr().err.replace("\n", "")
    assert "k400-probe.yaml: key 'protocol.sources' is empty" in err


def test_a_task_that_changes_frames_or_resolution_restates_their_source():
    """`_base.yaml`'s sources say 16 frames at 288x288: a task sampling otherwise must say where its own
    count comes from, or its record (and the README generated from it) would claim the base's."""
    base = yaml.safe_load((PROJECT_ROOT / "tasks/_base.yaml").read_text())
    for task in load_registry().tasks.values():
        for key in ("frames", "resolution"):
            if task.sampling[key] != base["sampling"][key]:
                assert task.protocol["sources"][key] != " ".join(base["protocol"]["sources"][key].split()), \
                    f"{task.name}: sampling.{key} is {task.sampling[key]} but its source is _base.yaml's"


def test_a_variant_of_a_base_file_can_be_dropped_with_null(tree):
    assert "\nvariants:\n  in-domain:" in (tree / "tasks/_captioning.yaml").read_text()  # the base's variant
    _edit(tree / "tasks/vatex-captioning.yaml", "description:", "variants: {in-domain: null}\ndescription:")
    registry = load_registry_from(tree / "tasks", tree / "benchmarks.yaml")
    assert list(registry.task("msrvtt-captioning").variants) == ["in-domain"]
    assert registry.task("vatex-captioning").variants == {}


def test_show_prints_the_protocol_record_readably(tree, monkeypatch, capsys):
    from vpbench.cli import main

    _with_protocol_yaml(tree / "tasks/msrvtt-captioning.yaml")
    monkeypatch.setenv("VPBENCH_TASKS_DIR", str(tree / "tasks"))
    monkeypatch.setenv("VPBENCH_BENCHMARKS_FILE", str(tree / "benchmarks.yaml"))
    assert main(["show", "msrvtt-captioning"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "msrvtt-captioning (default): where each protocol choice comes from" in out
    assert "16 frames at 288x288 (paper App. B)" in out
    assert "Deviations from the paper's protocol" in out and "GPT-2 stands in for PaLM-2" in out
    assert "Named variants" in out and "a shorter run on the validation split" in out
    assert main(["show", "msrvtt-captioning", "--variant", "trial"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "msrvtt-captioning (variant 'trial')" in out and "fewer steps, validation split" in out
