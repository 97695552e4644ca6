"""The tokens of many documents at once, for the index builder: each distinct token string once, and for
every occurrence the document it is in and which distinct token it is.

Two ways, same result (``tests/test_fast_bm25.py`` compares them):

- with numba, :func:`~retrievers.bm25.scanner.scan` compiled runs over the code points of a whole batch and
  hashes every token (two independent 64-bit hashes and the length); only one string per distinct token is
  made, and a hash collision (which the second hash would reveal) sends the batch down the other way (the
  index builder itself keys its token table by both hashes, :mod:`retrievers.bm25.build_kernels`);
- without it, one regular-expression ``findall`` over the batch joined by NUL separators (texts with
  transparent characters go through the scanner as Python), and ``pandas.factorize`` over the strings.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd

from retrievers.bm25.scanner import scan_text
from retrievers.bm25.unicode_tables import class_table

try:  # numba is optional (extra "fast")
    import numba
except ImportError:  # pragma: no cover - depends on the environment
    numba = None

log = logging.getLogger(__name__)
SEPARATOR = "\x00"  # a control character: a word break, and no token; texts' own NULs become spaces


@dataclass
class TokenBatch:
    """``tokens``: the distinct token strings; ``docs`` / ``codes``: per occurrence (in text order), the
    document's number in the batch and the token's index in ``tokens``."""

    tokens: list[str]
    docs: np.ndarray
    codes: np.ndarray


# ---------------------------------------------------------------------- regular expression
@lru_cache(maxsize=1)
def _batch_pattern() -> re.Pattern[str]:
    from retrievers.bm25.analysis import token_pattern
    return re.compile(f"{SEPARATOR}|{token_pattern().pattern}")


def tokens_regex(texts: list[str]) -> TokenBatch:
    """:class:`TokenBatch` by the regular expression (and the Python scanner where it cannot serve)."""
    from retrievers.bm25.analysis import transparent_pattern
    special = transparent_pattern().search
    texts = [t.replace(SEPARATOR, " ") if SEPARATOR in t else t for t in texts]
    plain = [i for i, t in enumerate(texts) if t.isascii() or not special(t)]
    words = _batch_pattern().findall(SEPARATOR.join(texts[i] for i in plain) + SEPARATOR) if plain else []
    n_found = len(words)
    docs = []
    for i in sorted(set(range(len(texts))) - set(plain)):
        more = scan_text(texts[i])
        words.extend(more)
        docs.append(np.full(len(more), i, dtype=np.int32))
    codes, uniques = pd.factorize(np.asarray(words, dtype=object))
    tokens = list(uniques)
    if plain:  # drop the separators, numbering the documents by them
        sep = tokens.index(SEPARATOR)
        is_separator = codes[:n_found] == sep
        local = np.cumsum(is_separator) - is_separator
        docs.insert(0, np.asarray(plain, dtype=np.int32)[local[~is_separator]])
        codes = np.concatenate((codes[:n_found][~is_separator], codes[n_found:]))
        codes -= codes > sep
        del tokens[sep]
    doc_array = np.concatenate(docs) if docs else np.zeros(0, np.int32)
    return TokenBatch(tokens, doc_array, codes.astype(np.int64))


# ---------------------------------------------------------------------- numba
def has_compiled_scanner() -> bool:
    return numba is not None


def code_points(texts: list[str]) -> tuple[str, np.ndarray, np.ndarray]:
    """``(joined text, its code points, bounds)``: text ``d`` is ``points[bounds[d]:bounds[d + 1]]``."""
    joined = "".join(texts)
    bounds = np.zeros(len(texts) + 1, dtype=np.int64)
    np.cumsum(np.fromiter(map(len, texts), dtype=np.int64, count=len(texts)), out=bounds[1:])
    return joined, np.frombuffer(joined.encode("utf-32-le", "surrogatepass"), dtype=np.uint32), bounds


def tokens_compiled(texts: list[str]) -> TokenBatch:
    """:class:`TokenBatch` by the compiled scanner (needs numba)."""
    from retrievers.bm25.build_kernels import scan_batch
    joined, points, bounds = code_points(texts)
    starts, ends, docs, hash_a, hash_b = scan_batch(points, bounds, class_table())
    codes, _ = pd.factorize(hash_a.view(np.int64))
    if len(codes) == 0:
        return TokenBatch([], docs, codes.astype(np.int64))
    running = np.maximum.accumulate(codes)  # codes are numbered by first appearance
    first = np.flatnonzero(np.concatenate(([True], running[1:] > running[:-1])))
    if not np.array_equal(hash_b, hash_b[first][codes]):  # hash_b mixes in the length
        log.warning("token hash collision in a batch of %d texts; tokenizing it the slow way", len(texts))
        return tokens_regex(texts)
    tokens = [joined[s:e] for s, e in zip(starts[first].tolist(), ends[first].tolist())]
    return TokenBatch(tokens, docs, codes.astype(np.int64))


def batch_tokens(texts: list[str], compiled: bool | None = None) -> TokenBatch:
    """:class:`TokenBatch` of ``texts``; ``compiled``: use the numba scanner (default: when installed)."""
    if compiled is None:
        compiled = has_compiled_scanner()
    return tokens_compiled(texts) if compiled else tokens_regex(texts)
