"""Tiny Something-Something v2 in the official JSON layout (``dataset.format: ssv2_json``).

Writes ``something-something-v2-labels.json`` (template without brackets -> index *string*),
``-train.json`` / ``-validation.json`` (lists of ``{"id", "label", "template",
"placeholders"}`` with bracketed templates) and ``videos/<id>.webm`` in VP9 like the release.
The template is the subject's direction of motion, using the four real SSv2 motion templates
("Moving [something] up", "... from left to right", ...). All tasks of this format share one
folder, so the writer always writes both splits and the ``class_list`` user file the SSv2-Temporal
/ -Events tasks take (three of the four templates).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vpbench.datasets.paths import video_dir
from vpbench.registry import TaskConfig
from vpbench.tiny.video import write_clips
from vpbench.tiny.writers._files import train_eval_clips, write_json, write_user_file

TEMPLATES = {
    "down": "Moving [something] down",
    "right": "Moving [something] from left to right",
    "left": "Moving [something] from right to left",
    "up": "Moving [something] up",
}
DEFAULT_FILES = {"labels": "something-something-v2-labels.json", "train": "something-something-v2-train.json",
                 "val": "something-something-v2-validation.json"}
CLASS_LIST = ["# tiny subset: three of the four motion templates, in this order",
              TEMPLATES["right"], TEMPLATES["left"], TEMPLATES["up"]]


def write(task: TaskConfig, data_dir: Path, rng: np.random.Generator) -> None:
    files = {role: data_dir / task.dataset["annotations"].get(role, name) for role, name in DEFAULT_FILES.items()}
    names = sorted(template.replace("[", "").replace("]", "") for template in TEMPLATES.values())
    write_json(files["labels"], {name: str(index) for index, name in enumerate(names)}, indent=1)
    train, evaluation = train_eval_clips(rng, "ssv2", num_frames=32)
    ids = iter(str(i) for i in rng.choice(np.arange(1, 220_000), size=len(train) + len(evaluation), replace=False))
    jobs = []
    for split, clips in (("train", train), ("val", evaluation)):
        entries = []
        for clip in clips:
            video_id, thing = next(ids), f"{clip.subject.colour} {clip.subject.shape}"
            template = TEMPLATES[clip.subject.direction]
            entries.append({"id": video_id, "label": template.replace("[something]", thing).lower(),
                            "template": template, "placeholders": [thing]})
            jobs.append((video_dir(task, data_dir, split) / f"{video_id}.webm", clip, "vp9"))
        write_json(files[split], entries)
    write_user_file(data_dir, "class_list", CLASS_LIST)
    write_clips(jobs)
