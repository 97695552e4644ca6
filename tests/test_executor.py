"""Sharded execution: local and Ray (a local cluster of 2 workers on the loopback) give exactly the unsharded
output; a worker killed in the middle of a shard changes nothing; a shard that fails on bad input stops the
run at once. The Ray cluster runs in the pytest process, next to the Lucene JVM of other tests: see
``test_the_jvm_survives_connecting_to_ray`` for why that once crashed and what keeps it from crashing.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rag.core.cache import Cache
from rag.datasets import Corpus
from rag.core.errors import InputError
from rag.core.executor import Sharded, encode_in_shards, map_shards, shard_log, split_by_query
from rag.core.build import BuildContext, build_stage
from retrievers.bm25.fast import FastBM25


def _corpus() -> Corpus:
    rng = np.random.default_rng(7)
    words = [f"t{i}" for i in range(40)] + ["protein", "cell"]
    return Corpus([{"docno": f"doc{i}", "title": "", "text": " ".join(rng.choice(words, size=rng.integers(2, 30)))}
                   for i in range(200)], name="toy")


def _queries() -> pd.DataFrame:
    rng = np.random.default_rng(8)
    words = [f"t{i}" for i in range(45)] + ["cell"]
    return pd.DataFrame({"qid": [f"q{i}" for i in range(30)],
                         "query": [" ".join(rng.choice(words, size=3)) for _ in range(30)]})


def test_split_keeps_queries_whole():
    frame = pd.DataFrame({"qid": ["a", "a", "b", "c", "c", "d"], "docno": list("123456")})
    pieces = split_by_query(frame, 3)
    assert [p["qid"].tolist() for p in pieces] == [["a", "a", "b"], ["c", "c"], ["d"]]
    assert len(split_by_query(frame, 10)) == 4


def test_local_sharding_is_identical(tmp_path):
    with Cache(tmp_path).activate():
        expected = FastBM25(_corpus(), k=20).transform(_queries())
        got = Sharded(FastBM25(_corpus(), k=20), shards=3, executor="local").transform(_queries())
    pd.testing.assert_frame_equal(got, expected)


def test_sharded_from_config():
    stage = build_stage({"sharded": {"stage": {"rank-cutoff": {"k": 5}}, "shards": 4, "executor": "local"}},
                        BuildContext())
    assert isinstance(stage, Sharded) and stage.shards == 4 and stage.fingerprint() == stage.stage.fingerprint()


def test_ray_sharding_is_identical(ray_cluster, tmp_path):
    with Cache(tmp_path).activate():
        expected = FastBM25(_corpus(), k=20).transform(_queries())
        got = Sharded(FastBM25(_corpus(), k=20), shards=2, executor="ray").transform(_queries())
        pids = map_shards(lambda _: os.getpid(), [0, 1], executor="ray")
    pd.testing.assert_frame_equal(got, expected)
    assert os.getpid() not in pids  # the shards ran in Ray workers


def test_ray_encoding_is_identical(ray_cluster):
    def hashed_vectors(texts: list[str]) -> np.ndarray:  # a deterministic stand-in encoder (16-d hashed words)
        out = np.zeros((len(texts), 16), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in text.split():
                out[i, zlib.crc32(word.encode()) % 16] += 1
        return out

    texts = _queries()["query"].tolist()
    got = encode_in_shards(hashed_vectors, texts, shards=2, executor="ray")
    np.testing.assert_array_equal(got, hashed_vectors(texts))


def test_sharded_lucene_on_ray_is_identical(ray_cluster, tmp_path):
    """Lucene (a JVM) in this process and in the Ray workers, the shards on Ray: the unsharded table."""
    from rag.datasets import demo
    from retrievers.lucene import LuceneBM25

    data = demo()
    with Cache(tmp_path).activate():
        expected = LuceneBM25(data.corpus, k=10).transform(data.queries())
        got = Sharded(LuceneBM25(data.corpus, k=10), shards=2, executor="ray").transform(data.queries())
    pd.testing.assert_frame_equal(got, expected)


JVM_AND_RAY = """
import sys
sys.path.insert(0, {repo!r})
from rag.core.executor import keep_fault_handlers, ray_init, ray_shutdown
from rag.core import java

string = java.autoclass("java.lang.String")


def null_check_in_java():  # Java code dereferences null: the JVM takes a SIGSEGV and throws a NullPointerException
    try:
        string("x").compareTo(None)
    except Exception as exc:
        return type(exc).__name__


print(null_check_in_java(), flush=True)
{connect}
print(null_check_in_java(), flush=True)
{disconnect}
print(null_check_in_java(), "survived", flush=True)
"""


@pytest.mark.parametrize("connect, disconnect", [
    ("ray_init(num_cpus=1)", "ray_shutdown()"),
    # what Ray does to the JVM's handlers, without Ray: faulthandler's handler put in front of the JVM's
    ("import faulthandler\nwith keep_fault_handlers():\n    faulthandler.enable()", "pass")])
def test_the_jvm_survives_connecting_to_ray(connect, disconnect, tmp_path):
    """The JVM handles SIGSEGV itself (its null checks, for one). Connecting to Ray put Ray's crash handler and
    Python's faulthandler in front of the JVM's handler (the process then aborts on a Java null pointer), and
    ray.shutdown() reset SIGSEGV to the default action (the process then dies of a segmentation fault): the
    crash once seen in a later Lucene test. ragif's ray_init / ray_shutdown keep the process's handlers."""
    if "ray_init" in connect:
        pytest.importorskip("ray")
    pytest.importorskip("jnius_config")   # importing jnius itself would start a JVM
    script = tmp_path / "jvm_and_ray.py"
    script.write_text(JVM_AND_RAY.format(repo=str(Path(__file__).resolve().parents[1]), connect=connect,
                                         disconnect=disconnect))
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300, env=env,
                          cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == ["JavaException", "JavaException", "JavaException", "survived"]


def _bm25_run(tmp_path: Path) -> pd.DataFrame:
    with Cache(tmp_path / "first-stage").activate():
        return FastBM25(_corpus(), k=5).transform(_queries())


def test_a_worker_killed_mid_shard_changes_nothing(ray_cluster, tmp_path):
    """SIGKILL to the worker of one shard while it is half-way through building a cache artefact: Ray runs the
    shard again, the table is the local one, and the cache holds no partial entry."""
    from tests.ray_stages import BuildThenRescore

    run = _bm25_run(tmp_path)
    (tmp_path / "go").touch()
    with Cache(tmp_path / "local").activate():
        expected = Sharded(BuildThenRescore(signals=str(tmp_path)), shards=2, executor="local").transform(run)

    signals = tmp_path / "signals"
    signals.mkdir()
    killed: list[int] = []

    def kill_one_then_go() -> None:
        deadline = time.time() + 240
        while len(list(signals.glob("started_*"))) < 2 and time.time() < deadline:
            time.sleep(0.05)
        pid = int(sorted(signals.glob("started_*"))[0].name.split("_")[2])
        os.kill(pid, signal.SIGKILL)
        killed.append(pid)
        (signals / "go").touch()

    killer = threading.Thread(target=kill_one_then_go, daemon=True)
    killer.start()
    with Cache(tmp_path / "ray").activate(), shard_log() as runs:
        got = Sharded(BuildThenRescore(signals=str(signals)), shards=2, executor="ray").transform(run)
    killer.join(timeout=10)
    pd.testing.assert_frame_equal(got, expected)
    assert killed and killed[0] not in {r.pid for r in runs}            # the killed shard finished elsewhere
    assert len(list(signals.glob("started_*"))) == 3                    # two shards, one of them twice
    weights = tmp_path / "ray" / "test-weights"
    assert not [p for p in weights.iterdir() if p.name.startswith(".")]  # no temporary folder left behind
    assert all((p / ".complete").is_file() for p in weights.iterdir())


def test_a_shard_failing_on_bad_input_stops_the_run_at_once(ray_cluster, tmp_path):
    """One shard raises an InputError while the other waits: the call raises that error (one line) without
    waiting for the other and without running the failing shard again."""
    from tests.ray_stages import FailOn

    frame = pd.DataFrame({"qid": [f"q{i}" for i in range(6)], "query": ["x"] * 6})
    try:
        with pytest.raises(InputError) as caught:
            Sharded(FailOn(qid="q3", signals=str(tmp_path)), shards=2, executor="ray").transform(frame)
        assert not (tmp_path / "go").exists()           # the other shard was still waiting
    finally:
        (tmp_path / "go").touch()
    message = str(caught.value)
    assert message == "queries.jsonl:1 field 'query': query q3 has no text"
    assert len(list(tmp_path.glob("attempt_q3_*"))) == 1  # not retried
