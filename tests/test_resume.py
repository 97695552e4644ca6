"""Kill -9 an experiment midway, run it again: it resumes from the cache and writes byte-identical
tables to an uninterrupted run; two runs with the same seed and config are byte-identical.

One uninterrupted run on a fresh cache (``uninterrupted``) serves every test as its reference; each test's own
runs are made in folders of its own."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

SCRIPT = Path(__file__).with_name("resumable_experiment.py")
FILES = ("results.csv", "per_query.csv", "significance.csv", "leaderboard.md", "leaderboard.tex",
         "leaderboard.html", "provenance.json", "runs/BM25-b0.4.trec")


def _env():
    return {**os.environ, "SOURCE_DATE_EPOCH": "1700000000", "PYTHONHASHSEED": "0"}


def _run(cache: Path, out: Path, delay: float) -> dict:
    done = subprocess.run([sys.executable, str(SCRIPT), str(cache), str(out), str(delay)], capture_output=True,
                          text=True, env=_env(), timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _frames(cache: Path) -> int:
    return len(list((cache / "frames").rglob("*.meta.json"))) if (cache / "frames").exists() else 0


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> Path:
    """A folder with ``cache`` and ``out`` of one run on a fresh cache, without delay or interruption."""
    folder = tmp_path_factory.mktemp("uninterrupted")
    _run(folder / "cache", folder / "out", delay=0.0)
    return folder


def test_kill_and_resume_gives_identical_tables(uninterrupted, tmp_path):
    reference = uninterrupted

    cache, out = tmp_path / "killed" / "cache", tmp_path / "killed" / "out"
    proc = subprocess.Popen([sys.executable, str(SCRIPT), str(cache), str(out), "3"], env=_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while _frames(cache) < 3 and time.time() < deadline:   # BM25 + rescoring of system 1, BM25 of system 2
        time.sleep(0.1)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not (out / "results.csv").exists(), "the experiment finished before it was killed"
    finished_before_kill = _frames(cache)

    stats = _run(cache, out, delay=0.0)
    assert stats["hits"] >= finished_before_kill >= 3       # resumed: finished stages were not recomputed
    for name in FILES:
        assert (out / name).read_bytes() == (reference / "out" / name).read_bytes(), name


def test_same_seed_and_config_give_byte_identical_results(uninterrupted, tmp_path):
    a = uninterrupted
    _run(tmp_path / "b" / "cache", tmp_path / "b" / "out", delay=0.0)     # a second fresh cache
    for name in FILES:
        assert (a / "out" / name).read_bytes() == (tmp_path / "b" / "out" / name).read_bytes(), name
    provenance = json.loads((a / "out" / "provenance.json").read_text())
    assert provenance["seed"] == 42 and provenance["versions"]["ragif"] and "commit" in json.dumps(provenance)


def test_damaged_cache_entries_are_detected_and_recomputed(uninterrupted, tmp_path):
    """Half the entries truncated (a crash or a full disk), half with one flipped byte (bit rot)."""
    cache, out = tmp_path / "cache", tmp_path / "out"
    shutil.copytree(uninterrupted / "cache", cache)                          # a copy: the original stays whole
    reference = (uninterrupted / "out" / "results.csv").read_bytes()
    for i, data in enumerate(sorted((cache / "frames").rglob("*.parquet"))):
        raw = data.read_bytes()
        data.write_bytes(raw[: len(raw) // 2] if i % 2 else raw[:-9] + bytes([raw[-9] ^ 0xFF]) + raw[-8:])
    stats = _run(cache, out, delay=0.0)
    assert stats["corrupted"] >= 8 and (out / "results.csv").read_bytes() == reference
