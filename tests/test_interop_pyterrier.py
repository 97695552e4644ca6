"""PyTerrier both ways, against the real packages (pyterrier 1.1, pyterrier-rag 0.3; skipped without them):
mixed pipelines equal each side run alone, pt.Experiment on ragif runs equals ragif's own table, answer
frames cross the boundary (qanswer/answer, qcontext/contexts, gold_answer rows), and a wrapped PyTerrier
transformer is cached only when its identity is known."""
from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

pt = pytest.importorskip("pyterrier")

from rag.core.cache import Cache  # noqa: E402
from rag.datasets import demo  # noqa: E402
from rag.evaluation.scoring import evaluate  # noqa: E402
from rag.experiment import Experiment  # noqa: E402
from rag.interop.pyterrier import (answers_from_gold_frame, from_pyterrier, from_pyterrier_frame,  # noqa: E402
                                   gold_answers_frame, pyterrier_topics, to_pyterrier, to_pyterrier_frame)
from rag.evaluation.answers import score_answers  # noqa: E402
from rag.core.stage import RankCutoff  # noqa: E402
from rag.readers.reader import Reader  # noqa: E402
from retrievers.bm25.fast import FastBM25  # noqa: E402
from retrievers.text import AddText  # noqa: E402

MEASURES = ["nDCG@10", "R@100", "AP", "RR@10", "P@5"]


@pytest.fixture(scope="module")
def data():
    ds = demo()
    return ds, ds.queries(), ds.qrels(), FastBM25(ds.corpus)


def boost(frame: pd.DataFrame) -> pd.Series:
    """A re-scorer with no ties: BM25 plus a small bonus for documents whose id ends in an odd digit."""
    return frame["score"] + frame["docno"].str[-1].astype(int).mod(2) * 0.75 + frame["docno"].str[-2:].astype(int) * 1e-4


def pt_measures():
    from pyterrier.measures import AP, P, R, RR, nDCG
    return [nDCG @ 10, R @ 100, AP, RR @ 10, P @ 5]


def by_pair(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[["qid", "docno", "score", "rank"]].sort_values(["qid", "rank"]).reset_index(drop=True)


def rescored_by_hand(ranking: pd.DataFrame) -> pd.DataFrame:
    out = ranking.assign(score=boost(ranking)).sort_values(["qid", "score"], ascending=[True, False])
    out["rank"] = out.groupby("qid").cumcount()
    return out


# ------------------------------------------------------------------ mixed pipelines, both ways
def test_a_ragif_stage_inside_a_pyterrier_pipeline(data):
    ds, queries, qrels, bm25 = data
    pipeline = to_pyterrier(bm25) % 10 >> pt.apply.doc_score(boost, batch_size=64)
    got = pipeline(pyterrier_topics(queries))
    alone = rescored_by_hand(RankCutoff(10)(bm25(queries)))            # ragif alone, then the re-scorer by hand
    pd.testing.assert_frame_equal(by_pair(got), by_pair(alone), check_dtype=False)
    pt_alone = pt.apply.doc_score(boost, batch_size=64)(RankCutoff(10)(bm25(queries)))  # PyTerrier alone on it
    pd.testing.assert_frame_equal(by_pair(got), by_pair(pt_alone), check_dtype=False)


def test_a_pyterrier_transformer_inside_a_ragif_pipeline(data):
    ds, queries, qrels, bm25 = data
    stage = from_pyterrier(pt.apply.doc_score(boost, batch_size=64), needs=["qid", "docno", "score"],
                           gives=["score", "rank"])
    pipeline = bm25 % 10 >> stage >> RankCutoff(5)
    got = pipeline(queries)
    alone = rescored_by_hand(RankCutoff(10)(bm25(queries)))
    pd.testing.assert_frame_equal(by_pair(got), by_pair(alone[alone["rank"] < 5]), check_dtype=False)
    assert {"answers", "query"} <= set(got.columns)                      # query columns travel on


def test_pt_experiment_on_ragif_runs_equals_ragif_table(data, tmp_path):
    ds, queries, qrels, bm25 = data
    reranked = bm25 % 10 >> from_pyterrier(pt.apply.doc_score(boost, batch_size=64), identity="boost v1")
    systems = {"bm25": bm25, "bm25>>boost": reranked}
    ours = Experiment(systems, ds, MEASURES, baseline="bm25", cache=tmp_path / "cache").run().table
    theirs = pt.Experiment([to_pyterrier(s) for s in systems.values()], pyterrier_topics(queries), qrels,
                           pt_measures(), names=list(systems)).set_index("name")
    theirs.columns = [str(c) for c in theirs.columns]
    np.testing.assert_allclose(theirs.loc[list(systems), MEASURES].to_numpy(), ours[MEASURES].to_numpy(), atol=1e-12)
    assert ours.loc["bm25>>boost", "nDCG@10"] != ours.loc["bm25", "nDCG@10"]      # the re-scorer did something
    assert evaluate(bm25(queries), qrels, ["nDCG@10"], qids=queries["qid"])["nDCG@10"] == ours.loc["bm25", "nDCG@10"]


# ------------------------------------------------------------------ answer frames
class FirstWordLLM:
    """Scripted LLM for the adapters: answers with the first word of the first passage in the prompt."""

    name = "first-word"

    def generate(self, prompts, **kw):
        out = []
        for p in prompts:
            found = re.search(r"- Title: [^\n]*\n(\S+)", p)
            text = found.group(1).strip(".,") if found else "unknown"
            out.append(type("G", (), {"text": text, "prompt_tokens": len(p.split()), "completion_tokens": 1,
                                      "latency_s": 0.0, "cached": False})())
        return out


def test_frames_translate_both_ways():
    ragif = pd.DataFrame({"qid": ["1", "2"], "query": ["a", "b"], "answer": ["x", "y"],
                          "contexts": [["p one", "p two"], []], "answers": [["x"], ["z", "w"]]})
    as_pt = to_pyterrier_frame(ragif)
    assert as_pt["qanswer"].tolist() == ["x", "y"] and "answer" not in as_pt
    assert as_pt["qcontext"].tolist() == ["p one\np two", ""]
    back = from_pyterrier_frame(as_pt)
    pd.testing.assert_frame_equal(back[ragif.columns], ragif)                    # lossless round trip
    edited = as_pt.assign(qcontext=["shortened", ""])                            # a PyTerrier stage rewrote it
    assert from_pyterrier_frame(edited)["contexts"].tolist() == [["shortened"], []]
    gold = gold_answers_frame(ragif)
    assert gold.values.tolist() == [["1", "x"], ["2", "z"], ["2", "w"]]           # pyterrier-rag: a row per answer
    assert answers_from_gold_frame(gold)["answers"].tolist() == [["x"], ["z", "w"]]


def test_a_ragif_reader_evaluated_by_pyterrier_rag_measures(data):
    pytest.importorskip("pyterrier_rag")
    from pyterrier_rag.measures import EM, F1
    ds, queries, qrels, bm25 = data
    pipeline = bm25 % 3 >> AddText(ds.corpus) >> Reader(llm=FirstWordLLM(), passages=3)
    table = pt.Experiment([to_pyterrier(pipeline)], pyterrier_topics(queries), gold_answers_frame(queries),
                          [EM, F1], names=["reader"]).set_index("name")
    ours = score_answers(pipeline(queries), ["EM", "F1"])[["EM", "F1"]].mean()
    assert 0 < ours["EM"] < ours["F1"] < 1
    assert table.loc["reader", "EM"] == pytest.approx(ours["EM"], abs=1e-12)
    assert table.loc["reader", "F1"] == pytest.approx(ours["F1"], abs=1e-12)


def test_a_pyterrier_rag_reader_inside_a_ragif_pipeline(data):
    pytest.importorskip("pyterrier_rag")
    from pyterrier_rag.backend import Backend, BackendOutput
    from pyterrier_rag.prompt import Concatenator
    from pyterrier_rag.readers import Reader as PTReader

    class FirstWordBackend(Backend):
        def generate(self, inps, **kwargs):
            return [BackendOutput(text=(re.search(r"Context: (\S+)", p) or [None, "unknown"])[1].strip(".,"))
                    for p in inps]

    ds, queries, qrels, bm25 = data
    concatenate = from_pyterrier(Concatenator())
    read = from_pyterrier(PTReader(FirstWordBackend("first-word")))
    assert read.needs == ("qid", "query", "contexts")                 # inferred with pt.inspect, ragif names
    answers = (bm25 % 3 >> AddText(ds.corpus) >> concatenate >> read)(queries)
    assert {"answer", "contexts", "answers"} <= set(answers.columns) and "qanswer" not in answers
    first = answers.set_index("qid").loc["q01"]
    top = RankCutoff(3)(bm25(queries))
    top_texts = AddText(ds.corpus)(top[top.qid == "q01"]).sort_values("rank")["text"].tolist()
    assert first["contexts"] == ["\n".join(top_texts)] and first["answer"] == top_texts[0].split()[0].strip(".,")
    ragif_reader = (bm25 % 3 >> AddText(ds.corpus) >> Reader(llm=FirstWordLLM(), passages=3))(queries)
    same = score_answers(answers, ["EM", "F1"])[["EM", "F1"]].mean()
    assert same.tolist() == pytest.approx(score_answers(ragif_reader, ["EM", "F1"])[["EM", "F1"]].mean().tolist())


# ------------------------------------------------------------------ cache identity
class Counting:
    def __init__(self):
        self.calls = 0

    def __call__(self, frame: pd.DataFrame) -> pd.Series:
        self.calls += 1
        return boost(frame)


def test_an_unknown_transformer_is_never_cached(data, tmp_path):
    ds, queries, qrels, bm25 = data
    ranking = RankCutoff(10)(bm25(queries))
    counter = Counting()
    stage = from_pyterrier(pt.apply.doc_score(counter, batch_size=1000), needs=["qid", "docno", "score"])
    assert not stage.cacheable and "not cached: identity unknown" in stage.describe()
    with Cache(tmp_path / "c").activate():
        first, second = stage(ranking), stage(ranking)
    assert counter.calls == 2
    pd.testing.assert_frame_equal(first, second)


def test_a_given_identity_is_cached_and_keys_the_output(data, tmp_path):
    ds, queries, qrels, bm25 = data
    ranking = RankCutoff(10)(bm25(queries))
    counter = Counting()
    v1 = from_pyterrier(pt.apply.doc_score(counter, batch_size=1000), identity={"boost": 1})
    with Cache(tmp_path / "c").activate():
        v1(ranking)
        v1(ranking)
        assert counter.calls == 1
        from_pyterrier(pt.apply.doc_score(counter, batch_size=1000), identity={"boost": 2})(ranking)
        assert counter.calls == 2
    off = from_pyterrier(pt.apply.doc_score(counter), identity=False)
    assert not off.cacheable


def test_identity_from_attributes_of_installed_code():
    pytest.importorskip("pyterrier_rag")
    from pyterrier_rag.prompt import Concatenator
    stage = from_pyterrier(Concatenator())
    assert stage.cacheable and stage.identity["package"].startswith("pyterrier-rag==")
    assert stage.identity["attributes"]["ordering_func"]["code"].endswith("score_sort")
    assert from_pyterrier(Concatenator(max_elements=2)).fingerprint() != stage.fingerprint()
    assert from_pyterrier(Concatenator()).fingerprint() == stage.fingerprint()
    hidden = Concatenator()
    hidden.extra_state = "set after construction"
    assert not from_pyterrier(hidden).cacheable
    assert not from_pyterrier(pt.apply.doc_score(lambda row: 1.0)).cacheable      # a lambda: unknown code
    wrapped = from_pyterrier(to_pyterrier(RankCutoff(3)))                         # a ragif stage inside: its own
    assert not wrapped.cacheable                                                  # RankCutoff is not cacheable
    bm25 = FastBM25(demo().corpus)
    assert from_pyterrier(to_pyterrier(bm25)).identity["ragif"] == bm25.fingerprint()
    pipeline = from_pyterrier(to_pyterrier(bm25) % 5 >> Concatenator())          # a pt pipeline of known parts
    parts = pipeline.identity["attributes"]["transformers"]
    assert pipeline.cacheable and parts[0]["ragif"] == bm25.fingerprint() and parts[1]["attributes"] == {"k": 5}
    assert from_pyterrier(to_pyterrier(bm25) % 6 >> Concatenator()).fingerprint() != pipeline.fingerprint()
    assert not from_pyterrier(to_pyterrier(bm25) >> pt.apply.doc_score(lambda row: 1.0)).cacheable
