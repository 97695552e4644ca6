"""The Porter stemmer as Lucene's ``PorterStemFilter`` applies it (Martin Porter's reference version).

That version differs from the 1980 paper in two rules (``bli -> ble`` instead of ``abli -> able``, and
``logi -> log``) and leaves words of one or two letters alone; Snowball's ``porter`` follows the paper,
so it disagrees with Lucene on some words. Written from the published algorithm; letters other than
``a e i o u`` (and ``y`` after a vowel) count as consonants, digits included, as in Lucene.
"""
from __future__ import annotations

from functools import lru_cache

_VOWELS = frozenset("aeiou")


class _Word:
    """One word being stemmed: ``b`` the letters, ``k`` the index of the last one, ``j`` a cut point."""

    __slots__ = ("b", "k", "j")

    def __init__(self, word: str):
        self.b = list(word)
        self.k = len(word) - 1
        self.j = 0

    def cons(self, i: int) -> bool:
        ch = self.b[i]
        if ch in _VOWELS:
            return False
        if ch == "y":
            return True if i == 0 else not self.cons(i - 1)
        return True

    def m(self) -> int:
        """The number of vowel-consonant sequences in ``b[0..j]``."""
        n, i, j = 0, 0, self.j
        while True:
            if i > j:
                return n
            if not self.cons(i):
                break
            i += 1
        i += 1
        while True:
            while True:
                if i > j:
                    return n
                if self.cons(i):
                    break
                i += 1
            i += 1
            n += 1
            while True:
                if i > j:
                    return n
                if not self.cons(i):
                    break
                i += 1
            i += 1

    def vowel_in_stem(self) -> bool:
        return any(not self.cons(i) for i in range(self.j + 1))

    def double_cons(self, i: int) -> bool:
        return i >= 1 and self.b[i] == self.b[i - 1] and self.cons(i)

    def cvc(self, i: int) -> bool:
        if i < 2 or not self.cons(i) or self.cons(i - 1) or not self.cons(i - 2):
            return False
        return self.b[i] not in "wxy"

    def ends(self, s: str) -> bool:
        n = len(s)
        start = self.k - n + 1
        if start < 0 or "".join(self.b[start:self.k + 1]) != s:
            return False
        self.j = self.k - n
        return True

    def set_to(self, s: str) -> None:
        self.b[self.j + 1:] = list(s)
        self.k = self.j + len(s)

    def r(self, s: str) -> None:
        if self.m() > 0:
            self.set_to(s)

    def trim(self) -> None:
        del self.b[self.k + 1:]

    # -------------------------------------------------------------- the steps
    def step1ab(self) -> None:
        if self.b[self.k] == "s":
            if self.ends("sses"):
                self.k -= 2
            elif self.ends("ies"):
                self.set_to("i")
            elif self.b[self.k - 1] != "s":
                self.k -= 1
            self.trim()
        if self.ends("eed"):
            if self.m() > 0:
                self.k -= 1
        elif (self.ends("ed") or self.ends("ing")) and self.vowel_in_stem():
            self.k = self.j
            self.trim()
            if self.ends("at"):
                self.set_to("ate")
            elif self.ends("bl"):
                self.set_to("ble")
            elif self.ends("iz"):
                self.set_to("ize")
            elif self.double_cons(self.k):
                if self.b[self.k - 1] not in "lsz":
                    self.k -= 1
            elif self.m() == 1 and self.cvc(self.k):
                self.set_to("e")
        self.trim()

    def step1c(self) -> None:
        if self.ends("y") and self.vowel_in_stem():
            self.b[self.k] = "i"

    _STEP2 = {
        "a": (("ational", "ate"), ("tional", "tion")),
        "c": (("enci", "ence"), ("anci", "ance")),
        "e": (("izer", "ize"),),
        "l": (("bli", "ble"), ("alli", "al"), ("entli", "ent"), ("eli", "e"), ("ousli", "ous")),
        "o": (("ization", "ize"), ("ation", "ate"), ("ator", "ate")),
        "s": (("alism", "al"), ("iveness", "ive"), ("fulness", "ful"), ("ousness", "ous")),
        "t": (("aliti", "al"), ("iviti", "ive"), ("biliti", "ble")),
        "g": (("logi", "log"),),
    }
    _STEP3 = {
        "e": (("icate", "ic"), ("ative", ""), ("alize", "al")),
        "i": (("iciti", "ic"),),
        "l": (("ical", "ic"), ("ful", "")),
        "s": (("ness", ""),),
    }
    _STEP4 = {
        "a": ("al",), "c": ("ance", "ence"), "e": ("er",), "i": ("ic",), "l": ("able", "ible"),
        "n": ("ant", "ement", "ment", "ent"), "s": ("ism",), "t": ("ate", "iti"), "u": ("ous",),
        "v": ("ive",), "z": ("ize",),
    }

    def _replace_first(self, rules: tuple[tuple[str, str], ...]) -> None:
        for suffix, replacement in rules:
            if self.ends(suffix):
                self.r(replacement)
                self.trim()
                return

    def step2(self) -> None:
        if self.k == 0:
            return
        self._replace_first(self._STEP2.get(self.b[self.k - 1], ()))

    def step3(self) -> None:
        self._replace_first(self._STEP3.get(self.b[self.k], ()))

    def step4(self) -> None:
        if self.k == 0:
            return
        ch = self.b[self.k - 1]
        if ch == "o":
            if not ((self.ends("ion") and self.j >= 0 and self.b[self.j] in "st") or self.ends("ou")):
                return
        elif not any(self.ends(s) for s in self._STEP4.get(ch, ())):
            return
        if self.m() > 1:
            self.k = self.j
            self.trim()

    def step5(self) -> None:
        self.j = self.k
        if self.b[self.k] == "e":
            a = self.m()
            if a > 1 or (a == 1 and not self.cvc(self.k - 1)):
                self.k -= 1
        if self.b[self.k] == "l" and self.double_cons(self.k) and self.m() > 1:
            self.k -= 1
        self.trim()


@lru_cache(maxsize=1 << 20)
def stem(word: str) -> str:
    """The Porter stem of a lower-cased ``word``, exactly as Lucene's ``PorterStemmer`` gives it."""
    if len(word) <= 2:
        return word
    w = _Word(word)
    w.step1ab()
    w.step1c()
    w.step2()
    w.step3()
    w.step4()
    w.step5()
    return "".join(w.b[:w.k + 1])
