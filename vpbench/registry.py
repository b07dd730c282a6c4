"""The task and benchmark registry: ``tasks/*.yaml`` and ``benchmarks.yaml``, loaded and validated.

A task is data. This module turns the YAML into frozen :class:`TaskConfig` objects, resolving
``include:`` chains (a task file names a base file whose keys it overrides, merged per key
recursively), and refuses anything it does not understand: an unknown key, a missing required
field, a benchmark pointing at a task that does not exist, a benchmark metric that its task does
not produce. Every error names the file and the key path. It never executes code from YAML
(safe loading only; a repeated key is an error, :mod:`vpbench.yamlsafe`) and never guesses a
default for a required field.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from vpbench.errors import RegistryError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
"""Where ``tasks/`` and ``benchmarks.yaml`` live in a source checkout."""

FAMILIES = ("probe", "stal", "tal", "retrieval", "zeroshot_classification", "multiple_choice",
            "captioning", "qa")
"""Each family is one runner module, ``vpbench/families/<family>.py``."""

METRICS = ("classification", "multilabel_map", "ava_frame_map", "activitynet_tal", "retrieval",
           "multiple_choice", "captioning", "qa_exact_match", "wups")
"""Metric names a task may list; each is an entry of ``vpbench.metrics.METRICS``."""

USER_FILE_KINDS = ("user_file", "detections")
"""What a ``dataset.user_files`` entry is: a file of ids/classes from the user, or person detections."""
_USER_FILE_SCHEMA = {"description": (True, str), "source": (True, str), "without": (True, str),
                     "kind": (False, str)}

GROUPS = ("videoglue_frozen", "zeroshot_retrieval", "zeroshot_classification",
          "zeroshot_captioning_qa", "science")

# Schema: key -> (required, type or nested schema). Nested dicts are validated recursively;
# ``dict`` alone means free-form (adapter hyper-parameters, reader options).
_SAMPLING_SCHEMA = {
    "frames": (True, int),
    "resolution": (True, int),
    "policy": (True, str),
    "stride": (False, int),
    "fps": (False, (int, float)),
    "clip_s": (False, (int, float)),
    "temporal_scale": (False, int),
    "temporal_views": (True, int),
    "spatial_views": (True, int),
    "short_side_ratio": (False, (int, float)),
    "pad": (False, str),
    "train_views": (False, int),
    "train_augment": (False, dict),
}
_DATASET_SCHEMA = {
    "name": (True, str),
    "format": (True, str),
    "root": (True, str),
    "annotations": (True, dict),
    "videos": (True, (str, dict)),
    "eval_split": (True, str),
    "train_split": (False, str),
    "official_counts": (False, dict),
    "user_files": (False, dict),
    "options": (False, dict),
}
_METRIC_SCHEMA = {"name": (True, str), "keys": (True, list), "options": (False, dict)}
_PROTOCOL_SCHEMA = {"sources": (False, dict), "deviations": (False, dict)}
# What a variant may change: the same sections `tiny:` may, plus the metrics list.
_OVERRIDE_SCHEMA = {"sampling": (False, dict), "adapter": (False, dict), "features": (False, dict),
                    "dataset": (False, dict), "metrics": (False, list)}
_VARIANT_SCHEMA = {"description": (True, str), "deviations": (True, dict), "overrides": (False, _OVERRIDE_SCHEMA)}
_TASK_SCHEMA = {
    "task": (True, str),
    "include": (False, str),
    "version": (True, int),
    "family": (True, str),
    "description": (True, str),
    "model": (True, str),
    "tiny_model": (True, str),
    "dataset": (True, _DATASET_SCHEMA),
    "sampling": (True, _SAMPLING_SCHEMA),
    "features": (True, dict),
    "adapter": (True, dict),
    "metrics": (True, list),
    "notes": (False, str),
    "protocol": (False, _PROTOCOL_SCHEMA),
    "variants": (False, dict),
    "tiny": (False, {"sampling": (False, dict), "adapter": (False, dict), "features": (False, dict),
                     "dataset": (False, dict)}),
}
_SAMPLING_POLICIES = ("uniform", "stride", "fps", "segments")
_BENCHMARK_REQUIRED = {"id": str, "task": str, "group": str, "metric": str, "prev_best": (int, float),
                       "prev_best_model": str}
_BENCHMARK_OPTIONAL = {"paper_b": (int, float), "paper_g": (int, float), "paper_b_1b": (int, float),
                       "paper_b_8b": (int, float), "prev_best_base": (int, float),
                       "public_b": (int, float, type(None)), "public_l": (int, float, type(None)),
                       "domain_expert": (int, float), "sota": bool, "note": str}


@dataclass(frozen=True)
class UserFileSpec:
    """One file a task takes from the user (``dataset.user_files.<key>``), as a user needs to know it.

    The YAML form::

        user_files:
          atp_hard_ids:
            description: "the ATP-hard question list, one 'video,qid' per line"
            source: "from the authors of ATP (Buch et al., CVPR 2022), by e-mail"
            without: refuse            # or: variant NAME | fallback: TEXT
            kind: user_file            # or: detections

    ``without`` says what a run does when the file is not given: ``refuse`` (stop, naming the
    file and its source), ``variant NAME`` (run that named variant of the task), or ``fallback:
    TEXT`` (the run falls back to another protocol and records it; the transition form, until
    that fallback is a named variant). A plain string (``key: "description"``) is still read
    during the transition; its source and behaviour show as not stated.
    """

    key: str
    description: str
    source: str
    without: str
    kind: str = "user_file"
    structured: bool = True

    @property
    def refuses(self) -> bool:
        return self.without == "refuse"

    @property
    def variant(self) -> str | None:
        return self.without[len("variant "):] if self.without.startswith("variant ") else None

    def describe(self) -> str:
        """One line for errors: what the file is and where a user gets it."""
        return f"{self.description} (where to get it: {self.source})"


NOT_STATED = "not stated (old plain-string user_files entry)"


def parse_user_files(raw: dict[str, Any], path: Path | str, variants: dict[str, Any]) -> dict[str, UserFileSpec]:
    """Validate ``dataset.user_files`` (structured or plain-string entries) into specs by key."""
    specs = {}
    for key, value in (raw or {}).items():
        where = f"dataset.user_files.{key}"
        if isinstance(value, str):
            specs[key] = UserFileSpec(key, value, NOT_STATED, NOT_STATED, structured=False)
            continue
        if not isinstance(value, dict):
            raise RegistryError(f"{path}: key '{where}' must be a mapping with description, source and without")
        _validate(value, _USER_FILE_SCHEMA, Path(path), prefix=f"{where}.")
        kind, without = value.get("kind", "user_file"), value["without"].strip()
        if kind not in USER_FILE_KINDS:
            raise RegistryError(f"{path}: key '{where}.kind' is '{kind}'; expected one of {list(USER_FILE_KINDS)}")
        spec = UserFileSpec(key, value["description"].strip(), value["source"].strip(), without, kind)
        if spec.variant is not None and spec.variant not in variants:
            raise RegistryError(f"{path}: key '{where}.without' names variant '{spec.variant}', which the task does "
                                f"not define (its variants: {sorted(variants) or 'none'})")
        if not (spec.refuses or spec.variant or (without.startswith("fallback:") and without[9:].strip())):
            raise RegistryError(f"{path}: key '{where}.without' is {without!r}; expected 'refuse', 'variant NAME' "
                                "or 'fallback: TEXT'")
        specs[key] = spec
    return specs


@dataclass(frozen=True)
class TaskConfig:
    """One resolved task: the merged YAML plus where it came from."""

    name: str
    version: int
    family: str
    description: str
    model: str
    tiny_model: str
    dataset: dict[str, Any]
    sampling: dict[str, Any]
    features: dict[str, Any]
    adapter: dict[str, Any]
    metrics: list[dict[str, Any]]
    source: Path
    notes: str = ""
    tiny_overrides: dict[str, Any] = field(default_factory=dict)
    benchmarks: tuple[str, ...] = field(default=())
    protocol: dict[str, dict[str, str]] = field(default_factory=lambda: {"sources": {}, "deviations": {}})
    """Where each protocol choice comes from (``sources``: choice -> source) and how the default
    knowingly differs from the paper (``deviations``: id -> text). See :meth:`protocol_record`."""
    variants: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Named variants: ``description``, ``deviations`` (id -> text, at least one) and ``overrides``."""
    variant: str | None = None
    """The variant this config is (``None``: the task's default protocol)."""

    def for_tiny(self) -> "TaskConfig":
        """This task as `--tiny` runs it: the ``tiny:`` overrides merged in, tiny model chosen."""
        fields = {**self.__dict__, "model": self.tiny_model, "tiny_overrides": {}}
        for section, values in self.tiny_overrides.items():
            fields[section] = _deep_merge(getattr(self, section), values)
        return TaskConfig(**fields)

    def with_variant(self, name: str | None) -> "TaskConfig":
        """This task as the named variant runs it (``None``: unchanged): its overrides merged in, its
        deviations added to the protocol record. Apply before :meth:`for_tiny`."""
        if name is None:
            return self
        if self.variant is not None:
            raise RegistryError(f"task '{self.name}' is already variant '{self.variant}'; variants do not stack")
        if name not in self.variants:
            known = ", ".join(sorted(self.variants)) or "none"
            raise RegistryError(f"task '{self.name}' has no variant '{name}' (its variants: {known}; "
                                f"`vpbench show {self.name}` lists them)")
        spec = self.variants[name]
        fields = {**self.__dict__, "variant": name,
                  "protocol": {"sources": dict(self.protocol["sources"]),
                               "deviations": {**self.protocol["deviations"], **spec["deviations"]}}}
        sections = {section: getattr(self, section) for section in spec["overrides"]}
        fields.update(_apply_overrides(sections, spec["overrides"]))
        return TaskConfig(**fields)

    def protocol_record(self) -> dict[str, Any]:
        """The protocol block of ``vpbench show --json`` and of every result: the variant, each
        choice with its source, and every known deviation from the paper's protocol."""
        return {
            "variant": self.variant,
            "sources": [{"choice": choice, "source": source} for choice, source in self.protocol["sources"].items()],
            "deviations": [{"id": key, "text": text} for key, text in self.protocol["deviations"].items()],
        }

    def user_file_specs(self) -> dict[str, UserFileSpec]:
        """``dataset.user_files`` as specs (validated when the task was loaded)."""
        return parse_user_files(self.dataset.get("user_files", {}), self.source, self.variants)

    def user_file_spec(self, key: str) -> UserFileSpec:
        specs = self.user_file_specs()
        if key not in specs:
            raise RegistryError(f"{self.source}: task '{self.name}' declares no user file '{key}'")
        return specs[key]

    @property
    def score_keys(self) -> list[str]:
        """Every key this task writes into a result's ``scores``."""
        return [key for metric in self.metrics for key in metric["keys"]]

    def as_dict(self) -> dict[str, Any]:
        """The resolved configuration, as `vpbench show` prints it and results fingerprint it."""
        return {
            "task": self.name, "version": self.version, "family": self.family,
            "description": self.description, "model": self.model, "tiny_model": self.tiny_model,
            "dataset": self.dataset, "sampling": self.sampling, "features": self.features,
            "adapter": self.adapter, "metrics": self.metrics, "benchmarks": list(self.benchmarks),
            "notes": self.notes, "source": str(self.source), "protocol": self.protocol_record(),
            "variants": {name: {"description": spec["description"],
                                "deviations": [{"id": k, "text": v} for k, v in spec["deviations"].items()],
                                "overrides": spec.get("overrides", {})}
                         for name, spec in self.variants.items()},
        }

    def config_sha256(self) -> str:
        """Hash of everything in the resolved config that can change a number (the protocol's
        wording is left out; its variant and deviation ids are in)."""
        payload = {k: v for k, v in self.as_dict().items()
                   if k not in ("description", "notes", "source", "protocol", "variants")}
        # A user file's wording and source do not change a number; which files and what a run does
        # without them may.
        if "user_files" in payload["dataset"]:
            payload["dataset"] = {**payload["dataset"],
                                  "user_files": {k: s.without for k, s in self.user_file_specs().items()}}
        payload["protocol"] = {"variant": self.variant, "deviations": sorted(self.protocol["deviations"])}
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class Benchmark:
    """One of the 33 benchmarks: which task and metric key produce it, and the published numbers."""

    id: str
    task: str
    group: str
    metric: str
    published: dict[str, Any]

    @property
    def sota(self) -> bool:
        return bool(self.published.get("sota", True))


@dataclass(frozen=True)
class PreviousBest:
    """Whether a previous-best model of ``benchmarks.yaml`` can be re-run (``previous_best_models``)."""

    name: str
    checkpoint: str | None  # its own weights as a `vpbench run --model` spec; None: none public in such a format
    released: str  # where its weights are, or that they are not
    comparable: tuple[str, ...]  # public checkpoints that re-run a comparable (not the same) row


@dataclass(frozen=True)
class Registry:
    tasks: dict[str, TaskConfig]
    benchmarks: dict[str, Benchmark]
    groups: dict[str, dict[str, str]]

    def task(self, name: str) -> TaskConfig:
        if name not in self.tasks:
            close = [t for t in self.tasks if name.split("-")[0] in t]
            hint = f" Did you mean: {', '.join(close)}?" if close else ""
            raise RegistryError(f"unknown task '{name}'.{hint} `vpbench list` shows all {len(self.tasks)} tasks.")
        return self.tasks[name]

    def resolve(self, spec: str) -> list[TaskConfig]:
        """Turn ``T``, ``T1,T2``, a family name, a group name or ``all`` into tasks."""
        selected: list[TaskConfig] = []
        for part in [p.strip() for p in spec.split(",") if p.strip()]:
            if part == "all":
                selected.extend(self.tasks.values())
            elif part in FAMILIES:
                selected.extend(t for t in self.tasks.values() if t.family == part)
            elif part in self.groups:
                names = {b.task for b in self.benchmarks.values() if b.group == part}
                selected.extend(t for t in self.tasks.values() if t.name in names)
            else:
                selected.append(self.task(part))
        unique = list({task.name: task for task in selected}.values())
        if not unique:
            raise RegistryError(f"'{spec}' selects no task")
        return unique


def tasks_dir() -> Path:
    return Path(os.environ.get("VPBENCH_TASKS_DIR", PROJECT_ROOT / "tasks"))


def benchmarks_file() -> Path:
    return Path(os.environ.get("VPBENCH_BENCHMARKS_FILE", PROJECT_ROOT / "benchmarks.yaml"))


@lru_cache(maxsize=4)
def _load_registry_cached(tasks_path: str, benchmarks_path: str) -> Registry:
    return load_registry_from(Path(tasks_path), Path(benchmarks_path))


def load_registry() -> Registry:
    """The registry of this installation (cached; honours VPBENCH_TASKS_DIR / VPBENCH_BENCHMARKS_FILE)."""
    return _load_registry_cached(str(tasks_dir()), str(benchmarks_file()))


def load_registry_from(tasks_path: Path, benchmarks_path: Path) -> Registry:
    if not tasks_path.is_dir():
        raise RegistryError(f"{tasks_path}: task directory not found")
    tasks = {}
    for path in sorted(tasks_path.glob("*.yaml")):
        if path.name.startswith("_"):
            continue  # base files are only ever included
        task = load_task(path)
        tasks[task.name] = task
    benchmarks, groups = load_benchmarks(benchmarks_path)
    for bench in benchmarks.values():
        where = f"{benchmarks_path}: benchmark '{bench.id}'"
        if bench.task not in tasks:
            raise RegistryError(f"{where}: key 'task' names '{bench.task}', which is not a task in {tasks_path}")
        if bench.metric not in tasks[bench.task].score_keys:
            raise RegistryError(f"{where}: key 'metric' is '{bench.metric}', but task '{bench.task}' "
                                f"produces only {tasks[bench.task].score_keys}")
    feeds: dict[str, list[str]] = {}
    for bench in benchmarks.values():
        feeds.setdefault(bench.task, []).append(bench.id)
    tasks = {name: _with_benchmarks(task, tuple(feeds.get(name, ()))) for name, task in tasks.items()}
    orphans = [name for name, task in tasks.items() if not task.benchmarks]
    if orphans:
        raise RegistryError(f"{benchmarks_path}: no benchmark uses task(s) {orphans}")
    return Registry(tasks=tasks, benchmarks=benchmarks, groups=groups)


def _with_benchmarks(task: TaskConfig, benchmarks: tuple[str, ...]) -> TaskConfig:
    return TaskConfig(**{**task.__dict__, "benchmarks": benchmarks})


def load_benchmarks(path: Path | None = None) -> tuple[dict[str, Benchmark], dict[str, dict[str, str]]]:
    """Parse ``benchmarks.yaml`` into benchmarks by id and group descriptions by name."""
    path = path or benchmarks_file()
    data = _read_yaml(path)
    if not isinstance(data, dict) or not isinstance(data.get("benchmarks"), list):
        raise RegistryError(f"{path}: expected a mapping with a 'benchmarks' list")
    groups = data.get("groups")
    if not isinstance(groups, dict) or set(groups) != set(GROUPS):
        raise RegistryError(f"{path}: key 'groups' must define exactly {list(GROUPS)}")
    for name, spec in groups.items():
        if not isinstance(spec, dict) or not isinstance(spec.get("title"), str):
            raise RegistryError(f"{path}: key 'groups.{name}' must be a mapping with a 'title' string")
        if "protocol" in spec:
            raise RegistryError(f"{path}: key 'groups.{name}.protocol': a group's protocol is not written here but "
                                f"generated from its tasks' `protocol:` records (`vpbench protocols`, README "
                                f"'Protocols'), so that it says only what the code does; remove the key")
        unknown = sorted(set(spec) - {"title"})
        if unknown:
            raise RegistryError(f"{path}: unknown key 'groups.{name}.{unknown[0]}'; allowed: ['title']")
    benchmarks: dict[str, Benchmark] = {}
    for index, row in enumerate(data["benchmarks"]):
        where = f"{path}: benchmarks[{index}]"
        if not isinstance(row, dict):
            raise RegistryError(f"{where}: expected a mapping, got {type(row).__name__}")
        for key, kind in _BENCHMARK_REQUIRED.items():
            if key not in row:
                raise RegistryError(f"{where}: missing required key '{key}'")
            if not isinstance(row[key], kind):
                raise RegistryError(f"{where}: key '{key}' must be {_kind_name(kind)}, got {row[key]!r}")
        for key, value in row.items():
            if key in _BENCHMARK_REQUIRED:
                continue
            if key not in _BENCHMARK_OPTIONAL:
                raise RegistryError(f"{where} ('{row['id']}'): unknown key '{key}'; allowed: "
                                    f"{sorted([*_BENCHMARK_REQUIRED, *_BENCHMARK_OPTIONAL])}")
            if not isinstance(value, _BENCHMARK_OPTIONAL[key]):
                raise RegistryError(f"{where} ('{row['id']}'): key '{key}' must be "
                                    f"{_kind_name(_BENCHMARK_OPTIONAL[key])}, got {value!r}")
        if row["group"] not in GROUPS:
            raise RegistryError(f"{where} ('{row['id']}'): key 'group' is '{row['group']}'; expected one of {list(GROUPS)}")
        if not any(k in row for k in ("paper_b", "paper_b_1b")):
            raise RegistryError(f"{where} ('{row['id']}'): needs 'paper_b' or 'paper_b_1b'")
        if row["id"] in benchmarks:
            raise RegistryError(f"{where}: duplicate benchmark id '{row['id']}'")
        published = {k: v for k, v in row.items() if k not in ("id", "task", "group", "metric")}
        benchmarks[row["id"]] = Benchmark(row["id"], row["task"], row["group"], row["metric"], published)
    return benchmarks, {name: dict(value) for name, value in groups.items()}


def load_task(path: Path) -> TaskConfig:
    """Load one task file, resolve its includes, validate it and each of its variants."""
    merged = _resolve_includes(path, seen=())
    _check_task(merged, path)
    if merged["task"] != path.stem:
        raise RegistryError(f"{path}: key 'task' is '{merged['task']}' but the file is named '{path.name}'; "
                            f"they must agree")
    protocol = _protocol(merged.get("protocol") or {}, path)
    if not protocol["sources"]:
        raise RegistryError(f"{path}: key 'protocol.sources' is empty: every task names where each protocol "
                            f"choice comes from (paper section or table, VideoGLUE config, dataset paper); the "
                            f"choices every task shares are in {path.parent / '_base.yaml'}")
    variants = _variants(merged.get("variants") or {}, path)
    parse_user_files(merged["dataset"].get("user_files", {}), path, variants)
    for name, spec in variants.items():  # every variant must still be a valid task, checked as fully
        try:
            _check_task(_apply_overrides(merged, spec["overrides"]), path)
        except RegistryError as error:
            raise RegistryError(f"{error} (with variant '{name}' applied)") from None
    return TaskConfig(
        name=merged["task"], version=merged["version"], family=merged["family"],
        description=merged["description"], model=merged["model"], tiny_model=merged["tiny_model"],
        dataset=merged["dataset"], sampling=merged["sampling"], features=merged["features"],
        adapter=merged["adapter"], metrics=merged["metrics"], source=path, notes=merged.get("notes", ""),
        tiny_overrides=merged.get("tiny", {}), protocol=protocol, variants=variants,
    )


def _check_task(merged: dict[str, Any], path: Path) -> None:
    """Every rule a resolved task (or a task with a variant applied) must satisfy."""
    _validate(merged, _TASK_SCHEMA, path, prefix="")
    if merged["family"] not in FAMILIES:
        raise RegistryError(f"{path}: key 'family' is '{merged['family']}'; expected one of {list(FAMILIES)}")
    sampling = merged["sampling"]
    if sampling["policy"] not in _SAMPLING_POLICIES:
        raise RegistryError(f"{path}: key 'sampling.policy' is '{sampling['policy']}'; "
                            f"expected one of {list(_SAMPLING_POLICIES)}")
    if sampling["policy"] == "stride" and "stride" not in sampling:
        raise RegistryError(f"{path}: key 'sampling.stride' is required when sampling.policy is 'stride'")
    for key in ("frames", "resolution", "temporal_views", "spatial_views"):
        if sampling[key] < 1:
            raise RegistryError(f"{path}: key 'sampling.{key}' must be >= 1, got {sampling[key]}")
    if "type" not in merged["adapter"]:
        raise RegistryError(f"{path}: missing required key 'adapter.type'")
    if not merged["metrics"]:
        raise RegistryError(f"{path}: key 'metrics' must list at least one metric")
    for index, metric in enumerate(merged["metrics"]):
        if not isinstance(metric, dict):
            raise RegistryError(f"{path}: key 'metrics[{index}]' must be a mapping with 'name' and 'keys'")
        _validate(metric, _METRIC_SCHEMA, path, prefix=f"metrics[{index}].")
        if metric["name"] not in METRICS:
            raise RegistryError(f"{path}: key 'metrics[{index}].name' is '{metric['name']}'; "
                                f"expected one of {list(METRICS)}")
        if not metric["keys"] or not all(isinstance(k, str) for k in metric["keys"]):
            raise RegistryError(f"{path}: key 'metrics[{index}].keys' must be a non-empty list of strings")
    for role, rel in merged["dataset"]["annotations"].items():
        if not isinstance(rel, str):
            raise RegistryError(f"{path}: key 'dataset.annotations.{role}' must be a relative path string")


def _apply_overrides(config: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """``config`` with a variant's overrides merged in: mappings key by key, lists (metrics) replaced."""
    out = dict(config)
    for section, values in overrides.items():
        out[section] = _deep_merge(config[section], values) if isinstance(values, dict) else copy.deepcopy(values)
    return out


def _text_entries(entries: dict[str, Any], path: Path, where: str) -> dict[str, str]:
    """A mapping of non-empty strings; a ``null`` value drops an entry a base file (``include:``) set."""
    out = {}
    for key, value in entries.items():
        if value is None:
            continue
        if not isinstance(key, str) or not isinstance(value, str) or not value.strip():
            raise RegistryError(f"{path}: key '{where}.{key}' must be a non-empty text (or null to drop it)")
        out[key] = value.strip()
    return out


def _protocol(protocol: dict[str, Any], path: Path) -> dict[str, dict[str, str]]:
    return {"sources": _text_entries(protocol.get("sources", {}), path, "protocol.sources"),
            "deviations": _text_entries(protocol.get("deviations", {}), path, "protocol.deviations")}


def _variants(variants: dict[str, Any], path: Path) -> dict[str, dict[str, Any]]:
    """Each variant must say what it is and how it deviates: a variant is never the paper's protocol."""
    out = {}
    for name, spec in variants.items():
        if spec is None:
            continue  # `name: null` drops a variant a base file (``include:``) declared
        where = f"variants.{name}"
        if not isinstance(name, str) or not name or safe_variant_name(name) != name:
            raise RegistryError(f"{path}: variant name {name!r} must use only letters, digits, '.', '_' and '-'")
        if not isinstance(spec, dict):
            raise RegistryError(f"{path}: key '{where}' must be a mapping with 'description' and 'deviations'")
        _validate(spec, _VARIANT_SCHEMA, path, prefix=f"{where}.")
        deviations = _text_entries(spec["deviations"], path, f"{where}.deviations")
        if not deviations:
            raise RegistryError(f"{path}: key '{where}.deviations' must name at least one deviation from the "
                                "paper's protocol (a variant that has none is the default)")
        out[name] = {"description": spec["description"], "deviations": deviations,
                     "overrides": spec.get("overrides", {})}
    return out


def safe_variant_name(name: str) -> str:
    return "".join(ch for ch in name if ch.isalnum() or ch in "._-")


def _resolve_includes(path: Path, seen: tuple[Path, ...]) -> dict[str, Any]:
    if path in seen:
        chain = " -> ".join(p.name for p in (*seen, path))
        raise RegistryError(f"{path}: include cycle {chain}")
    data = _read_yaml(path)
    if not isinstance(data, dict):
        raise RegistryError(f"{path}: expected a mapping at the top level, got {type(data).__name__}")
    base_name = data.get("include")
    if base_name is None:
        return data
    if not isinstance(base_name, str):
        raise RegistryError(f"{path}: key 'include' must be a file name, got {base_name!r}")
    base_path = path.parent / base_name
    if not base_path.is_file():
        raise RegistryError(f"{path}: key 'include' names '{base_name}', which does not exist in {path.parent}")
    base = _resolve_includes(base_path, (*seen, path))
    merged = _deep_merge(base, {k: v for k, v in data.items() if k != "include"})
    merged["include"] = base_name
    return merged


def _deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Mappings merge key by key; anything else in ``override`` replaces the base value."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _validate(data: dict[str, Any], schema: dict[str, Any], path: Path, prefix: str) -> None:
    for key, value in data.items():
        if key not in schema:
            raise RegistryError(f"{path}: unknown key '{prefix}{key}'; allowed here: {sorted(schema)}")
    for key, (required, kind) in schema.items():
        if key not in data:
            if required:
                raise RegistryError(f"{path}: missing required key '{prefix}{key}'")
            continue
        value = data[key]
        if isinstance(kind, dict):
            if not isinstance(value, dict):
                raise RegistryError(f"{path}: key '{prefix}{key}' must be a mapping, got {type(value).__name__}")
            _validate(value, kind, path, prefix=f"{prefix}{key}.")
        elif not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise RegistryError(f"{path}: key '{prefix}{key}' must be {_kind_name(kind)}, got {value!r}")


def _kind_name(kind: Any) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    names = {int: "an integer", float: "a number", str: "a string", list: "a list", dict: "a mapping",
             bool: "true/false", type(None): "null"}
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def _read_yaml(path: Path) -> Any:
    from vpbench.textio import read_text
    from vpbench.yamlsafe import safe_load

    try:
        return safe_load(read_text(path, what="a YAML file", error=RegistryError))
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise RegistryError(f"{path}:{where}: not valid YAML ({getattr(error, 'problem', error)})") from None


def load_previous_best(path: Path | None = None) -> dict[str, PreviousBest]:
    """``previous_best_models`` of ``benchmarks.yaml``: one entry per ``prev_best_model`` the rows name,
    every checkpoint spec a hub location ``vpbench run --model`` takes."""
    from vpbench.models import hub

    path = path or benchmarks_file()
    data = _read_yaml(path)
    entries = data.get("previous_best_models") if isinstance(data, dict) else None
    if not isinstance(entries, dict):
        raise RegistryError(f"{path}: expected a 'previous_best_models' mapping (model name -> checkpoint, released, "
                            "comparable)")
    out: dict[str, PreviousBest] = {}
    for name, entry in entries.items():
        where = f"{path}: previous_best_models.{name}"
        if not isinstance(entry, dict) or set(entry) != {"checkpoint", "released", "comparable"}:
            raise RegistryError(f"{where}: expected exactly the keys checkpoint, released, comparable")
        specs = ([entry["checkpoint"]] if entry["checkpoint"] is not None else []) + list(entry["comparable"] or [])
        for spec in specs:
            try:
                hub.parse(str(spec), file=False)
            except ValueError as exc:
                raise RegistryError(f"{where}: {exc}") from None
        if not isinstance(entry["released"], str) or not entry["released"].strip():
            raise RegistryError(f"{where}: 'released' must say where the weights are, or that they are not")
        out[str(name)] = PreviousBest(str(name), entry["checkpoint"], entry["released"].strip(),
                                      tuple(entry["comparable"] or ()))
    named = {bench.published["prev_best_model"] for bench in load_benchmarks(path)[0].values()}
    missing = sorted(named - set(out))
    if missing:
        raise RegistryError(f"{path}: previous_best_models has no entry for {missing} (named by prev_best_model)")
    return out
