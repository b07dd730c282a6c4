"""`dataset.user_files`: the structured form (description, source, what a run does without it),
the plain-string form still read during the transition, and what enters the task's fingerprint."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from vpbench.errors import RegistryError
from vpbench.registry import NOT_STATED, PROJECT_ROOT, load_registry, load_task

TASKS = PROJECT_ROOT / "tasks"


def _task_with(tmp_path: Path, user_files, variants=None):
    for base in ("_base.yaml", "_zeroshot.yaml"):
        shutil.copy(TASKS / base, tmp_path / base)
    data = yaml.safe_load((TASKS / "vatex-retrieval.yaml").read_text())
    data["dataset"]["user_files"] = user_files
    if variants is not None:
        data["variants"] = variants
    path = tmp_path / "vatex-retrieval.yaml"
    path.write_text(yaml.safe_dump(data))
    return load_task(path)


STRUCTURED = {"description": "the HGR test list", "source": "HGR (Chen et al. 2020)", "without": "refuse"}


def test_every_task_states_source_and_behaviour_of_each_user_file():
    """All shipped tasks use the structured form; each entry says where to get the file."""
    for task in load_registry().tasks.values():
        for key, spec in task.user_file_specs().items():
            assert spec.structured, f"{task.name}: user file '{key}' is still a plain string"
            assert spec.source and spec.source != NOT_STATED and spec.description
            assert spec.refuses or spec.variant or spec.without.startswith("fallback:")


def test_structured_and_plain_entries(tmp_path):
    task = _task_with(tmp_path, {"test_ids": {**STRUCTURED, "without": "fallback: the whole val set"},
                                 "old": "a plain-string entry another engineer just added"})
    specs = task.user_file_specs()
    assert specs["test_ids"].without == "fallback: the whole val set" and specs["test_ids"].kind == "user_file"
    assert specs["test_ids"].describe() == "the HGR test list (where to get it: HGR (Chen et al. 2020))"
    assert (specs["old"].description, specs["old"].source, specs["old"].structured) == (
        "a plain-string entry another engineer just added", NOT_STATED, False)
    variant = {"full-val": {"description": "whole val set", "deviations": {"gallery": "3,000 videos"}}}
    task = _task_with(tmp_path, {"test_ids": {**STRUCTURED, "without": "variant full-val"}}, variants=variant)
    assert task.user_file_spec("test_ids").variant == "full-val"


@pytest.mark.parametrize("entry, message", [
    ({**STRUCTURED, "without": "skip"}, "'dataset.user_files.test_ids.without' is 'skip'; expected 'refuse', "
                                        "'variant NAME' or 'fallback: TEXT'"),
    ({**STRUCTURED, "without": "variant nope"}, "names variant 'nope', which the task does not define"),
    ({**STRUCTURED, "kind": "boxes"}, "'dataset.user_files.test_ids.kind' is 'boxes'"),
    ({"description": "x", "without": "refuse"}, "missing required key 'dataset.user_files.test_ids.source'"),
    ({**STRUCTURED, "url": "x"}, "unknown key 'dataset.user_files.test_ids.url'"),
    (["a list"], "'dataset.user_files.test_ids' must be a mapping"),
])
def test_bad_entries_are_refused_naming_the_key(tmp_path, entry, message):
    with pytest.raises(RegistryError, match=message.replace("(", "\\(").replace(")", "\\)")):
        _task_with(tmp_path, {"test_ids": entry})


def test_wording_does_not_enter_the_fingerprint_but_behaviour_does(tmp_path):
    base = _task_with(tmp_path, {"test_ids": STRUCTURED}).config_sha256()
    reworded = _task_with(tmp_path, {"test_ids": {**STRUCTURED, "description": "other words", "source": "elsewhere"}})
    assert reworded.config_sha256() == base
    assert _task_with(tmp_path, {"test_ids": {**STRUCTURED, "without": "fallback: x"}}).config_sha256() != base


def test_a_missing_user_file_that_names_a_variant_runs_that_variant_and_says_so():
    import argparse

    from rich.console import Console

    from vpbench.commands.run import variant_for_missing_files

    task = load_registry().task("activitynet-tal")
    console = Console(record=True, width=300)
    args = argparse.Namespace(tiny=False, user_file=[])
    assert variant_for_missing_files(task, args, console) == "own-classifier"
    assert "no --user-file video_scores" in console.export_text()
    args = argparse.Namespace(tiny=False, user_file=["video_scores=/some/cuhk_val_simp_share.json"])
    assert variant_for_missing_files(task, args, console) is None
    assert variant_for_missing_files(task, argparse.Namespace(tiny=True, user_file=[]), console) is None
    assert variant_for_missing_files(load_registry().task("k400-probe"), argparse.Namespace(tiny=False, user_file=[]),
                                     console) is None
