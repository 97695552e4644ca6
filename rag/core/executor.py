"""Scale-out: run a stage over query shards, or any function over corpus shards, locally or on Ray.

>>> from rag.core.executor import Sharded
>>> bm25_on_ray = Sharded(FastBM25(corpus), shards=8, executor="ray")    # doctest: +SKIP
>>> bm25_on_ray(queries)      # same rows, same order as FastBM25(corpus)(queries)   # doctest: +SKIP

``executor="auto"`` uses Ray when it is installed (extra ``ray``) and falls back to running the shards
one after another in this process. Ray connects to ``ray_address`` (or ``$RAY_ADDRESS``; ``"auto"`` finds a
running cluster), else starts a local one with ``num_cpus`` workers. Shards are cut by query (all rows
of a ``qid`` stay together), so any stage whose output for a query depends only on that query's rows
gives the same table sharded or not. Workers open the driver's cache folder, which must therefore be
on a file system they share (always true on one machine).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar, Literal, Sequence, TypeVar

import numpy as np
import pandas as pd

from rag.core.cache import Cache
from rag.core.errors import ConfigError, MissingDependencyError
from rag.core.stage import Stage

T = TypeVar("T")
R = TypeVar("R")
Executor = Literal["auto", "local", "ray"]
_PROJECT_ROOT = str(Path(__file__).resolve().parents[2])


def ray_available() -> bool:
    try:
        import ray  # noqa: F401
    except ImportError:
        return False
    return True


def resolve(executor: str) -> str:
    if executor not in ("auto", "local", "ray"):
        raise ConfigError(f"executor must be 'auto', 'local' or 'ray', got {executor!r}", field="executor")
    if executor == "auto":
        return "ray" if ray_available() else "local"
    if executor == "ray" and not ray_available():
        raise MissingDependencyError("ray", extra="ray", purpose="the Ray executor")
    return executor


def ray_init(address: str | None = None, num_cpus: int | None = None) -> None:
    """Connect to Ray once: ``address`` / ``$RAY_ADDRESS``, else a local cluster of ``num_cpus`` workers."""
    import ray

    if ray.is_initialized():
        return
    address = address or os.environ.get("RAY_ADDRESS")
    if address:
        ray.init(address=address, ignore_reinit_error=True, log_to_driver=False)
        return
    paths = os.environ.get("PYTHONPATH", "")
    if _PROJECT_ROOT not in paths.split(os.pathsep):  # local workers import ragif from this checkout
        os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (_PROJECT_ROOT, paths) if p)
    ray.init(num_cpus=num_cpus, ignore_reinit_error=True, include_dashboard=False, log_to_driver=False)


def _with_cache(fn: Callable[[T], R], root: str | None) -> Callable[[T], R]:
    def call(item: T) -> R:
        if root is None:
            return fn(item)
        with Cache(root).activate():
            return fn(item)
    return call


def map_shards(fn: Callable[[T], R], shards: Sequence[T], executor: Executor = "auto",
               address: str | None = None, num_cpus: int | None = None) -> list[R]:
    """``[fn(s) for s in shards]``, as Ray tasks (one per shard) or in this process; results in order."""
    active = Cache.active()
    call = _with_cache(fn, str(active.root) if active is not None else None)
    if resolve(executor) == "local" or len(shards) <= 1:
        return [call(s) for s in shards]
    import ray

    ray_init(address, num_cpus)
    task = ray.remote(call)
    return ray.get([task.remote(s) for s in shards])


def split_by_query(frame: pd.DataFrame, shards: int) -> list[pd.DataFrame]:
    """At most ``shards`` pieces of ``frame``, each holding whole queries, in input order."""
    qids = pd.unique(frame["qid"])
    groups = [g for g in np.array_split(np.arange(len(qids)), max(1, min(shards, len(qids)))) if len(g)]
    position = pd.Series(np.arange(len(qids)), index=qids)
    shard_of_row = np.searchsorted([g[-1] for g in groups], position[frame["qid"]].to_numpy())
    return [frame[shard_of_row == i] for i in range(len(groups))]


def encode_in_shards(encode: Callable[[list[str]], np.ndarray], texts: Sequence[str], shards: int = 2,
                     executor: Executor = "auto", **ray_options: Any) -> np.ndarray:
    """Encode ``texts`` in ``shards`` contiguous pieces (e.g. a corpus over workers); rows in input order."""
    pieces = [list(texts[a:b]) for a, b in row_bounds(len(texts), shards)]
    return np.concatenate(map_shards(encode, pieces, executor, **ray_options), axis=0)


def row_bounds(n: int, shards: int) -> list[tuple[int, int]]:
    edges = np.linspace(0, n, max(1, min(shards, n)) + 1).astype(int)
    return list(zip(edges[:-1], edges[1:]))


@dataclass(repr=False)
class Sharded(Stage):
    """``stage`` applied to query shards in parallel (Ray) or in turn (local); the same output as ``stage``.

    Its fingerprint is the inner stage's, so sharded and unsharded runs share cached outputs.
    ``prepare()`` of the inner stage (e.g. building an index) runs once on the driver first.
    """

    stage: Stage
    shards: int = 2
    executor: Executor = field(default="auto", metadata={"config": False})
    ray_address: str | None = field(default=None, metadata={"config": False})
    num_cpus: int | None = field(default=None, metadata={"config": False})
    cacheable: ClassVar[bool] = True

    def __post_init__(self) -> None:
        if self.shards < 1:
            raise ValueError(f"shards must be positive, got {self.shards}")
        resolve(self.executor)

    @property
    def needs(self) -> tuple[str, ...]:  # type: ignore[override]
        return self.stage.needs

    @property
    def gives(self) -> tuple[str, ...]:  # type: ignore[override]
        return self.stage.gives

    def fingerprint(self) -> str:
        return self.stage.fingerprint()

    def describe(self) -> str:
        return f"Sharded({self.stage.describe()}, shards={self.shards}, executor={self.executor!r})"

    def transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        prepare = getattr(self.stage, "prepare", None)
        if callable(prepare):
            prepare()
        pieces = split_by_query(frame, self.shards)
        outputs = map_shards(self.stage.transform, pieces, self.executor, self.ray_address, self.num_cpus)
        out = pd.concat(outputs, ignore_index=True)
        if "rank" in out.columns and not out.empty:  # ranked stages sort by qid: restore that order
            out = out.sort_values(["qid", "rank"], kind="mergesort").reset_index(drop=True)
        return out

