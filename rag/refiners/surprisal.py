"""Self-information of each token of a text under a small causal LM: I(t) = -ln p(t | prefix).

:class:`LlamaCppSurprisal` runs a GGUF model (default the offline Qwen2.5-0.5B) in process with logits for every
position; each text is scored on its own, prefixed by the model's end-of-text token (Selective Context prefixes GPT-2's
``<|endoftext|>``), so its first token is scored too. Results are cached on disk by (model file, text).
"""
from __future__ import annotations

import math
import os
import threading
from pathlib import Path
from typing import Protocol, Sequence

import numpy as np

from rag.core.errors import MissingDependencyError

Scored = list[tuple[str, float]]   # (token text, surprisal in nats)


class SurprisalModel(Protocol):
    """Each text's tokens with their self-information under a causal LM."""

    name: str

    def surprisal(self, texts: Sequence[str]) -> list[Scored]: ...


class LlamaCppSurprisal:
    """Token surprisal from a GGUF model through llama.cpp (``logits_all``); ``n_ctx`` bounds one text's tokens."""

    def __init__(self, model: str = "qwen-0.5b", threads: int | None = None, n_ctx: int = 512):
        from rag.llm.gguf import GGUF_MODELS

        entry = GGUF_MODELS.get(model)
        self.path = Path(entry.path()) if entry is not None else Path(model)
        self.name = entry.name if entry is not None else self.path.stem
        self.threads = threads or int(os.environ.get("RAGIF_LLM_THREADS", "1"))
        self.n_ctx = n_ctx
        self._llm = None
        self._lock = threading.Lock()

    def _model(self):
        if self._llm is None:
            os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
            try:
                import llama_cpp
            except ImportError:
                raise MissingDependencyError("llama-cpp-python", purpose="token surprisal (extra 'llm')") from None
            self._llm = llama_cpp.Llama(model_path=str(self.path), n_ctx=self.n_ctx, n_threads=self.threads,
                                        n_threads_batch=self.threads, logits_all=True, verbose=False, seed=0)
            eos = self._llm.token_eos()
            self._prefix = [self._llm.token_bos()] if self._llm.token_bos() >= 0 else [eos]
        return self._llm

    def _score(self, text: str) -> Scored:
        llm = self._model()
        ids = llm.tokenize(text.encode("utf-8"), add_bos=False, special=False)[: self.n_ctx - len(self._prefix)]
        if not ids:
            return []
        llm.reset()
        llm.eval(self._prefix + ids)
        logits = np.asarray(llm.scores[: len(self._prefix) + len(ids)], dtype=np.float64)
        out: Scored = []
        raw, shown = b"", ""
        for pos, token in enumerate(ids):
            row = logits[len(self._prefix) + pos - 1]
            shifted = row - row.max()
            logp = shifted[token] - math.log(np.exp(shifted).sum())
            raw += llm.detokenize([token])
            decoded = raw.decode("utf-8", "ignore")
            out.append((decoded[len(shown):], float(-logp)))
            shown = decoded
        return out

    def surprisal(self, texts: Sequence[str]) -> list[Scored]:
        from rag.core.cache import Cache
        from rag.core.hashing import hash_config

        cache = Cache.active() or Cache()
        stat = self.path.stat()
        out: list[Scored] = []
        with self._lock:
            for text in texts:
                key = hash_config("token-surprisal-v1", self.path.name, stat.st_size, text)
                hit = cache.get_json(key)
                if not isinstance(hit, list):
                    hit = [list(pair) for pair in self._score(text)]
                    cache.put_json(key, hit)
                out.append([(str(t), float(s)) for t, s in hit])
        return out
