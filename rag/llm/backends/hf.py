"""Hugging Face transformers backend: any causal LM folder, hub name or GGUF file (GPU when present), with
batched generation.

Prompts are sorted by length and run ``batch_size`` at a time, left-padded: greedy generation is one
``generate`` call per batch, option probabilities one forward pass per batch (positions counted from each
prompt's first token, so padding changes nothing but rounding). Greedy outputs equal the one-at-a-time path's
(tested on SmolLM2-135M); sampled generation (``temperature > 0``) runs one prompt at a time, seeded per
prompt, so that an answer does not depend on which prompts shared its batch.

For serving large models on a GPU, the supported route is ``vllm serve`` behind the OpenAI-compatible backend
(continuous batching, many requests in flight); this backend suits small models and tests.
"""
from __future__ import annotations

import contextlib
import functools
import os
import threading
import time
from pathlib import Path
from typing import Any, Iterator, Sequence

from rag.core.errors import MissingDependencyError
from rag.llm.base import Generation, as_messages, renormalise


class HFCausalLM:
    """A causal language model run with Hugging Face transformers (``generate`` and ``option_probs``).

    ``model``: a folder, a hub name or a ``.gguf`` file (dequantised by transformers; needs ``gguf``);
    ``batch_size``: prompts per forward pass; ``device``: default ``cuda`` when available; ``threads``: CPU
    threads for torch; ``dtype``: as transformers takes it (``auto``: the model's own).
    """

    def __init__(self, model: str, name: str | None = None, device: str | None = None, threads: int | None = None,
                 dtype: str = "auto", batch_size: int = 8):
        try:
            import torch
            from transformers import AutoModelForCausalLM, AutoTokenizer
        except ImportError:
            raise MissingDependencyError("transformers", purpose="the Hugging Face LLM backend") from None
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            from rag.core.errors import ConfigError

            raise ConfigError(f"batch_size must be an integer >= 1, got {batch_size!r}", field="llm.batch_size")
        if threads:
            torch.set_num_threads(threads)
        self.torch = torch
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.batch_size = batch_size
        path = Path(str(model))
        source = {"pretrained_model_name_or_path": str(path.parent), "gguf_file": path.name} \
            if path.suffix == ".gguf" else {"pretrained_model_name_or_path": str(model)}
        with _gguf_read_once() if path.suffix == ".gguf" else contextlib.nullcontext():
            self.tokenizer = AutoTokenizer.from_pretrained(**source)
            self.model = AutoModelForCausalLM.from_pretrained(**source, dtype=dtype).to(self.device).eval()
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        eos = self.model.generation_config.eos_token_id
        self.eos_ids = set(eos if isinstance(eos, (list, tuple)) else [eos] if eos is not None else []) or \
            {self.tokenizer.eos_token_id}
        self.name = name or f"hf:{model}"

    def prompt_text(self, prompt: Any) -> str:
        messages = as_messages(prompt)
        if getattr(self.tokenizer, "chat_template", None):
            return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return "".join(f"{m['role']}: {m['content']}\n" for m in messages) + "assistant:"

    def count_tokens(self, prompt: Any) -> int:
        return len(self.tokenizer(self.prompt_text(prompt), add_special_tokens=False)["input_ids"])

    def _encode(self, texts: list[str]) -> Any:
        """Left-padded ids, attention mask and positions (0 at each prompt's first real token)."""
        enc = self.tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(self.device)
        enc = {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}
        positions = (enc["attention_mask"].long().cumsum(-1) - 1).clamp(min=0)
        return enc, positions

    def _batches(self, prompts: Sequence[Any], size: int) -> Iterator[list[tuple[int, str]]]:
        """``(index, prompt text)`` in batches of similar length (less padding)."""
        texts = [(i, self.prompt_text(p)) for i, p in enumerate(prompts)]
        lengths = {i: self.count_tokens(prompts[i]) for i, _ in texts}
        texts.sort(key=lambda item: (lengths[item[0]], item[0]))
        for start in range(0, len(texts), size):
            yield texts[start:start + size]

    # ---------------------------------------------------------------------------------------- generate
    def iter_generate(self, prompts: Sequence[Any], *, max_tokens: int = 64, temperature: float = 0.0,
                      stop: list[str] | None = None, seed: int = 0,
                      logprobs: bool = False) -> Iterator[tuple[int, Generation]]:
        """``(index, Generation)``, a batch at a time (greedy) or one prompt at a time (sampling)."""
        size = self.batch_size if temperature <= 0 else 1
        for batch in self._batches(prompts, size):
            yield from self._generate_batch(batch, max_tokens, temperature, list(stop or []), seed, logprobs)

    def _generate_batch(self, batch: list[tuple[int, str]], max_tokens: int, temperature: float, stop: list[str],
                        seed: int, logprobs: bool) -> Iterator[tuple[int, Generation]]:
        torch = self.torch
        torch.manual_seed(seed)
        enc, _ = self._encode([text for _, text in batch])
        start = time.perf_counter()
        with torch.no_grad():
            result = self.model.generate(**enc, max_new_tokens=max_tokens, do_sample=temperature > 0,
                                         temperature=temperature if temperature > 0 else None, top_p=None,
                                         top_k=None, output_scores=True, return_dict_in_generate=True,
                                         pad_token_id=self.tokenizer.pad_token_id)
        latency = (time.perf_counter() - start) / len(batch)
        width = enc["input_ids"].shape[1]
        for row, (index, _) in enumerate(batch):
            new = result.sequences[row, width:].tolist()
            end = next((k + 1 for k, t in enumerate(new) if t in self.eos_ids), len(new))
            new = new[:end]                          # what follows the end of a row is padding
            lps = [float(torch.log_softmax(result.scores[k][row].float(), -1)[t]) for k, t in enumerate(new)] \
                if logprobs else None
            text = self.tokenizer.decode(new, skip_special_tokens=True)
            cut = [text.index(s) for s in stop if s in text]
            if cut:
                text = text[: min(cut)]
            yield index, Generation(text=text, prompt_tokens=int(enc["attention_mask"][row].sum()),
                                    completion_tokens=len(new), latency_s=latency, token_logprobs=lps,
                                    tokens=[self.tokenizer.decode([t]) for t in new] if logprobs else None)

    def generate(self, prompts: Sequence[Any], *, max_tokens: int = 64, temperature: float = 0.0,
                 stop: list[str] | None = None, seed: int = 0, logprobs: bool = False) -> list[Generation]:
        out: list[Any] = [None] * len(prompts)
        for i, gen in self.iter_generate(prompts, max_tokens=max_tokens, temperature=temperature, stop=stop,
                                         seed=seed, logprobs=logprobs):
            out[i] = gen
        return out

    # ---------------------------------------------------------------------------------------- options
    def _option_ids(self, options: list[str]) -> dict[str, list[int]]:
        ids = {}
        for option in options:
            first = set()
            for variant in {option, option.capitalize(), option.lower()}:
                for text in (variant, " " + variant):
                    toks = self.tokenizer(text, add_special_tokens=False)["input_ids"]
                    if toks:
                        first.add(toks[0])
            ids[option] = sorted(first)
        return ids

    def iter_option_probs(self, prompts: Sequence[Any], options: list[str]) -> Iterator[tuple[int, dict[str, float]]]:
        """``(index, probabilities)`` of the options as the next token, one forward pass per batch."""
        ids = self._option_ids(options)
        for batch in self._batches(prompts, self.batch_size):
            enc, positions = self._encode([text for _, text in batch])
            with self.torch.no_grad():
                logits = self.model(**enc, position_ids=positions).logits[:, -1].float()
            probs = self.torch.softmax(logits, -1)
            for row, (index, _) in enumerate(batch):
                yield index, renormalise({o: float(probs[row, t].sum()) for o, t in ids.items()})

    def option_probs(self, prompts: Sequence[Any], options: list[str]) -> list[dict[str, float]]:
        out: list[Any] = [None] * len(prompts)
        for i, probs in self.iter_option_probs(prompts, options):
            out[i] = probs
        return out


_GGUF_LOADS = threading.Lock()


@contextlib.contextmanager
def _gguf_read_once() -> Iterator[None]:
    """Loading a GGUF model with transformers parses the file three times (tokenizer, config, weights: each a pass
    over the whole vocabulary, about 9 s for SmolLM2's 49k tokens on 2 busy cores) and builds gguf's tensor-name
    map once per module (about 12 s): while this is active, one reader per file and one map per (architecture,
    layers) serve them all (SmolLM2-135M: 14 s instead of 52 s, the same weights). The gguf package is left as it
    was afterwards; without it (transformers then says what to install) nothing changes."""
    try:
        import gguf
    except ImportError:
        yield
        return
    reader_class = getattr(gguf, "GGUFReader", None)
    name_map = getattr(gguf, "get_tensor_name_map", None)
    if reader_class is None or name_map is None:
        yield
        return
    readers: dict[tuple[str, str], Any] = {}

    def one_reader(path: Any, mode: str = "r") -> Any:
        key = (os.path.realpath(os.fspath(path)), mode)
        if key not in readers:
            readers[key] = reader_class(path, mode)
        return readers[key]

    with _GGUF_LOADS:
        gguf.GGUFReader, gguf.get_tensor_name_map = one_reader, functools.lru_cache(maxsize=None)(name_map)
        try:
            yield
        finally:
            gguf.GGUFReader, gguf.get_tensor_name_map = reader_class, name_map
