"""A corpus file is hashed once per load, and a cached re-run reads it not at all (only ``stat``)."""
from __future__ import annotations

import builtins
import gzip
import json
import os
import time
from collections import Counter
from pathlib import Path

import pytest

from rag.core.cache import Cache
from rag.datasets import Corpus, load_beir
from rag.datasets import fingerprint
from rag.experiment import Experiment
from retrievers.lucene import LuceneBM25
from retrievers.text import AddText


def beir(root: Path, n: int = 30) -> Path:
    (root / "qrels").mkdir(parents=True)
    with open(root / "corpus.jsonl", "w") as f:
        for i in range(n):
            text = f"river sea mountain {i} " * (i % 4 + 1)
            f.write(json.dumps({"_id": f"d{i}", "title": f"T{i}", "text": text}) + "\n")
    (root / "queries.jsonl").write_text("".join(json.dumps({"_id": f"q{i}", "text": w}) + "\n"
                                                for i, w in enumerate(["river", "sea mountain", "mountain 3"])))
    (root / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq0\td1\t1\nq1\td2\t1\nq2\td3\t1\n")
    old = time.time() - 3600                  # written an hour ago: not "racily" fresh
    for p in root.rglob("*"):
        os.utime(p, (old, old))
    return root


@pytest.fixture
def fresh_process(monkeypatch):
    """As if in a new process: nothing remembered in memory."""
    monkeypatch.setattr(fingerprint, "_MEMO", {})


def hashes_counted(monkeypatch) -> Counter:
    counts: Counter = Counter()
    real = fingerprint.hash_file

    def counting(path, *args, **kwargs):
        counts[Path(path).name] += 1
        return real(path, *args, **kwargs)
    monkeypatch.setattr(fingerprint, "hash_file", counting)
    return counts


def test_the_corpus_is_hashed_once_per_load(tmp_path, monkeypatch, fresh_process):
    root = beir(tmp_path / "data")
    counts = hashes_counted(monkeypatch)
    with Cache(tmp_path / "cache").activate():
        data = load_beir(root)
        data.fingerprint()
        data.corpus.fingerprint()
    assert counts["corpus.jsonl"] == 1      # jsonl_corpus and the data set's fingerprint used to hash it twice


def _no_reading(monkeypatch, path: Path) -> list[str]:
    """Make any open of ``path`` fail the test (Python's open, gzip, os.open)."""
    reads: list[str] = []
    target = str(path.resolve())

    def guard(opener):
        def wrapped(file, *args, **kwargs):
            if isinstance(file, (str, os.PathLike)) and os.path.abspath(os.fspath(file)) == target:
                reads.append(opener.__name__)
                raise AssertionError(f"{path} was opened by {opener.__name__}")
            return opener(file, *args, **kwargs)
        wrapped.__name__ = opener.__name__
        return wrapped
    monkeypatch.setattr(builtins, "open", guard(builtins.open))
    monkeypatch.setattr(gzip, "open", guard(gzip.open))
    monkeypatch.setattr(os, "open", guard(os.open))
    return reads


def test_a_cached_rerun_never_reads_the_corpus(tmp_path, monkeypatch, fresh_process):
    root = beir(tmp_path / "data")
    cache = Cache(tmp_path / "cache")

    def run():
        data = load_beir(root)
        pipeline = LuceneBM25(data.corpus) % 3 >> AddText(data.corpus)
        return Experiment({"BM25": pipeline}, data, ["nDCG@10"], cache=cache).run()

    first = run()
    monkeypatch.setattr(fingerprint, "_MEMO", {})      # a new process: only the cache remembers
    counts = hashes_counted(monkeypatch)
    reads = _no_reading(monkeypatch, root / "corpus.jsonl")
    monkeypatch.setattr(Corpus, "frame", lambda self: pytest.fail("the corpus was read into a DataFrame"))
    second = run()
    assert not reads and counts["corpus.jsonl"] == 0
    assert second.table.equals(first.table)


def test_a_changed_file_is_hashed_again(tmp_path, fresh_process, monkeypatch):
    root = beir(tmp_path / "data")
    with Cache(tmp_path / "cache").activate():
        before = load_beir(root).corpus.fingerprint()
        corpus = root / "corpus.jsonl"
        corpus.write_text(corpus.read_text().replace("river", "rivet"))   # same size, new content
        old = time.time() - 1800
        os.utime(corpus, (old, old))
        monkeypatch.setattr(fingerprint, "_MEMO", {})
        assert load_beir(root).corpus.fingerprint() != before


def test_a_just_written_file_is_not_remembered_in_the_cache(tmp_path, fresh_process):
    path = tmp_path / "f.txt"
    path.write_text("abc")
    with Cache(tmp_path / "cache").activate():
        fingerprint.file_fingerprint(path)
    assert not list((tmp_path / "cache").rglob("*.json"))
