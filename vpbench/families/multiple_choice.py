"""Zero-shot multiple choice (NExT-QA ATP-hard, Charades-STA) as video-to-text retrieval.

Each question's video (or clip: Charades-STA uses the query's own segment) is embedded once;
each of its own candidates becomes a sentence through ``adapter.candidate_template``
(``{answer}`` by default; NExT-QA uses ``"{question} {answer}"``), and the candidate with the
highest cosine similarity is the answer. Scores go to a score file (one column per candidate),
scored with the multiple-choice accuracy of the task's metric; NExT-QA results also carry the
accuracy per question type in ``extra``.

Items may have different numbers of candidates (NExT-QA has 5; a Charades-STA query has as many
as its video has sentences): the score file has one column per candidate position up to the
largest count, and an item's unused columns hold :data:`ABSENT_SCORE`, below any cosine, so they
can neither win nor tie. The result states the candidate counts and the chance level (mean of
1/K). This module must never train on, or select anything with, the evaluation split.
"""

from __future__ import annotations

from collections import Counter, defaultdict

import numpy as np

from vpbench.errors import RegistryError, VpbenchError
from vpbench.families import RunContext
from vpbench.families.common import RunLog, model_info, output_path, score_metrics, seed_everything, write_csv
from vpbench.families.towers import embed_eval_videos, texts_at_max_length, zeroshot_context, zeroshot_fingerprint
from vpbench.registry import TaskConfig
from vpbench.results import RunRecord

DEFAULT_TEMPLATE = "{answer}"
ABSENT_SCORE = -2.0
"""Score of a candidate position an item does not have (cosine similarities lie in [-1, 1])."""


def run(task: TaskConfig, context: RunContext) -> RunRecord:
    seed_everything(context.seed)
    context = zeroshot_context(task, context)
    log = RunLog(task, context)
    template = candidate_template(task)
    videos = embed_eval_videos(task, context, log,
                               usable=lambda s: bool(s.candidates) and s.answer_index is not None,
                               unusable_reason="no_candidates")
    counts = [len(s.candidates) for s in videos.samples]
    texts = [candidate_text(template, s.question, c) for s in videos.samples for c in s.candidates]
    with log.stage("embed_texts"):
        text_embeddings = videos.towers.text(texts)
    with log.stage("predict"):
        scores = candidate_scores(videos.embeddings, text_embeddings, counts)
    predictions, references = _write_files(task, context, videos.samples, scores)

    results, details = score_metrics(task, predictions, references, log, family="multiple choice",
                                     scorable=("multiple_choice",))
    by_type = accuracy_by_type(videos.samples, scores)
    if by_type:
        details["by_question_type"] = by_type

    adapter = {**videos.towers.record, "candidate_template": template,
               "rule": "the candidate with the highest cosine similarity to the video is the answer"}
    per_count = Counter(counts)
    log.counts.update({"questions": len(videos.samples),
                       "candidates_per_question": {str(k): per_count[k] for k in sorted(per_count)},
                       "chance_mc_accuracy": 100.0 * float(np.mean([1.0 / k for k in counts])),
                       "texts_at_max_length": texts_at_max_length(videos.towers.text.tokenizer, texts),
                       "text_embeddings": dict(videos.towers.text.stats)})
    log.fingerprint.update(zeroshot_fingerprint(task, videos.towers))
    log.fingerprint["candidate_template"] = template
    log.extra["predictions"] = {"scores": str(predictions), "references": str(references)}
    return log.record(results, adapter=adapter, model=model_info(videos.model, context), metric=details)


def candidate_scores(video_embeddings: np.ndarray, text_embeddings: np.ndarray, counts: list[int]) -> np.ndarray:
    """[N, max K] cosine of item i's video with each of its ``counts[i]`` candidate texts (given in
    item order, flattened); positions past an item's count hold :data:`ABSENT_SCORE`."""
    if sum(counts) != len(text_embeddings) or len(counts) != len(video_embeddings):
        raise VpbenchError(f"{len(counts)} items with {sum(counts)} candidates, but {len(video_embeddings)} video and "
                           f"{len(text_embeddings)} text embeddings")
    if min(counts) < 1:
        raise VpbenchError("an item has no candidate")
    scores = np.full((len(counts), max(counts)), ABSENT_SCORE, dtype=np.float64)
    owner = np.repeat(np.arange(len(counts)), counts)
    position = np.arange(len(owner)) - np.repeat(np.cumsum(counts) - np.asarray(counts), counts)
    scores[owner, position] = np.einsum("nd,nd->n", video_embeddings[owner], text_embeddings)
    return scores


def candidate_template(task: TaskConfig) -> str:
    template = task.adapter.get("candidate_template", DEFAULT_TEMPLATE)
    try:
        candidate_text(template, "q", "a")
    except (KeyError, IndexError, ValueError):
        raise RegistryError(f"{task.source}: adapter.candidate_template {template!r} may use only {{question}} "
                            "and {answer}") from None
    if "{answer}" not in template:
        raise RegistryError(f"{task.source}: adapter.candidate_template {template!r} must contain {{answer}}")
    return template


def candidate_text(template: str, question: str | None, answer: str) -> str:
    return template.format(question=question or "", answer=answer).strip()


def accuracy_by_type(samples, scores: np.ndarray) -> dict[str, dict[str, float]]:
    """Accuracy (percent, strict: a tie is wrong) per ``question_type``; empty when no item has one."""
    groups: dict[str, list[bool]] = defaultdict(list)
    for sample, row in zip(samples, scores):
        if sample.question_type:
            right = row[sample.answer_index]
            groups[sample.question_type].append(bool((row >= right).sum() == 1))
    return {kind: {"mc_accuracy": 100.0 * float(np.mean(hits)), "num_items": len(hits)}
            for kind, hits in sorted(groups.items())}


def _write_files(task: TaskConfig, context: RunContext, samples, scores: np.ndarray):
    """Score file (``id,c0..c{K-1}``: cosine per candidate, ABSENT_SCORE past an item's candidates) and
    reference file (``id,label``)."""
    header = ["id", *(f"c{k}" for k in range(scores.shape[1]))]
    predictions = write_csv(output_path(task, context, "scores.csv"),
                            [[s.sample_id, *(format(float(v), ".9g") for v in row)]
                             for s, row in zip(samples, scores)], header=header)
    references = write_csv(output_path(task, context, "references.csv"),
                           [[s.sample_id, str(s.answer_index)] for s in samples], header=["id", "label"])
    return predictions, references
