"""Open-ended video QA: exact-match accuracy (MSRVTT-QA, MSVD-QA) and WUPS (NExT-QA), in percent.

Exact match. MSRVTT-QA and MSVD-QA answers are single lower-case words from a fixed
vocabulary, scored by string equality. The benchmarks define no normalisation for GENERATED
answers, so vpbench applies the SQuAD one to both sides (lower-case, punctuation removed,
articles a/an/the dropped, whitespace collapsed): "The dog." matches "dog"; "2" does not
match "two". The result names the normalisation.

WUPS. Exactly doc-doc/NExT-OE's ``eval_oe.py`` + ``metrics.py`` (commit a83f8f5), which NExT-QA's
open-ended numbers come from:

1. both answers are lemmatised with pywsd 1.2.4's ``lemmatize_sentence`` (Treebank tokens;
   nltk's averaged-perceptron POS tags → WordNet POS; nltk's WordNetLemmatizer; if the lemma is
   not in WordNet, the Porter stem if that is, else the lower-cased word; a tag outside
   NN/JJ/VB/RB re-tags the word alone and defaults to noun), then NExT-OE's stop words are
   removed and the words re-joined;
2. binary and count questions (types DB, DC) score 1 if the two strings are equal, else 0;
3. otherwise, with Treebank tokens, each word's score against the other answer is its best
   match: 1 if the words are equal, else the Wu-Palmer similarity of the FIRST WordNet synset
   of each word (any POS), × 0.1 when below the threshold α (so WUPS@0.0 is never
   down-weighted); a phrase's score is the product of its words' best matches, skipping words
   whose best match is 0 (0 if all are); the answer's score is the min over both directions;
4. results ×100 per question type (TP merged into TN), per group (C, T, D) and overall;
   the headline ``WUPS`` is the overall WUPS@0.0, as NExT-OE prints it. If an additional
   reference answer is given for a question, the better of the two scores counts.

WordNet look-ups follow nltk 3.3 (NExT-OE's pin), which newer nltk changed in two places that
move the score, so both are implemented here on nltk's WordNet data and any installed nltk
gives NExT-OE's numbers: morphy applies its suffix rules repeatedly until a form is in WordNet
(nltk >= 3.5 applies them once: "focussed" no longer finds "focus"); and Wu-Palmer similarity
adds a simulated root only when the FIRST synset is a verb, so a noun against a verb has no
common subsumer and scores 0 (nltk 3.10 gives 0.14).

The POS tagger is nltk's averaged perceptron with the weights nltk 3.3 used, shipped with
vpbench as JSON (:mod:`vpbench.metrics.nlp_data`). One deviation, affecting only an answer that
contains a sentence break: NExT-OE splits text into sentences with nltk's punkt model before
tokenising; punkt's data cannot be had offline, so each answer is tokenised as one sentence.
Checked against NExT-OE run with its own pins: identical preprocessing on all 32,821 distinct
NExT-QA answer strings, identical per-question WUPS on all 5,343 val questions, and the same
val/test printouts for its HGA results (tests/fixtures/metrics/README.md).
This module never prints.
"""

from __future__ import annotations

import functools
import os
import re
import string
from collections import deque
from typing import Mapping, Sequence

from vpbench.errors import PredictionFileError
from vpbench.metrics.files import csv_rows, read_json
from vpbench.metrics.nlp_data import nextqa_stopwords, perceptron_tagger, wordnet

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = str.maketrans("", "", string.punctuation)
EXACT_MATCH_TYPES = ("DB", "DC")  # NExT-QA: binary (yes/no) and count questions
QUESTION_GROUPS = {"C": ("CW", "CH"), "T": ("TN", "TC"), "D": ("DB", "DC", "DL", "DO")}
_ROOT = "*ROOT*"


def normalize_answer(text: str) -> str:
    """Lower-case, drop punctuation and articles, collapse whitespace."""
    text = text.lower().translate(_PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def exact_match_accuracy(predictions: Sequence[str], answers: Sequence[str]) -> dict:
    """Percent of predictions equal to the answer after :func:`normalize_answer`."""
    if len(predictions) != len(answers) or not answers:
        raise ValueError(f"need one prediction per answer; got {len(predictions)} and {len(answers)}")
    hits = sum(normalize_answer(p) == normalize_answer(a) for p, a in zip(predictions, answers))
    return {"top1": 100.0 * hits / len(answers), "num_items": len(answers),
            "normalisation": "lower-case, no punctuation, no articles"}


# --- NExT-OE WUPS ---------------------------------------------------------------------------

@functools.lru_cache(maxsize=1)
def _tokenizer():
    from nltk.tokenize import NLTKWordTokenizer

    return NLTKWordTokenizer()


def tokenize(text: str) -> list[str]:
    """nltk's Treebank word tokens of the whole text, taken as one sentence."""
    return _tokenizer().tokenize(text)


_PENN_TO_WORDNET = {"NN": "n", "JJ": "a", "VB": "v", "RB": "r"}


@functools.lru_cache(maxsize=1 << 16)
def _lemmatize_word(word: str, wordnet_pos: str) -> str:
    """pywsd 1.2.4 ``lemmatize``: WordNet lemma if in WordNet, else Porter stem if in WordNet, else the word."""
    if not wordnet_pos:
        wordnet_pos = _PENN_TO_WORDNET.get(perceptron_tagger().tag([word])[0][1][:2], "n")
    lemmas = morphy_nltk33(word, wordnet_pos)
    lemma = min(lemmas, key=len) if lemmas else word  # nltk's WordNetLemmatizer.lemmatize
    if synsets_nltk33(lemma):
        return lemma
    stem = _porter().stem(word)
    return stem if synsets_nltk33(stem) else word


@functools.lru_cache(maxsize=1 << 16)
def morphy_nltk33(form: str, pos: str) -> tuple[str, ...]:
    """WordNet base forms of ``form`` as nltk 3.3's ``_morphy`` finds them.

    Exception lists first; else the suffix rules once, keeping forms that are in WordNet (the
    word itself included); and, unlike nltk >= 3.5, if none is, the rules again and again on
    the results until one is ("focussed" -> "focus", "changess" -> "change").
    """
    reader = wordnet()
    index = reader._lemma_pos_offset_map
    exceptions = reader._exception_map[pos]
    rules = reader.MORPHOLOGICAL_SUBSTITUTIONS[pos]

    def apply_rules(forms):
        return [f[: -len(old)] + new for f in forms for old, new in rules if f.endswith(old)]

    def in_wordnet(forms):
        return tuple(dict.fromkeys(f for f in forms if pos in index.get(f, {})))

    if form in exceptions:
        return in_wordnet([form] + exceptions[form])
    forms = apply_rules([form])
    found = in_wordnet([form] + forms)
    while not found and forms:
        forms = apply_rules(forms)
        found = in_wordnet(forms)
    return found


@functools.lru_cache(maxsize=1 << 16)
def synsets_nltk33(word: str) -> tuple:
    """nltk 3.3's ``wordnet.synsets(word)``: every POS in n, v, a, r order, through :func:`morphy_nltk33`."""
    reader = wordnet()
    word = word.lower()
    return tuple(reader.synset_from_pos_and_offset(pos, offset)
                 for pos in ("n", "v", "a", "r")
                 for form in morphy_nltk33(word, pos)
                 for offset in reader._lemma_pos_offset_map[form].get(pos, []))


@functools.lru_cache(maxsize=1)
def _porter():
    from nltk.stem import PorterStemmer

    return PorterStemmer()


def lemmatize_sentence(text: str) -> list[str]:
    """pywsd 1.2.4 ``lemmatize_sentence``: POS-tag the tokens, lemmatise each lower-cased word."""
    tokens = tokenize(text)
    tagged = perceptron_tagger().tag(tokens)
    return [_lemmatize_word(word.lower(), _PENN_TO_WORDNET.get(tag[:2], "")) for word, tag in tagged]


def nextqa_preprocess(text: str) -> str:
    """NExT-OE's ``remove_stop``: lemmatise, drop its stop words, join with spaces."""
    stopwords = nextqa_stopwords()
    return " ".join(word for word in lemmatize_sentence(text) if word not in stopwords)


@functools.lru_cache(maxsize=1 << 18)
def word_similarity(word1: str, word2: str, alpha: float) -> float:
    """NExT-OE ``wup``: 1 if equal; else Wu-Palmer of the first synsets (0 if none), × 0.1 below alpha."""
    if word1 == word2:
        return 1.0
    synsets1 = synsets_nltk33(word1)
    if not synsets1:
        return 0.0
    synsets2 = synsets_nltk33(word2)
    if not synsets2:
        return 0.0
    similarity = wup_similarity_nltk33(synsets1[0], synsets2[0])
    if similarity is None:
        similarity = 0.0
    return 0.1 * similarity if similarity < alpha else similarity


def phrase_similarity(words1: Sequence[str], words2: Sequence[str], alpha: float) -> float:
    """NExT-OE ``wups``: product over words1 of their best match in words2, zero matches skipped."""
    product, matched = 1.0, False
    for word1 in words1:
        best = 0.0
        for word2 in words2:
            best = max(best, word_similarity(word1, word2, alpha))
        if best == 0:
            continue
        product *= best
        matched = True
    return product if matched else 0.0


def wups_score(prediction: str, truth: str, alpha: float) -> float:
    """NExT-OE ``get_wups`` on two preprocessed answers: the min over both directions."""
    predicted, true = tokenize(prediction), tokenize(truth)
    return min(phrase_similarity(predicted, true, alpha), phrase_similarity(true, predicted, alpha))


def wup_similarity_nltk33(synset1, synset2) -> float | None:
    """Wu-Palmer similarity as nltk 3.3's ``Synset.wup_similarity`` (simulate_root=True) computes it.

    The simulated root is used only if ``synset1`` is a verb (nltk 3.3 asks only the first
    synset); the common subsumer is the deepest by MIN depth, ties broken by synset name, with
    ``synset1`` itself preferred; its depth is its MAX depth + 1; None when nothing is shared.
    """
    need_root = synset1.pos() == "v"
    ancestors1 = _ancestors(synset1)
    candidates = {name: _min_depth(ancestors1[name]) for name in ancestors1.keys() & _ancestors(synset2).keys()}
    if need_root:
        candidates[_ROOT] = 0
    if not candidates:
        return None
    deepest = max(candidates.values())
    subsumers = sorted(name for name, depth in candidates.items() if depth == deepest)
    subsumer = synset1.name() if synset1.name() in subsumers else subsumers[0]
    depth = 1 + (0 if subsumer == _ROOT else _max_depth(ancestors1[subsumer]))
    distance1 = _path_distance(synset1, subsumer, need_root)
    distance2 = _path_distance(synset2, subsumer, need_root)
    if distance1 is None or distance2 is None:
        return None
    return 2.0 * depth / (distance1 + distance2 + 2 * depth)


def _hypernyms(synset) -> list:
    return synset.hypernyms() + synset.instance_hypernyms()


@functools.lru_cache(maxsize=None)
def _ancestors(synset) -> dict:
    """name → synset for the synset and all its (instance) hypernyms."""
    found = {synset.name(): synset}
    todo = [synset]
    while todo:
        todo = [h for s in todo for h in _hypernyms(s) if h.name() not in found]
        found.update((h.name(), h) for h in todo)
    return found


@functools.lru_cache(maxsize=None)
def _min_depth(synset) -> int:
    hypernyms = _hypernyms(synset)
    return 0 if not hypernyms else 1 + min(_min_depth(h) for h in hypernyms)


@functools.lru_cache(maxsize=None)
def _max_depth(synset) -> int:
    hypernyms = _hypernyms(synset)
    return 0 if not hypernyms else 1 + max(_max_depth(h) for h in hypernyms)


@functools.lru_cache(maxsize=None)
def _distances(synset, simulate_root: bool) -> dict[str, int]:
    """Breadth-first hypernym distance to every ancestor (nltk 3.3 ``_shortest_hypernym_paths``)."""
    distance: dict[str, int] = {}
    queue = deque([(synset, 0)])
    while queue:
        current, steps = queue.popleft()
        if current.name() in distance:
            continue
        distance[current.name()] = steps
        queue.extend((h, steps + 1) for h in _hypernyms(current))
    if simulate_root:
        distance[_ROOT] = max(distance.values()) + 1
    return distance


def _path_distance(synset, subsumer: str, simulate_root: bool) -> int | None:
    if synset.name() == subsumer:
        return 0
    mine = _distances(synset, simulate_root)
    if subsumer == _ROOT:
        theirs = {_ROOT: 0}
    else:
        theirs = _distances(_ancestors(synset)[subsumer], simulate_root)
    shared = [mine[name] + theirs[name] for name in mine.keys() & theirs.keys()]
    return min(shared) if shared else None


def nextqa_wups(predictions: Sequence[str], answers: Sequence[str], question_types: Sequence[str],
                additional_answers: Sequence[str | None] | None = None) -> dict:
    """NExT-QA open-ended WUPS@0.0 and @0.9 in percent, per type, per group and overall."""
    if not (len(predictions) == len(answers) == len(question_types)) or not answers:
        raise ValueError("need one prediction and one question type per answer")
    additional_answers = additional_answers or [None] * len(answers)
    totals = {alpha: {} for alpha in (0.0, 0.9)}
    counts: dict[str, int] = {}
    for prediction, answer, qtype, extra in zip(predictions, answers, question_types, additional_answers):
        qtype = "TN" if qtype == "TP" else qtype
        predicted = nextqa_preprocess(prediction)
        truths = [nextqa_preprocess(answer)] + ([nextqa_preprocess(extra)] if extra is not None else [])
        counts[qtype] = counts.get(qtype, 0) + 1
        for alpha in (0.0, 0.9):
            if qtype in EXACT_MATCH_TYPES:
                score = float(any(predicted == truth for truth in truths))
            else:
                score = max(wups_score(predicted, truth, alpha) for truth in truths)
            totals[alpha][qtype] = totals[alpha].get(qtype, 0.0) + score
    result: dict = {"WUPS": 100.0 * sum(totals[0.0].values()) / len(answers),
                    "WUPS@0.0": 100.0 * sum(totals[0.0].values()) / len(answers),
                    "WUPS@0.9": 100.0 * sum(totals[0.9].values()) / len(answers),
                    "num_items": len(answers)}
    for alpha, label in ((0.0, "WUPS@0.0"), (0.9, "WUPS@0.9")):
        for qtype in sorted(counts):
            result[f"{label}_{qtype}"] = 100.0 * totals[alpha][qtype] / counts[qtype]
        for group, members in QUESTION_GROUPS.items():
            number = sum(counts.get(m, 0) for m in members)
            if number:  # NExT-OE divides by zero here; an empty group is simply not reported
                result[f"{label}_{group}"] = 100.0 * sum(totals[alpha].get(m, 0.0) for m in members) / number
    result["question_type_counts"] = counts
    return result


# --- files ------------------------------------------------------------------------------------

def read_qa_answers(path: str | os.PathLike, what: str) -> dict[str, str]:
    """``{id: answer}``, or a list of ``{"id" (or "question_id"), "answer"}`` (MSRVTT-QA/MSVD-QA format)."""
    data = read_json(path)
    items: list[tuple] = []
    if isinstance(data, dict):
        items = list(data.items())
    elif isinstance(data, list):
        for n, entry in enumerate(data):
            key = entry.get("id", entry.get("question_id")) if isinstance(entry, dict) else None
            if key is None or "answer" not in entry:
                raise PredictionFileError(f"{path}: entry {n}: expected {{\"id\": ..., \"answer\": ...}}")
            items.append((key, entry["answer"]))
    else:
        raise PredictionFileError(f"{path}: expected an object {{id: answer}} or a list of {{id, answer}}")
    answers: dict[str, str] = {}
    for key, answer in items:
        if not isinstance(answer, str):
            raise PredictionFileError(f"{path}: id {key!r}: {what} {answer!r} is not a string")
        if str(key) in answers:
            raise PredictionFileError(f"{path}: id {key!r} appears more than once")
        answers[str(key)] = answer
    return answers


def read_nextqa_references(path: str | os.PathLike) -> list[dict[str, str]]:
    """Rows of a NExT-QA open-ended CSV (``video,...,question,answer,qid,type``) as dicts of strings."""
    rows = csv_rows(path)
    try:
        _, header = next(rows)
    except StopIteration:
        raise PredictionFileError(f"{path}: empty file; expected a header line") from None
    needed = {"video", "answer", "qid", "type"}
    if not needed <= set(header):
        raise PredictionFileError(f"{path}: line 1: header lacks {sorted(needed - set(header))}")
    records = []
    for line, fields in rows:
        if len(fields) != len(header):
            raise PredictionFileError(f"{path}: line {line}: {len(fields)} fields; expected {len(header)}")
        record = dict(zip(header, fields))
        record["line"] = str(line)
        records.append(record)
    return records


def _nested_answers(path: str | os.PathLike, what: str) -> Mapping[str, Mapping[str, str]]:
    data = read_json(path)
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise PredictionFileError(f"{path}: expected {{video: {{qid: {what}}}}} (the NExT-OE results format)")
    return data


def score_files(metric: str, predictions: str | os.PathLike, references: str | os.PathLike,
                additional_references: str | os.PathLike | None = None) -> dict:
    """``qa_exact_match``: QA JSONs; ``wups``: NExT-OE results JSON against the NExT-QA CSV."""
    if metric != "wups":
        predicted = read_qa_answers(predictions, "prediction")
        truth = read_qa_answers(references, "answer")
        missing = [key for key in truth if key not in predicted]
        if missing:
            raise PredictionFileError(f"{predictions}: no answer for {len(missing)} question(s) of {references}, "
                                      f"first {missing[0]!r}")
        extra = [key for key in predicted if key not in truth]
        if extra:
            raise PredictionFileError(f"{predictions}: {len(extra)} id(s) are not in {references}, first {extra[0]!r}")
        return exact_match_accuracy([predicted[key] for key in truth], list(truth.values()))
    results = _nested_answers(predictions, "answer")
    extra_answers = _nested_answers(additional_references, "answer") if additional_references else {}
    records = read_nextqa_references(references)
    predicted, answers, types, extras = [], [], [], []
    for record in records:
        video, qid = record["video"], record["qid"]
        answer = results.get(video, {}).get(qid)
        if not isinstance(answer, str):
            raise PredictionFileError(
                f"{predictions}: no answer string for video {video!r} question {qid!r} "
                f"({references} line {record['line']})")
        predicted.append(answer)
        answers.append(record["answer"])
        types.append(record["type"])
        extras.append(extra_answers.get(video, {}).get(qid))
    return nextqa_wups(predicted, answers, types, extras)
