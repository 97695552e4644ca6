"""The word-break scanner: UAX #29 as Lucene's ``StandardTokenizer`` applies it, over character classes.

:func:`scan` is plain Python that numba can compile: the analyzer runs it as Python on the rare texts the
regular expression cannot serve (those with transparent characters, see
:mod:`retrievers.bm25.unicode_tables`), and the index builder runs it compiled on whole batches of documents
(:mod:`retrievers.bm25.corpus_tokens`). One source, so the two cannot drift apart.

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


def scan(classes, start: int, end: int, token_starts, token_ends, n: int) -> int:
    """Write the ``[start, end)`` spans of the tokens in ``classes[start:end]`` from slot ``n`` on; return
    the new count. ``token_starts`` / ``token_ends`` need room for one token per character."""
    i = start
    while i < end:
        c = classes[i]
        token_end = -1
        if c == LETTER or c == DIGIT or c == UNDERSCORE:
            j = i
            while j < end and (classes[j] == UNDERSCORE or classes[j] >= IGNORABLE_CLASS):
                j += 1
            if j < end and (classes[j] == LETTER or classes[j] == DIGIT):
                prev = classes[j]
                k = j + 1
                while k < end and classes[k] >= IGNORABLE_CLASS:
                    k += 1
                while k < end:
                    ck = classes[k]
                    if ck == LETTER or ck == DIGIT:
                        prev = ck
                        k += 1
                        while k < end and classes[k] >= IGNORABLE_CLASS:
                            k += 1
                        continue
                    nxt = k + 1
                    while nxt < end and classes[nxt] >= IGNORABLE_CLASS:
                        nxt += 1
                    cn = classes[nxt] if nxt < end else OTHER
                    if ck == UNDERSCORE and (cn == UNDERSCORE or cn == LETTER or cn == DIGIT):
                        prev = UNDERSCORE
                        k = nxt
                    elif ((ck == MID_LETTER or ck == MID_BOTH) and prev == LETTER and cn == LETTER) or \
                            ((ck == MID_NUM or ck == MID_BOTH) and prev == DIGIT and cn == DIGIT):
                        k = nxt
                    else:
                        break
                while k < end and classes[k] == UNDERSCORE:
                    k += 1
                    while k < end and classes[k] >= IGNORABLE_CLASS:
                        k += 1
                token_end = k
        elif c == IDEOGRAPH:
            token_end = i + 1
            while token_end < end and classes[token_end] >= IGNORABLE_CLASS:
                token_end += 1
        elif c == REGIONAL:  # a flag: two regional indicators
            j = i + 1
            while j < end and classes[j] >= IGNORABLE_CLASS:
                j += 1
            if j < end and classes[j] == REGIONAL:
                token_end = j + 1
                while token_end < end and classes[token_end] >= IGNORABLE_CLASS:
                    token_end += 1
        elif c == KEYCAP_BASE:  # '#' or '*', then the keycap mark
            j, keycap = i + 1, False
            while j < end and classes[j] >= IGNORABLE_CLASS and classes[j] != VS15 and classes[j] != VS16:
                keycap = keycap or classes[j] == KEYCAP
                j += 1
            if j + 1 < end and classes[j] == VS16 and classes[j + 1] == KEYCAP:
                keycap, j = True, j + 2
                while j < end and classes[j] >= IGNORABLE_CLASS and classes[j] != VS15 and classes[j] != VS16:
                    j += 1
            if keycap:
                token_end = j
        elif c == EMOJI or c == MODIFIER or c == ZWJ:
            k = i
            while c == ZWJ and k < end and classes[k] == ZWJ:
                k += 1
            if k < end and (classes[k] == EMOJI or c == MODIFIER):
                while True:  # one Emoji, then the next one while a zero width joiner links them
                    first = classes[k]
                    k += 1
                    while k < end and classes[k] >= IGNORABLE_CLASS and classes[k] != VS15 and classes[k] != VS16:
                        k += 1
                    if first == EMOJI and k < end and classes[k] == VS16:  # emoji presentation: ends it
                        k += 1
                        j = k
                        while j < end and classes[j] == ZWJ:
                            j += 1
                        if j < end and ((j > k and classes[j] == EMOJI) or (j == k + 1 and classes[j] == MODIFIER)):
                            k = j
                            continue
                        break
                    if not (k < end and classes[k - 1] == ZWJ and classes[k] == EMOJI):
                        break
                token_end = k
        if token_end > i:
            token_starts[n] = i
            token_ends[n] = token_end
            n += 1
            i = token_end
        else:
            i += 1
    return n


def scan_text(text: str) -> list[str]:
    """The tokens of ``text`` by :func:`scan` run as Python (about 1 µs a character)."""
    points = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    classes = class_table()[points].tolist()
    starts, ends = [0] * len(classes), [0] * len(classes)
    n = scan(classes, 0, len(classes), starts, ends, 0)
    return [text[starts[t]:ends[t]] for t in range(n)]
