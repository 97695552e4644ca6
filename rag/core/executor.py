"""Scale-out: run a stage over query shards, or any function over corpus shards, locally or on Ray.

>>> from rag.core.executor import Sharded
>>> bm25_on_ray = Sharded(FastBM25(corpus), shards=8, executor="ray")    # doctest: +SKIP
>>> bm25_on_ray(queries)      # same rows, same order as FastBM25(corpus)(queries)   # doctest: +SKIP

``executor="auto"`` uses Ray when it is installed (extra ``ray``) and falls back to running the shards
one after another in this process. Ray connects to ``ray_address`` (or ``$RAY_ADDRESS``; ``"auto"`` finds a
running cluster), else starts a local one-node cluster on the loopback with ``num_cpus`` workers. Shards are
cut by query (all rows of a ``qid`` stay together), so any stage whose output for a query depends only on
that query's rows gives the same table sharded or not. Workers open the driver's cache folder, which must
therefore be on a file system they share (always true on one machine).

Failures: a shard whose worker process or node dies is run again elsewhere (``retries`` times, Ray task
retries); a shard that raises (bad input, a bug) fails the whole call at once with that shard's error.
"""
from __future__ import annotations

import contextlib
import contextvars
import ctypes
import importlib.util
import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar, Iterable, Iterator, Literal, Sequence, TypeVar

import numpy as np
import pandas as pd

from rag.core.cache import Cache
from rag.core.errors import ConfigError, MissingDependencyError, RagifError
from rag.core.stage import Stage

T = TypeVar("T")
R = TypeVar("R")
Executor = Literal["auto", "local", "ray"]
RETRIES = 3  # times a shard is run again after its worker process or node died
LOCAL_CLUSTER_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"  # "0": a one-node cluster on 127.0.0.1
_FAULT_SIGNALS = ("SIGSEGV", "SIGBUS", "SIGFPE", "SIGILL", "SIGTRAP")


class ShardError(RagifError):
    """A shard could not be computed: its worker or node was lost more often than the retries allow."""


@contextlib.contextmanager
def keep_fault_handlers() -> Iterator[None]:
    """Give back this process's handlers of SIGSEGV, SIGBUS, SIGFPE, SIGILL and SIGTRAP after the block.

    The JVM (Lucene) takes SIGSEGV on purpose in normal operation (e.g. a null check in Java code) and
    handles it itself. Connecting to Ray installs Ray's crash handler and Python's faulthandler in front of
    it, and ``ray.shutdown()`` resets SIGSEGV to the default action: the next such signal then aborts or
    kills the process. Handlers set before the block (the JVM's, pytest's faulthandler) are put back;
    signals that had none keep what Ray installed. No-op where ``sigaction`` cannot be called (Windows)."""
    try:
        sigaction = ctypes.CDLL(None, use_errno=True).sigaction
    except (OSError, AttributeError):
        yield
        return
    saved: dict[int, ctypes.Array] = {}
    for name in _FAULT_SIGNALS:
        number = getattr(signal, name, None)
        buffer = ctypes.create_string_buffer(512)  # opaque struct sigaction, larger than any platform's
        if number is not None and sigaction(int(number), None, buffer) == 0:
            if ctypes.c_void_p.from_buffer(buffer).value not in (None, 0, 1):  # not SIG_DFL / SIG_IGN
                saved[int(number)] = buffer
    try:
        yield
    finally:
        for number, buffer in saved.items():
            sigaction(number, buffer, None)


def ray_available() -> bool:
    """Whether ray is installed (without importing it)."""
    return importlib.util.find_spec("ray") is not None


def resolve(executor: str) -> str:
    if executor not in ("auto", "local", "ray"):
        raise ConfigError(f"executor must be 'auto', 'local' or 'ray', got {executor!r}", field="executor")
    if executor == "auto":
        return "ray" if ray_available() else "local"
    if executor == "ray" and not ray_available():
        raise MissingDependencyError("ray", extra="ray", purpose="the Ray executor")
    return executor


def ray_init(address: str | None = None, num_cpus: int | None = None) -> None:
    """Connect to Ray once: ``address`` / ``$RAY_ADDRESS``, else a local cluster of ``num_cpus`` workers.

    A local cluster binds only the loopback (127.0.0.1), as Ray does on a laptop, unless
    ``$RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER`` says otherwise; its workers import ragif from where this process does
    (:func:`import_roots`)."""
    import ray

    if ray.is_initialized():
        return
    address = address or os.environ.get("RAY_ADDRESS")
    if address:
        with keep_fault_handlers():
            ray.init(address=address, ignore_reinit_error=True, log_to_driver=False)
        return
    os.environ.setdefault(LOCAL_CLUSTER_ENV, "0")  # read by the processes the local cluster starts
    constants = getattr(getattr(ray, "_private", None), "ray_constants", None)
    if hasattr(constants, "ENABLE_RAY_CLUSTER"):  # read by this process (ray was imported before)
        constants.ENABLE_RAY_CLUSTER = os.environ[LOCAL_CLUSTER_ENV].lower() in ("1", "true")
    paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    roots = [r for r in import_roots() if r not in paths]   # local workers import ragif from where we do
    os.environ["PYTHONPATH"] = os.pathsep.join([*roots, *paths])
    with keep_fault_handlers():
        ray.init(num_cpus=num_cpus, ignore_reinit_error=True, include_dashboard=False, log_to_driver=False)


def import_roots() -> list[str]:
    """The folders this process imports ragif's packages (``rag``, ``retrievers``, ``rerankers``) from: a
    checkout, or site-packages."""
    roots: list[str] = []
    for name in ("rag", "retrievers", "rerankers"):
        spec = importlib.util.find_spec(name)
        for location in (spec.submodule_search_locations or []) if spec else []:
            root = str(Path(location).resolve().parent)
            if root not in roots:
                roots.append(root)
    return roots


def ray_shutdown() -> None:
    """Disconnect from Ray (stopping a local cluster), keeping this process's fault handlers (see above)."""
    import ray

    with keep_fault_handlers():
        ray.shutdown()


# ----------------------------------------------------------------------------------------- where shards ran
@dataclass(frozen=True)
class ShardRun:
    """Where and how long one shard ran: ``call`` counts the :func:`map_shards` calls of a :func:`shard_log`;
    ``node`` is the node's IP address, ``local`` for this process."""

    call: int
    shard: int
    node: str
    pid: int
    seconds: float


_LOG: contextvars.ContextVar["list[ShardRun] | None"] = contextvars.ContextVar("ragif_shard_log", default=None)


@contextlib.contextmanager
def shard_log() -> Iterator[list[ShardRun]]:
    """Within this block, every shard run by :func:`map_shards` is appended to the list it yields."""
    runs: list[ShardRun] = []
    token = _LOG.set(runs)
    try:
        yield runs
    finally:
        _LOG.reset(token)


def _run_shard(fn: Callable[[T], R], root: str | None, item: T, node: str) -> tuple[R, str, int, float]:
    """One shard in a worker (or here): ``fn(item)`` with the driver's cache active."""
    t0 = time.perf_counter()
    if node != "local":
        import ray

        node = ray.util.get_node_ip_address()
    if root is None:
        out = fn(item)
    else:
        with Cache(root).activate():
            out = fn(item)
    return out, node, os.getpid(), time.perf_counter() - t0


def map_shards(fn: Callable[[T], R], shards: Sequence[T], executor: Executor = "auto",
               address: str | None = None, num_cpus: int | None = None, retries: int = RETRIES) -> list[R]:
    """``[fn(s) for s in shards]``, as Ray tasks (one per shard, spread over the nodes) or in this process;
    results in order. A shard that raises stops the call at once with its error (no retry); a shard whose
    worker or node died runs again, up to ``retries`` times."""
    active = Cache.active()
    root = str(active.root) if active is not None else None
    log = _LOG.get()
    if resolve(executor) == "local" or len(shards) <= 1:
        outputs = [_run_shard(fn, root, s, "local") for s in shards]
    else:
        outputs = _on_ray(fn, root, shards, address, num_cpus, retries)
    if log is not None:
        call = 1 + max((run.call for run in log), default=-1)
        log.extend(ShardRun(call, i, node, pid, seconds) for i, (_, node, pid, seconds) in enumerate(outputs))
    return [out for out, *_ in outputs]


def _on_ray(fn: Callable[[T], R], root: str | None, shards: Sequence[T], address: str | None,
            num_cpus: int | None, retries: int) -> list[tuple[R, str, int, float]]:
    ray_init(address, num_cpus)
    import ray
    from ray.exceptions import RayError, RayTaskError

    task = ray.remote(_run_shard).options(max_retries=retries, retry_exceptions=False, scheduling_strategy="SPREAD")
    fn_ref = ray.put(fn)  # shipped once, not once per shard
    refs = [task.remote(fn_ref, root, s, "ray") for s in shards]
    position = {ref: i for i, ref in enumerate(refs)}
    results: dict[int, tuple[R, str, int, float]] = {}
    pending = list(refs)
    while pending:
        done, pending = ray.wait(pending, num_returns=1)
        i = position[done[0]]
        try:
            results[i] = ray.get(done[0])
        except RayTaskError as exc:  # the shard's own code raised: no retry, stop the others
            _cancel(ray, pending)
            raise _shard_cause(exc, i, len(shards)) from None
        except RayError as exc:  # lost more often than retried (worker or node deaths)
            _cancel(ray, pending)
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ShardError(f"shard {i + 1}/{len(shards)} was lost after {retries} retries: "
                             f"{type(exc).__name__}: {first}") from None
    return [results[i] for i in range(len(shards))]


def _cancel(ray: Any, refs: list) -> None:
    for ref in refs:
        with contextlib.suppress(Exception):
            ray.cancel(ref)


def _shard_cause(exc: Exception, shard: int, count: int) -> BaseException:
    """The exception a shard raised, as raised there (its type and one-line message), noting the shard."""
    cause = getattr(exc, "cause", None)
    if not isinstance(cause, BaseException):
        return ShardError(f"shard {shard + 1}/{count} failed: {str(exc).strip().splitlines()[-1]}")
    if hasattr(cause, "add_note"):
        where = f"in shard {shard + 1}/{count} (Ray task"
        node = getattr(exc, "ip", None)
        cause.add_note(f"{where}{f' on node {node}' if node else ''})")
        if not isinstance(cause, RagifError):  # a bug: keep the worker's traceback for the report
            cause.add_note(str(getattr(exc, "traceback_str", "")).rstrip())
    return cause


# ----------------------------------------------------------------------------------------- shards
def split_by_query(frame: pd.DataFrame, shards: int) -> list[pd.DataFrame]:
    """At most ``shards`` pieces of ``frame``, each holding whole queries, in input order."""
    qids = pd.unique(frame["qid"])
    groups = [g for g in np.array_split(np.arange(len(qids)), max(1, min(shards, len(qids)))) if len(g)]
    position = pd.Series(np.arange(len(qids)), index=qids)
    shard_of_row = np.searchsorted([g[-1] for g in groups], position[frame["qid"]].to_numpy())
    return [frame[shard_of_row == i] for i in range(len(groups))]


def encode_in_shards(encode: Callable[[list[str]], np.ndarray], texts: Sequence[str], shards: int = 2,
                     executor: Executor = "auto", **ray_options: Any) -> np.ndarray:
    """Encode ``texts`` in ``shards`` contiguous pieces (e.g. a corpus over workers); rows in input order.
    (A list in memory: a corpus is encoded piece by piece from a stream with :func:`encode_stream`.)"""
    pieces = [(i, list(texts[a:b])) for i, (a, b) in enumerate(row_bounds(len(texts), shards))]
    done = dict(encode_stream(encode, pieces, executor, total=len(pieces), **ray_options))
    return np.concatenate([done[i] for i in range(len(pieces))], axis=0)


def encode_stream(encode: Callable[[list[str]], np.ndarray], pieces: Iterable[tuple[int, list[str]]],
                  executor: Executor = "auto", total: int | None = None, window: int | None = None,
                  address: str | None = None, num_cpus: int | None = None,
                  retries: int = RETRIES) -> Iterator[tuple[int, np.ndarray]]:
    """``(number, encode(texts))`` for each numbered piece of ``pieces``, read from the iterator as work frees up,
    so a corpus streams through with at most ``window`` pieces held (default: two per Ray CPU). Locally pieces
    run in turn, in order; on Ray (``executor``, and ``total`` > 1 pieces or unknown) as tasks spread over the
    nodes, yielded as they finish. Failures as :func:`map_shards`: a piece that raises stops the call at once,
    one whose worker died runs again."""
    active = Cache.active()
    root = str(active.root) if active is not None else None
    log = _LOG.get()
    call = 1 + max((run.call for run in log), default=-1) if log is not None else 0
    if resolve(executor) == "local" or (total is not None and total <= 1):
        runs = ((i, _run_shard(encode, root, texts, "local")) for i, texts in pieces)
    else:
        runs = _stream_on_ray(encode, root, pieces, total, window, address, num_cpus, retries)
    for i, (vectors, node, pid, seconds) in runs:
        if log is not None:
            log.append(ShardRun(call, i, node, pid, seconds))
        yield i, vectors


def _stream_on_ray(fn: Callable[[T], R], root: str | None, pieces: Iterable[tuple[int, T]], total: int | None,
                   window: int | None, address: str | None, num_cpus: int | None, retries: int
                   ) -> Iterator[tuple[int, tuple[R, str, int, float]]]:
    ray_init(address, num_cpus)
    import ray
    from ray.exceptions import RayError, RayTaskError

    window = window or max(2, 2 * int(ray.cluster_resources().get("CPU", 1)))
    task = ray.remote(_run_shard).options(max_retries=retries, retry_exceptions=False, scheduling_strategy="SPREAD")
    fn_ref = ray.put(fn)
    source = iter(pieces)
    pending: dict[Any, int] = {}
    exhausted = False
    while pending or not exhausted:
        while not exhausted and len(pending) < window:
            piece = next(source, None)
            if piece is None:
                exhausted = True
            else:
                pending[task.remote(fn_ref, root, piece[1], "ray")] = piece[0]
        if not pending:
            break
        done, _ = ray.wait(list(pending), num_returns=1)
        i = pending.pop(done[0])
        try:
            yield i, ray.get(done[0])
        except RayTaskError as exc:
            _cancel(ray, list(pending))
            raise _shard_cause(exc, i, total or i + 1) from None
        except RayError as exc:
            _cancel(ray, list(pending))
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ShardError(f"piece {i + 1} was lost after {retries} retries: {type(exc).__name__}: {first}") from None


def row_bounds(n: int, shards: int) -> list[tuple[int, int]]:
    edges = np.linspace(0, n, max(1, min(shards, n)) + 1).astype(int)
    return list(zip(edges[:-1], edges[1:]))


@dataclass(repr=False)
class Sharded(Stage):
    """``stage`` applied to query shards in parallel (Ray) or in turn (local); the same output as ``stage``.

    Its fingerprint is the inner stage's, so sharded and unsharded runs share cached outputs.
    ``prepare()`` of the inner stage (e.g. building an index) runs once on the driver first.
    """

    stage: Stage  # the stage to apply shard by shard
    shards: int = 2  # number of query shards
    executor: Executor = field(default="auto", metadata={"config": False})  # auto (Ray when installed), local or ray
    ray_address: str | None = field(default=None, metadata={"config": False})  # an existing Ray cluster (default: $RAY_ADDRESS or a local one)
    num_cpus: int | None = field(default=None, metadata={"config": False})  # CPUs each shard's task asks Ray for
    retries: int = field(default=RETRIES, metadata={"config": False})  # times a shard is retried after its worker dies
    cacheable: ClassVar[bool] = True

    def __post_init__(self) -> None:
        if self.shards < 1:
            raise ConfigError(f"shards must be positive, got {self.shards}", field="shards")
        if self.retries < 0:
            raise ConfigError(f"retries must be 0 or more, got {self.retries}", field="retries")
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
        outputs = map_shards(self.stage.transform, pieces, self.executor, self.ray_address, self.num_cpus,
                             self.retries)
        out = pd.concat(outputs, ignore_index=True)
        if "rank" in out.columns and not out.empty:  # ranked stages sort by qid: restore that order
            out = out.sort_values(["qid", "rank"], kind="mergesort").reset_index(drop=True)
        return out
