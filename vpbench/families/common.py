"""Wiring every family runner shares: read splits, load the encoder, extract with the cache, keep the books.

A family runner (``vpbench/families/<family>.py``) is a short script over these pieces::

    log = RunLog(task, context)                       # timings, counts, notes, fingerprint
    splits = read_splits(task, context, log)          # {"train": LoadedSplit, "eval": LoadedSplit}
    model = load_encoder(context, log)
    train = prepare_features(log, context, task, model, splits["train"],
                             sampling_spec(task, views=False), name="train", view=0)
    # train.samples[i] <-> train.table([i]): the samples that got features, and their tensors
    with log.stage("adapter"): ...                    # train on train.table, predict
    path = write_csv(output_path(task, context, "scores.csv", variant=...), rows, header)
    scores, full = score_metrics(task, path, references, log, family="a probe",   # the `vpbench score` code
                                 scorable=("classification",))
    return log.record(scores, adapter=..., model=model_info(model, context), metric=full)

Lower-level pieces for other shapes of work: :func:`work_items` + :func:`extract` (any list of
clips, e.g. the snippets of a video) and :class:`FeatureTable` (features by position).

What each piece guarantees:

* :class:`RunLog` is the only place timings (``timings_s``), counts (evaluated, skipped with a
  reason, feature-cache hits and misses per extraction) and fingerprint entries are collected,
  so every family reports them the same way and `vpbench table` can compare them.
* :func:`read_splits` applies ``context.limit`` as a seeded random subset of each split (never
  "the first N rows": official files are often sorted by class), records the split file hashes,
  and counts samples whose video is missing instead of failing on them (unless ``strict``).
* :func:`extract` always goes through the feature cache (``context.cache_dir``), so a second run
  of the same task reuses every feature; the result's ``counts.features`` and ``timings_s`` show
  the hits (``extract_<name>_encode`` is 0 when nothing was encoded).
* :func:`score_files` scores written files through ``vpbench.metrics`` exactly as ``vpbench
  score`` would, and :func:`pick_scores` maps the scorer's output onto the task's declared keys;
  :func:`score_metrics` does so for every ``metrics:`` entry, refusing one the family cannot score.
* :func:`shuffle_requested` reads the label-permutation control option every trained family honours.

This module must never know about a particular family's adapter, and never reads the evaluation
split's labels for anything but scoring (that is the runner's job, not this module's).
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from vpbench.atomic import atomic_write_text
from vpbench.datasets import DatasetSplit, Sample, read_split
from vpbench.errors import RegistryError, VpbenchError
from vpbench.families import RunContext
from vpbench.registry import TaskConfig
from vpbench.results import RunRecord, run_label, safe_name
from vpbench.video.readers import DEFAULT_DECODER

SPLIT_ROLES = ("train", "eval")
"""A runner's two roles: the split an adapter learns from and the split that is scored."""


@dataclass
class LoadedSplit:
    """One split as a runner uses it: the reader's output plus the samples kept after ``--limit``.

    ``samples`` holds only samples whose video exists, in reader order; ``total`` is the number
    the reader returned, ``without_video`` how many of those had no video on disk.
    """

    role: str
    name: str
    split: DatasetSplit
    samples: list[Sample]
    total: int
    without_video: int
    limited: bool

    @property
    def class_names(self) -> list[str]:
        return self.split.class_names


class RunLog:
    """The books of one run: stage timings, counts, notes and fingerprint entries, then a RunRecord."""

    def __init__(self, task: TaskConfig, context: RunContext) -> None:
        self.task = task
        self.context = context
        self.timings_s: dict[str, float] = {}
        self.counts: dict[str, Any] = {"evaluated": 0, "skipped": {}, "skipped_by_split": {}, "features": {}}
        self.notes: list[str] = []
        self.deviations: dict[str, str] = {}
        self.fingerprint: dict[str, Any] = {}
        self.extra: dict[str, Any] = {}
        self.left_out: list[dict[str, Any]] = []

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time a stage; repeated stages of one name add up (``timings_s[name]``, seconds)."""
        started = time.perf_counter()
        try:
            yield
        finally:
            self.timings_s[name] = round(self.timings_s.get(name, 0.0) + time.perf_counter() - started, 4)

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    def deviation(self, key: str, text: str) -> None:
        """Record that this run departs from the paper's protocol (a missing user file made it fall
        back, a user option replaced a default, ``--limit``...). A result with any deviation is never
        given a difference to the paper's number; ``key`` is stable (it enters the fingerprint)."""
        self.deviations[key] = text

    def skip(self, role: str, reason: str, count: int = 1, items: Sequence[dict[str, Any]] = ()) -> None:
        """Count ``count`` items of split ``role`` left out, and why (e.g. ``missing_video``).

        ``items`` names them (``{"item": id, "detail": ...}``): the result lists them by id
        (``extra.left_out``; the full list goes to a side file beside the result).
        """
        if count <= 0:
            return
        self.counts["skipped"][reason] = self.counts["skipped"].get(reason, 0) + count
        per_split = self.counts["skipped_by_split"].setdefault(role, {})
        per_split[reason] = per_split.get(reason, 0) + count
        self.left_out.extend({"split": role, "reason": reason, **item} for item in items)

    def evaluated(self, count: int) -> None:
        self.counts["evaluated"] = int(count)

    def add_split(self, loaded: LoadedSplit) -> None:
        self.fingerprint.setdefault("splits", {})[loaded.role] = {
            "name": loaded.name,
            "sha256": loaded.split.split_sha256(),
            "annotation_files": [Path(p).name for p in loaded.split.annotation_files],
            "samples_in_split": loaded.total,
            "samples_used": len(loaded.samples),
            "limited": loaded.limited,
        }
        self.counts.setdefault("samples", {})[loaded.role] = len(loaded.samples)
        self.skip(loaded.role, "missing_video", loaded.without_video,
                  [{"item": m.sample_id, "detail": f"expected at {m.expected_path}"} for m in loaded.split.missing])
        for text in loaded.split.notes:
            self.note(f"{loaded.role} split '{loaded.name}': {text}")

    def add_extraction(self, name: str, result: Any, role: str | None = None) -> None:
        """Record an :class:`~vpbench.features.ExtractionResult`: time, cache hits/misses, decode skips."""
        self.timings_s[f"extract_{name}"] = round(float(result.timings.get("wall_s", 0.0)), 4)
        self.timings_s[f"extract_{name}_encode"] = round(float(result.timings.get("encode_s", 0.0)), 4)
        self.timings_s["extract"] = round(sum(v for k, v in self.timings_s.items()
                                              if k.startswith("extract_") and not k.endswith("_encode")), 4)
        self.counts["features"][name] = {
            "items": len(result.features) + len(result.skipped),
            "cache_hits": int(result.cache_hits),
            "cache_misses": int(result.cache_misses),
            "cache_recomputed": len(result.recomputed),
            "settings_digest": result.settings.get("digest"),
        }
        if result.recomputed:
            self.note(f"{name}: {len(result.recomputed)} bad feature cache entries were recomputed "
                      f"({', '.join(f'{r}: {n}' for r, n in result.recomputed_counts.items())})")
        for reason, count in result.skipped_counts.items():
            self.skip(role or name, f"video_{reason}", count,
                      [{"item": s.item_id, "stage": name, "detail": s.detail} for s in result.skipped if s.reason == reason])

    def record(self, scores: dict[str, float], *, adapter: dict[str, Any], model: dict[str, Any],
               metric: dict[str, Any] | None = None) -> RunRecord:
        """The RunRecord of this run; ``metric`` (the scorer's full output) goes into ``extra``."""
        fingerprint = {"limit": self.context.limit, **self.fingerprint}
        chosen = chosen_options(self.context)
        if chosen:  # absent otherwise: default runs keep the fingerprint they always had
            fingerprint["chosen"] = chosen
        extra = dict(self.extra)
        if self.left_out:
            extra["left_out"] = {"count": len(self.left_out), "items": list(self.left_out)}
        if metric is not None:
            extra["metric"] = metric
        return RunRecord(scores=scores, fingerprint=fingerprint, adapter=adapter, counts=self.counts,
                         timings_s=self.timings_s, model=model, notes=self.notes, extra=extra,
                         deviations=dict(self.deviations))


def limit_samples(samples: Sequence[Sample], limit: int | None, seed: int) -> list[Sample]:
    """At most ``limit`` samples: a seeded random subset, kept in reader order (all when no limit)."""
    samples = list(samples)
    if limit is None or len(samples) <= limit:
        return samples
    if limit < 1:
        raise VpbenchError(f"--limit must be >= 1, got {limit}")
    chosen = np.sort(np.random.default_rng([int(seed), 104729]).choice(len(samples), size=limit, replace=False))
    return [samples[i] for i in chosen]


def read_splits(task: TaskConfig, context: RunContext, log: RunLog,
                roles: Sequence[str] = SPLIT_ROLES) -> dict[str, LoadedSplit]:
    """Read the task's train and/or eval split (``dataset.train_split`` / ``dataset.eval_split``)."""
    loaded: dict[str, LoadedSplit] = {}
    with log.stage("read"):
        for role in roles:
            key = f"{role}_split"
            if key not in task.dataset:
                raise VpbenchError(f"{task.source}: task '{task.name}' needs 'dataset.{key}' for the "
                                   f"{task.family} family")
            name = task.dataset[key]
            split = read_split(task, context.data_root, name, context.user_files)
            if context.strict and split.missing:
                first = split.missing[0]
                raise VpbenchError(f"{task.name}: split '{name}': {len(split.missing)} video(s) missing, first "
                                   f"{first.sample_id!r} expected at {first.expected_path} (--strict)")
            available = split.available
            kept = limit_samples(available, context.limit, context.seed)
            loaded[role] = LoadedSplit(role=role, name=name, split=split, samples=kept, total=len(split.samples),
                                       without_video=len(split.samples) - len(available),
                                       limited=len(kept) < len(available))
            log.add_split(loaded[role])
            if loaded[role].limited:
                log.deviation("limit", f"--limit {context.limit}: a seeded random subset of each split, not the "
                                       "whole split the paper evaluates")
                log.note(f"--limit {context.limit}: {role} split '{name}' uses a seeded random {len(kept)} of "
                         f"{len(available)} samples; not comparable to a full run")
            if not kept:
                raise VpbenchError(f"{task.name}: split '{name}' has no sample with a video under "
                                   f"{Path(context.data_root) / task.dataset['root']} "
                                   f"({len(split.samples)} annotated, {len(split.missing)} missing)")
    return loaded


def sampling_spec(task: TaskConfig, *, views: bool = True, resize: str = "short_side"):
    """The :class:`~vpbench.video.SamplingSpec` of ``task.sampling``; ``views=False`` gives one centred view.

    Training features use one view (the centre clip and crop, or the augmented views of
    :mod:`vpbench.families.train_views`), evaluation features every temporal x spatial view the
    task asks for, whose scores the adapter averages. ``sampling.short_side_ratio`` (crops cut
    from a larger resized frame) and ``sampling.pad`` apply to the ``short_side`` resize only
    and to every view respectively.
    """
    from vpbench.video import SamplingSpec

    sampling = task.sampling
    policy = sampling["policy"]
    return SamplingSpec(
        frames=int(sampling["frames"]), resolution=int(sampling["resolution"]), policy=policy,
        stride=int(sampling.get("stride", 1)) if policy == "stride" else 1,
        fps=float(sampling["fps"]) if policy == "fps" else None,
        temporal_views=int(sampling["temporal_views"]) if views else 1,
        spatial_views=int(sampling["spatial_views"]) if views else 1,
        resize=resize, pad=sampling.get("pad", "repeat_last"),
        short_side_ratio=float(sampling.get("short_side_ratio", 1.0)) if resize == "short_side" else 1.0)


def load_encoder(context: RunContext, log: RunLog):
    """The frozen encoder ``context.model`` names (a known name, a checkpoint, ``hf:REPO``, a user's
    encoder), in eval mode. Its card (backend, weights identity, preprocessing) enters the
    fingerprint, so results of two encoders, or of one encoder preprocessed two ways, never merge."""
    import vpbench

    with log.stage("load_model"):
        encoder = vpbench.load_model(context.model, device=context.device)
    card = encoder.card
    if card.backend != "videoprism":
        # VideoPrism's input is the task's own sampling in [0, 1], which the fingerprint already holds
        # (and its weights are the result's checkpoint_sha256): its fingerprint stays as it always was.
        log.fingerprint["encoder"] = {"backend": card.backend, "identity": card.identity,
                                      "preprocessing": card.preprocessing.describe()}
        log.note(f"encoder {context.model}: {card.backend}, its own preprocessing "
                 f"({card.preprocessing.source}): frames and sizes replace the task's sampling where it states them")
        for text in card.details.get("notes", ()):
            log.note(f"encoder preprocessing: {text}")
    return encoder


def model_info(model: Any, context: RunContext) -> dict[str, Any]:
    """The ``model`` block of a result: what was asked for, which weights answered, and the encoder's card."""
    card = model.card
    return {
        "name": Path(context.model).stem if Path(context.model).suffix in (".npz", ".safetensors") else context.model,
        "requested": str(context.model),
        "checkpoint_sha256": card.checkpoint_sha256,
        "type": card.details.get("model_type", card.backend),
        "backend": card.backend,
        "embed_dim": card.embed_dim,
        "precision": card.precision,
        "encoder": card.describe(),
    }


def work_items(samples: Sequence[Sample], prefix: str):
    """One :class:`~vpbench.features.WorkItem` per sample, id ``<prefix>/<sample_id>``.

    The prefix keeps train and eval ids apart; it is not part of the cache key, so the same clip
    in two splits (or two tasks) is still encoded once.
    """
    from vpbench.features import WorkItem

    return [WorkItem(item_id=f"{prefix}/{s.sample_id}", path=str(s.video_path), clip_span_s=s.clip_span_s,
                     frame_span=s.frame_span, fps=s.meta.get("fps")) for s in samples]


def extract(log: RunLog, context: RunContext, task: TaskConfig, model: Any, items: Sequence[Any], spec: Any,
            *, name: str, role: str | None = None, layout: str | None = None):
    """Features of ``items`` through the cache; records timings, hits/misses and skips under ``name``."""
    from vpbench.features import FeatureCache, extract_features

    result = extract_features(
        model, items, spec, layout or task.features.get("layout", "tokens"), FeatureCache(context.cache_dir),
        batch_size=context.batch_size, workers=context.workers, strict=context.strict, progress=True,
        dtype=task.features.get("dtype", "float32"), decoder=context.decoder)
    log.add_extraction(name, result, role)
    record_decoder(log, context.decoder, result.settings["decoders"])
    return result


def record_decoder(log: RunLog, decoder: str, libraries: dict[str, str]) -> None:
    """A decoder other than the default is part of the fingerprint, with its libraries' versions
    (decord's runs keep the fingerprint they always had)."""
    if decoder != DEFAULT_DECODER:
        log.fingerprint["decoder"] = {"backend": decoder, "libraries": dict(libraries)}


TABLE_MEMORY_BYTES = 2 << 30


class FeatureTable:
    """Features of a list of item ids, loaded by position as float32 torch tensors.

    ``view=0`` drops the view axis (training features have one view); ``view=None`` keeps it
    (``[b, V, ...]``, for multi-view prediction). Tables smaller than ``memory_bytes`` are read
    once and kept in memory (an adapter reads every item once per epoch); larger ones are read
    from the cache per batch.
    """

    def __init__(self, features: Any, ids: Sequence[str], *, view: int | None = None,
                 memory_bytes: int = TABLE_MEMORY_BYTES) -> None:
        self.features = features
        self.ids = list(ids)
        self.view = view
        self._memory: np.ndarray | None = None
        if self.ids:
            first = np.asarray(features[self.ids[0]])
            self.item_shape = first.shape if view is None else first.shape[1:]
            if int(np.prod(self.item_shape)) * 4 * len(self.ids) <= memory_bytes:  # held as float32
                from tqdm.auto import tqdm

                positions = tqdm(range(len(self.ids)), desc="load features", unit="item", leave=False,
                                 disable=len(self.ids) < 1000)
                self._memory = np.stack([self._item(i) for i in positions])

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def in_memory(self) -> bool:
        """Whether the table was small enough to be held in memory (else it is read per batch)."""
        return self._memory is not None

    def _item(self, position: int) -> np.ndarray:
        array = np.asarray(self.features[self.ids[position]], dtype=np.float32)
        return array if self.view is None else array[self.view]

    def __call__(self, positions: Sequence[int]):
        import torch

        positions = list(positions)
        if self._memory is not None:
            return torch.from_numpy(self._memory[positions])
        return torch.from_numpy(np.stack([self._item(i) for i in positions]))


SHUFFLE_OPTION = "shuffle_train_labels"


def shuffle_requested(context: RunContext) -> bool:
    """``--option shuffle_train_labels=true``: the label-permutation control of a trained adapter.

    A runner that honours it permutes its training targets with a seeded RNG, says so in the
    notes and in the adapter variant, so the control's result never replaces a real one.
    """
    value = str(context.options.get(SHUFFLE_OPTION, "false")).strip().lower()
    if value not in ("true", "false", "1", "0", "yes", "no"):
        raise VpbenchError(f"--option {SHUFFLE_OPTION}={value!r}: expected true or false")
    return value in ("true", "1", "yes")


def seed_everything(seed: int) -> None:
    """Seed torch and NumPy's global generators (adapters also seed their own generators)."""
    import torch

    torch.manual_seed(int(seed))
    np.random.seed(int(seed) % (2 ** 32))


CHOSEN_OPTIONS = ("prompts", "lm", "eval_split", "text_tower")
"""``--option`` keys that make a run another experiment than the task's default run (each records a
deviation where a family uses it): such a run's files are named apart from the default run's."""


def chosen_options(context: RunContext) -> list[str]:
    """``<key>-<digest of the value>`` of each :data:`CHOSEN_OPTIONS` key given to this run."""
    return [f"{key}-{hashlib.sha256(str(context.options[key]).encode()).hexdigest()[:8]}"
            for key in CHOSEN_OPTIONS if key in context.options]


def output_path(task: TaskConfig, context: RunContext, suffix: str, *, variant: str | None = None) -> Path:
    """``<output_dir>/<task>[@<variant>][+limit<N>][+<option>-<digest>...]__<model>[__<adapter variant>]__seed<k>.<suffix>``:
    a run's prediction/reference file, set apart from the default run's as the result JSON is.

    Give the adapter ``variant`` (as the result's ``adapter.variant``) when one task can be run with
    several heads or as a control: the files are then named like the result JSON
    (``results.result_filename``), and one run never overwrites the files another result points to.
    """
    model = Path(context.model).stem if Path(context.model).suffix else context.model
    name = run_label(task.name, task.variant, context.limit, chosen_options(context))
    parts = (name, model, *([variant] if variant else []), f"seed{context.seed}")
    return Path(context.output_dir) / f"{'__'.join(safe_name(part) for part in parts)}.{suffix}"


def write_csv(path: Path, rows: Sequence[Sequence[Any]], header: Sequence[str] | None = None) -> Path:
    """A CSV written atomically (quoted only where needed, as the metrics' readers expect)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    if header is not None:
        writer.writerow(header)
    writer.writerows(rows)
    return atomic_write_text(path, buffer.getvalue())


def score_files(task: TaskConfig, metric: dict[str, Any], predictions: Path, references: Path, log: RunLog,
                **options: Any) -> tuple[dict[str, float], dict[str, Any]]:
    """Score written prediction/reference files with the metric a task's ``metrics:`` entry names.

    Goes through ``vpbench.metrics.score_files``, the code ``vpbench score`` runs, so a run's
    number can be re-computed from its files. Returns (the entry's ``keys`` as scores, the
    scorer's full output). ``options`` are the scorer's file options (label map, subset, ...).
    """
    from vpbench import metrics

    name = metric["name"]
    if name not in metrics.METRICS:
        raise VpbenchError(f"{task.source}: metric '{name}' has no scorer in vpbench.metrics "
                           f"(known: {sorted(metrics.METRICS)})")
    result = metrics.score_files(name, predictions, references, **options)
    return pick_scores(task, metric, result, log, headline=metrics.get(name).headline), result


def score_metrics(task: TaskConfig, predictions: Path, references: Path, log: RunLog, *, family: str,
                  scorable: Sequence[str], options: Callable[[dict[str, Any]], dict[str, Any]] | None = None
                  ) -> tuple[dict[str, float], dict[str, Any]]:
    """Score a run's files with every entry of the task's ``metrics:``, timed as the ``score`` stage.

    A runner writes files only the ``scorable`` metrics read, so an entry naming another metric is
    a registry error naming the ``family`` (raised when that entry is reached). ``options(metric)``
    gives an entry's scorer options (label map, subset, ...). Returns (the entries' declared keys
    as scores, each metric's full output by name).
    """
    scores: dict[str, float] = {}
    details: dict[str, Any] = {}
    with log.stage("score"):
        for metric in task.metrics:
            if metric["name"] not in scorable:
                raise RegistryError(f"{task.source}: metric '{metric['name']}' cannot score {family}; expected "
                                    f"{' or '.join(scorable)}")
            picked, details[metric["name"]] = score_files(task, metric, predictions, references, log,
                                                          **(options(metric) if options else {}))
            scores.update(picked)
    return scores, details


def benchmark_keys(task: TaskConfig) -> set[str]:
    """The score keys some benchmark of ``benchmarks.yaml`` reads from this task."""
    from vpbench.registry import load_registry

    benchmarks = load_registry().benchmarks
    return {benchmarks[b].metric for b in task.benchmarks if b in benchmarks}


def pick_scores(task: TaskConfig, metric: dict[str, Any], result: dict[str, Any], log: RunLog | None = None,
                headline: str | None = None) -> dict[str, float]:
    """The keys ``metric["keys"]`` (a task's ``metrics:`` entry) out of a scorer's full output.

    A key is found as written or, when the entry declares a single key, as the scorer's
    headline value (ChimpACT's ``mAP`` is the AVA scorer's ``frame_mAP_iou_0.5``), which is noted
    in the result. A key still not found is an error when a benchmark reads it, and is otherwise
    left out with a note (top-5 of a 4-class tiny subset does not exist).
    """
    keys = list(metric["keys"])
    scores = {}
    for key in keys:
        found = key if key in result else None
        if found is None and len(keys) == 1 and headline in result:
            found = headline
        if found is None:
            if key in benchmark_keys(task) or log is None:
                numeric = sorted(k for k, v in result.items() if _is_number(v))
                raise VpbenchError(f"{task.source}: metric '{metric['name']}' produced no '{key}' "
                                   f"(it produced {numeric}); fix 'metrics[].keys'")
            log.note(f"score '{key}' left out: metric '{metric['name']}' did not produce it on this data")
            continue
        if found != key and log is not None:
            log.note(f"score '{key}' is the metric's '{found}'")
        scores[key] = float(result[found])
    return scores


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def class_list_sha256(class_names: Sequence[str]) -> str:
    return hashlib.sha256("\n".join(class_names).encode()).hexdigest()


@dataclass
class Prepared:
    """Features of one split's samples, aligned: ``samples[i]`` has features ``table(i)``."""

    samples: list[Sample]
    table: FeatureTable
    extraction: Any = field(repr=False, default=None)


def prepare_features(log: RunLog, context: RunContext, task: TaskConfig, model: Any, loaded: LoadedSplit, spec: Any,
                     *, name: str, view: int | None, layout: str | None = None,
                     memory_bytes: int = TABLE_MEMORY_BYTES) -> Prepared:
    """Extract one split's clip features and keep only the samples that have features, in order
    (the table is held in memory when it fits ``memory_bytes``)."""
    items = work_items(loaded.samples, loaded.role)
    result = extract(log, context, task, model, items, spec, name=name, role=loaded.role, layout=layout)
    kept = [(sample, item.item_id) for sample, item in zip(loaded.samples, items) if item.item_id in result.features]
    return Prepared(samples=[s for s, _ in kept],
                    table=FeatureTable(result.features, [i for _, i in kept], view=view, memory_bytes=memory_bytes),
                    extraction=result)
