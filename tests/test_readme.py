"""README.md's set-up commands and CI stay in step: CI runs exactly the README's test command."""

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def _bash_blocks(text: str) -> list[str]:
    return re.findall(r"```bash\n(.*?)\n```", text, flags=re.S)


def test_ci_runs_the_readme_test_command():
    blocks = _bash_blocks((ROOT / "README.md").read_text())
    assert len(blocks) >= 2, "README.md must start with the two set-up commands"
    run_command, test_command = blocks[0], blocks[1]
    assert "vpbench run --task" in run_command and "--tiny" in run_command
    pytest_step = test_command.split(" && ")[-1]
    assert "pytest" in pytest_step
    ci_lines = (ROOT / ".ci" / "run").read_text().splitlines()
    assert pytest_step in ci_lines, "the last CI line must be the README's test command, verbatim"
    for step in test_command.split(" && ")[:-1]:  # every install step of the README is in CI
        words = step.replace("apt-get install -y", "apt-get install -y -q").replace("pip install -e", "pip install -q -e")
        assert any(words in line for line in ci_lines), f"README step not in .ci/run: {step}"


def test_readme_benchmark_table_is_generated_from_benchmarks_yaml():
    from vpbench.leaderboard.render import readme_markdown

    text = (ROOT / "README.md").read_text()
    start, end = text.index("<!-- benchmarks:start"), text.index("<!-- benchmarks:end -->")
    embedded = text[text.index("\n", start) + 1:end].strip()
    assert embedded == readme_markdown().strip(), "regenerate with `vpbench table --published-only --format markdown`"


def test_readme_protocols_are_generated_from_the_task_records():
    from vpbench.protocol_doc import protocols_markdown

    text = (ROOT / "README.md").read_text()
    start, end = text.index("<!-- protocols:start"), text.index("<!-- protocols:end -->")
    embedded = text[text.index("\n", start) + 1:end].strip()
    assert embedded == protocols_markdown().strip(), "regenerate with `vpbench protocols --update-readme README.md`"


def test_protocol_text_has_every_group_its_tasks_user_files_and_variants(tmp_path):
    """Per group: the paper's protocol (each task's own sources), what a user supplies, the variants."""
    import shutil

    from vpbench.protocol_doc import protocols_markdown
    from vpbench.registry import PROJECT_ROOT, load_registry_from

    shutil.copytree(PROJECT_ROOT / "tasks", tmp_path / "tasks")
    k600 = tmp_path / "tasks" / "k600-zeroshot.yaml"
    data = yaml.safe_load(k600.read_text())  # a protocol record and variant of known text, whatever the file says
    data["protocol"]["sources"]["classes"] = "new-class splits (MAXI, Table 19)"
    data["variants"]["all-classes"].update(description="all 600 classes",
                                           deviations={"all-classes": "all 600 classes, not the new-class splits"})
    k600.write_text(yaml.safe_dump(data, sort_keys=False))
    registry = load_registry_from(tmp_path / "tasks", PROJECT_ROOT / "benchmarks.yaml")
    text = protocols_markdown(registry)
    sections = text.split("\n### ")[1:]
    assert [section.splitlines()[0] for section in sections] == [g["title"] for g in registry.groups.values()]
    for section in sections:
        for heading in ("**The paper's protocol**", "**Known deviations of the defaults**", "**What you supply**",
                        "**Variants**"):
            assert heading in section
    zero_shot = next(s for s in sections if s.startswith("Zero-shot classification"))
    assert "- **classes** (`k600-zeroshot`): new-class splits (MAXI, Table 19)" in zero_shot
    assert "- `all-classes` (`k600-zeroshot`): all 600 classes. Deviations: **all-classes**: all 600 classes, " \
           "not the new-class splits" in zero_shot
    assert "- `class_list` (`ssv2-temporal-zeroshot`): required: the SSv2-Temporal class subset" in zero_shot
    science = next(s for s in sections if s.startswith("CV for science"))
    assert "- **frames** (`chimpact`): 64 consecutive frames" in science  # a restated shared choice is listed for its task
    assert "**resolution**: 288x288 pixels per frame" in text.split("\n### ")[0]  # the shared choices, once, first
