"""Exact reuse of the KV cache of a prompt prefix shared with the previous prompt (llama.cpp, one sequence).

Reusing a cached prefix changes the logits in general, because ggml's CPU kernels depend on the batch: the
matrix products on repacked weights (Q4_K, Q6_K, ... on AVX2) take a batch's rows four at a time and its last
``n % 4`` rows one at a time, with different rounding, and batches of fewer than 8 rows take other paths again
(measured on this build: continuing a prompt with 1 to 7 new tokens never gave the from-scratch logits, with
8 or more always did when the reused length was a multiple of 4). The rest of a layer (normalisation, RoPE,
the attention of one sequence whose KV cells are its positions) works row by row.

So prompts are always evaluated in chunks that start at multiples of the micro-batch size (what llama.cpp
does from scratch), and a cached prefix of ``k`` tokens is reused only when

* ``k`` is a multiple of :data:`QUANTUM` (the new rows meet the 4-row kernel exactly where they would from
  scratch),
* the first chunk evaluated after it has at least :data:`MIN_ROWS` rows,
* those ``k`` positions were computed as rows of a full-size kernel step by the previous prompt (not its last
  ``m % 4`` rows, not a final chunk of fewer than :data:`MIN_ROWS` rows, never generated tokens), and
* at least one token is left to evaluate (its logits are needed).

:func:`reuse_is_exact` checks the rule on the loaded model (bit-identical logits, prompts of every length
modulo 4) before reuse is switched on; a build whose kernels behave otherwise evaluates every prompt from
scratch.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

QUANTUM = 4    # rows per step of ggml's repacked CPU matrix kernels
MIN_ROWS = 8   # fewer new rows than this in a batch take kernels that round differently

PROBE_TEXT = ("Retrieval-augmented generation answers a question from passages found by a retriever. "
              "The passages are ranked by BM25 or by a dense encoder, and a language model reads the best "
              "ones before it writes a short answer with a citation for each claim it makes.")


def shared_prefix(previous: Sequence[int], tokens: Sequence[int]) -> int:
    """Length of the longest common prefix of two token sequences."""
    n = min(len(previous), len(tokens))
    if n == 0:
        return 0
    a, b = np.asarray(previous[:n]), np.asarray(tokens[:n])
    differ = np.flatnonzero(a != b)
    return int(differ[0]) if differ.size else n


def chunks(start: int, end: int, size: int) -> list[tuple[int, int]]:
    """``[start, end)`` cut at the multiples of ``size`` (the micro-batches of a from-scratch evaluation)."""
    cuts, lo = [], start
    while lo < end:
        hi = min((lo // size + 1) * size, end)
        cuts.append((lo, hi))
        lo = hi
    return cuts


def canonical_rows(n_prompt: int, chunk: int) -> int:
    """Leading positions of a prompt of ``n_prompt`` tokens whose KV entries are the ones any from-scratch
    evaluation of a longer prompt with the same prefix computes."""
    last_start = (n_prompt - 1) // chunk * chunk if n_prompt else 0
    if n_prompt - last_start < MIN_ROWS:
        return last_start
    return n_prompt - n_prompt % QUANTUM


def reusable(previous_prompt: Sequence[int], tokens: Sequence[int], chunk: int) -> int:
    """How many leading tokens of ``tokens`` can be taken from the KV cache that ``previous_prompt`` left, with
    logits identical to a from-scratch evaluation (see the module docstring); 0 when none."""
    if not previous_prompt:
        return 0
    n = len(tokens)
    k = min(shared_prefix(previous_prompt, tokens), canonical_rows(len(previous_prompt), chunk), n - 1)
    k -= k % QUANTUM
    while k > 0 and min((k // chunk + 1) * chunk, n) - k < MIN_ROWS:
        k -= QUANTUM
    return max(k, 0)


class PrefixCache:
    """Evaluates prompts on one llama-cpp-python ``Llama`` (sequence 0), reusing what the previous prompt left
    in the KV cache. ``mode``: ``"exact"`` (only what gives identical logits), ``"any"`` (the longest shared
    prefix, as llama-cpp-python's own ``generate`` does: logits may then depend on the previous prompt) or
    ``"off"`` (every prompt from scratch)."""

    def __init__(self, llama: Any, mode: str = "exact"):
        if mode not in ("exact", "any", "off"):
            raise ValueError(f"prefix reuse is 'exact', 'any' or 'off', got {mode!r}")
        self.llama = llama
        self.mode = mode
        self.chunk = min(llama.n_batch, llama.context_params.n_ubatch)  # one decode call per micro-batch
        self.prompt: list[int] = []     # the prompt of the last prefill; its KV entries are in the cache
        self.reused_tokens = 0          # counters, for benchmarks and tests
        self.evaluated_tokens = 0

    def prefill(self, tokens: Sequence[int]) -> None:
        """Put ``tokens`` in the KV cache; the next-token logits are then ``llama._ctx.get_logits()``."""
        tokens = list(tokens)
        llama = self.llama
        k = self._reuse(tokens)
        self.prompt = []  # unknown state until the evaluation below has finished
        if k > 0 and llama._ctx.kv_cache_seq_rm(-1, k, -1):
            llama.n_tokens = k
        else:
            llama.reset()
            k = 0
        for lo, hi in chunks(k, len(tokens), self.chunk):
            llama.eval(tokens[lo:hi])
        self.prompt = tokens
        self.reused_tokens += k
        self.evaluated_tokens += len(tokens) - k

    def _reuse(self, tokens: list[int]) -> int:
        if self.mode == "off" or not self.prompt:
            return 0
        if self.mode == "exact":
            return reusable(self.prompt, tokens, self.chunk)
        cached = self.llama.input_ids[: self.llama.n_tokens].tolist()  # "any": generated tokens count too
        return min(shared_prefix(cached, tokens), len(tokens) - 1)

    def forget(self) -> None:
        """Evaluate the next prompt from scratch (after anything else used the context)."""
        self.prompt = []


def reuse_is_exact(llama: Any) -> bool:
    """Whether exact reuse gives bit-identical next-token logits on this model and build: prompts that share
    prefixes, each continued from the previous one, against the same prompts evaluated from scratch (the new
    rows start at every offset modulo 4 and number from 8 upwards)."""
    tokens = llama.tokenize(PROBE_TEXT.encode("utf-8"), add_bos=False, special=False)
    n_vocab = llama.n_vocab()

    def logits() -> np.ndarray:
        return np.ctypeslib.as_array(llama._ctx.get_logits(), shape=(n_vocab,)).copy()

    lengths = [n for n in (9, 18, 27, 26, 33, 36) if n <= len(tokens)]
    cache = PrefixCache(llama, "exact")
    continued = []
    try:
        for n in lengths:
            cache.prefill(tokens[:n])
            continued.append(logits())
        if cache.reused_tokens == 0:
            return False
        for n, got in zip(lengths, continued):
            cache.forget()
            cache.prefill(tokens[:n])
            if not np.array_equal(logits(), got):
                return False
        return True
    finally:
        llama.reset()
