"""README.md's set-up commands and CI stay in step: CI runs exactly the README's test command."""

import re
from pathlib import Path

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
