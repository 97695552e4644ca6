"""The word-break scanner: UAX #29 as Lucene's ``StandardTokenizer`` applies it, over character classes.

:func:`scan` and its helpers are plain Python that numba can compile: the analyzer runs them as Python on the
rare texts the regular expression cannot serve (those with transparent characters, see
:mod:`retrievers.bm25.unicode_tables`), and the index builder runs them compiled on whole batches of documents
(:mod:`retrievers.bm25.corpus_tokens`). One source, so the two cannot drift apart. One helper per kind of
token: words (:func:`_word_end`), and ideographs, flags, keycaps and emoji (:func:`_symbol_end`).

Rules (Lucene's grammar, ``StandardTokenizerImpl.jflex``): a word is ``_*`` then a letter or digit, then
letters, digits, ``_`` followed by ``_`` or a word character, and join characters between two letters or
two digits, then ``_*``; transparent characters (rule WB4) are skipped when looking for the next or the
previous character and stay in the token. Han and Hiragana characters are tokens of their own, with the
transparent characters after them. Emoji: an Emoji with the transparent characters after it but variation
selectors, then optionally the emoji presentation selector (which ends it), or a skin-tone modifier alone;
a zero width joiner links it to the next Emoji, and zero width joiners right before an Emoji start its
token. A flag is two regional indicators (one alone is no token); ``#`` or ``*`` with the keycap mark is a
token. Anything else is skipped one character at a time.
"""
from __future__ import annotations

import numpy as np

from retrievers.bm25.unicode_tables import DIGIT, EMOJI, IDEOGRAPH, IGNORABLE_CLASS, KEYCAP, KEYCAP_BASE, LETTER, MID_BOTH, MID_LETTER, MID_NUM, MODIFIER, OTHER, REGIONAL, UNDERSCORE, VS15, VS16, ZWJ, class_table

try:   # numba (extra "fast") compiles the helpers with the scanner wherever it is compiled; Python runs them as is
    from numba.extending import register_jitable as _compilable
except ImportError:   # pragma: no cover - numba absent
    def _compilable(fn):
        return fn


def scan(classes, start: int, end: int, token_starts, token_ends, n: int) -> int:
    """Write the ``[start, end)`` spans of the tokens in ``classes[start:end]`` from slot ``n`` on; return
    the new count. ``token_starts`` / ``token_ends`` need room for one token per character."""
    i = start
    while i < end:
        c = classes[i]
        if c == LETTER or c == DIGIT or c == UNDERSCORE:   # words first: most tokens
            token_end = _word_end(classes, i, end)
        elif c == OTHER:
            token_end = -1
        else:
            token_end = _symbol_end(classes, i, end, c)
        if token_end > i:
            token_starts[n] = i
            token_ends[n] = token_end
            n += 1
            i = token_end
        else:
            i += 1
    return n


@_compilable
def _symbol_end(classes, i: int, end: int, c: int) -> int:
    """Where the token of an ideograph, a flag, a keycap or an emoji sequence starting at ``i`` (of class
    ``c``) ends, or -1 when none starts there."""
    if c == IDEOGRAPH:   # a token of its own, with the transparent characters after it
        return _after_transparent(classes, i + 1, end)
    if c == REGIONAL:
        return _flag_end(classes, i, end)
    if c == KEYCAP_BASE:
        return _keycap_end(classes, i, end)
    if c == EMOJI or c == MODIFIER or c == ZWJ:
        return _emoji_end(classes, i, end, c)
    return -1


@_compilable
def _after_transparent(classes, k: int, end: int) -> int:
    """The first position from ``k`` on that is not transparent (rule WB4)."""
    while k < end and classes[k] >= IGNORABLE_CLASS:
        k += 1
    return k


@_compilable
def _after_transparent_but_selectors(classes, k: int, end: int) -> int:
    """The same, stopping at a variation selector (VS15, VS16: they end an emoji or a keycap)."""
    while k < end and classes[k] >= IGNORABLE_CLASS and classes[k] != VS15 and classes[k] != VS16:
        k += 1
    return k


@_compilable
def _word_end(classes, i: int, end: int) -> int:
    """``_*``, a letter or digit, then letters and digits joined by ``_`` or a join character, then ``_*``; -1
    when no letter or digit follows the ``_``. (Transparent characters are skipped in place: this loop sees
    every character of every word.)"""
    j = i
    while j < end and (classes[j] == UNDERSCORE or classes[j] >= IGNORABLE_CLASS):
        j += 1
    if j >= end or not (classes[j] == LETTER or classes[j] == DIGIT):
        return -1
    prev = classes[j]
    k = j + 1
    while k < end:
        ck = classes[k]
        if ck >= IGNORABLE_CLASS:
            k += 1
        elif ck == LETTER or ck == DIGIT:
            prev = ck
            k += 1
        elif ck == OTHER:   # the usual end of a word (a space): it joins nothing
            break
        else:
            nxt = _after_transparent(classes, k + 1, end)
            if not _joins(ck, prev, classes[nxt] if nxt < end else OTHER):
                break
            if ck == UNDERSCORE:
                prev = UNDERSCORE
            k = nxt
    while k < end and classes[k] == UNDERSCORE:
        k = _after_transparent(classes, k + 1, end)
    return k


@_compilable
def _joins(between: int, before: int, after: int) -> bool:
    """Whether a character of class ``between`` continues a word from ``before`` to ``after``: ``_`` before
    ``_`` or a word character; a letter join between two letters, a number join between two digits."""
    if between == UNDERSCORE:
        return after == UNDERSCORE or after == LETTER or after == DIGIT
    letters = (between == MID_LETTER or between == MID_BOTH) and before == LETTER and after == LETTER
    digits = (between == MID_NUM or between == MID_BOTH) and before == DIGIT and after == DIGIT
    return letters or digits


@_compilable
def _flag_end(classes, i: int, end: int) -> int:
    """A flag: two regional indicators (one alone is no token)."""
    j = _after_transparent(classes, i + 1, end)
    if j < end and classes[j] == REGIONAL:
        return _after_transparent(classes, j + 1, end)
    return -1


@_compilable
def _keycap_end(classes, i: int, end: int) -> int:
    """``#`` or ``*`` with the keycap mark (after transparent characters, or after VS16)."""
    j, keycap = i + 1, False
    while j < end and classes[j] >= IGNORABLE_CLASS and classes[j] != VS15 and classes[j] != VS16:
        keycap = keycap or classes[j] == KEYCAP
        j += 1
    if j + 1 < end and classes[j] == VS16 and classes[j + 1] == KEYCAP:
        return _after_transparent_but_selectors(classes, j + 2, end)
    return j if keycap else -1


@_compilable
def _emoji_end(classes, i: int, end: int, c: int) -> int:
    """Emoji linked by zero width joiners (those right before the first one included); -1 when none."""
    k = i
    if c == ZWJ:
        while k < end and classes[k] == ZWJ:
            k += 1
    if not (k < end and (classes[k] == EMOJI or c == MODIFIER)):
        return -1
    while True:  # one Emoji, then the next one while a zero width joiner links them
        first = classes[k]
        k = _after_transparent_but_selectors(classes, k + 1, end)
        if first == EMOJI and k < end and classes[k] == VS16:   # emoji presentation: ends it
            k += 1
            linked = _linked_after_presentation(classes, k, end)
            if linked < 0:
                return k
            k = linked
        elif not (k < end and classes[k - 1] == ZWJ and classes[k] == EMOJI):
            return k


@_compilable
def _linked_after_presentation(classes, k: int, end: int) -> int:
    """After an emoji presentation selector (ending at ``k``): where the next linked Emoji starts (after zero
    width joiners), or a skin-tone modifier right after one joiner; -1 when nothing is linked."""
    j = k
    while j < end and classes[j] == ZWJ:
        j += 1
    if j < end and ((j > k and classes[j] == EMOJI) or (j == k + 1 and classes[j] == MODIFIER)):
        return j
    return -1


def scan_text(text: str) -> list[str]:
    """The tokens of ``text`` by :func:`scan` run as Python (about 1 µs a character)."""
    points = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    classes = class_table()[points].tolist()
    starts, ends = [0] * len(classes), [0] * len(classes)
    n = scan(classes, 0, len(classes), starts, ends, 0)
    return [text[starts[t]:ends[t]] for t in range(n)]
