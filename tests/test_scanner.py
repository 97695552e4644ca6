"""The word-break scanner is one source run two ways: as Python (the analyzer) and compiled by numba (the index
build). On random sequences over every character class, both give the same token spans."""
from __future__ import annotations

import random

import numpy as np
import pytest

from retrievers.bm25 import unicode_tables as T
from retrievers.bm25.scanner import scan

CLASSES = sorted({T.DIGIT, T.EMOJI, T.IDEOGRAPH, T.KEYCAP, T.KEYCAP_BASE, T.LETTER, T.MID_BOTH, T.MID_LETTER,
                  T.MID_NUM, T.MODIFIER, T.OTHER, T.REGIONAL, T.UNDERSCORE, T.VS15, T.VS16, T.ZWJ,
                  T.IGNORABLE_CLASS, T.IGNORABLE_CLASS + 1})


def spans(run, classes, start, end):
    starts, ends = np.zeros(len(classes), np.int64), np.zeros(len(classes), np.int64)
    n = run(classes, start, end, starts, ends, 0)
    return list(zip(starts[:n].tolist(), ends[:n].tolist()))


def test_python_and_compiled_scanner_agree_on_random_class_sequences():
    pytest.importorskip("numba")
    from retrievers.bm25.build_kernels import _scan

    rng = random.Random(0)
    for _ in range(3000):
        n = rng.randint(1, 30)
        classes = [rng.choice(CLASSES) for _ in range(n)]
        start = rng.randint(0, n - 1)
        expected = spans(scan, classes, start, n)
        assert spans(_scan, np.array(classes, dtype=np.uint8), start, n) == expected, classes
        assert all(start <= a < b <= n for a, b in expected)


@pytest.mark.parametrize("text,tokens", [
    ("can't stop U.S.A. 3.14 1,000 e_mail __x__", ["can't", "stop", "U.S.A", "3.14", "1,000", "e_mail", "__x__"]),
    ("日本語 ab", ["日", "本", "語", "ab"]),
    ("🇫🇷 🇫 #\ufe0f\u20e3 👩\u200d🔬 👍🏻", ["🇫🇷", "#\ufe0f\u20e3", "👩\u200d🔬", "👍🏻"]),
])
def test_tokens_of_each_kind(text, tokens):
    from retrievers.bm25.scanner import scan_text

    assert scan_text(text) == tokens
