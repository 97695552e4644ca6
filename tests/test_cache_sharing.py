"""One cache folder, many writers: racing processes (a Lucene index build, whole `ragif run`s), writers killed
mid-build, tables and records published first-writer-wins, file modes, and an unusable RAGIF_CACHE."""
from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from rag.core.cache import Cache, CacheLocationError, atomic_write_text, location_problem

RACER = Path(__file__).with_name("cache_racer.py")
REPO = Path(__file__).resolve().parents[1]


def _racer(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(RACER), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def _done(proc: subprocess.Popen, timeout: float = 300) -> dict:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err[-3000:]
    return json.loads(out.strip().splitlines()[-1])


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_writers_racing_on_one_lucene_index_keep_the_first(tmp_path):
    """Three processes build the same Lucene index and publish it at the same moment, then search it while
    the others publish: one index stays, nobody's index is replaced under them, all runs are the same."""
    pytest.importorskip("jnius_config")   # importing jnius itself would start a JVM
    cache, signals = tmp_path / "cache", tmp_path / "signals"
    signals.mkdir()
    writers = [_racer("lucene", str(cache), str(signals), "3") for _ in range(3)]
    reports = [_done(w) for w in writers]
    assert len({r["folder"] for r in reports}) == 1
    assert len({run for r in reports for run in r["runs"]}) == 1      # every search, every process: one run
    assert len(list((cache / "lucene-index").iterdir())) == 1 and not _leftovers(cache / "lucene-index")


CONFIG = """name: race
dataset: demo
measures: [nDCG@10, RR@10]
pipelines:
  Lucene: {bm25: {k: 20}}
  Lucene-b0.6: {bm25: {k: 20, b: 0.6}}
"""


def test_ragif_runs_of_one_config_racing_on_an_empty_cache(tmp_path):
    """`ragif run` of one config, three times at once on one empty cache (once seen: CorruptIndexException)."""
    pytest.importorskip("jnius_config")   # importing jnius itself would start a JVM
    config = tmp_path / "race.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    env = {**os.environ, "RAGIF_CACHE": str(tmp_path / "cache"), "SOURCE_DATE_EPOCH": "1700000000",
           "PYTHONPATH": str(REPO)}
    runs = [subprocess.Popen([sys.executable, "-m", "rag.cli", "run", str(config), "-o", str(tmp_path / f"out{i}")],
                             env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(3)]
    for run in runs:
        _, err = run.communicate(timeout=300)
        assert run.returncode == 0, err[-3000:]
    for name in ("results.csv", "per_query.csv", "runs/Lucene.trec", "runs/Lucene-b0.6.trec"):
        assert len({(tmp_path / f"out{i}" / name).read_bytes() for i in range(3)}) == 1, name
    for kind in (tmp_path / "cache").iterdir():
        if kind.is_dir() and kind.name not in ("frames", "records"):
            assert not _leftovers(kind), kind


def test_a_killed_build_is_cleaned_up_but_a_live_one_never(tmp_path):
    cache, signals = tmp_path / "cache", tmp_path / "signals"
    signals.mkdir()
    live = _racer("hold", str(cache), str(signals), "live")
    doomed = _racer("hold", str(cache), str(signals), "doomed")
    try:
        deadline = time.time() + 120
        while len(list(signals.glob("holding.*"))) < 2:
            assert time.time() < deadline and live.poll() is None and doomed.poll() is None
            time.sleep(0.05)
        kind = cache / "test-kind"
        assert len([n for n in _leftovers(kind) if n.endswith(".build")]) == 2
        doomed.send_signal(signal.SIGKILL)
        doomed.wait(timeout=30)
        _done(_racer("build", str(cache), str(signals), "other"))  # a later run in the same cache folder
        left = _leftovers(kind)
        assert [n for n in left if n.startswith(".doomed.")] == []   # the dead writer's folder is gone
        assert len([n for n in left if n.startswith(".live.") and n.endswith(".build")]) == 1  # the live one stays
        assert ((kind / "other") / ".complete").is_file()
    finally:
        for proc in (live, doomed):
            if proc.poll() is None:
                proc.kill()
            proc.communicate(timeout=30)
    _done(_racer("build", str(cache), str(signals), "again"))  # the holder is dead now: its folder goes too
    assert _leftovers(cache / "test-kind") == []


def test_an_artifact_published_first_is_kept(tmp_path):
    """A writer finishing second keeps the first writer's folder (its own is discarded), and a writer does not
    take another live writer's temporary folder for an orphan (here both in one process)."""
    def slow(tmp: Path) -> None:
        (tmp / "who").write_text("slow")
        fast = Cache(tmp_path).artifact("k", "key", lambda t: (t / "who").write_text("fast"))
        assert (fast / "who").read_text() == "fast" and tmp.exists()  # published first; our folder untouched

    folder = Cache(tmp_path).artifact("k", "key", slow)
    assert (folder / "who").read_text() == "fast"
    assert _leftovers(tmp_path / "k") == []


def test_tables_and_records_are_first_writer_wins(tmp_path):
    a, b = Cache(tmp_path), Cache(tmp_path)
    a.put_frame("f" * 64, pd.DataFrame({"qid": ["1"], "score": [1.0]}))
    b.put_frame("f" * 64, pd.DataFrame({"qid": ["1"], "score": [2.0]}))   # loses: the first entry stays whole
    assert a.get_frame("f" * 64)["score"].tolist() == [1.0]
    assert len(list((tmp_path / "frames").rglob("*.parquet"))) == 1      # the loser's data file is gone
    a.put_json("r" * 64, {"answer": "first"})
    b.put_json("r" * 64, {"answer": "second"})
    assert b.get_json("r" * 64) == {"answer": "first"}


def test_files_and_folders_follow_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "out.csv", "a,b\n")
        folder = Cache(tmp_path / "cache").artifact("k", "key", lambda tmp: (tmp / "x").write_text("x"))
        os.umask(0o077)
        atomic_write_text(tmp_path / "private.csv", "a,b\n")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "out.csv").stat().st_mode) == 0o644
    assert stat.S_IMODE(folder.stat().st_mode) == 0o755
    assert stat.S_IMODE((tmp_path / "private.csv").stat().st_mode) == 0o600


def _ragif(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rag.cli", *args], env={**os.environ, "PYTHONPATH": str(REPO), **env},
                          capture_output=True, text=True, timeout=300, cwd=REPO)


def test_a_cache_path_that_is_a_file_is_one_clear_line(tmp_path):
    file = tmp_path / "cache-file"
    file.write_text("not a folder")
    done = _ragif(["run", "-o", str(tmp_path / "out")], {"RAGIF_CACHE": str(file)})
    assert done.returncode == 2 and "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert lines == [f"ragif: error: RAGIF_CACHE={file} is a file, not a folder: set RAGIF_CACHE (or the config's "
                     "cache:) to a writable folder"]
    assert location_problem(file / "below") == f"lies under {file}, which is a file"
    with pytest.raises(CacheLocationError, match="is a file"):
        with Cache(file).activate():
            pass


def test_a_bad_cache_is_reported_before_any_data_set_or_model_is_loaded(tmp_path, monkeypatch):
    """The check comes first: the default job's dense models took 10-40 s to load before the one line came."""
    import rag.experiment.config as config_module
    from rag.core.config import load_yaml

    def too_late(*args, **kwargs):
        raise AssertionError("the data set was loaded before the cache folder was checked")

    monkeypatch.setattr(config_module, "load_config_dataset", too_late)
    file = tmp_path / "cache-file"
    file.write_text("x")
    with pytest.raises(CacheLocationError, match="is a file"):
        config_module.build_experiment(load_yaml(REPO / "rag" / "configs" / "default.yaml"), cache=file)


def test_doctor_fails_a_cache_that_is_a_file(tmp_path, monkeypatch):
    from rag.cli.doctor import FAIL, OK, check_data_and_cache

    file = tmp_path / "cache-file"
    file.write_text("x")
    monkeypatch.setenv("RAGIF_CACHE", str(file))
    check = check_data_and_cache()
    assert check.status == FAIL and f"RAGIF_CACHE={file} is a file, not a folder" in check.found
    monkeypatch.setenv("RAGIF_CACHE", str(tmp_path / "new" / "cache"))
    assert check_data_and_cache().status == OK


def test_a_cache_folder_that_is_not_writable_is_one_clear_line(tmp_path):
    folder = tmp_path / "read-only"
    folder.mkdir()
    if os.geteuid() == 0:  # root writes anywhere, except into an immutable folder
        if subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode != 0:
            pytest.skip("running as root and chattr +i is not available here")
        undo = ["chattr", "-i", str(folder)]
    else:
        folder.chmod(0o555)
        undo = ["chmod", "755", str(folder)]
    try:
        done = _ragif(["run", "-o", str(tmp_path / "out")], {"RAGIF_CACHE": str(folder)})
    finally:
        subprocess.run(undo, check=True)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines() == [f"ragif: error: RAGIF_CACHE={folder} is not writable: set "
                                               "RAGIF_CACHE (or the config's cache:) to a writable folder"]
