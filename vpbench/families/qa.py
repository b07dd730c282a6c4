"""Open-ended video QA (MSRVTT-QA, MSVD-QA, NExT-OE): frozen encoder → Perceiver Resampler → frozen causal LM.

The resampler is, by default, the one trained once on the video-text corpus (the paper's
zero-shot protocol, :mod:`vpbench.families.corpus_resampler`); the ``in-domain`` variant trains
it on every (video, question, answer) of the target's train split, the LM's loss on the answer
tokens only. Each evaluation video is encoded once, however many questions it has.

The prompt is ``adapter.few_shot`` text-only demonstrations (question-answer pairs drawn once,
seeded, from the target's training split: the paper's Flamingo-style two-shot prompt; only their
text is read), one per line, then ``adapter.question_prompt`` with the question. Answers are,
with ``adapter.closed_vocabulary: K > 0`` (MSRVTT-QA / MSVD-QA, K=250 in the paper), the one of
the K most frequent training answers that the LM finds most likely (log-probability of the
answer and EOS); with 0 (NExT-OE), greedy text of at most ``adapter.max_new_tokens`` tokens, cut
at the first line break. The setting, the vocabulary's size and how many evaluation answers it
contains are recorded in the result.

Files: exact match writes ``[{"id", "answer"}]`` (MSRVTT-QA / MSVD-QA layout) for both the
answers and the references; WUPS writes the NExT-OE results JSON ``{video: {qid: answer}}`` and a
NExT-QA CSV of the evaluated questions, and scores with the release's additional reference
answers (``dataset.annotations.add_reference``) when the file is there, as NExT-OE's
``eval_oe.py`` does. Options as for captioning (``lm``, ``shuffle_train_labels``). This module
must never train on, or choose anything with, the evaluation split.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from vpbench.adapters.decoder import Example, choose_answers, closed_vocabulary, few_shot_prefix, generate_texts
from vpbench.atomic import atomic_write_text
from vpbench.datasets import Sample
from vpbench.datasets.paths import annotation_path
from vpbench.families import RunContext
from vpbench.families.common import RunLog, score_files, seed_everything, write_csv
from vpbench.families.corpus_resampler import corpus_resampler
from vpbench.families.video_text import DecoderRun, fit_in_domain, prepare
from vpbench.registry import TaskConfig
from vpbench.results import RunRecord

NEXTQA_COLUMNS = ("video", "frame_count", "width", "height", "question", "answer", "qid", "type")
ADDITIONAL_REFERENCES = "add_reference"
"""``dataset.annotations`` role of NExT-OE's ``add_reference_answer_<split>.json``."""


def run(task: TaskConfig, context: RunContext) -> RunRecord:
    seed_everything(context.seed)
    log = RunLog(task, context)
    setup = prepare(task, context, log, keep=_answerable, reason="no_question_or_answer", train_texts=True)
    settings = setup.settings
    demonstrations = _demonstrations(setup.train_texts, settings.few_shot, context.seed)
    prefix = few_shot_prefix(demonstrations, settings.question_prompt)

    def prompt(sample: Sample) -> str:
        return prefix + settings.question_prompt.format(question=sample.question)

    if setup.in_domain:
        train = setup.train
        model, training = fit_in_domain(setup, [Example(p, prompt(s), s.answer)
                                                for s, p in zip(train.samples, train.positions)])
    else:
        model, training = corpus_resampler(setup)
    evaluation = setup.evaluation
    questions = [Example(p, prompt(s)) for s, p in zip(evaluation.samples, evaluation.positions)]
    decoding: dict[str, Any] = {"few_shot_examples": [{"question": q, "answer": a} for q, a in demonstrations]}
    with log.stage("answer"):
        if settings.closed_vocabulary:
            vocabulary = closed_vocabulary([s.answer for s in setup.train_texts], settings.closed_vocabulary)
            answers = choose_answers(model, evaluation.table, questions, vocabulary, progress=True)
            known = set(vocabulary)
            decoding["closed_vocabulary_size"] = len(vocabulary)
            decoding["eval_answers_in_vocabulary"] = round(
                float(np.mean([s.answer.strip().lower() in known for s in evaluation.samples])), 6)
            log.note(f"closed vocabulary: answers are chosen among the {len(vocabulary)} most frequent training "
                     f"answers by LM likelihood; {100 * decoding['eval_answers_in_vocabulary']:.1f}% of the "
                     "evaluated answers are in it (the accuracy ceiling)")
        else:
            answers = generate_texts(model, evaluation.table, questions, max_new_tokens=settings.max_new_tokens,
                                     batch_size=settings.batch_size, progress=True)
    log.evaluated(len(evaluation.samples))

    scores: dict[str, float] = {}
    details: dict[str, Any] = {}
    files: dict[str, str] = {}
    with log.stage("score"):
        for metric in task.metrics:
            writer = _nextqa_files if metric["name"] == "wups" else _exact_match_files
            predictions, references = writer(setup, evaluation.samples, answers)
            options = _wups_options(task, context, log) if metric["name"] == "wups" else {}
            picked, details[metric["name"]] = score_files(task, metric, predictions, references, log, **options)
            scores.update(picked)
            files.update({f"{metric['name']}_answers": str(predictions), f"{metric['name']}_references": str(references)})
    log.extra["predictions"] = {**files, "first": [{"id": s.sample_id, "question": s.question, "answer": a}
                                                   for s, a in zip(evaluation.samples[:5], answers)]}
    return setup.record(scores, details, training, extra_adapter=decoding)


def _answerable(sample: Sample) -> bool:
    return bool(sample.question) and bool((sample.answer or "").strip())


def _demonstrations(samples: list[Sample], count: int, seed: int) -> list[tuple[str, str]]:
    """``count`` training (question, answer) pairs, drawn once with the run's seed."""
    chosen = np.random.default_rng([int(seed), 271828]).choice(len(samples), size=min(count, len(samples)),
                                                              replace=False)
    return [(samples[i].question, samples[i].answer) for i in sorted(chosen)]


def _wups_options(task: TaskConfig, context: RunContext, log: RunLog) -> dict[str, Path]:
    """NExT-OE's additional reference answers, when the task names the file and it is there."""
    if ADDITIONAL_REFERENCES not in task.dataset["annotations"]:
        return {}
    path = annotation_path(task, context.data_root / task.dataset["root"], ADDITIONAL_REFERENCES)
    if not path.is_file():
        log.deviation("nextqa_single_reference", f"{path.name} not found: each question is scored against its one "
                                                 "answer, where NExT-OE's eval_oe.py also takes the better match "
                                                 "with the additional reference answer")
        return {}
    from vpbench.models.checkpoint import sha256_file

    log.fingerprint["additional_references"] = {"file": path.name, "sha256": sha256_file(path)}
    return {"additional_references": path}


def _exact_match_files(setup: DecoderRun, samples: list[Sample], answers: list[str]) -> tuple[Path, Path]:
    """Answers and references as MSRVTT-QA / MSVD-QA lists of ``{"id", "answer"}``."""
    predictions = atomic_write_text(setup.output("answers.json"), json.dumps(
        [{"id": s.sample_id, "answer": a} for s, a in zip(samples, answers)], indent=1, ensure_ascii=False))
    references = atomic_write_text(setup.output("references.json"), json.dumps(
        [{"id": s.sample_id, "question": s.question, "answer": s.answer} for s in samples], indent=1,
        ensure_ascii=False))
    return predictions, references


def _nextqa_files(setup: DecoderRun, samples: list[Sample], answers: list[str]) -> tuple[Path, Path]:
    """The NExT-OE results JSON ``{video: {qid: answer}}`` and a NExT-QA CSV of the evaluated questions."""
    results: dict[str, dict[str, str]] = {}
    rows = []
    for sample, answer in zip(samples, answers):
        qid = str(sample.meta.get("qid", sample.sample_id))
        results.setdefault(sample.video_id, {})[qid] = answer
        rows.append([sample.video_id, sample.meta.get("frame_count", ""), sample.meta.get("width", ""),
                     sample.meta.get("height", ""), sample.question, sample.answer, qid, sample.question_type or ""])
    predictions = atomic_write_text(setup.output("results.json"),
                                    json.dumps(results, indent=1, ensure_ascii=False))
    references = write_csv(setup.output("references.csv"), rows, header=NEXTQA_COLUMNS)
    return predictions, references
