"""Text analysis that reproduces Anserini's default English analyzer without a JVM.

Lucene chain (``io.anserini.analysis.DefaultEnglishAnalyzer``): ``StandardTokenizer`` (Unicode word
boundaries, UAX #29) -> ``EnglishPossessiveFilter`` (drops a trailing ``'s``) -> ``LowerCaseFilter`` ->
``StopFilter`` (Lucene's 33 English stop words) -> ``PorterStemFilter``.

The tokenizer is a regular expression for the UAX #29 rules that matter in practice (letters and digits
join; ``_`` joins anything; ``. ' ’ : ·`` join two letters; ``. , ; ' ’`` join two digits; Han and Hiragana
characters, and Emoji such as ``®``, are tokens of their own; superscripts and fractions break words) over
the character classes of :mod:`retrievers.bm25.unicode_tables`. Texts with a transparent character (combining
marks and format characters such as the soft hyphen, zero width (non-)joiner, word joiner, byte order mark,
direction marks) go through :func:`retrievers.bm25.scanner.scan` instead, which keeps such characters in the
token of the character before them without breaking it (rule WB4) and knows Emoji sequences; the zero
width space and control characters break words. Lower-casing is Java's, one code point at a time
(``İ`` -> ``i``, a final ``Σ`` -> ``σ``). On SciFact (5,183 documents and 805 claims) the analyzer gives
exactly Lucene's terms for every text; ``tests/test_fast_bm25.py`` compares it with the JVM's analyzer,
on SciFact and on texts made of the awkward characters.
"""
from __future__ import annotations

import re
from functools import lru_cache
from typing import Iterable

from rag.core.errors import ConfigError

from retrievers.bm25 import unicode_tables as T
from retrievers.bm25.scanner import scan_text
from retrievers.bm25.porter import stem as porter_stem

#: Lucene's ``EnglishAnalyzer.ENGLISH_STOP_WORDS_SET``.
LUCENE_STOPWORDS = frozenset(
    "a an and are as at be but by for if in into is it no not of on or such that the their then there "
    "these they this to was will with".split())

MAX_TOKEN_LENGTH = 255  # StandardTokenizer's default; longer tokens are cut into pieces of this size

_TRANSPARENT = (T.IGNORABLE_CLASS, T.ZWJ, T.VS15, T.VS16, T.KEYCAP, T.MODIFIER)


@lru_cache(maxsize=1)
def transparent_pattern() -> re.Pattern[str]:
    """A transparent character (texts with one go through :func:`~retrievers.bm25.scanner.scan`)."""
    bmp, astral = T.regex_class(_TRANSPARENT, 0, 0x10000), T.regex_class(_TRANSPARENT, 0x10000)
    return re.compile(f"[{bmp}]|(?=[\U00010000-\U0010ffff])[{astral}]")  # see token_pattern


@lru_cache(maxsize=1)
def token_pattern() -> re.Pattern[str]:
    """The tokenizer as a regular expression, for text without transparent characters (built on first use
    from :func:`~retrievers.bm25.unicode_tables.class_table`; it gives the tokens :func:`scan` gives).

    Characters of the Basic Multilingual Plane and beyond are two classes: ``re`` tests a class of BMP
    characters with a bitmap, but a class with astral ranges range by range (6 times slower)."""
    def both(*classes: int) -> tuple[str, str]:
        return T.regex_class(classes, 0, 0x10000), T.regex_class(classes, 0x10000)

    guard = "(?=[\U00010000-\U0010ffff])"  # one range test before any astral class

    def any_of(*classes: int) -> str:
        bmp, astral = both(*classes)
        return f"(?:[{bmp}]|{guard}[{astral}])" if astral else f"[{bmp}]"

    word_bmp, word_astral = both(T.LETTER, T.DIGIT)
    word = any_of(T.LETTER, T.DIGIT)
    inside = f"(?:[{word_bmp}]+|{guard}[{word_astral}])"
    letter, digit = any_of(T.LETTER), any_of(T.DIGIT)
    mid_letter, mid_num = T.regex_class((T.MID_LETTER, T.MID_BOTH)), T.regex_class((T.MID_NUM, T.MID_BOTH))
    join = rf"(?:_|(?<={letter})[{mid_letter}](?={letter})|(?<={digit})[{mid_num}](?={digit}))(?=_|{word})"
    regional = f"[{T.regex_class((T.REGIONAL,))}]"
    single = f"{any_of(T.IDEOGRAPH, T.EMOJI)}|{regional}{regional}"
    return re.compile(rf"_*{word}(?:{inside}|{join})*_*|{single}")


_POSSESSIVE = re.compile(r"['\u2019\uff07][sS]$")


def tokenize(text: str) -> list[str]:
    """StandardTokenizer-like tokens of ``text`` (case kept)."""
    if transparent_pattern().search(text):
        tokens = scan_text(text)
    else:
        tokens = token_pattern().findall(text)
    if any(len(t) > MAX_TOKEN_LENGTH for t in tokens):
        tokens = split_long(tokens)
    return tokens


def split_long(tokens: list[str]) -> list[str]:
    """Cut tokens longer than :data:`MAX_TOKEN_LENGTH` into pieces of that length, as Lucene does."""
    return [t[i:i + MAX_TOKEN_LENGTH] for t in tokens for i in range(0, len(t), MAX_TOKEN_LENGTH)]


def java_lower(word: str) -> str:
    """Lower case one code point at a time, as Java's ``Character.toLowerCase`` (Lucene's LowerCaseFilter):
    Python's ``str.lower`` maps ``İ`` to two characters and a word-final ``Σ`` to ``ς``."""
    if "\u0130" in word or "\u03a3" in word:
        word = word.replace("\u0130", "i").replace("\u03a3", "\u03c3")
    return word.lower()


class LuceneAnalyzer:
    """Callable ``text -> list of terms``, with a per-token memo (the vocabulary of a corpus is small).

    ``stopwords``: Lucene's set by default, or any collection (empty for none); ``stemmer``:
    ``"porter"`` (Lucene's) or ``None``.
    """

    def __init__(self, stopwords: Iterable[str] | None = None, stemmer: str | None = "porter"):
        if stemmer not in ("porter", None):
            raise ConfigError(f"stemmer must be 'porter' or None, got {stemmer!r}", field="stemmer")
        self.stopwords = LUCENE_STOPWORDS if stopwords is None else frozenset(stopwords)
        self.stemmer = stemmer
        self._memo: dict[str, str | None] = {}

    def term(self, token: str) -> str | None:
        """The indexed term of one token, or None for a stop word."""
        if token in self._memo:
            return self._memo[token]
        word = java_lower(_POSSESSIVE.sub("", token))
        if word in self.stopwords or not word:
            term = None
        else:
            term = porter_stem(word) if self.stemmer == "porter" else word
        if len(self._memo) < 2_000_000:
            self._memo[token] = term
        return term

    def __call__(self, text: str) -> list[str]:
        memo, term = self._memo, self.term
        terms = [memo[t] if t in memo else term(t) for t in tokenize(text)]
        return [t for t in terms if t is not None]

    def identity(self) -> dict[str, object]:
        """What defines this analyzer's output (for cache keys)."""
        return {"analyzer": "lucene-english", "version": 2, "stopwords": sorted(self.stopwords),
                "stemmer": self.stemmer, "max_token_length": MAX_TOKEN_LENGTH}
