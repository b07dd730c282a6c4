"""Video captioning (MSR-VTT, VATEX, YouCook2): frozen encoder → Perceiver Resampler → frozen causal LM.

The paper's protocol (App. G) and the default: the resampler is trained once on a video-text
corpus that is none of the evaluated datasets (:mod:`vpbench.families.corpus_resampler`, cached
and shared by every captioning and QA task), then each evaluation clip, as token features of one
centred view through the cache, gets one greedy caption after ``adapter.caption_prompt``
(e.g. "A video of"), at most ``adapter.max_new_tokens`` (32) tokens. The ``in-domain`` variant
(``adapter.train_on: target``) trains the resampler on the target's own (training clip, caption)
pairs instead. Then: the COCO results JSON ``[{"image_id", "caption"}]`` and the references
``{id: [captions]}`` written in the output folder -> the COCO caption evaluation on those two
files (the code ``vpbench score --metric captioning`` runs) -> a RunRecord.

Options: ``--option lm=PATH`` replaces ``adapter.lm`` (a Hugging Face causal LM folder or hub
id); ``--option shuffle_train_labels=true`` trains on the texts of other videos (the
shuffled-video control: its score is what the LM gets without seeing the video).
This module must never train on, or choose anything with, the evaluation split.
"""

from __future__ import annotations

import json

from vpbench.adapters.decoder import Example, generate_texts
from vpbench.atomic import atomic_write_text
from vpbench.families import RunContext
from vpbench.families.common import RunLog, seed_everything
from vpbench.families.corpus_resampler import corpus_resampler
from vpbench.families.video_text import fit_in_domain, prepare, score_all
from vpbench.registry import TaskConfig
from vpbench.results import RunRecord


def run(task: TaskConfig, context: RunContext) -> RunRecord:
    seed_everything(context.seed)
    log = RunLog(task, context)
    setup = prepare(task, context, log, keep=lambda s: bool(s.captions), reason="no_caption", train_texts=False)
    prompt = setup.settings.caption_prompt
    if setup.in_domain:
        model, training = fit_in_domain(setup, [Example(position, prompt, caption) for sample, position
                                                in zip(setup.train.samples, setup.train.positions)
                                                for caption in sample.captions])
    else:
        model, training = corpus_resampler(setup)
    evaluation = setup.evaluation
    with log.stage("generate"):
        captions = generate_texts(model, evaluation.table, [Example(p, prompt) for p in evaluation.positions],
                                  max_new_tokens=setup.settings.max_new_tokens, batch_size=setup.settings.batch_size,
                                  progress=True)
    samples = evaluation.samples
    log.evaluated(len(samples))
    predictions = atomic_write_text(setup.output("captions.json"), json.dumps(
        [{"image_id": s.sample_id, "caption": c} for s, c in zip(samples, captions)], indent=1, ensure_ascii=False))
    references = atomic_write_text(setup.output("references.json"), json.dumps(
        {s.sample_id: list(s.captions) for s in samples}, indent=1, ensure_ascii=False))
    scores, details = score_all(task, predictions, references, log)
    log.extra["predictions"] = {"captions": str(predictions), "references": str(references),
                                "first": [{"id": s.sample_id, "caption": c} for s, c in zip(samples[:5], captions)]}
    return setup.record(scores, details, training)
