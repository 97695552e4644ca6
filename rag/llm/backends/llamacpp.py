"""llama.cpp backend (llama-cpp-python): chat generation with exact token log-probabilities and
next-token option probabilities over the full vocabulary.

Generation is a plain loop over ``eval`` (greedy at temperature 0, seeded sampling otherwise); only the last
position's logits are kept (no ``logits_all``). Prompts of one call run in token order, so that prompts
sharing a prefix (instructions, a question with many passages) follow each other and each continues from the
KV cache of the previous one wherever that is exact (:mod:`rag.llm.backends.prefix`): outputs are the same as
evaluating every prompt from scratch, bit for bit.
"""
from __future__ import annotations

import atexit
import logging
import os
import threading
import time
import weakref
from collections import OrderedDict
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from rag.core.errors import ConfigError, MissingDependencyError, did_you_mean
from rag.llm.base import Generation, StreamingBackend, as_messages, renormalise
from rag.llm.backends.prefix import PrefixCache, reuse_is_exact

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # idle OpenMP threads must not spin on 2 shared cores
log = logging.getLogger(__name__)
REUSE_MODES = {True: "exact", False: "off", "exact": "exact", "any": "any", "off": "off"}
# parameters that change outputs, with their defaults (a key names them only when they differ); the thread
# count is not one: 1 and 2 threads give bit-identical logits on this build (recorded in provenance anyway)
OUTPUT_DEFAULTS: dict[str, Any] = {"n_ctx": 4096, "n_batch": 512, "n_gpu_layers": 0, "chat_template": None}
_EXACT_VERDICTS: dict[str, bool] = {}  # (build, CPU, model file, threads, offload, micro-batch) -> verdict


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max()
    return shifted - np.log(np.exp(shifted).sum())


_OPEN_MODELS: "weakref.WeakSet[Any]" = weakref.WeakSet()


def _close_at_exit(model: Any) -> None:
    """Free a loaded model before the interpreter tears its modules down: llama-cpp-python's ``__del__`` at
    that point finds its C bindings gone and prints 'Exception ignored ... NoneType' for every live model."""
    _OPEN_MODELS.add(model)


def _close_all() -> None:
    for model in list(_OPEN_MODELS):
        try:
            model.close()
        except Exception:   # freeing at exit is best effort; the process ends either way
            pass
    _OPEN_MODELS.clear()


atexit.register(_close_all)


class LlamaCppLLM(StreamingBackend):
    """A GGUF model run in-process. ``threads``: CPU threads (1 is fastest when the machine is shared).

    ``reuse_prefix``: ``"exact"`` (default; reuse the KV cache of a shared prefix only where the logits are
    bit-identical to a from-scratch evaluation, checked once on the loaded model), ``"any"`` (the longest
    shared prefix, as raw llama-cpp-python does; outputs may then depend on the previous prompt, so the model
    name gets ``+prefix-reuse`` and its cache entries stay apart) or ``"off"``.
    """

    def __init__(self, model_path: str | Path, name: str | None = None, threads: int = 1, n_ctx: int = 4096,
                 n_batch: int = 512, n_gpu_layers: int = 0, chat_template: str | None = None,
                 reuse_prefix: bool | str = "exact"):
        try:
            import llama_cpp
        except ImportError:
            raise MissingDependencyError("llama-cpp-python", purpose="running GGUF models (extra 'llm')") from None
        if not isinstance(reuse_prefix, (bool, str)) or reuse_prefix not in REUSE_MODES:
            raise ConfigError(f"reuse_prefix is 'exact', 'any' or 'off', got {reuse_prefix!r}",
                              field="llm.reuse_prefix")
        mode = REUSE_MODES[reuse_prefix]
        self.path = Path(model_path)
        self.threads = threads
        self.settings = {"n_ctx": n_ctx, "n_batch": n_batch, "n_gpu_layers": n_gpu_layers,
                         "chat_template": chat_template}
        self.name = (name or self.path.stem) + ("+prefix-reuse" if mode == "any" else "")
        self._llm = llama_cpp.Llama(model_path=str(self.path), n_ctx=n_ctx, n_batch=n_batch, n_threads=threads,
                                    n_threads_batch=threads, n_gpu_layers=n_gpu_layers, logits_all=False,
                                    verbose=False, seed=0)
        _close_at_exit(self._llm)
        self.n_ctx = n_ctx
        self._n_vocab = self._llm.n_vocab()
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
        self._token_memo: OrderedDict[tuple, list[int]] = OrderedDict()
        self._memo_lock = threading.Lock()
        self._option_memo: dict[str, set[int]] = {}
        self.prefix = PrefixCache(self._llm, mode)
        if mode == "exact" and not self._reuse_is_exact(threads, n_gpu_layers):
            log.info("%s: reusing the KV cache of shared prefixes would change the logits on this build; "
                     "every prompt is evaluated from scratch", self.name)
            self.prefix.mode = mode = "off"
        self.reuse_prefix = mode

    def _reuse_is_exact(self, threads: int, n_gpu_layers: int) -> bool:
        """:func:`~rag.llm.backends.prefix.reuse_is_exact` for this model file, build and CPU, checked once
        (a few seconds) and remembered in the cache folder."""
        import llama_cpp

        from rag.core.cache import Cache
        from rag.core.hashing import hash_config

        stat = self.path.stat()
        system = llama_cpp.llama_print_system_info().decode("utf-8", "replace")
        key = hash_config("llamacpp-exact-prefix-reuse-v1", llama_cpp.__version__, system, self.path.name,
                          stat.st_size, threads, n_gpu_layers, self.prefix.chunk)
        if key not in _EXACT_VERDICTS:
            cache = Cache()  # the default folder: a fact about this machine, not about one experiment
            verdict = cache.get_json(key)
            if not isinstance(verdict, dict):
                verdict = {"exact": bool(reuse_is_exact(self._llm))}
                cache.put_json(key, verdict)
            _EXACT_VERDICTS[key] = bool(verdict.get("exact"))
        return _EXACT_VERDICTS[key]

    def identity(self) -> dict[str, Any] | None:
        """The GGUF's sha256 (an offline model's name stands for it) and the output-changing parameters that
        differ from their defaults; None when the name says it all (see :mod:`rag.llm.identity`)."""
        return _identity(self.path, self.settings, offline=self._offline())

    @classmethod
    def identity_of(cls, model: str, **options: Any) -> dict[str, Any] | None:
        """:meth:`identity` from a ``load_llm`` spec, without loading the model (None for a path that does
        not exist: loading it reports that)."""
        from rag.llm.gguf import GGUF_MODELS

        settings = {k: options.get(k, default) for k, default in OUTPUT_DEFAULTS.items()}
        if model in GGUF_MODELS:
            return _identity(None, settings, offline=True)
        if not Path(model).is_file():
            return None
        return _identity(Path(model), settings, offline=False)

    def _offline(self) -> bool:
        from rag.llm.gguf import GGUF_MODELS

        return any(self.path == entry.target() for entry in GGUF_MODELS.values())

    def provenance(self) -> dict[str, Any]:
        """Identity and settings: model file and checksum, parameters, thread count, llama.cpp version."""
        import llama_cpp

        from rag.llm.gguf import file_sha256

        return {"backend": "llamacpp", "name": self.name, "file": self.path.name, "sha256": file_sha256(self.path),
                **self.settings, "threads": self.threads, "reuse_prefix": self.reuse_prefix,
                "llama_cpp_python": llama_cpp.__version__}

    @classmethod
    def from_spec(cls, model: str, **options: Any) -> "LlamaCppLLM":
        """From a ``load_llm`` spec: an offline model name (:data:`rag.llm.gguf.GGUF_MODELS`) or a ``.gguf`` path;
        the thread count defaults to ``$RAGIF_LLM_THREADS`` (else 1) for the offline models."""
        from rag.llm.gguf import GGUF_MODELS

        if model in GGUF_MODELS:
            entry = GGUF_MODELS[model]
            options.setdefault("threads", int(os.environ.get("RAGIF_LLM_THREADS", "1")))
            return cls(entry.path(), name=entry.name, **options)
        if Path(model).suffix.lower() == ".gguf":   # checked here (exists, GGUF magic), not by llama.cpp
            from rag.models import locate_gguf
            return cls(str(locate_gguf(model)), **options)
        raise ConfigError(f"unknown GGUF model {model!r}{did_you_mean(model, GGUF_MODELS)}; use one of "
                          f"{sorted(GGUF_MODELS)} or a path to a .gguf file", field="llm.model")

    # --------------------------------------------------------------------------- prompt handling
    def prompt_text(self, prompt: Any) -> str:
        messages = as_messages(prompt)
        if self._format is None:
            return "".join(f"{m['role']}: {m['content']}\n" for m in messages) + "assistant: "
        return self._format(messages=messages).prompt

    def _tokens(self, prompt: Any) -> list[int]:
        """The chat-formatted prompt's tokens (remembered for the last 4,096 prompts: stages that count tokens
        and then call the model tokenise once)."""
        key = tuple((m["role"], m["content"]) for m in as_messages(prompt))
        with self._memo_lock:
            tokens = self._token_memo.get(key)
        if tokens is None:
            tokens = self._llm.tokenize(self.prompt_text(prompt).encode("utf-8"), add_bos=False, special=True)
            if len(tokens) >= self.n_ctx:
                keep = self.n_ctx - 64  # keep the end: the question and the assistant turn start are there
                tokens = tokens[-keep:]
            with self._memo_lock:
                self._token_memo[key] = tokens
                if len(self._token_memo) > 4096:
                    self._token_memo.popitem(last=False)
        return list(tokens)

    def count_tokens(self, prompt: Any) -> int:
        """Tokens of the chat-formatted prompt (what a call would be charged for)."""
        return len(self._tokens(prompt))

    def _logits_view(self) -> np.ndarray:
        """The next-token logits in llama.cpp's buffer (float32, no copy: valid until the next ``eval``)."""
        return np.ctypeslib.as_array(self._llm._ctx.get_logits(), shape=(self._n_vocab,))

    def _in_token_order(self, prompts: Sequence[Any]) -> list[tuple[int, list[int]]]:
        """``(index, tokens)`` sorted by tokens: prompts sharing a prefix follow each other."""
        numbered = [(i, self._tokens(p)) for i, p in enumerate(prompts)]
        return sorted(numbered, key=lambda item: item[1])

    # --------------------------------------------------------------------------- the interface
    def iter_generate(self, prompts: Sequence[Any], *, max_tokens: int = 64, temperature: float = 0.0,
                      stop: list[str] | None = None, seed: int = 0,
                      logprobs: bool = False) -> Iterator[tuple[int, Generation]]:
        """``(index, Generation)`` one prompt at a time, in token order (see :meth:`generate`)."""
        for i, tokens in self._in_token_order(prompts):
            yield i, self._generate_one(tokens, max_tokens, temperature, list(stop or []), seed, logprobs)

    def _generate_one(self, tokens: list[int], max_tokens: int, temperature: float, stop: list[str], seed: int,
                      logprobs: bool) -> Generation:
        rng = np.random.default_rng(seed)
        with self._lock:
            start = time.perf_counter()
            self.prefix.prefill(tokens)
            out_ids: list[int] = []
            lps: list[float] = []
            pieces: list[str] = []   # each token's text (a multi-byte character goes to the token completing it)
            raw, shown = b"", ""
            text = ""
            budget = max(min(max_tokens, self.n_ctx - len(tokens) - 1), 0)
            for step in range(budget):
                logits = self._logits_view()
                if temperature <= 0:
                    token = int(np.argmax(logits))  # the argmax of the log-softmax, without computing it
                    if token in self._stop_ids:
                        break
                    if logprobs:
                        shifted = logits.astype(np.float64) - float(logits.max())
                        lps.append(float(shifted[token] - np.log(np.exp(shifted).sum())))
                else:
                    full = logits.astype(np.float64)
                    logp = _log_softmax(full)
                    probs = np.exp(_log_softmax(full / temperature))
                    token = int(rng.choice(len(probs), p=probs / probs.sum()))
                    if token in self._stop_ids:
                        break
                    lps.append(float(logp[token]))
                out_ids.append(token)
                if logprobs:
                    raw += self._llm.detokenize([token])
                    decoded = raw.decode("utf-8", "ignore")
                    pieces.append(decoded[len(shown):])
                    shown = decoded
                if stop:
                    text = self._llm.detokenize(out_ids).decode("utf-8", "ignore")
                    if any(s in text for s in stop):
                        text = text[: min(text.index(s) for s in stop if s in text)]
                        break
                if step + 1 < budget:
                    self._llm.eval([token])
            if not stop:
                text = self._llm.detokenize(out_ids).decode("utf-8", "ignore")
            latency = time.perf_counter() - start
        return Generation(text=text, prompt_tokens=len(tokens), completion_tokens=len(out_ids), latency_s=latency,
                          token_logprobs=lps if logprobs else None, tokens=pieces if logprobs else None)

    def iter_option_probs(self, prompts: Sequence[Any], options: list[str]) -> Iterator[tuple[int, dict[str, float]]]:
        """``(index, probabilities)`` in token order: prompts that share a prefix (one instruction and question
        over many passages) evaluate it once and each continues from it."""
        candidates = {o: sorted(self._first_token_ids(o)) for o in options}
        for i, tokens in self._in_token_order(prompts):
            with self._lock:
                self.prefix.prefill(tokens)
                logp = _log_softmax(self._logits_view().astype(np.float64))
            probs = {o: float(np.exp(logp[ids]).sum()) for o, ids in candidates.items()}
            yield i, renormalise(probs)

    def _first_token_ids(self, option: str) -> set[int]:
        """First tokens of the option as the model may write it: as is, capitalised, lower case, after a space."""
        if option not in self._option_memo:
            ids = set()
            for variant in {option, option.capitalize(), option.lower(), option.upper()}:
                for text in (variant, " " + variant):
                    toks = self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=False)
                    if toks:
                        ids.add(toks[0])
            self._option_memo[option] = ids
        return self._option_memo[option]


def _identity(path: Path | None, settings: dict[str, Any], offline: bool) -> dict[str, Any] | None:
    from rag.llm.gguf import file_sha256

    extra = {k: v for k, v in settings.items() if v != OUTPUT_DEFAULTS[k]}
    if not offline and path is not None:
        extra["sha256"] = file_sha256(path)
    return extra or None
