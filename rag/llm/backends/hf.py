"""Hugging Face transformers backend: any causal LM folder or hub name (GPU when present)."""
from __future__ import annotations

import time
from typing import Any, Iterator, Sequence

from rag.core.errors import MissingDependencyError
from rag.llm.base import Generation, as_messages, renormalise


class HFCausalLM:
    """A causal language model run with Hugging Face transformers (``generate`` and ``option_probs``)."""
    def __init__(self, model: str, name: str | None = None, device: str | None = None, threads: int | None = None,
                 dtype: str = "auto"):
        try:
            import torch
            from transformers import AutoModelForCausalLM, AutoTokenizer
        except ImportError:
            raise MissingDependencyError("transformers", purpose="the Hugging Face LLM backend") from None
        if threads:
            torch.set_num_threads(threads)
        self.torch = torch
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.tokenizer = AutoTokenizer.from_pretrained(model)
        self.model = AutoModelForCausalLM.from_pretrained(model, dtype=dtype).to(self.device).eval()
        self.name = name or f"hf:{model}"

    def prompt_text(self, prompt: Any) -> str:
        messages = as_messages(prompt)
        if getattr(self.tokenizer, "chat_template", None):
            return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return "".join(f"{m['role']}: {m['content']}\n" for m in messages) + "assistant:"

    def count_tokens(self, prompt: Any) -> int:
        return int(self._encode(prompt)["input_ids"].shape[1])

    def _encode(self, prompt: Any):
        return self.tokenizer(self.prompt_text(prompt), return_tensors="pt", add_special_tokens=False).to(self.device)

    def iter_generate(self, prompts: Sequence[Any], *, max_tokens: int = 64, temperature: float = 0.0,
                      stop: list[str] | None = None, seed: int = 0,
                      logprobs: bool = False) -> Iterator[tuple[int, Generation]]:
        """``(index, Generation)`` one prompt at a time (see :meth:`generate`)."""
        for i, prompt in enumerate(prompts):
            self.torch.manual_seed(seed)
            inputs = self._encode(prompt)
            start = time.perf_counter()
            with self.torch.no_grad():
                result = self.model.generate(**inputs, max_new_tokens=max_tokens, do_sample=temperature > 0,
                                             temperature=temperature if temperature > 0 else None, top_p=None,
                                             top_k=None, output_scores=True, return_dict_in_generate=True,
                                             pad_token_id=self.tokenizer.pad_token_id or self.tokenizer.eos_token_id)
            new = result.sequences[0, inputs["input_ids"].shape[1]:]
            lps = [float(self.torch.log_softmax(s[0].float(), -1)[t]) for s, t in zip(result.scores, new)]
            text = self.tokenizer.decode(new, skip_special_tokens=True)
            for s in stop or []:
                if s in text:
                    text = text[: text.index(s)]
            yield i, Generation(text=text, prompt_tokens=int(inputs["input_ids"].shape[1]),
                                completion_tokens=int(len(new)), latency_s=time.perf_counter() - start,
                                token_logprobs=lps if logprobs else None,
                                tokens=[self.tokenizer.decode([t]) for t in new] if logprobs else None)

    def generate(self, prompts: Sequence[Any], *, max_tokens: int = 64, temperature: float = 0.0,
                 stop: list[str] | None = None, seed: int = 0, logprobs: bool = False) -> list[Generation]:
        return [g for _, g in self.iter_generate(prompts, max_tokens=max_tokens, temperature=temperature,
                                                 stop=stop, seed=seed, logprobs=logprobs)]

    def iter_option_probs(self, prompts: Sequence[Any], options: list[str]) -> Iterator[tuple[int, dict[str, float]]]:
        """``(index, probabilities)`` of the options as the next token, one prompt at a time."""
        ids = {}
        for option in options:
            first = set()
            for variant in {option, option.capitalize(), option.lower()}:
                for text in (variant, " " + variant):
                    toks = self.tokenizer(text, add_special_tokens=False)["input_ids"]
                    if toks:
                        first.add(toks[0])
            ids[option] = sorted(first)
        for i, prompt in enumerate(prompts):
            with self.torch.no_grad():
                logits = self.model(**self._encode(prompt)).logits[0, -1].float()
            probs = self.torch.softmax(logits, -1)
            yield i, renormalise({o: float(probs[t].sum()) for o, t in ids.items()})

    def option_probs(self, prompts: Sequence[Any], options: list[str]) -> list[dict[str, float]]:
        return [p for _, p in self.iter_option_probs(prompts, options)]
