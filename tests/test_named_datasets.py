"""The named loaders read every set in ../shared/data with its expected size and fields (skip when absent)."""
from __future__ import annotations

import pytest

from rag.datasets import NAMED, load_dataset

from .conftest import shared_data

# name -> (split, queries, extra query columns, corpus size or None)
EXPECTED = {
    "scifact": ("test", 300, set(), 5183),
    "vaswani": ("test", 93, set(), 11429),
    "nq-open": ("test", 3610, {"answers"}, None),
    "nq-rag": ("test", 2655, {"answers", "gold_docno"}, 3600),
    "popqa-longtail": ("test", 1399, {"answers", "relation", "s_pop"}, 1399),
    "entityquestions": ("test", 22075, {"answers", "relation"}, None),
    "hotpotqa": ("test", 7405, {"answers"}, None),
    "triviaqa": ("test", 11313, {"answers"}, None),
    "birco-arguana": ("test", 100, {"instruction"}, 3117),
    "birco-clinical-trial": ("test", 50, {"instruction"}, 3377),
    "birco-relic": ("test", 100, {"instruction"}, 5023),
    "birco-wtb": ("test", 100, {"instruction"}, 1767),
}


def test_every_named_set_has_an_expectation():
    assert set(EXPECTED) == set(NAMED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_named_dataset(name):
    shared_data(NAMED[name][1])
    split, n_queries, columns, corpus_size = EXPECTED[name]
    data = load_dataset(name)
    queries = data.queries(split)
    assert len(queries) == n_queries
    assert columns <= set(queries.columns)
    assert queries["query"].str.strip().ne("").all()
    if "answers" in columns:
        assert all(isinstance(a, list) and a and all(isinstance(x, str) for x in a) for a in queries["answers"])
    if corpus_size is not None:
        assert len(data.corpus) == corpus_size
    if data.has_qrels(split):
        qrels = data.qrels(split)
        assert set(qrels["qid"]) <= set(queries["qid"]) and (qrels["label"] > 0).any()
    if name.startswith("birco"):
        pool = data.candidates(split)
        assert set(pool["qid"]) <= set(queries["qid"]) and len(pool) >= len(queries)


def test_scifact_train_split_is_disjoint_from_test():
    shared_data("scifact")
    data = load_dataset("scifact")
    assert len(data.queries("train")) == 505
    assert not set(data.queries("train")["qid"]) & set(data.queries("test")["qid"])
