"""The per-group protocol text of the README, generated from the tasks' ``protocol:`` records.

For each benchmark group it says what the paper's protocol is (each choice with its source),
how a task's default knowingly deviates from it, what a user must supply (the tasks'
``dataset.user_files``) and which named variants exist, with their deviations. Nothing here is
written by hand: ``vpbench protocols --markdown`` prints exactly what README.md embeds between
its ``protocols`` markers (tests/test_readme.py checks it), so the README cannot claim a protocol
that the task files, and therefore the code, do not run. It only reads the registry.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any, Iterable

from vpbench.registry import Registry, TaskConfig, UserFileSpec

# What would change how a line renders: backslash, code, emphasis, HTML, a link's "](", and an
# underscore that is not inside a word (GitHub never reads intraword underscores as emphasis).
_MARKDOWN_SPECIALS = re.compile(r"[\\`*<]|(?<!\w)_|_(?!\w)|\](?=\()")


def escape(text: str) -> str:
    """Text as literal markdown, still readable raw (``flax_base`` stays, ``*`` becomes ``\\*``)."""
    return _MARKDOWN_SPECIALS.sub(lambda match: "\\" + match.group(0), " ".join(text.split()))


def shared_sources(registry: Registry) -> dict[str, str]:
    """The sources most tasks share word for word (choice -> source): those of ``tasks/_base.yaml``
    that fewer than half the tasks restate. Listed once; a task that restates one is listed in its group."""
    counts = Counter((choice, source) for task in registry.tasks.values()
                     for choice, source in task.protocol["sources"].items())
    return {choice: source for (choice, source), count in counts.items() if 2 * count > len(registry.tasks)}


def group_tasks(registry: Registry, group: str) -> list[TaskConfig]:
    """The tasks feeding a group's benchmarks, in registry order."""
    names = {bench.task for bench in registry.benchmarks.values() if bench.group == group}
    return [task for name, task in registry.tasks.items() if name in names]


def user_file_text(spec: "UserFileSpec") -> str:
    """One user file as one line: whether a run needs it, what it is, where a user gets it, and
    what a run does without it."""
    if spec.refuses:
        return f"required: {spec.description} (source: {spec.source})"
    without = f"variant `{spec.variant}`" if spec.variant else spec.without
    return f"optional: {spec.description} (source: {spec.source}; without it: {without})"


def _by_text(entries: Iterable[tuple[str, tuple[str, ...], str]]) -> list[tuple[str, tuple[str, ...], list[str]]]:
    """(task, key, text) triples folded into (key, text) -> tasks, in order of first appearance."""
    folded: dict[tuple[str, tuple[str, ...]], list[str]] = {}
    for task, key, text in entries:
        folded.setdefault((text, key), []).append(task)
    return [(text, key, tasks) for (text, key), tasks in folded.items()]


def _who(tasks: list[str], group_size: int) -> str:
    if len(tasks) == group_size and group_size > 1:
        return "every task of the group"
    return ", ".join(f"`{task}`" for task in tasks)


def group_markdown(registry: Registry, group: str, shared: dict[str, str]) -> str:
    """One group's section: paper's protocol, deviations of the defaults, what to supply, variants."""
    tasks = group_tasks(registry, group)
    size = len(tasks)
    title = registry.groups[group].get("title", group)
    benches = {task.name: [b for b in task.benchmarks if registry.benchmarks[b].group == group] for task in tasks}
    lines = [f"### {escape(title)}", "",
             "Tasks: " + ", ".join(f"`{t.name}` ({', '.join(benches[t.name])})" for t in tasks) + ".", ""]

    own = _by_text((t.name, (choice,), source) for t in tasks for choice, source in t.protocol["sources"].items()
                   if shared.get(choice) != source)
    lines += ["**The paper's protocol**, which each task runs by default: the choices below, and those every "
              "task shares (above) unless restated here.", ""]
    if own:
        lines += ["<details><summary>Choices and their sources</summary>", ""]
        lines += [f"- **{escape(key[0])}** ({_who(names, size)}): {escape(text)}" for text, key, names in own]
        lines += ["", "</details>", ""]
    else:
        lines += ["- no task of the group names a choice beyond those every task shares.", ""]

    deviations = _by_text((t.name, (ident,), text) for t in tasks for ident, text in t.protocol["deviations"].items())
    lines.append("**Known deviations of the defaults** (a default run with one gets no Δ against the paper):")
    lines.append("")
    lines += [f"- **{escape(key[0])}** ({_who(names, size)}): {escape(text)}" for text, key, names in deviations] \
        or ["- none: every default is the paper's protocol as far as it is known."]
    lines.append("")

    supplied = _by_text((t.name, (key,), user_file_text(spec))
                        for t in tasks for key, spec in t.user_file_specs().items())
    lines.append("**What you supply** besides the datasets and the checkpoint (`vpbench run --user-file KEY=PATH`):")
    lines.append("")
    lines += [f"- `{key[0]}` ({_who(names, size)}): {escape(text)}" for text, key, names in supplied] \
        or ["- nothing else."]
    lines.append("")

    variants = _by_text((t.name, (name,), _variant_text(spec)) for t in tasks for name, spec in t.variants.items())
    lines.append("**Variants** (`vpbench run --task TASK --variant NAME`: their own leaderboard column, never "
                 "compared with the paper):")
    lines.append("")
    lines += [f"- `{key[0]}` ({_who(names, size)}): {text}" for text, key, names in variants] or ["- none."]
    lines.append("")
    return "\n".join(lines)


def _variant_text(spec: dict[str, Any]) -> str:
    deviations = "; ".join(f"**{escape(ident)}**: {escape(text)}" for ident, text in spec["deviations"].items())
    return f"{escape(spec['description'])}. Deviations: {deviations}"


def protocols_markdown(registry: Registry | None = None) -> str:
    """Every group's section after the choices most tasks share, as README.md embeds it."""
    from vpbench.registry import load_registry

    registry = registry or load_registry()
    shared = shared_sources(registry)
    lines = ["Every task, unless its group lists the same choice again:", ""]
    lines += [f"- **{escape(choice)}**: {escape(source)}" for choice, source in shared.items()]
    lines.append("")
    for group in registry.groups:
        lines.append(group_markdown(registry, group, shared))
    return "\n".join(lines).rstrip("\n") + "\n"
