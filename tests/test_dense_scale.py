"""The dense stage at scale, with a deterministic test encoder (``hashed-words``, tests/dense_fakes.py): given vectors
searched without reading the corpus (``.npy`` + ids, a FAISS file + ids, Pyserini's and FlashRAG's layouts), corpus
encoding streamed in shards that resumes after an interruption or a kill, the compressed index and its recall,
and a model that does not exist failing when the stage is built."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rag.core.build import BuildContext, build_stage
from rag.core.cache import Cache
from rag.core.errors import ConfigError, InputError
from rag.datasets import Corpus
from retrievers.dense import DenseRetriever
from retrievers.docids import Docids
from retrievers.vector_index import Rescored, build_index, exact_search, index_type, recall_at_k
from tests import dense_fakes

REPO = Path(__file__).resolve().parents[1]
WORDS = "river sea mountain snow bread yeast oven flour boat harbour peak valley".split()


def docs(n: int) -> list[dict[str, str]]:
    rng = np.random.default_rng(7)
    return [{"docno": f"d{i:04d}", "title": "", "text": " ".join(rng.choice(WORDS, 5))} for i in range(n)]


def unreadable_corpus() -> Corpus:
    """A corpus whose every read fails the test (no fingerprint given, so even hashing it would read it)."""
    def never():
        pytest.fail("the corpus was read")
    return Corpus(never, name="unreadable")


QUERIES = pd.DataFrame({"qid": ["q1", "q2"], "query": ["river sea boat", "bread yeast oven"]})


@pytest.fixture(autouse=True)
def hashed_words():
    with dense_fakes.registered():
        yield


def fake(corpus, **kw) -> DenseRetriever:
    return DenseRetriever(corpus, runtime="hashed-words", model="hashed", executor="local", **kw)


@pytest.fixture
def cache(tmp_path):
    with Cache(tmp_path / "cache").activate() as active:
        yield active


@pytest.fixture
def encoded(tmp_path, cache):
    """Vectors of 60 documents written by ragif itself (the reference run) and their run for QUERIES."""
    corpus = Corpus(docs(60), name="sixty")
    reference = fake(corpus, k=10)
    run = reference(QUERIES)
    ids, vectors = reference.doc_embeddings()
    return list(ids), np.asarray(vectors), run


def same_run(a: pd.DataFrame, b: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(a[["qid", "docno", "rank"]].reset_index(drop=True),
                                  b[["qid", "docno", "rank"]].reset_index(drop=True))
    np.testing.assert_allclose(a["score"].to_numpy(), b["score"].to_numpy(), rtol=1e-6)


# ------------------------------------------------------------------------------------------- given vectors
def test_npy_and_docids_are_searched_without_reading_the_corpus(tmp_path, encoded):
    ids, vectors, run = encoded
    np.save(tmp_path / "vectors.npy", vectors)
    (tmp_path / "ids.txt").write_text("\n".join(ids) + "\n")
    given = fake(unreadable_corpus(), k=10, vectors=str(tmp_path / "vectors.npy"), docids=str(tmp_path / "ids.txt"))
    same_run(given(QUERIES), run)
    pool = run[run["rank"] < 4][["qid", "query", "docno"]]
    reranked = fake(unreadable_corpus(), rerank=True, vectors=str(tmp_path / "vectors.npy"),
                    docids=str(tmp_path / "ids.txt"))(pool)
    same_run(reranked, run[run["rank"] < 4])
    given.describe(), given.fingerprint()


def test_faiss_file_pyserini_folder_and_flashrag_layout(tmp_path, encoded):
    import faiss
    ids, vectors, run = encoded
    index = faiss.IndexFlatIP(vectors.shape[1])
    index.add(vectors)
    pyserini = tmp_path / "pyserini"
    pyserini.mkdir()
    faiss.write_index(index, str(pyserini / "index"))
    (pyserini / "docid").write_text("\n".join(ids) + "\n")
    flashrag = tmp_path / "flashrag"
    flashrag.mkdir()
    faiss.write_index(index, str(flashrag / "e5_Flat.index"))
    (flashrag / "wiki.jsonl").write_text("".join(json.dumps({"id": d, "contents": f"title\n{d}"}) + "\n" for d in ids))
    for params in ({"vectors": str(pyserini)},
                   {"vectors": str(pyserini / "index"), "docids": str(pyserini / "docid")},
                   {"vectors": str(flashrag / "e5_Flat.index"), "docids": str(flashrag / "wiki.jsonl")}):
        got = fake(unreadable_corpus(), k=10, **params)(QUERIES)
        same_run(got, run)
    pool = run[run["rank"] < 3][["qid", "query", "docno"]]
    same_run(fake(unreadable_corpus(), rerank=True, vectors=str(pyserini))(pool), run[run["rank"] < 3])


def test_given_vectors_in_yaml_and_their_identity_is_the_files(tmp_path, encoded):
    ids, vectors, _ = encoded
    np.save(tmp_path / "v.npy", vectors)
    (tmp_path / "ids.txt").write_text("\n".join(ids) + "\n")
    data = type("D", (), {"corpus": unreadable_corpus()})()
    spec = {"dense": {"runtime": "hashed-words", "model": "hashed", "vectors": str(tmp_path / "v.npy"),
                      "docids": str(tmp_path / "ids.txt"), "k": 5}}
    stage = build_stage(spec, BuildContext(dataset=data))
    before = stage.fingerprint()
    assert len(stage(QUERIES)) == 10
    assert build_stage(spec, BuildContext(dataset=data)).fingerprint() == before    # memoised, same files
    time.sleep(0.01)
    np.save(tmp_path / "v.npy", vectors[::-1].copy())                               # new content, same path
    assert build_stage(spec, BuildContext(dataset=data)).fingerprint() != before


def test_given_vectors_mistakes_are_one_clear_line(tmp_path, encoded):
    ids, vectors, _ = encoded
    np.save(tmp_path / "v.npy", vectors)
    (tmp_path / "short.txt").write_text("\n".join(ids[:-1]) + "\n")
    cases = [({"vectors": str(tmp_path / "nope.npy"), "docids": str(tmp_path / "short.txt")}, "do not exist"),
             ({"vectors": str(tmp_path / "v.npy")}, "need docids"),
             ({"docids": str(tmp_path / "short.txt")}, "give vectors too"),
             ({"vectors": str(tmp_path)}, "not a Pyserini dense index folder")]
    for params, says in cases:
        with pytest.raises(InputError, match=says) as err:
            fake(unreadable_corpus(), **params)
        assert "\n" not in str(err.value)
    with pytest.raises(InputError, match="59 document ids .* for 60 vectors"):
        fake(unreadable_corpus(), vectors=str(tmp_path / "v.npy"), docids=str(tmp_path / "short.txt"))(QUERIES)
    (tmp_path / "ids.txt").write_text("\n".join(ids) + "\n")
    with pytest.raises(InputError, match="not the one that made them"):    # 384-d MiniLM queries, 32-d vectors
        DenseRetriever(unreadable_corpus(), vectors=str(tmp_path / "v.npy"), docids=str(tmp_path / "ids.txt"),
                       threads=1).retrieve(["x"], ["q"], 3)


def test_docids_by_row_and_by_id_from_a_memory_map(tmp_path):
    (tmp_path / "ids").write_bytes(b"a\r\nbb\n ccc \nd")
    ids = Docids.open(tmp_path / "ids")
    assert len(ids) == 4 and ids.take([3, 0, 2]) == ["d", "a", "ccc"] and list(ids) == ["a", "bb", "ccc", "d"]
    assert ids.rows_of(["ccc", "zz", "a"]).tolist() == [2, -1, 0]
    (tmp_path / "gap").write_text("a\n\nb\n")
    with pytest.raises(InputError, match="line 2 has no document id"):
        Docids.open(tmp_path / "gap").check()


# ------------------------------------------------------------------------------------------- streaming, resuming
def test_encoding_streams_the_corpus_in_shards_without_a_frame(cache, monkeypatch):
    corpus = Corpus(docs(50), name="fifty", fingerprint="fifty")   # as a loader gives it (a hash of the file)
    monkeypatch.setattr(Corpus, "frame", lambda self: pytest.fail("the corpus was held as a frame"))
    dense_fakes.ENCODED.clear()
    stage = fake(corpus, k=5, shard_size=8)
    stage(QUERIES)
    assert len(dense_fakes.ENCODED) == 50 + len(QUERIES)
    ids, vectors = stage.doc_embeddings()
    assert isinstance(vectors, np.memmap) and list(ids) == [d["docno"] for d in docs(50)]
    np.testing.assert_allclose(vectors[7], dense_fakes.word_vector(docs(50)[7]["text"]) /
                               np.linalg.norm(dense_fakes.word_vector(docs(50)[7]["text"])), rtol=1e-6)
    assert not list((cache.root / "dense-embeddings-parts").iterdir())      # the work folder is gone


def test_an_interrupted_encoding_resumes_with_only_the_missing_shards(cache):
    corpus = Corpus(docs(50), name="fifty")
    dense_fakes.ENCODED.clear()
    dense_fakes.FAIL_AFTER[:] = [3]                       # the 4th shard is interrupted
    try:
        with pytest.raises(KeyboardInterrupt):
            fake(corpus, shard_size=8).doc_embeddings()
    finally:
        dense_fakes.FAIL_AFTER.clear()
    assert len(dense_fakes.ENCODED) == 24
    dense_fakes.ENCODED.clear()
    _, resumed = fake(corpus, shard_size=8).doc_embeddings()
    assert sorted(dense_fakes.ENCODED) == sorted(d["text"] for d in docs(50)[24:])
    with Cache(cache.root.parent / "fresh").activate():
        _, straight = fake(corpus, shard_size=8).doc_embeddings()
    np.testing.assert_array_equal(np.asarray(resumed), np.asarray(straight))


KILLED_RUN = """
import sys
sys.path.insert(0, {repo!r})
import tests.dense_fakes
from rag.core.registry import register
register("hashed-words", kind="encoder")(tests.dense_fakes.HashedWords)
from rag.core.cache import Cache
from rag.datasets import Corpus
from retrievers.dense import DenseRetriever
from tests.test_dense_scale import docs
with Cache({cache!r}).activate():
    DenseRetriever(Corpus(docs(50), name="fifty"), runtime="hashed-words", model="hashed", executor="local",
                   shard_size=8).doc_embeddings()
"""


def test_a_killed_encoding_resumes_with_only_the_missing_shards(tmp_path):
    log = tmp_path / "encoded.txt"
    env = {**os.environ, "RAGIF_TEST_ENCODE_LOG": str(log), "RAGIF_TEST_ENCODE_DELAY": "0.3", "RAGIF_PROGRESS": "0"}
    script = KILLED_RUN.format(repo=str(REPO), cache=str(tmp_path / "cache"))
    child = subprocess.Popen([sys.executable, "-c", script], env=env)
    parts = tmp_path / "cache" / "dense-embeddings-parts"
    deadline = time.time() + 120
    while time.time() < deadline and len(list(parts.glob("*/done/*"))) < 2:
        time.sleep(0.05)
    child.send_signal(signal.SIGKILL)
    child.wait()
    finished = len(list(parts.glob("*/done/*")))
    assert 2 <= finished < 7, finished
    encoded_before = log.read_text().splitlines()
    dense_fakes.ENCODED.clear()
    with Cache(tmp_path / "cache").activate():
        _, resumed = fake(Corpus(docs(50), name="fifty"), shard_size=8).doc_embeddings()
    assert sorted(dense_fakes.ENCODED) == sorted(d["text"] for d in docs(50)[8 * finished:])
    assert len(encoded_before) >= 8 * finished
    with Cache(tmp_path / "fresh").activate():
        _, straight = fake(Corpus(docs(50), name="fifty"), shard_size=8).doc_embeddings()
    np.testing.assert_array_equal(np.asarray(resumed), np.asarray(straight))


def test_encoding_fans_out_over_ray_with_the_same_vectors(ray_cluster, tmp_path):
    corpus = Corpus(docs(50), name="fifty")
    from rag.core.executor import shard_log
    with Cache(tmp_path / "ray").activate(), shard_log() as runs:
        _, on_ray = DenseRetriever(corpus, runtime="hashed-words", model="hashed", executor="ray",
                                   shard_size=8).doc_embeddings()
    with Cache(tmp_path / "local").activate():
        _, local = fake(corpus, shard_size=8).doc_embeddings()
    np.testing.assert_array_equal(np.asarray(on_ray), np.asarray(local))
    assert sorted(r.shard for r in runs) == list(range(7)) and all(r.node != "local" for r in runs)


# ------------------------------------------------------------------------------------------- compressed index
def clustered(n: int = 6000, dim: int = 32, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(60, dim))
    x = centres[rng.integers(0, 60, n)] + 0.35 * rng.normal(size=(n, dim))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def test_ivfpq_is_trained_built_in_chunks_and_its_recall_measured(tmp_path):
    vectors = clustered()
    np.save(tmp_path / "v.npy", vectors)
    mapped = np.load(tmp_path / "v.npy", mmap_mode="r")
    ivfpq = build_index(index_type("ivfpq", {"nprobe": 16, "pq_m": 16}), mapped, chunk=1000)
    assert ivfpq.ntotal == len(vectors) and ivfpq.index.is_trained
    recall = recall_at_k(ivfpq, mapped, k=10)
    coarse = recall_at_k(build_index(index_type("ivfpq", {"nprobe": 1, "pq_m": 2}), mapped), mapped, k=10)
    flat = recall_at_k(build_index(index_type("flat"), mapped), mapped, k=10)
    assert flat == 1.0 and 0.6 < recall < 1.0 and coarse < recall - 0.2
    rescored = recall_at_k(Rescored(ivfpq, mapped, 4), mapped, k=10)      # exact scores for 40 candidates
    assert rescored > recall + 0.1 and rescored > 0.95
    scores, rows = exact_search(mapped, vectors[:3], 5, block=700)
    assert rows[:, 0].tolist() == [0, 1, 2] and np.allclose(scores[:, 0], 1.0, atol=1e-5)


def test_auto_index_switches_to_ivfpq_at_its_threshold_and_prints_recall(cache, capsys, monkeypatch):
    monkeypatch.setenv("RAGIF_PROGRESS", "lines")
    corpus = Corpus(docs(400), name="four hundred")
    small = fake(corpus, k=5, index="auto", index_params={"threshold": 401})
    big = fake(corpus, k=5, index="auto", index_params={"threshold": 400})
    assert small.vector_index().index.__class__.__name__ == "IndexFlatIP"
    assert big.vector_index().index.__class__.__name__ == "IndexIVFPQ"
    assert "recall@10" in capsys.readouterr().err
    meta = json.loads(next((cache.root / "faiss-index").glob("*/meta.json")).read_text())
    assert meta["kind"] == "ivfpq" and 0 < meta["recall@10"] <= 1
    exact = fake(corpus, k=5)(QUERIES)
    rescored = fake(corpus, k=5, index="ivfpq", rescore=8)(QUERIES)
    np.testing.assert_allclose(rescored["score"], exact["score"], rtol=1e-6)   # exact scores, ties aside
    with pytest.raises(InputError, match="does not take index_params .*accepts"):
        fake(corpus, index="ivfpq", index_params={"nlists": 3})


# ------------------------------------------------------------------------------------------- model check
@pytest.mark.parametrize("model, says", [("./no/such/model", "model folder not found: looked for"),
                                         ("nobody/no-such-model-xyz", "not in the Hugging Face cache")])
def test_a_model_that_does_not_exist_fails_when_the_stage_is_built(model, says, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(InputError, match=says) as err:
        DenseRetriever(unreadable_corpus(), model=model)
    assert "\n" not in str(err.value) and err.value.field == "model"
    with pytest.raises(ConfigError, match=says):
        build_stage({"dense": {"model": model}}, BuildContext(dataset=type("D", (), {"corpus": unreadable_corpus()})()))


def test_encode_stream_pulls_pieces_only_as_work_frees_up(ray_cluster):
    from rag.core.executor import encode_stream
    pulled = []

    def pieces():
        for i in range(6):
            pulled.append(i)
            yield i, [f"text {i}"]
    from retrievers.encoders import PassageEncoding
    stream = encode_stream(PassageEncoding(dense_fakes.HashedWords()), pieces(), executor="ray", window=2)
    first, _ = next(stream)
    assert first in (0, 1) and len(pulled) <= 3          # two in flight, at most one more read when one finished
    rest = dict(stream)
    assert sorted([first, *rest]) == list(range(6))
    np.testing.assert_allclose(rest[5], dense_fakes.HashedWords().encode(["text 5"]))


def test_a_pyserini_written_index_gives_pyserinis_hits_and_scores(tmp_path, encoded):
    """Oracle: Pyserini's own FaissRepresentationWriter writes the folder, its FaissSearcher searches it."""
    pytest.importorskip("pyserini")
    pytest.importorskip("jnius_config")
    from rag.core import java
    java.configure()
    with java.placeholder_openai_key():
        from pyserini.encode.optional._faiss import FaissRepresentationWriter
        from pyserini.search.faiss import FaissSearcher
    ids, vectors, _ = encoded
    folder = tmp_path / "pyserini-index"
    writer = FaissRepresentationWriter(str(folder), dimension=vectors.shape[1])
    with writer:
        for start in range(0, len(ids), 16):
            writer.write({"id": ids[start:start + 16], "vector": vectors[start:start + 16]})
    ours = fake(unreadable_corpus(), k=7, vectors=str(folder))
    query_vectors = ours.encode_queries(QUERIES["query"].tolist())

    class GivenVectors:        # Pyserini's query encoder interface, answering with our query vectors
        def encode(self, query: str) -> np.ndarray:
            return query_vectors[QUERIES["query"].tolist().index(query)]
    searcher = FaissSearcher(str(folder), GivenVectors())
    got = ours(QUERIES)
    for qid, query in zip(QUERIES["qid"], QUERIES["query"]):
        hits = searcher.search(query, k=7)
        mine = got[got["qid"] == qid]
        np.testing.assert_allclose(mine["score"].to_numpy(), [h.score for h in hits], rtol=1e-5)
        tied = np.isclose(mine["score"].to_numpy()[:, None], [h.score for h in hits], rtol=1e-5)
        assert all(d == h.docid or tied[i].any() for i, (d, h) in enumerate(zip(mine["docno"], hits)))
        assert set(mine["docno"][mine["score"] > mine["score"].min() + 1e-6]) <= {h.docid for h in hits}


def test_a_new_index_type_is_one_registered_class(cache, scratch_registry):
    from dataclasses import dataclass
    from typing import ClassVar

    from retrievers.vector_index import exact_search

    class NumpyIndex:                      # a VectorIndex: exact search in numpy, saved as .npy
        def __init__(self, rows=None):
            self.rows = rows if rows is not None else np.zeros((0, 32), np.float32)
        ntotal = property(lambda self: len(self.rows))
        needs_training = False

        def train(self, sample):
            raise AssertionError("not trained")

        def add(self, vectors):
            self.rows = np.concatenate([self.rows, vectors])

        def search(self, queries, k):
            return exact_search(self.rows, queries, k)

        def save(self, folder):
            np.save(folder / "rows.npy", self.rows)

    @scratch_registry.register("numpy-exact", kind="vector-index")
    @dataclass
    class NumpyExact:
        block: int = 1000
        persist: ClassVar[bool] = True

        def resolve(self, count):
            return self

        def identity(self):
            return {"kind": "numpy-exact"}

        def create(self, dim, count):
            return NumpyIndex(np.zeros((0, dim), np.float32))

        def load(self, folder):
            return NumpyIndex(np.load(folder / "rows.npy"))

    corpus = Corpus(docs(60), name="sixty")
    same_run(fake(corpus, k=60, index="numpy-exact")(QUERIES), fake(corpus, k=60)(QUERIES))   # all: ties in order
    assert list((cache.root / "faiss-index").glob("*/rows.npy"))


def test_the_stage_pickles_without_its_vectors_and_shards_by_query(cache):
    cloudpickle = pytest.importorskip("cloudpickle")     # what Ray ships stages with
    from rag.core.executor import Sharded
    corpus = Corpus(docs(60), name="sixty", fingerprint="sixty")
    stage = fake(corpus, k=10)
    whole = stage(QUERIES)
    shipped = cloudpickle.dumps(stage)
    assert len(shipped) < 40_000 and b"IndexFlatIP" not in shipped      # the corpus list, not its vectors or index
    assert cloudpickle.loads(shipped)._stored is None                    # re-opened from the cache where it runs
    same_run(cloudpickle.loads(shipped).transform(QUERIES), whole)      # transform: no cached output
    pd.testing.assert_frame_equal(Sharded(fake(corpus, k=10), shards=2, executor="local")(QUERIES), whole)
