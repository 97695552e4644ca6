"""llama.cpp backend (llama-cpp-python): chat generation with exact token log-probabilities and
next-token option probabilities over the full vocabulary.

Generation is a plain loop over ``eval`` (greedy at temperature 0, seeded sampling otherwise), so every
generated token's log-probability is known without keeping logits for the whole context.
"""
from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from rag.core.errors import MissingDependencyError
from rag.llm.base import Generation, as_messages, renormalise

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # idle OpenMP threads must not spin on 2 shared cores


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max()
    return shifted - np.log(np.exp(shifted).sum())


class LlamaCppLLM:
    """A GGUF model run in-process. ``threads``: CPU threads (1 is fastest when the machine is shared)."""

    def __init__(self, model_path: str | Path, name: str | None = None, threads: int = 1, n_ctx: int = 4096,
                 n_batch: int = 512, n_gpu_layers: int = 0, chat_template: str | None = None,
                 reuse_prefix: bool = False):
        try:
            import llama_cpp
        except ImportError:
            raise MissingDependencyError("llama-cpp-python", purpose="running GGUF models (extra 'llm')") from None
        self.path = Path(model_path)
        self.name = name or self.path.stem
        # Reusing the KV cache of a shared prompt prefix is ~1.4x faster, but llama.cpp's logits then depend on
        # how the prompt was split into batches (seen here: up to 0.35 apart), so an answer could depend on the
        # previous call. Off by default: outputs depend on the prompt alone. The name keeps the two apart in
        # the cache.
        self.reuse_prefix = reuse_prefix
        if reuse_prefix:
            self.name += "+prefix-reuse"
        self._llm = llama_cpp.Llama(model_path=str(self.path), n_ctx=n_ctx, n_batch=n_batch, n_threads=threads,
                                    n_threads_batch=threads, n_gpu_layers=n_gpu_layers, logits_all=False,
                                    verbose=False, seed=0)
        self.n_ctx = n_ctx
        template = chat_template or self._llm.metadata.get("tokenizer.chat_template")
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        eos = self._llm.detokenize([self._llm.token_eos()]).decode("utf-8", "ignore")
        bos = self._llm.detokenize([self._llm.token_bos()]).decode("utf-8", "ignore") if self._llm.token_bos() >= 0 else ""
        self._format = Jinja2ChatFormatter(template=template, eos_token=eos, bos_token=bos) if template else None
        self._stop_ids = {self._llm.token_eos()}
        for token in ("<|im_end|>", "<|endoftext|>", "<|eot_id|>", "<end_of_turn>"):
            ids = self._llm.tokenize(token.encode(), add_bos=False, special=True)
            if len(ids) == 1:
                self._stop_ids.add(ids[0])
        self._lock = threading.Lock()  # one context: calls are serialised

    # --------------------------------------------------------------------------- prompt handling
    def prompt_text(self, prompt: Any) -> str:
        messages = as_messages(prompt)
        if self._format is None:
            return "".join(f"{m['role']}: {m['content']}\n" for m in messages) + "assistant: "
        return self._format(messages=messages).prompt

    def _tokens(self, prompt: Any) -> list[int]:
        tokens = self._llm.tokenize(self.prompt_text(prompt).encode("utf-8"), add_bos=False, special=True)
        if len(tokens) >= self.n_ctx:
            keep = self.n_ctx - 64  # keep the end: the question and the assistant turn start are there
            tokens = tokens[-keep:]
        return tokens

    def count_tokens(self, prompt: Any) -> int:
        """Tokens of the chat-formatted prompt (what a call would be charged for)."""
        return len(self._tokens(prompt))

    def _last_logits(self) -> np.ndarray:
        n_vocab = self._llm.n_vocab()
        return np.ctypeslib.as_array(self._llm._ctx.get_logits(), shape=(n_vocab,)).astype(np.float64)

    def _prefill(self, tokens: list[int]) -> np.ndarray:
        """Evaluate the prompt and return the next-token logits; with ``reuse_prefix``, reuse the KV cache of
        the longest prefix shared with the previous prompt (prompts of one experiment share instructions)."""
        if not self.reuse_prefix:
            self._llm.reset()
            self._llm.eval(tokens)
            return self._last_logits()
        previous = self._llm.input_ids[: self._llm.n_tokens].tolist()
        shared = 0
        for a, b in zip(previous, tokens):
            if a != b:
                break
            shared += 1
        shared = min(shared, len(tokens) - 1)  # at least one token is evaluated: its logits are needed
        if shared > 0 and self._llm._ctx.kv_cache_seq_rm(-1, shared, -1):
            self._llm.n_tokens = shared
        else:
            self._llm.reset()
            shared = 0
        self._llm.eval(tokens[shared:])
        return self._last_logits()

    # --------------------------------------------------------------------------- the interface
    def generate(self, prompts: Sequence[Any], *, max_tokens: int = 64, temperature: float = 0.0,
                 stop: list[str] | None = None, seed: int = 0, logprobs: bool = False) -> list[Generation]:
        return [self._generate_one(p, max_tokens, temperature, stop or [], seed, logprobs) for p in prompts]

    def _generate_one(self, prompt: Any, max_tokens: int, temperature: float, stop: list[str], seed: int,
                      logprobs: bool) -> Generation:
        rng = np.random.default_rng(seed)
        with self._lock:
            start = time.perf_counter()
            tokens = self._tokens(prompt)
            logits = self._prefill(tokens)
            out_ids: list[int] = []
            lps: list[float] = []
            text = ""
            budget = min(max_tokens, self.n_ctx - len(tokens) - 1)
            for _ in range(max(budget, 0)):
                logp = _log_softmax(logits)
                if temperature <= 0:
                    token = int(np.argmax(logp))
                else:
                    probs = np.exp(_log_softmax(logits / temperature))
                    token = int(rng.choice(len(probs), p=probs / probs.sum()))
                if token in self._stop_ids:
                    break
                out_ids.append(token)
                lps.append(float(logp[token]))
                text = self._llm.detokenize(out_ids).decode("utf-8", "ignore")
                if any(s in text for s in stop):
                    text = text[: min(text.index(s) for s in stop if s in text)]
                    break
                self._llm.eval([token])
                logits = self._last_logits()
            latency = time.perf_counter() - start
        return Generation(text=text, prompt_tokens=len(tokens), completion_tokens=len(out_ids), latency_s=latency,
                          token_logprobs=lps if logprobs else None)

    def option_probs(self, prompts: Sequence[Any], options: list[str]) -> list[dict[str, float]]:
        candidates = {o: self._first_token_ids(o) for o in options}
        out = []
        for prompt in prompts:
            with self._lock:
                logp = _log_softmax(self._prefill(self._tokens(prompt)))
            probs = {o: float(np.exp(logp[list(ids)]).sum()) for o, ids in candidates.items()}
            out.append(renormalise(probs))
        return out

    def _first_token_ids(self, option: str) -> set[int]:
        """First tokens of the option as the model may write it: as is, capitalised, lower case, after a space."""
        ids = set()
        for variant in {option, option.capitalize(), option.lower(), option.upper()}:
            for text in (variant, " " + variant):
                toks = self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=False)
                if toks:
                    ids.add(toks[0])
        return ids
