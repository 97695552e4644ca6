"""The cache's record store (LLM replies, per-query notes in one SQLite file): first writer wins, several processes
writing at once, kill -9 mid-write, old one-file-per-record caches still read, nothing empty stored, a damaged or
locked database as one line, network file systems, frames hashed once, and the cache line saying what it counts."""
from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rag.core import hashing
from rag.core.cache import LLM_REPLIES, STAGE_OUTPUTS, Cache
from rag.core.record_files import FileRecords, file_system_type, on_network_file_system
from rag.core.records import FILE, RecordStoreError, SQLiteRecords, open_records
from tests.record_writer import value_of

WRITER = Path(__file__).with_name("record_writer.py")
REPO = Path(__file__).resolve().parents[1]


def _writer(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(WRITER), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def _rows(root: Path) -> dict[str, dict]:
    """Every committed record, read by a connection of its own (what another process sees)."""
    with sqlite3.connect(root / FILE) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        return {k: json.loads(v) for k, v in conn.execute("SELECT key, value FROM records")}


# ------------------------------------------------------------------------------------------ first writer wins
def test_a_second_put_never_replaces_a_stored_record(tmp_path):
    first, second = SQLiteRecords(tmp_path), SQLiteRecords(tmp_path)   # two connections, as two processes
    first.put("k", {"text": "first"})
    first.flush()
    second.put("k", {"text": "second"})
    assert second.get("k") == {"text": "first"}        # what is committed is what every reader sees
    second.flush()
    assert first.get("k") == second.get("k") == {"text": "first"} and len(first) == 1
    # racing uncommitted batches: whichever commits first stays, for both
    first.put("r", {"text": "a"})
    second.put("r", {"text": "b"})
    second.flush()
    first.flush()
    assert first.get("r") == second.get("r") == {"text": "b"}


@pytest.mark.parametrize("layout", ["sqlite", "files"])
def test_four_processes_writing_at_once_agree_on_every_record(tmp_path, layout):
    """Four writers put the same 300 keys (each its own value) and 300 keys of their own, in batches of 25, at the
    same moment: every key is stored once and whole, and every writer reads back the same winner for each."""
    root, signals = tmp_path / "cache", tmp_path / "signals"
    root.mkdir()
    signals.mkdir()
    names = [f"w{i}" for i in range(4)]
    writers = [_writer("race", str(root), str(signals), name, "300", layout) for name in names]
    deadline = time.time() + 120
    while len(list(signals.glob("ready.*"))) < len(names):
        assert time.time() < deadline and all(w.poll() is None for w in writers)
        time.sleep(0.02)
    (signals / "go").touch()
    reports = []
    for proc in writers:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err[-3000:]
        reports.append(json.loads(out.strip().splitlines()[-1]))
    assert all(r["shared"] == reports[0]["shared"] for r in reports) and None not in reports[0]["shared"]
    store = SQLiteRecords(root) if layout == "sqlite" else FileRecords(root)
    for i, winner in enumerate(reports[0]["shared"]):
        assert store.get(f"shared-{i:05d}") == value_of(f"shared-{i:05d}", winner)
    for name in names:
        assert store.get_many([f"{name}-{i:05d}" for i in range(300)]) == \
            [value_of(f"{name}-{i:05d}", name) for i in range(300)]
    if layout == "sqlite":
        assert len(_rows(root)) == 300 + 4 * 300


# ------------------------------------------------------------------------------------------ kill -9
def test_a_writer_killed_mid_write_leaves_only_whole_batches(tmp_path):
    """kill -9 at random moments of a writer committing batches of 100 large records, three times over one store:
    the database is intact, holds whole batches only, every record matches its key, and writing goes on."""
    root, signals = tmp_path / "cache", tmp_path / "signals"
    root.mkdir()
    rng = random.Random(7)
    for round_ in range(3):
        signals.mkdir()
        proc = _writer("flood", str(root), str(signals))
        deadline = time.time() + 120
        while not (signals / "started").exists():
            assert time.time() < deadline and proc.poll() is None, proc.stderr.read() if proc.poll() else ""
            time.sleep(0.01)
        time.sleep(rng.uniform(0.05, 0.6))
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
        assert proc.returncode == -signal.SIGKILL
        for path in signals.iterdir():
            path.unlink()
        signals.rmdir()
        rows = _rows(root)
        assert rows and len(rows) % 100 == 0, f"round {round_}: {len(rows)} records, not whole batches"
        assert all(value == value_of(key) for key, value in rows.items())
    store = SQLiteRecords(root)
    store.put("after", {"text": "still writable"})
    store.flush()
    assert store.get("after") == {"text": "still writable"} and store.corrupted == 0


# ------------------------------------------------------------------------------------------ batching
def test_puts_are_committed_at_the_size_bound_the_time_bound_and_close(tmp_path):
    other = SQLiteRecords(tmp_path)
    store = SQLiteRecords(tmp_path, max_batch=3, max_delay_s=0.3)
    store.put_many([("a", 1), ("b", 2)])
    assert store.get("a") == 1 and other.get("a") is None       # collected, not committed yet
    store.put("c", 3)                                           # the third: the batch is full
    assert other.get_many(["a", "b", "c"]) == [1, 2, 3]
    store.put("d", 4)                                           # alone: committed by the background thread
    deadline = time.time() + 30
    while other.get("d") is None:
        assert time.time() < deadline, "the time bound never committed the batch"
        time.sleep(0.02)
    store.put("e", 5)
    store.close()
    assert other.get("e") == 5


def test_a_forked_child_never_commits_its_parents_batch(tmp_path):
    store = SQLiteRecords(tmp_path, max_delay_s=3600)
    store.put("parent", 1)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            store.put("child", 2)
            store.flush()
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    assert set(_rows(tmp_path)) == {"child"}
    store.flush()
    assert _rows(tmp_path) == {"child": 2, "parent": 1}


# ------------------------------------------------------------------------------------------ old caches
def test_records_of_the_old_one_file_layout_are_read_and_copied_over(tmp_path):
    old = FileRecords(tmp_path)
    old.put("a" * 32, {"text": "from 0.1"})
    old.put("b" * 32, [1, 2])
    cache = Cache(tmp_path, records="sqlite")
    assert cache.get_json("a" * 32) == {"text": "from 0.1"}
    assert cache.get_many(["b" * 32, "c" * 32]) == [[1, 2], None]
    cache.flush()
    assert _rows(tmp_path) == {"a" * 32: {"text": "from 0.1"}, "b" * 32: [1, 2]}


# ------------------------------------------------------------------------------------------ nothing empty
@pytest.mark.parametrize("layout", ["sqlite", "files"])
def test_nothing_empty_is_ever_stored(tmp_path, layout):
    cache = Cache(tmp_path, records=layout)
    with pytest.raises(ValueError, match="None cannot be stored"):
        cache.put_json("k", None)
    with pytest.raises(ValueError, match="None cannot be stored"):
        cache.put_many({"x": {"text": "fine"}, "y": None})    # one bad value: none of them is taken
    with pytest.raises(ValueError, match="an empty string cannot be stored"):
        cache.put_json("e", " ")
    with pytest.raises(ValueError, match="cannot be stored as JSON"):
        cache.put_json("z", {"text": object()})
    cache.flush()
    assert cache.get_many(["k", "x", "y", "z", "e"]) == [None] * 5


def test_a_reply_without_text_never_reaches_the_store(tmp_path):
    from rag.llm import EmptyReplyError, Generation, load_llm

    class NoText:
        name = "no-text"

        def generate(self, prompts, **kw):
            return [Generation(None, 0, 0, 0.0) for _ in prompts]

        def option_probs(self, prompts, options):
            return [{} for _ in prompts]

    cache = Cache(tmp_path)
    with cache.activate():
        with pytest.raises(EmptyReplyError):
            load_llm(NoText()).generate(["q"])
        with pytest.raises(EmptyReplyError):
            load_llm(NoText()).option_probs(["q"], ["yes", "no"])
    assert not (tmp_path / FILE).exists() or _rows(tmp_path) == {}


# ------------------------------------------------------------------------------------------ damaged, locked
def test_a_damaged_record_is_recomputed(tmp_path):
    store = SQLiteRecords(tmp_path)
    store.put_many([("good", {"text": "kept"}), ("bad", {"text": "flipped"})])
    store.flush()
    with sqlite3.connect(tmp_path / FILE) as conn:
        conn.execute("UPDATE records SET value = ? WHERE key = 'bad'", ('{"text":"flopped"}',))
    assert store.get_many(["good", "bad"]) == [{"text": "kept"}, None] and store.corrupted == 1
    store.put("bad", {"text": "again"})                  # the damaged row was removed: the new one is stored
    store.flush()
    assert store.get("bad") == {"text": "again"}


def test_a_database_that_is_not_one_is_a_one_line_error(tmp_path):
    (tmp_path / FILE).write_bytes(b"this is not an SQLite database, just some bytes" * 100)
    with pytest.raises(RecordStoreError) as caught:
        SQLiteRecords(tmp_path).get("k")
    message = str(caught.value)
    assert "\n" not in message and str(tmp_path / FILE) in message and "is damaged" in message \
        and "move it aside or delete it" in message


def test_ragif_run_on_a_damaged_database_prints_one_line(tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / FILE).write_bytes(b"garbage" * 1000)
    config = tmp_path / "x.yaml"
    config.write_text("name: x\ndataset: demo\nmeasures: [nDCG@10]\npipelines:\n  BM25: {bm25: {}}\n")
    env = {k: v for k, v in os.environ.items() if k != "SOURCE_DATE_EPOCH"}
    done = subprocess.run([sys.executable, "-m", "rag.cli", "run", str(config), "-o", str(tmp_path / "out")],
                          env={**env, "RAGIF_CACHE": str(cache), "PYTHONPATH": str(REPO)}, capture_output=True,
                          text=True, timeout=300, cwd=REPO)
    assert done.returncode == 2, done.stderr[-3000:]
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"ragif: error: cache record store {cache / FILE} is damaged")


def test_a_database_locked_too_long_is_a_one_line_error_and_reads_go_on(tmp_path):
    store = SQLiteRecords(tmp_path, lock_timeout_s=0.3)
    store.put("k", 1)
    store.flush()
    holder = sqlite3.connect(tmp_path / FILE, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        assert store.get("k") == 1                         # readers never wait for a writer
        store.put("j", 2)
        with pytest.raises(RecordStoreError, match="stayed locked by another process for 0.3 s") as caught:
            store.flush()
        assert "\n" not in str(caught.value)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    store.flush()                                          # the batch was kept: it is committed now
    assert store.get("j") == 2


# ------------------------------------------------------------------------------------------ network file systems
def test_network_file_systems_keep_one_file_per_record(tmp_path, monkeypatch):
    mountinfo = tmp_path / "mountinfo"
    mountinfo.write_text(f"22 1 0:21 / / rw - ext4 /dev/vda rw\n"
                         f"40 22 0:40 / {tmp_path}/shared rw,relatime - nfs4 server:/export rw,vers=4.2\n")
    assert file_system_type(tmp_path / "shared" / "cache" / "deeper", mountinfo) == "nfs4"
    assert on_network_file_system(tmp_path / "shared", mountinfo) == "nfs4"
    assert on_network_file_system(tmp_path / "local", mountinfo) is None
    assert file_system_type(tmp_path) is not None            # this machine's own table is read
    monkeypatch.setattr("rag.core.records.on_network_file_system", lambda path: "nfs4")
    monkeypatch.delenv("RAGIF_CACHE_RECORDS", raising=False)
    assert isinstance(open_records(tmp_path / "a"), FileRecords)
    monkeypatch.setenv("RAGIF_CACHE_RECORDS", "sqlite")
    store = open_records(tmp_path / "b")
    assert isinstance(store, SQLiteRecords) and store.journal == "delete"
    monkeypatch.setenv("RAGIF_CACHE_RECORDS", "fast")
    with pytest.raises(RecordStoreError, match="RAGIF_CACHE_RECORDS='fast' is not one of auto, sqlite, files"):
        open_records(tmp_path / "c")


# ------------------------------------------------------------------------------------------ frames hashed once
def test_frames_are_hashed_once_and_edits_are_seen(monkeypatch):
    calls = []
    real = hashing._hash_frame
    monkeypatch.setattr(hashing, "_hash_frame", lambda f: calls.append(len(f)) or real(f))
    n = 5000
    frame = pd.DataFrame({"qid": [f"q{i}" for i in range(n)], "score": np.arange(n, dtype=float),
                          "answers": [[f"a{i}"] for i in range(n)]})
    digest = hashing.hash_frame(frame)
    assert [hashing.hash_frame(frame) for _ in range(5)] == [digest] * 5 and len(calls) == 1
    frame.loc[1234, "score"] = -1.0                          # numeric, in place
    frame.loc[4321, "qid"] = "changed"                       # a string (Arrow) column
    frame["extra"] = 1
    edited = hashing.hash_frame(frame)
    assert edited != digest and edited == real(frame) and len(calls) == 2
    assert hashing.hash_frame(frame.copy()) == edited          # another object with the same content


def test_a_cached_rerun_hashes_only_its_input(tmp_path, monkeypatch):
    """A pipeline read back from the cache is not hashed again: each cached table carries its fingerprint."""
    from tests.test_pipeline import QUERIES, CountingScorer

    class Rescore(CountingScorer):
        needs = ("qid", "docno", "score")

        def transform(self, frame):
            self.calls += 1
            return frame.assign(score=frame["score"] * 2)

    with Cache(tmp_path).activate():
        cold = (CountingScorer() >> Rescore())(QUERIES.copy())
    calls = []
    real = hashing._hash_frame
    monkeypatch.setattr(hashing, "_hash_frame", lambda f: calls.append(list(f.columns)) or real(f))
    first, second = CountingScorer(), Rescore()
    with Cache(tmp_path).activate():
        warm = (first >> second)(QUERIES.copy())
    assert first.calls == second.calls == 0 and calls == [["qid", "query"]]
    pd.testing.assert_frame_equal(warm, cold)
    assert hashing.hash_frame(warm) == real(cold)


# ------------------------------------------------------------------------------------------ the cache line
def test_the_cache_line_says_what_it_counts(tmp_path):
    from rag.llm import load_llm
    from tests.test_llm import EchoLLM
    from tests.test_pipeline import QUERIES, CountingScorer

    def work(cache: Cache) -> str:
        with cache.activate():
            CountingScorer()(QUERIES)
            CountingScorer(docs=("kiwi",))(QUERIES)
            load_llm(EchoLLM()).generate(["a", "b", "c"])
        return cache.summary()

    assert work(Cache(tmp_path)) == "0 stage outputs reused, 2 computed; 0 LLM replies reused, 3 new"
    again = Cache(tmp_path)
    assert work(again) == "2 stage outputs reused, 0 computed; 3 LLM replies reused, 0 new"
    assert again.counts() == {STAGE_OUTPUTS: {"reused": 2, "made": 0}, LLM_REPLIES: {"reused": 3, "made": 0}}
    one = Cache(tmp_path)
    with one.activate():
        CountingScorer()(QUERIES)
    assert one.summary() == "1 stage output reused, 0 computed" and Cache(tmp_path).summary() == \
        "nothing reused or stored"
