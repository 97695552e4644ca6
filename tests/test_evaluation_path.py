"""One evaluation path: ``rag.evaluate`` and ``Experiment`` give the same per-query values for the same outputs,
for every kind of measure, and everything that decides a value (the LLM judge, a measure's parameters) is in
the cache key of the values."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pandas as pd
import pytest

from rag.adaptive.route import Route
from rag.core.cache import Cache
from rag.core.errors import InputError
from rag.core.stage import FunctionStage
from rag.datasets import load_dataset
from rag.evaluation import evaluate, per_query
from rag.evaluation.answers.measures import _JUDGE, set_judge
from rag.experiment import Experiment
from rag.llm import Generation
from rag.readers import Reader
from tests.test_rag_experiment import AnswerFromPassages, _bm25

RANKING = ["nDCG@10", "R@3"]
ANSWER = ["EM", "F1", "Recall", "AliasAcc"]
FAITH = ["K-Precision"]
COST = ["LLMTokens", "RetrievalRate"]
MEASURES = [*RANKING, *ANSWER, *FAITH, *COST]


@pytest.fixture(scope="module")
def demo():
    return load_dataset("demo")


@pytest.fixture()
def restore_judge():
    saved = dict(_JUDGE)
    yield
    _JUDGE.clear()
    _JUDGE.update(saved)


def _routed(demo, llm):
    """A router that sends the first half of the questions to BM25 → reader and answers the rest closed-book."""
    half = set(demo.queries()["qid"].iloc[::2])
    policy = FunctionStage(lambda q: q.assign(retrieve=q["qid"].isin(half)), name="every-other")
    return Route(policy=policy, recall=Reader(llm=llm, template="closed_book"),
                 retrieve=_bm25(demo) >> Reader(llm=llm, passages=3)), half


def test_evaluate_and_experiment_agree_for_every_measure_kind(demo, tmp_path):
    llm = AnswerFromPassages()
    routed, half = _routed(demo, llm)
    lossy = FunctionStage(lambda q: Reader(llm=llm, template="closed_book")(q).head(9), name="lossy")
    systems = {"closed-book": Reader(llm=llm, template="closed_book"), "BM25": _bm25(demo),
               "BM25>reader": _bm25(demo) >> Reader(llm=llm, passages=3), "routed": routed, "lossy": lossy}
    results = Experiment(systems, demo, MEASURES, baseline="closed-book", cache=Cache(tmp_path / "c")).run()
    qids = demo.queries()["qid"].tolist()
    qrels = demo.qrels()
    pq = results.per_query
    for system, output in results.runs.items():
        ranking = results.rankings.get(system, output if "docno" in output.columns else None)
        retrieved_for = sorted(half) if system == "routed" else None
        for measure in MEASURES:
            expected = results.table.loc[system, measure]
            try:
                values = per_query(output, qrels, [measure], qids, ranking, retrieved_for)
            except InputError:   # the measure does not apply to this system: an empty cell, never 0
                assert np.isnan(expected), (system, measure)
                continue
            mine = pq[(pq["system"] == system) & (pq["measure"] == measure)][["qid", "value"]]
            if values["value"].isna().all():   # no question could be scored (K-Precision closed-book)
                assert mine.empty and np.isnan(expected), (system, measure)
                continue
            pd.testing.assert_frame_equal(values[["qid", "value"]].reset_index(drop=True),
                                          mine.reset_index(drop=True), check_dtype=False)
            got = evaluate(output, qrels, [measure], qids, ranking, retrieved_for)[measure]
            assert got == pytest.approx(expected, nan_ok=True), (system, measure)
    table = results.table
    # n/a per question: the questions the router answered closed-book are empty on ranking measures, not 0
    routed_r3 = pq[(pq["system"] == "routed") & (pq["measure"] == "R@3")].set_index("qid")["value"]
    assert routed_r3[sorted(set(qids) - half)].isna().all() and routed_r3[sorted(half)].notna().all()
    assert results.provenance["n"]["routed"]["R@3"] == len(half)
    assert results.provenance["n"]["BM25>reader"]["R@3"] == len(qids)
    assert "answered without retrieval" in results.provenance["not_applicable"]["routed"]["R@3"]
    bm25_r3 = pq[(pq["system"] == "BM25") & (pq["measure"] == "R@3")].set_index("qid")["value"]
    assert routed_r3.dropna().to_dict() == bm25_r3[sorted(half)].to_dict()
    # cost: a question without an answer row is not scored (the same rule on both paths)
    assert table.loc["lossy", "LLMTokens"] == pytest.approx(
        evaluate(results.runs["lossy"], None, ["LLMTokens"], qids)["LLMTokens"])
    assert results.provenance["n"]["lossy"]["LLMTokens"] == 9
    # a retriever spends no LLM tokens: a question without a row of its ranking costs 0
    assert table.loc["BM25", "LLMTokens"] == 0.0


def test_p_mrr_agrees_on_both_paths(tmp_path):
    from rag.evaluation.pmrr import PMRR
    from retrievers.instruction_pair import InstructionPair
    from retrievers.lucene import LuceneBM25
    from retrievers.text import CandidatePool
    from tests.test_pmrr import write_followir

    ds = load_dataset("followir", path=write_followir(tmp_path / "mini"))
    inner = CandidatePool(ds) >> LuceneBM25(ds.corpus, rerank=True)
    results = Experiment({"BM25": InstructionPair(inner)}, ds, ["AP@1000", "p-MRR"], cache=tmp_path / "c").run()
    paired = results.runs["BM25"]
    direct = evaluate(paired, ds.qrels(), ["AP@1000", PMRR().bind_dataset(ds)], ds.queries()["qid"])
    assert direct == pytest.approx(results.table.loc["BM25"].to_dict())


class Judge:
    """An LLM judge that always says the same word."""

    def __init__(self, word: str):
        self.word, self.name = word, f"always-{word}"

    def generate(self, prompts, **kw):
        return [Generation(self.word, prompt_tokens=1, completion_tokens=1, latency_s=0.0) for _ in prompts]

    def option_probs(self, prompts, options):
        return [{o: float(o == self.word) for o in options} for _ in prompts]


def test_changing_the_judge_changes_the_values(demo, tmp_path, restore_judge):
    """The judge set with set_judge is part of the evaluation's cache key: a re-run after changing it never
    returns the old judge's scores."""
    systems = {"closed-book": Reader(llm=AnswerFromPassages(), template="closed_book")}
    queries = demo.queries().head(4)
    set_judge(Judge("yes"))
    first = Experiment(systems, demo, ["LLM-Eval"], queries=queries, cache=Cache(tmp_path / "c")).run()
    set_judge(Judge("no"))
    second = Experiment(systems, demo, ["LLM-Eval"], queries=queries, cache=Cache(tmp_path / "c")).run()
    assert first.table.loc["closed-book", "LLM-Eval"] == 1.0
    assert second.table.loc["closed-book", "LLM-Eval"] == 0.0
    assert first.provenance["measure_info"]["LLM-Eval"]["judge"] == "always-yes"
    assert second.provenance["measure_info"]["LLM-Eval"]["judge"] == "always-no"


@dataclass(frozen=True)
class Weighted:
    """A measure with a table as a parameter: the weight of each question."""

    weights: pd.DataFrame
    name: str = "Weighted"
    kind: ClassVar[str] = "correctness"
    better: ClassVar[str] = "higher"

    def per_query(self, results, qrels):
        w = self.weights.set_index("qid")["w"]
        return pd.Series(results["qid"].map(w).to_numpy(dtype=float), index=results["qid"].to_numpy())


def test_a_measure_parameter_table_is_in_the_cache_key(demo, tmp_path):
    systems = {"closed-book": Reader(llm=AnswerFromPassages(), template="closed_book")}
    qids = demo.queries()["qid"]
    runs = []
    for weight in (1.0, 2.0):
        measure = Weighted(pd.DataFrame({"qid": qids, "w": weight}))
        runs.append(Experiment(systems, demo, [measure], cache=Cache(tmp_path / "c")).run())
    assert [r.table.loc["closed-book", "Weighted"] for r in runs] == [1.0, 2.0]


RUN_FILES = {
    "spaces": "q1 Q0 d1 1 3.5 t\nq1 Q0 d2 2 2.5 t\nq10 Q0 d1 1 1.0 t\n\nq2 Q0 d3 1 0.1 t\n",
    "ties": "q1 Q0 dB 1 1.0 t\nq1 Q0 dA 2 1.0 t\nq1 Q0 d10 3 1.0 t\nq1 Q0 d9 4 2.0 t\nq0 Q0 z 1 1 t\n",
    "tabs and CRLF": "q1\tQ0\td1\t1\t3.5\tt\r\nq1\tQ0\td2\t2\t2.5\tt\r\n",
    "byte-order mark": "\ufeffq1 Q0 d1 1 3.5 t\n",
    "unicode ids": "q1 Q0 dé 1 3.5 t\nq1 Q0 日本 2 1.5 t\n",
    "exact floats": "q1 Q0 d1 1 0.30000000000000004 t\nq1 Q0 d2 2 1e-300 t\nq1 Q0 d3 3 -inf t\n",
}
BAD_RUNS = {
    "q1 Q0 d1 1 3.5 t\nq1 Q0 d2 2 2.5\n": ":2: a run line needs 6 fields",
    "q1\tQ0\td 1\t1\t1\tt\n": "contains whitespace",
    "q1 Q0 d1 1 x t\n": ":1 field 'score': score 'x' is not a number",
    "q1 Q0 d1 1 1 t\nq1 Q0 d1 2 0.5 t\n": "document 'd1' appears twice for query 'q1'",
    "q1 Q0 d\u200b1 1 1 t\n": ":1 field 'docno': document id 'd\\u200b1' contains an invisible format character",
}


def test_the_fast_run_reader_equals_the_line_reader_and_names_bad_lines(tmp_path, monkeypatch):
    from rag.datasets import trec

    for name, text in RUN_FILES.items():
        path = tmp_path / f"{name}.trec"
        path.write_text(text, encoding="utf-8")
        fast = trec.read_run(path)
        with monkeypatch.context() as m:
            m.setattr(trec, "_read_run_fast", lambda p: None)
            slow = trec.read_run(path)
        pd.testing.assert_frame_equal(fast, slow, obj=name)
    assert trec.read_run(tmp_path / "ties.trec")["docno"].tolist() == ["z", "d9", "d10", "dA", "dB"]
    for text, message in BAD_RUNS.items():
        path = tmp_path / "bad.trec"
        path.write_text(text, encoding="utf-8")
        with pytest.raises(InputError, match=re.escape(message)):
            trec.read_run(path)
