"""The tiny suite: for any task, a small synthetic subset in that task's official annotation format.

``make_tiny(task, out_dir)`` renders procedural clips (see :mod:`vpbench.tiny.video`) and has the
writer for the task's format (``vpbench/tiny/writers/<format>.py``, function
``write(task, data_dir, rng)``) lay them out exactly as the real dataset would sit under a data
root, so ``vpbench run --tiny`` exercises the real reader, decoder, model and metric code.
Writers only write; they never read back what they wrote.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from vpbench.plugins import named_module
from vpbench.registry import TaskConfig

TRAIN_CLIPS = 48
"""Training clips per tiny task: the fact grid has 48 (colour, shape, direction) combinations."""
EVAL_CLIPS = 24
CORPUS_FORMAT = "video_text_corpus"
"""The writer of the video-text corpus a task trains on (``adapter.corpus``), if it declares one."""
USER_FILES_DIR = "user_files"
"""Under a tiny dataset folder: the files a real user would supply (``dataset.user_files``), by key."""


def writer_module(format_name: str):
    return named_module("vpbench.tiny.writers", format_name,
                        f"no tiny-suite writer for dataset format '{format_name}' in this version of vpbench")


def make_tiny(task: TaskConfig, out_dir: str | Path, seed: int = 0) -> Path:
    """Write the tiny subset of ``task`` under ``out_dir`` (the data root) and return it.

    Deterministic in ``seed``. A completed subset is marked with a stamp file, so a second call
    returns at once and an interrupted one is redone from scratch.
    """
    out_dir = Path(out_dir)
    stamp = out_dir / f".tiny-{task.dataset['format']}-{task.dataset['root'].replace('/', '_')}-{seed}.done"
    if stamp.is_file():
        return out_dir
    rng = np.random.default_rng([seed, _stable_hash(task.dataset["format"])])
    writer_module(task.dataset["format"]).write(task, out_dir / task.dataset["root"], rng)
    _write_corpus(task, out_dir, seed)
    stamp.parent.mkdir(parents=True, exist_ok=True)
    stamp.write_text("ok\n")
    return out_dir


def _write_corpus(task: TaskConfig, out_dir: Path, seed: int) -> None:
    """The tiny video-text corpus under ``<out_dir>/<adapter.corpus.root>``, for tasks trained on one.

    Written from its own seed, so every task's tiny root holds the same bytes (the captioning/QA
    resampler trained on it is then found in the cache by every task).
    """
    spec = task.adapter.get("corpus")
    if not spec:
        return
    stamp = out_dir / f".tiny-corpus-{spec['root'].replace('/', '_')}-{seed}.done"
    if stamp.is_file():
        return
    rng = np.random.default_rng([seed, _stable_hash(CORPUS_FORMAT)])
    writer_module(CORPUS_FORMAT).write(task, out_dir / spec["root"], rng)
    stamp.write_text("ok\n")


def tiny_user_files(task: TaskConfig, data_root: str | Path) -> dict[str, Path]:
    """The user files a tiny subset ships (e.g. a class list), as ``--user-file`` would give them."""
    folder = Path(data_root) / task.dataset["root"] / USER_FILES_DIR
    return {key: folder / key for key in task.dataset.get("user_files", {}) if (folder / key).is_file()}


def default_tiny_root() -> Path:
    """Where `vpbench run --tiny` keeps generated subsets ($VPBENCH_CACHE/tiny)."""
    return Path(os.environ.get("VPBENCH_CACHE", Path.home() / ".cache" / "vpbench")) / "tiny"


def _stable_hash(text: str) -> int:
    return int.from_bytes(text.encode()[:8].ljust(8, b"\0"), "little")
