"""Captioning metrics as the COCO caption evaluation computes them: CIDEr(-D), BLEU-4, METEOR, ROUGE_L.

Exactly the ``pycocoevalcap`` path (``eval.py``: ``COCOEvalCap.evaluate``): every caption, the
predictions and the references alike, first goes through pycocoevalcap's PTB tokenizer (the
Stanford CoreNLP 3.4.1 jar, run with Java: lower-cased, punctuation tokens removed), then the
scorers run on the tokenised text. CIDEr is computed by :mod:`vpbench.metrics.cider`, which
returns pycocoevalcap's ``Cider`` numbers (tested to 1e-9) in a fraction of the time; BLEU,
METEOR (Java again) and ROUGE_L are pycocoevalcap's own scorers.

Units: every value is 100 × pycocoevalcap's (papers report "CIDEr 40.3" for 0.403).

Never tokenises any other way: without Java this raises :class:`MissingDependencyError` with the
install step. SPICE is not offered: pycocoevalcap downloads Stanford CoreNLP 3.6.0 on first use,
which cannot work offline. Never prints.
"""

from __future__ import annotations

import os
import shutil
from typing import Mapping, Sequence

from vpbench.errors import MissingDependencyError, PredictionFileError, VpbenchError
from vpbench.metrics.files import read_json

CAPTION_METRICS = ("CIDEr", "BLEU-4", "METEOR", "ROUGE_L")
_LINE_BREAKS = ("\r", "\x0b", "\x0c", "\x85", "\u2028", "\u2029")
JAVA_HINT = "install a Java runtime, e.g. `apt-get install -y default-jre-headless` (Debian/Ubuntu)"


def require_java() -> str:
    """Path of the ``java`` executable, or the error that says how to install it."""
    java = shutil.which("java")
    if java is None:
        raise MissingDependencyError(
            f"the COCO caption evaluation runs the PTB tokenizer (and METEOR) in Java, and no `java` is on PATH: {JAVA_HINT}")
    return java


def ptb_tokenize(captions: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
    """pycocoevalcap's ``PTBTokenizer().tokenize`` on ``{id: [caption, ...]}``.

    pycocoevalcap replaces only ``\\n`` before handing one caption per line to Java; a caption
    holding another line break would silently shift every later caption onto the wrong id, so
    such a caption is refused here instead.
    """
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

    require_java()
    for key, texts in captions.items():
        for text in texts:
            if any(mark in text for mark in _LINE_BREAKS):
                raise PredictionFileError(
                    f"caption of id {key!r} contains a line-break character other than \\n: {text!r}")
    try:
        return PTBTokenizer().tokenize({key: [{"caption": text} for text in texts] for key, texts in captions.items()})
    except OSError as error:
        raise VpbenchError(f"the PTB tokenizer could not run ({error}); it writes a temporary file inside the "
                           "pycocoevalcap package folder, which must be writable") from None


def caption_metrics(predictions: Mapping[str, str], references: Mapping[str, Sequence[str]],
                    metrics: Sequence[str] = ("CIDEr",)) -> dict:
    """COCO-caption scores ×100 of one predicted caption per id against its reference captions.

    ``metrics``: any of ``CIDEr``, ``BLEU-4`` (also gives BLEU-1..3), ``METEOR``, ``ROUGE_L``.
    The ids of ``predictions`` and ``references`` must be the same set.
    """
    unknown = [name for name in metrics if name not in CAPTION_METRICS]
    if "SPICE" in unknown:
        raise MissingDependencyError("SPICE is not offered: pycocoevalcap downloads Stanford CoreNLP 3.6.0 "
                                     "at first use, which cannot work offline")
    if unknown:
        raise ValueError(f"unknown caption metric(s) {unknown}; choose from {CAPTION_METRICS}")
    if set(predictions) != set(references):
        missing = sorted(set(references) - set(predictions))
        extra = sorted(set(predictions) - set(references))
        raise ValueError(f"prediction and reference ids differ: missing {missing[:3]}, extra {extra[:3]}")
    ids = list(references)
    gts = ptb_tokenize({key: list(references[key]) for key in ids})
    res = ptb_tokenize({key: [predictions[key]] for key in ids})
    result: dict = {"num_items": len(ids), "tokenizer": "pycocoevalcap PTBTokenizer (Stanford CoreNLP 3.4.1)"}
    if "CIDEr" in metrics:
        from vpbench.metrics.cider import cider_d

        score, _ = cider_d([res[key][0] for key in ids], [gts[key] for key in ids])
        result["CIDEr"] = 100.0 * score
    if "BLEU-4" in metrics:
        from pycocoevalcap.bleu.bleu import Bleu

        scores, _ = Bleu(4).compute_score(gts, res, verbose=0)
        result.update({f"BLEU-{n}": 100.0 * value for n, value in enumerate(scores, start=1)})
    if "METEOR" in metrics:
        from pycocoevalcap.meteor.meteor import Meteor

        meteor = Meteor()  # its __del__ closes the Java process
        result["METEOR"] = 100.0 * meteor.compute_score(gts, res)[0]
        del meteor
    if "ROUGE_L" in metrics:
        from pycocoevalcap.rouge.rouge import Rouge

        result["ROUGE_L"] = 100.0 * Rouge().compute_score(gts, res)[0]
    return result


def read_caption_predictions(path: str | os.PathLike) -> dict[str, str]:
    """``[{"image_id": ..., "caption": ...}]`` (COCO results format) or ``{id: caption}``."""
    data = read_json(path)
    if isinstance(data, dict):
        items = list(data.items())
    elif isinstance(data, list):
        items = []
        for n, entry in enumerate(data):
            if not isinstance(entry, dict) or "image_id" not in entry or "caption" not in entry:
                raise PredictionFileError(f"{path}: entry {n}: expected {{\"image_id\": ..., \"caption\": ...}}")
            items.append((entry["image_id"], entry["caption"]))
    else:
        raise PredictionFileError(f"{path}: expected a list of {{image_id, caption}} or an object {{id: caption}}")
    predictions: dict[str, str] = {}
    for key, caption in items:
        if not isinstance(caption, str):
            raise PredictionFileError(f"{path}: id {key!r}: caption {caption!r} is not a string")
        if str(key) in predictions:
            raise PredictionFileError(f"{path}: id {key!r} has more than one caption; CIDEr scores exactly one")
        predictions[str(key)] = caption
    return predictions


def read_caption_references(path: str | os.PathLike) -> dict[str, list[str]]:
    """``{"annotations": [{"image_id", "caption"}, ...]}`` (COCO format) or ``{id: [captions]}``."""
    data = read_json(path)
    references: dict[str, list[str]] = {}
    if isinstance(data, dict) and isinstance(data.get("annotations"), list):
        for n, entry in enumerate(data["annotations"]):
            if not isinstance(entry, dict) or not isinstance(entry.get("caption"), str) or "image_id" not in entry:
                raise PredictionFileError(f"{path}: annotations[{n}]: expected {{\"image_id\": ..., \"caption\": str}}")
            references.setdefault(str(entry["image_id"]), []).append(entry["caption"])
    elif isinstance(data, dict):
        for key, captions in data.items():
            if not isinstance(captions, list) or not captions or not all(isinstance(c, str) for c in captions):
                raise PredictionFileError(f"{path}: id {key!r}: expected a non-empty list of caption strings")
            references[str(key)] = list(captions)
    else:
        raise PredictionFileError(f"{path}: expected COCO annotations or an object {{id: [captions]}}")
    if not references:
        raise PredictionFileError(f"{path}: no reference captions")
    return references


def score_files(metric: str, predictions: str | os.PathLike, references: str | os.PathLike) -> dict:
    """Score a caption prediction file against reference captions (``metric``: CIDEr or captioning)."""
    predicted = read_caption_predictions(predictions)
    reference = read_caption_references(references)
    missing = [key for key in reference if key not in predicted]
    if missing:
        raise PredictionFileError(f"{predictions}: no caption for {len(missing)} id(s) of {references}, first {missing[0]!r}")
    extra = [key for key in predicted if key not in reference]
    if extra:
        raise PredictionFileError(f"{predictions}: {len(extra)} id(s) are not in {references}, first {extra[0]!r}")
    chosen = ("CIDEr",) if metric == "CIDEr" else CAPTION_METRICS
    return caption_metrics(predicted, reference, chosen)
