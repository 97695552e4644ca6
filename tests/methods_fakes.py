"""Scripted LLMs for the tests of the rewriting, active-retrieval, refining and judging methods."""
from __future__ import annotations

from typing import Callable

from rag.llm.base import Generation


class ScriptedLLM:
    """Replies from ``reply(prompt_text, call_params) -> str | Generation``; records every prompt and call."""

    def __init__(self, reply: Callable[[str, dict], object], name: str = "scripted",
                 probs: Callable[[str, list[str]], dict[str, float]] | None = None):
        self.reply, self.name, self.probs = reply, name, probs
        self.prompts: list[str] = []
        self.calls: list[dict] = []

    @staticmethod
    def text_of(prompt) -> str:
        return prompt if isinstance(prompt, str) else "\n".join(m["content"] for m in prompt)

    def generate(self, prompts, *, max_tokens=64, temperature=0.0, stop=None, seed=0, logprobs=False):
        out = []
        for p in prompts:
            text = self.text_of(p)
            params = {"max_tokens": max_tokens, "temperature": temperature, "stop": stop, "seed": seed,
                      "logprobs": logprobs}
            self.prompts.append(text)
            self.calls.append(params)
            r = self.reply(text, params)
            if not isinstance(r, Generation):
                r = Generation(str(r), len(text.split()), max(1, len(str(r).split())), 0.5)
            out.append(r)
        return out

    def option_probs(self, prompts, options):
        out = []
        for p in prompts:
            text = self.text_of(p)
            self.prompts.append(text)
            out.append(self.probs(text, options) if self.probs else {o: 1.0 / len(options) for o in options})
        return out

    def count_tokens(self, prompt) -> int:
        return len(self.text_of(prompt).split())
