"""Passage text by id from the docstores: equal to the corpus, whatever the hashes do; AddText's output is
what it was when it read the whole corpus into a DataFrame, and it never does that now."""
from __future__ import annotations

import json
import pickle
import random

import numpy as np
import pandas as pd
import pytest

from rag.core.cache import Cache
from rag.core.errors import InputError
from rag.datasets import Corpus, demo, jsonl_corpus
from rag.datasets import docstore as docstore_module
from rag.datasets.docstore import BLOCK, DiskDocStore, IdCheck
from retrievers.text import AddText

TEXTS = ["plain ascii", "ünïcödé and 中文 and emoji 🎉", "", "line\nbreaks\tand tabs", "x" * 5000, "quote \" and \\"]


def corpus_file(tmp_path, n: int = 50, name: str = "corpus.jsonl"):
    rng = random.Random(n)
    rows = [{"_id": f"d{i}", "title": rng.choice(["", "A title", "Tïtle ✓"]), "text": f"{rng.choice(TEXTS)} {i}"}
            for i in range(n)]
    path = tmp_path / name
    path.write_text("".join(json.dumps(r, ensure_ascii=bool(i % 2)) + "\n" for i, r in enumerate(rows)), "utf-8")
    return path, rows


def test_disk_store_gives_the_corpus_text(tmp_path):
    path, rows = corpus_file(tmp_path, 3 * BLOCK + 17)   # several blocks of hashes
    assert DiskDocStore.build(jsonl_corpus(path), tmp_path / "store") == len(rows)
    store = DiskDocStore(tmp_path / "store")
    assert len(store) == len(rows)
    order = random.Random(1).sample(range(len(rows)), len(rows))
    titles, texts = store.fetch([rows[i]["_id"] for i in order])
    assert titles == [rows[i]["title"] for i in order]
    assert texts == [rows[i]["text"] for i in order]
    assert store.fetch([]) == ([], [])
    again = pickle.loads(pickle.dumps(store))          # travels to a worker process
    assert again.fetch(["d7"]) == store.fetch(["d7"])


def test_unknown_id_is_an_error(tmp_path):
    path, _ = corpus_file(tmp_path)
    DiskDocStore.build(jsonl_corpus(path), tmp_path / "store")
    with pytest.raises(InputError, match="'nope' is not in the corpus"):
        DiskDocStore(tmp_path / "store").fetch(["d1", "nope"])


@pytest.mark.parametrize("buckets", [1, 3, 700])
def test_equal_hashes_of_different_ids_still_find_each_document(tmp_path, monkeypatch, buckets):
    """A hash with only a few values: runs of equal hashes, across block boundaries too."""
    real = docstore_module.id_hashes
    monkeypatch.setattr(docstore_module, "id_hashes", lambda ids: real(ids) % np.uint64(buckets))
    path, rows = corpus_file(tmp_path, 2 * BLOCK + 5)
    DiskDocStore.build(jsonl_corpus(path), tmp_path / "store")
    store = DiskDocStore(tmp_path / "store")
    ids = [r["_id"] for r in rows][::-1]
    assert store.fetch(ids)[1] == [r["text"] for r in rows][::-1]
    with pytest.raises(InputError, match="not in the corpus"):
        store.fetch(["absent"])


def test_duplicate_ids_name_both_lines_without_a_set(tmp_path, monkeypatch):
    path = tmp_path / "corpus.jsonl"
    path.write_text('{"_id": "a", "text": "1"}\n{"_id": "b", "text": "2"}\n{"_id": "a", "text": "3"}\n')
    for run in (lambda c: list(c), lambda c: c.docstore()):       # plain iteration, and building the store
        with Cache(tmp_path / "cache").activate():
            with pytest.raises(InputError) as err:
                run(jsonl_corpus(path))
        assert (err.value.line, err.value.field) == (3, "docno") and "first at line 1" in str(err.value)
    monkeypatch.setattr(docstore_module, "id_hashes", lambda ids: np.zeros(len(ids), np.uint64))
    path.write_text('{"_id": "a", "text": "1"}\n{"_id": "b", "text": "2"}\n')
    assert len(list(jsonl_corpus(path))) == 2      # equal hashes of different ids are no duplicate


def test_id_check_pairs():
    check = IdCheck(chunk=2)
    for docno in ["x", "y", "z", "y", "x"]:
        check.add(docno)
    assert sorted(check.duplicates()) == [(1, 5), (2, 4)]


def test_corpus_documents_come_from_the_store_built_once(tmp_path, monkeypatch):
    path, rows = corpus_file(tmp_path, 40)
    with Cache(tmp_path / "cache").activate():
        corpus = jsonl_corpus(path)
        monkeypatch.setattr(Corpus, "frame", lambda self: pytest.fail("the corpus was read into a DataFrame"))
        got = corpus.documents(["d3", "d0", "d3"])
        assert got["text"].tolist() == [rows[3]["text"], rows[0]["text"], rows[3]["text"]]
        assert len(corpus) == 40
        builds = []
        monkeypatch.setattr(DiskDocStore, "build", classmethod(lambda *a, **k: builds.append(1)))
        assert jsonl_corpus(path).texts(["d1"], with_title=False) == [rows[1]["text"]]   # a new object: same store
        assert not builds


def _addtext_as_before(corpus: Corpus, frame: pd.DataFrame) -> pd.DataFrame:
    """AddText as it was: the whole corpus as a DataFrame, mapped by docno (the oracle)."""
    docs = corpus.frame().set_index("docno")
    out = frame.drop(columns=[c for c in ("title", "text") if c in frame.columns])
    out["title"] = out["docno"].map(docs["title"]).tolist()
    out["text"] = out["docno"].map(docs["text"]).tolist()
    return out


@pytest.mark.parametrize("kind", ["file", "memory", "demo"])
def test_addtext_output_is_unchanged(tmp_path, kind):
    if kind == "demo":
        corpus = demo().corpus
        ids = corpus.frame()["docno"].tolist()
        corpus = demo().corpus          # a fresh one: its frame was never built
    else:
        path, rows = corpus_file(tmp_path, 60)
        ids = [r["_id"] for r in rows]
        corpus = jsonl_corpus(path) if kind == "file" else Corpus(
            [{"docno": r["_id"], "title": r["title"], "text": r["text"]} for r in rows])
    rng = random.Random(0)
    frame = pd.DataFrame([{"qid": f"q{q}", "query": "x", "docno": d, "score": float(-r), "rank": r}
                          for q in range(5) for r, d in enumerate(rng.sample(ids, 8))])
    frame["title"] = "stale"      # replaced, as before
    with Cache(tmp_path / "cache").activate():
        got = AddText(corpus)(frame)
        expected = _addtext_as_before(jsonl_corpus(path) if kind == "file" else corpus, frame)
    pd.testing.assert_frame_equal(got.reset_index(drop=True), expected.reset_index(drop=True))


def test_addtext_names_an_unknown_document(tmp_path):
    path, _ = corpus_file(tmp_path, 5)
    frame = pd.DataFrame({"qid": ["1"], "query": ["x"], "docno": ["zzz"], "score": [1.0], "rank": [0]})
    with Cache(tmp_path / "cache").activate(), pytest.raises(InputError, match="'zzz' is not in the corpus"):
        AddText(jsonl_corpus(path))(frame)


def test_ir_datasets_text_comes_from_its_docs_store(tmp_path, monkeypatch):
    """An ir_datasets data set (registered here over a local TSV file): texts by id from its docs_store(),
    equal to its documents, without a pass over them."""
    ir_datasets = pytest.importorskip("ir_datasets")
    from ir_datasets.datasets.base import Dataset as IrdsDataset
    from ir_datasets.formats import TsvDocs, TsvQueries
    from ir_datasets.util import LocalDownload

    from rag.datasets import load_dataset

    monkeypatch.setenv("IR_DATASETS_HOME", str(tmp_path / "home"))
    rows = [(f"d{i}", f"{random.Random(i).choice(TEXTS)} {i}".replace("\n", " ").replace("\t", " ")) for i in range(30)]
    (tmp_path / "docs.tsv").write_text("".join(f"{d}\t{t}\n" for d, t in rows))
    (tmp_path / "queries.tsv").write_text("q1\triver\n")
    name = f"ragif-test/{tmp_path.name}"
    ir_datasets.registry.register(name, IrdsDataset(
        TsvDocs(LocalDownload(str(tmp_path / "docs.tsv")), namespace="ragif-test", lang="en"),
        TsvQueries(LocalDownload(str(tmp_path / "queries.tsv")), namespace="ragif-test", lang="en")))
    corpus = load_dataset(f"irds:{name}").corpus
    monkeypatch.setattr(type(corpus), "__iter__", lambda self: pytest.fail("the documents were iterated"))
    ids = [d for d, _ in rows][::-3]
    assert corpus.texts(ids, with_title=False) == [t for d, t in rows][::-3]
    assert corpus.docstore().known(["d1", "zz"]).tolist() == [True, False]
    with pytest.raises(InputError, match="not in the corpus"):
        corpus.documents(["zz"])
