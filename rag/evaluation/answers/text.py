"""SQuAD answer normalisation shared by every token metric (METHODS §1.3).

Lower-case, delete every character of ``string.punctuation``, replace the whole words a/an/the by a
space, collapse whitespace. Tokens are the whitespace split of the result. No unicode folding, no
stemming: exactly the recipe of the reference code.
"""
from __future__ import annotations

import re
import string
from itertools import filterfalse
from typing import Iterable


_PUNCT_TABLE = str.maketrans("", "", string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b")


def normalize_answer(text: str | None) -> str:
    """The normalised form of one string (``None`` -> ``""``)."""
    if text is None:
        return ""
    text = str(text).lower().translate(_PUNCT_TABLE)
    return " ".join(_ARTICLES.sub(" ", text).split())


def answer_tokens(text: str | None) -> list[str]:
    """Tokens of the normalised string."""
    return normalize_answer(text).split()


_PUNCT_BYTES = string.punctuation.encode()
_ASCII_LOWER = bytes.maketrans(string.ascii_uppercase.encode(), string.ascii_lowercase.encode())
_SEPARATOR = "\x00"   # joins texts for one pass of lower/strip/article removal (a non-word, non-space char)


def _strip_punctuation(text: str) -> str:
    """Delete ASCII punctuation: a bytes translation of the UTF-8 form (ASCII bytes never occur inside the
    encoding of another character), exact for any string and much faster than ``str.translate``."""
    try:
        return text.encode("utf-8").translate(None, _PUNCT_BYTES).decode("utf-8")
    except UnicodeEncodeError:  # lone surrogates
        return text.translate(_PUNCT_TABLE)


def normalize_many(texts: Iterable[str | None]) -> dict[str, str]:
    """Normalised form of each distinct string, computed in C-level passes over their concatenation
    (lower-casing, punctuation removal and article removal act locally, so the joined result splits back
    into the per-string results). Plain ASCII strings need no regex (see :func:`_normalize_ascii`)."""
    keys = list(dict.fromkeys("" if t is None else str(t) for t in texts))
    if any(_SEPARATOR in k for k in keys):
        return {k: normalize_answer(k) for k in keys}
    ascii_keys = [k for k in keys if k.isascii()]
    out = _normalize_ascii(ascii_keys) if ascii_keys else {}
    rest = [k for k in keys if k not in out]
    if rest:
        parts = _ARTICLES.sub(" ", _strip_punctuation(_SEPARATOR.join(rest).lower())).split(_SEPARATOR)
        if len(parts) != len(rest):   # lower() never makes the separator, but be certain
            out.update({k: normalize_answer(k) for k in rest})
        else:
            out.update({k: " ".join(part.split()) for k, part in zip(rest, parts)})
    return out


def _normalize_ascii(keys: list[str]) -> dict[str, str]:
    """:func:`normalize_answer` of ASCII strings without control characters, with ``str.replace`` only.

    One bytes translation lower-cases, deletes punctuation and turns every whitespace character into a
    space; what is left is alphanumeric tokens between spaces, so ``\b`` falls only at spaces and an
    article is a whole space-delimited token: removed by replacing `` a `` (repeated while one is left,
    since adjacent matches share a space). Strings with control characters are left to the caller."""
    raw = _SEPARATOR.join(keys).encode("ascii").translate(_ASCII_TABLE, _PUNCT_BYTES)
    if len(raw.translate(None, _CONTROL_BYTES)) != len(raw):
        return {}
    text = " " + raw.decode("ascii").replace(_SEPARATOR, f" {_SEPARATOR} ") + " "
    for article in _ARTICLE_COUNTS:
        while article in text:
            text = text.replace(article, " ")
    while "  " in text:
        text = text.replace("  ", " ")
    parts = text.split(_SEPARATOR)
    return {k: part.strip(" ") for k, part in zip(keys, parts)}


# ---------------------------------------------------------------------------- token counting without token lists
_ASCII_SPACE = b"\t\n\r\x0b\x0c\x1c\x1d\x1e\x1f"   # what str.split() splits on in ASCII, besides " "
_ASCII_TABLE = bytes.maketrans(string.ascii_uppercase.encode() + _ASCII_SPACE,
                               string.ascii_lowercase.encode() + b" " * len(_ASCII_SPACE))
_CONTROL_BYTES = bytes(c for c in range(32) if bytes([c]) not in _ASCII_SPACE and c != 0) + b"\x7f"
_ARTICLE_COUNTS = (" a ", " an ", " the ")


class Spaced:
    """A normalised text as ``"  tok1  tok2  "`` (two spaces around every token) and its token count.

    ``count(t)`` is how often token ``t`` occurs (a C-level substring count; the doubled spaces keep
    adjacent equal tokens apart), so multiset overlaps need no token lists and no Counter of the long side.
    The text may still hold the article tokens a/an/the (never counted: no token of a normalised text is
    an article); ``n_tokens`` leaves them out.
    """

    __slots__ = ("text", "n_tokens")

    def __init__(self, text: str, n_tokens: int):
        self.text = text
        self.n_tokens = n_tokens

    def count(self, token: str) -> int:
        return self.text.count(f" {token} ")


def spaced_normalized(norm: str) -> Spaced:
    """:class:`Spaced` form of an already normalised string (single spaces between tokens)."""
    return Spaced(f"  {norm.replace(' ', '  ')}  ", norm.count(" ") + 1) if norm else Spaced("", 0)


def spaced_many(texts: Iterable[str]) -> dict[str, Spaced]:
    """:class:`Spaced` form of each distinct string (the tokens of :func:`normalize_answer`).

    ASCII strings are processed joined, in C-level passes: one bytes translation lower-cases, deletes
    punctuation and turns every whitespace character into a space; space runs are collapsed and spaces
    doubled with ``str.replace``. With no control character left, every character is a word character
    or a space, so ``\b`` falls only at spaces and a/an/the can only be whole tokens: they stay in the
    text and are left out of the count (no article regex). Other strings are lower-cased and stripped
    of punctuation joined, then split; the article regex runs only on the tokens that hold a non-word
    character (the only places where ``\b`` can fall inside a token; a token's edges are boundaries
    alone or in its text alike), whose pieces are appended (token order does not matter to :class:`Spaced`)."""
    keys = list(dict.fromkeys(texts))
    if any(_SEPARATOR in k for k in keys):
        return {k: spaced_normalized(normalize_answer(k)) for k in keys}
    ascii_keys = [k for k in keys if k.isascii()]
    other_keys = [k for k in keys if not k.isascii()]
    out: dict[str, Spaced] = {}
    full: list[str] = []
    if ascii_keys:
        raw = _SEPARATOR.join(ascii_keys).encode("ascii").translate(_ASCII_TABLE, _PUNCT_BYTES)
        if len(raw.translate(None, _CONTROL_BYTES)) != len(raw):   # control characters: \b may cut tokens
            full += ascii_keys
        else:
            joined = raw.decode("ascii")
            while "  " in joined:
                joined = joined.replace("  ", " ")
            joined = joined.replace(" " + _SEPARATOR, _SEPARATOR).replace(_SEPARATOR + " ", _SEPARATOR).strip(" ")
            for key, part in zip(ascii_keys, joined.replace(" ", "  ").split(_SEPARATOR)):
                out[key] = _spaced_with_articles(part)
    if other_keys:
        for key, part in zip(other_keys, _strip_punctuation(_SEPARATOR.join(other_keys).lower()).split(_SEPARATOR)):
            tokens = part.split()
            doubled = "  ".join(tokens)
            removed = 0
            if tokens and not doubled.replace(" ", "").isalnum():   # \w is alnum (or "_", gone already)
                extra = []
                for token in filterfalse(str.isalnum, tokens):
                    pieces = _ARTICLES.sub(" ", token).split()
                    if pieces != [token]:       # keep the token (no normalised token equals it), add its pieces
                        removed += 1
                        extra += pieces
                doubled = "  ".join([doubled, *extra])
            out[key] = _spaced_with_articles(doubled, removed)
    for key, norm in normalize_many(full).items():
        out[key] = spaced_normalized(norm)
    return out


def _spaced_with_articles(doubled: str, removed: int = 0) -> Spaced:
    """:class:`Spaced` of tokens separated by two spaces, in which a/an/the are still whole tokens and
    ``removed`` tokens are left in the text but not counted (tokens that normalisation splits; no
    normalised token equals one of them, since normalisation is idempotent)."""
    if not doubled:
        return Spaced("", 0)
    text = f"  {doubled}  "
    return Spaced(text, doubled.count("  ") + 1 - removed - sum(text.count(a) for a in _ARTICLE_COUNTS))
