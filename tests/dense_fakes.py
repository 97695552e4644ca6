"""A deterministic stand-in text encoder for the dense tests, ``hashed-words`` (kind ``encoder``) while
:func:`registered` is active (so the component reference never sees it): each word adds 1 to one of 32 dimensions
chosen by its hash. Importable by Ray workers (``tests.dense_fakes``).

Every text it encodes is counted in :data:`ENCODED` (this process) and, when ``$RAGIF_TEST_ENCODE_LOG`` names a
file, appended to it (other processes); ``$RAGIF_TEST_ENCODE_DELAY`` slows each call down (seconds per call) so a
test can kill a run in the middle; ``FAIL_AFTER`` raises after that many calls (an interruption)."""
from __future__ import annotations

import contextlib
import hashlib
import os
import time
from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np

from rag.core.registry import register, unregister

DIM = 32
ENCODED: list[str] = []
FAIL_AFTER: list[int] = []   # [n]: the (n+1)-th call raises KeyboardInterrupt


def word_vector(text: str) -> np.ndarray:
    vector = np.zeros(DIM, dtype=np.float32)
    for word in text.lower().split():
        vector[int.from_bytes(hashlib.blake2b(word.encode(), digest_size=4).digest(), "little") % DIM] += 1.0
    return vector


@dataclass
class HashedWords:
    """Hashed bag of words (test encoder)."""

    model: str = "hashed"
    device: str = "cpu"
    max_length: int | None = None
    threads: int = 0

    @property
    def dimension(self) -> int:
        return DIM

    def fingerprint(self) -> str:
        return f"hashed-words-{DIM}"

    def encode(self, texts: Sequence[str], batch_size: int = 32, normalize: bool = True) -> np.ndarray:
        if FAIL_AFTER and FAIL_AFTER[0] <= 0:
            raise KeyboardInterrupt("interrupted by the test")
        if FAIL_AFTER:
            FAIL_AFTER[0] -= 1
        delay = float(os.environ.get("RAGIF_TEST_ENCODE_DELAY", "0") or 0)
        if delay:
            time.sleep(delay)
        ENCODED.extend(texts)
        log = os.environ.get("RAGIF_TEST_ENCODE_LOG")
        if log:
            with open(log, "a", encoding="utf-8") as out:
                out.write("".join(t.replace("\n", " ") + "\n" for t in texts))
        out = np.stack([word_vector(t) for t in texts]) if len(texts) else np.zeros((0, DIM), np.float32)
        if normalize:
            out /= np.clip(np.linalg.norm(out, axis=1, keepdims=True), 1e-12, None)
        return out


@contextlib.contextmanager
def registered() -> Iterator[None]:
    """``hashed-words`` is a registered encoder within this block."""
    register("hashed-words", kind="encoder")(HashedWords)
    try:
        yield
    finally:
        unregister("hashed-words", kind="encoder")
