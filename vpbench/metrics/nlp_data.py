"""Offline language data for WUPS: WordNet 3.0 through nltk, and nltk's averaged-perceptron POS tagger.

Nothing here downloads. WordNet comes from the system: Debian's ``wordnet-base`` +
``wordnet-sense-index`` (``/usr/share/wordnet``, or its copy under
``/usr/share/nltk_data/corpora/wordnet``), or any nltk data folder with ``corpora/wordnet``.
Debian's copy lacks nltk's ``lexnames`` file, which only lists WordNet 3.0's 45
lexicographer files (documented in lexnames(5WN)); the reader below supplies that fixed list.
It also skips nltk's WordNet-3.0-onto-itself sense mapping (``map_wn``, ~10 s at load), which only
the multilingual (OMW) functions use.

The POS tagger's weights ship with vpbench (``data/averaged_perceptron_tagger_eng.json.gz``):
nltk's English averaged-perceptron model, converted to JSON from nltk_data's
``averaged_perceptron_tagger.pickle`` (the file nltk 3.3 loaded when NExT-OE's scores were
made); see ``data/README.md``. It is loaded as JSON, never unpickled.
"""

from __future__ import annotations

import functools
import gzip
import io
import json
import warnings
from pathlib import Path

from vpbench.errors import MissingDependencyError

DATA_DIR = Path(__file__).parent / "data"
WORDNET_INSTALL = ("apt-get install -y wordnet-base wordnet-sense-index && mkdir -p /usr/share/nltk_data/corpora "
                   "&& cp -r /usr/share/wordnet /usr/share/nltk_data/corpora/wordnet")
_SYSTEM_WORDNET = Path("/usr/share/wordnet")

# WordNet 3.0's lexicographer files: number, name, syntactic category (lexnames(5WN)).
_LEXNAMES = [
    "adj.all 3", "adj.pert 3", "adv.all 4", "noun.Tops 1", "noun.act 1", "noun.animal 1", "noun.artifact 1",
    "noun.attribute 1", "noun.body 1", "noun.cognition 1", "noun.communication 1", "noun.event 1",
    "noun.feeling 1", "noun.food 1", "noun.group 1", "noun.location 1", "noun.motive 1", "noun.object 1",
    "noun.person 1", "noun.phenomenon 1", "noun.plant 1", "noun.possession 1", "noun.process 1",
    "noun.quantity 1", "noun.relation 1", "noun.shape 1", "noun.state 1", "noun.substance 1", "noun.time 1",
    "verb.body 2", "verb.change 2", "verb.cognition 2", "verb.communication 2", "verb.competition 2",
    "verb.consumption 2", "verb.contact 2", "verb.creation 2", "verb.emotion 2", "verb.motion 2",
    "verb.perception 2", "verb.possession 2", "verb.social 2", "verb.stative 2", "verb.weather 2", "adj.ppl 3",
]
LEXNAMES_TEXT = "".join(f"{index:02d}\t{entry.split()[0]}\t{entry.split()[1]}\n" for index, entry in enumerate(_LEXNAMES))


def _candidate_roots() -> list[Path]:
    import nltk

    roots = [Path(base) / "corpora" / "wordnet" for base in nltk.data.path]
    return roots + [_SYSTEM_WORDNET]


@functools.lru_cache(maxsize=1)
def wordnet():
    """An nltk WordNet 3.0 reader from local data, or MissingDependencyError naming the install step."""
    import nltk
    from nltk.corpus.reader.wordnet import WordNetCorpusReader

    class _OfflineWordNet(WordNetCorpusReader):
        def open(self, file):  # noqa: A003 - nltk's method name
            if file == "lexnames" and not (Path(str(self._root)) / "lexnames").exists():
                return io.StringIO(LEXNAMES_TEXT)
            return super().open(file)

        def map_wn(self, version="wordnet"):
            return None

    for root in _candidate_roots():
        if (root / "data.noun").is_file() and (root / "index.sense").is_file():
            if root == _SYSTEM_WORDNET and str(root) not in nltk.data.path:
                nltk.data.path.append(str(root))  # nltk's path sandbox only opens corpora under its data path
            with warnings.catch_warnings():  # "multilingual functions are not available": not used
                warnings.simplefilter("ignore", UserWarning)
                reader = _OfflineWordNet(str(root), None)
            version = reader.get_version()
            if version != "3.0":
                raise MissingDependencyError(f"{root}: WordNet {version}; WUPS as NExT-QA computes it needs WordNet 3.0")
            return reader
    raise MissingDependencyError(
        "WUPS needs WordNet 3.0 (with index.sense) on this machine and found none under "
        f"{[str(root) for root in _candidate_roots()]}: {WORDNET_INSTALL}")


@functools.lru_cache(maxsize=1)
def perceptron_tagger():
    """nltk's PerceptronTagger with the shipped English weights (equivalent to ``nltk.pos_tag``)."""
    from nltk.tag.perceptron import PerceptronTagger

    path = DATA_DIR / "averaged_perceptron_tagger_eng.json.gz"
    if not path.is_file():
        raise MissingDependencyError(f"{path} is missing: reinstall vpbench (the POS-tagger weights ship with it)")
    with gzip.open(path, "rt", encoding="utf-8") as f:
        params = json.load(f)
    tagger = PerceptronTagger(load=False)
    tagger.decode_json_params((params["weights"], params["tagdict"], params["classes"]))
    return tagger


@functools.lru_cache(maxsize=1)
def nextqa_stopwords() -> frozenset[str]:
    """NExT-OE's ``stopwords.txt`` (nltk's English list with negations, prepositions etc. kept)."""
    lines = (DATA_DIR / "nextqa_stopwords.txt").read_text(encoding="utf-8").split("\n")
    return frozenset(line for line in lines if line)

