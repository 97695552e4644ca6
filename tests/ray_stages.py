"""Stages for the Ray failure tests; Ray workers import them from here (the checkout is on their path).

``BuildThenRescore`` builds a cache artefact per shard and pauses inside that build until the test says go,
so a test can kill the worker (or the whole node) in the middle of it; ``FailOn`` raises a bad-input
error for one query while the other shards wait.
"""
from __future__ import annotations

import os
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import pandas as pd

from rag.core.cache import Cache
from rag.core.errors import InputError
from rag.core.hashing import hash_config
from rag.core.stage import Stage, add_ranks
from rag.core.registry import register

WAIT_LIMIT = 300.0  # seconds a paused shard waits for the go file before failing


def _node() -> str:
    try:
        import ray

        return ray.util.get_node_ip_address() if ray.is_initialized() else "local"
    except ImportError:
        return "local"


def wait_for(path: Path, limit: float = WAIT_LIMIT) -> None:
    deadline = time.time() + limit
    while not path.exists():
        if time.time() > deadline:
            raise TimeoutError(f"{path} did not appear in {limit:.0f} s")
        time.sleep(0.05)


@register("build-then-rescore")
@dataclass(repr=False)
class BuildThenRescore(Stage):
    """Re-scores each query's rows by a weight read back from a per-shard cache artefact.

    While building that artefact (half of it written) the shard drops a file
    ``<signals>/started_<node>_<pid>_<first qid>`` and waits for ``<signals>/go``."""

    signals: str = field(default="", metadata={"config": False})
    needs: ClassVar[tuple[str, ...]] = ("qid", "docno", "score")
    gives: ClassVar[tuple[str, ...]] = ("score", "rank")

    def transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        qids = sorted(frame["qid"].astype(str).unique())
        signals = Path(self.signals)

        def build(tmp: Path) -> None:
            weights = {q: 1 + zlib.crc32(q.encode()) % 7 for q in qids}
            lines = [f"{q}\t{w}\n" for q, w in weights.items()]
            with open(tmp / "weights.tsv", "w", encoding="utf-8") as out:
                out.writelines(lines[: len(lines) // 2])   # half of it on disk ...
                out.flush()
                (signals / f"started_{_node()}_{os.getpid()}_{qids[0]}").touch()
                wait_for(signals / "go")                    # ... while the test may kill this process
                out.writelines(lines[len(lines) // 2:])

        cache = Cache.active() or Cache()
        folder = cache.artifact("test-weights", hash_config("weights", qids), build)
        weights = dict(line.rstrip("\n").split("\t") for line in open(folder / "weights.tsv", encoding="utf-8"))
        out = frame.drop(columns=["rank"], errors="ignore").copy()
        out["score"] = out["score"] * out["qid"].astype(str).map(lambda q: float(weights[q]))
        return add_ranks(out)


@register("fail-on")
@dataclass(repr=False)
class FailOn(Stage):
    """Raises a bad-input error on query ``qid``; the other shards wait for ``<signals>/go``.
    Every attempt drops ``<signals>/attempt_<first qid>_<pid>``."""

    qid: str = ""
    signals: str = field(default="", metadata={"config": False})
    needs: ClassVar[tuple[str, ...]] = ("qid",)
    gives: ClassVar[tuple[str, ...]] = ()

    def transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        qids = frame["qid"].astype(str).tolist()
        (Path(self.signals) / f"attempt_{qids[0]}_{os.getpid()}").touch()
        if self.qid in qids:
            raise InputError(f"query {self.qid} has no text", path="queries.jsonl", line=qids.index(self.qid) + 1,
                             field="query")
        wait_for(Path(self.signals) / "go")
        return frame
