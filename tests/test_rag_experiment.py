"""RAG experiments are Experiments: closed-book, retrieve-then-read and judged systems in ONE table with ranking,
answer, faithfulness and cost measures; not-applicable cells are empty (never zero, never tested); every
question counts."""
from __future__ import annotations

import importlib.util
import textwrap
from pathlib import Path

import pandas as pd
import pytest

from rag.core.cache import Cache
from rag.core.stage import FunctionStage, walk
from rag.datasets import load_dataset
from rag.experiment import Experiment
from rag.judges import UtilityJudge
from rag.llm import Generation
from rag.readers import Reader
from rag.report import Board
from retrievers.text import AddText

REPO = Path(__file__).resolve().parents[1]
MEASURES = ["nDCG@10", "R@3", "EM", "F1", "K-Precision", "LLMTokens", "RetrievalRate"]


class AnswerFromPassages:
    """A deterministic 'LLM': answers with the first passage's first words, or 'no idea' closed-book; as a
    judge it keeps passage 1 unless the question mentions bread (then it selects nothing)."""

    name = "scripted-reader"

    def generate(self, prompts, **kw):
        out = []
        for p in prompts:
            text = p if isinstance(p, str) else p[-1]["content"]
            if "Please select the passage" in text:
                question = text.split("Given a question: ", 1)[1].split(". Please select", 1)[0]
                reply = "My selection: none" if "bread" in question else "My selection: [passage-0]"
            elif "Title:" in text:
                reply = text.split("Title:", 1)[1].split("\n", 2)[1][:40]
            else:
                reply = "no idea"
            out.append(Generation(reply, prompt_tokens=len(text.split()), completion_tokens=3, latency_s=0.01))
        return out

    def option_probs(self, prompts, options):
        return [{o: 1.0 / len(options) for o in options} for _ in prompts]


@pytest.fixture()
def demo():
    return load_dataset("demo")


def _bm25(dataset):
    from retrievers.lucene import LuceneBM25

    return LuceneBM25(dataset.corpus, k1=0.9, b=0.4) % 10 >> AddText(dataset.corpus)


def test_one_table_with_every_measure_kind_and_empty_cells(demo, tmp_path):
    llm = AnswerFromPassages()
    systems = {
        "closed-book": Reader(llm=llm, template="closed_book"),
        "BM25>reader": _bm25(demo) >> Reader(llm=llm, passages=3),
        "BM25>judge>reader": _bm25(demo) >> UtilityJudge(llm=llm, depth=3) >> Reader(llm=llm, passages=3),
        "BM25": _bm25(demo),
    }
    results = Experiment(systems, demo, MEASURES, baseline="BM25>reader", cache=Cache(tmp_path / "c")).run()
    table, notes = results.table, results.provenance["not_applicable"]
    n = len(demo.queries())
    # closed-book: no ranking, no passages -> empty cells with reasons, never 0
    assert table.loc["closed-book", ["nDCG@10", "R@3", "K-Precision"]].isna().all()
    assert "no ranking" in notes["closed-book"]["nDCG@10"] and "closed-book" in notes["closed-book"]["K-Precision"]
    assert table.loc["closed-book", "EM"] == 0.0 and table.loc["closed-book", "RetrievalRate"] == 0.0
    # a retriever has no answers: answer measures empty; its ranking measures equal the reader row's
    assert table.loc["BM25", ["EM", "F1", "K-Precision"]].isna().all() and "only retrieves" in notes["BM25"]["EM"]
    assert table.loc["BM25", "nDCG@10"] == pytest.approx(table.loc["BM25>reader", "nDCG@10"]) == pytest.approx(0.8315, abs=1e-4)
    # the judge kept nothing for the bread question: it is still answered (closed-book) and still counted
    pq = results.per_query
    judged = pq[(pq["system"] == "BM25>judge>reader")]
    assert judged[judged["measure"] == "EM"]["value"].notna().sum() == n
    assert judged[judged["measure"] == "K-Precision"]["value"].isna().sum() == 1
    assert "1 of 14 questions not scored" in notes["BM25>judge>reader"]["K-Precision"]
    answers = results.runs["BM25>judge>reader"]
    bread = answers[answers["query"].str.contains("bread")].iloc[0]
    assert bread["passages"] == 0 and not bread["retrieved"] and bread["answer"] == "no idea"
    # cost: the judge's tokens are added to the reader's
    assert table.loc["BM25>judge>reader", "LLMTokens"] > table.loc["BM25>reader", "LLMTokens"] > 0
    assert table.loc["BM25", "LLMTokens"] == 0.0
    # significance: never on an empty cell; every measure kind is tested where both sides have values
    sig = results.significance
    assert sig[(sig["system"] == "closed-book") & sig["measure"].isin(["nDCG@10", "K-Precision"])].empty
    assert set(sig["measure"]) >= {"nDCG@10", "EM", "F1", "LLMTokens"}
    # the boards say why cells are empty; the answering system's ranking is saved next to its answers
    folder = results.save(tmp_path / "out")
    md = (folder / "leaderboard.md").read_text()
    assert "| closed-book | – | – |" in md and "–: closed-book, nDCG@10: no ranking" in md
    assert "n: BM25>judge>reader, K-Precision: 1 of 14 questions not scored" in md
    html = (folder / "leaderboard.html").read_text()
    assert "Empty and partial cells" in html and 'title="no ranking' in html
    assert (folder / "runs" / "BM25_judge_reader.jsonl").exists() and (folder / "runs" / "BM25_judge_reader.trec").exists()
    assert Board.load(folder).note("closed-book", "R@3").startswith("no ranking")


def test_cost_and_n_do_not_change_on_a_cached_rerun(demo, tmp_path):
    llm = AnswerFromPassages()
    systems = {"closed-book": Reader(llm=llm, template="closed_book"), "BM25>reader": _bm25(demo) >> Reader(llm=llm, passages=2)}
    first = Experiment(systems, demo, MEASURES, cache=Cache(tmp_path / "c")).run()
    again = Experiment(systems, demo, MEASURES, cache=Cache(tmp_path / "c")).run()
    pd.testing.assert_frame_equal(first.table, again.table)
    pd.testing.assert_frame_equal(first.per_query, again.per_query)


def test_a_stage_that_drops_questions_is_reported_not_hidden(demo, tmp_path, caplog):
    llm = AnswerFromPassages()
    half = FunctionStage(lambda q: Reader(llm=llm, template="closed_book")(q).head(7), name="lossy")
    results = Experiment({"lossy": half}, demo, ["EM", "LLMTokens"], cache=Cache(tmp_path / "c")).run()
    assert "7 of 14 questions have no answer row" in caplog.text
    assert "7 of 14 questions not scored: no answer row" in results.provenance["not_applicable"]["lossy"]["EM"]


@pytest.mark.skipif(importlib.util.find_spec("llama_cpp") is None, reason="llama-cpp-python (the llm extra) missing")
def test_mixed_yaml_with_the_offline_llm(tmp_path):
    """The experiment a RAG researcher writes, from YAML, with the offline Qwen reader (2 questions, 10 LLM calls;
    here the judge keeps no passage of q01, whose reader then answers without any, and one of q02)."""
    from rag.experiment.config import load_experiment

    config = tmp_path / "rag.yaml"
    config.write_text(textwrap.dedent("""
        name: mixed
        dataset: demo
        queries: {limit: 2}
        measures: [nDCG@10, EM, F1, K-Precision, LLMTokens]
        baseline: BM25 > reader
        pipelines:
          closed-book: {reader: {template: closed_book, max_tokens: 16}}
          BM25 > reader: [{bm25: {}}, add-text, {reader: {passages: 2, max_tokens: 16}}]
          BM25 > judge > reader: [{bm25: {}}, add-text, {utility-judge: {depth: 2, method: pointwise}},
                                  {reader: {passages: 2, max_tokens: 16}}]
    """))
    experiment = load_experiment(config, cache=tmp_path / "cache")
    results = experiment.run()
    table = results.table
    assert list(table.columns) == ["nDCG@10", "EM", "F1", "K-Precision", "LLMTokens"]
    assert table.loc["closed-book", ["nDCG@10", "K-Precision"]].isna().all()
    assert table.loc["BM25 > reader", ["nDCG@10", "F1", "LLMTokens"]].notna().all()
    assert table.loc["BM25 > judge > reader", "LLMTokens"] > table.loc["BM25 > reader", "LLMTokens"]
    for system in table.index:   # every question answered, by every system
        assert len(results.runs[system]) == 2 and results.runs[system]["answer"].map(type).eq(str).all()


def test_gold_among_distractors_and_the_oracle(demo, tmp_path):
    """The utility-judge setting (each question's gold passages hidden among BM25 distractors) and the qrels
    oracle (the gold passages alone) as stages: keeping everything has set recall 1."""
    from retrievers.lucene import LuceneBM25
    from retrievers.text import GoldAmongDistractors, QrelsOracle

    pool = GoldAmongDistractors(LuceneBM25(demo.corpus, k=20), demo, candidates=4, seed=3)
    out = pool(demo.queries())
    qrels = demo.qrels()
    relevant = qrels[qrels["label"] > 0].groupby("qid")["docno"].apply(set)
    for qid, group in out.groupby("qid"):
        assert relevant[qid] <= set(group["docno"]) and len(group) <= max(4, len(relevant[qid]))
    assert out.equals(GoldAmongDistractors(LuceneBM25(demo.corpus, k=20), demo, candidates=4, seed=3)(demo.queries()))
    results = Experiment({"keep all": pool, "oracle": QrelsOracle(demo)}, demo, ["SetR", "SetP", "nDCG@10"],
                         cache=Cache(tmp_path / "c")).run()
    assert results.table.loc["keep all", "SetR"] == 1.0 and results.table.loc["oracle", "SetP"] == 1.0


def test_without_an_llm_runtime_the_default_job_runs_its_retrieval_part(monkeypatch, caplog):
    """README command 1 on a machine without llama.cpp: one line says so, the retrieval part still runs."""
    import rag.llm.stage as llm_stage
    from rag.core.errors import MissingDependencyError
    from rag.experiment.config import load_experiment

    def no_runtime(spec):
        raise MissingDependencyError("llama-cpp-python", extra="llm", purpose="the offline LLM")

    monkeypatch.setattr(llm_stage, "resolve_llm", no_runtime)
    experiment = load_experiment(REPO / "rag" / "configs" / "default.yaml")
    assert "closed-book" not in experiment.pipelines and len(experiment.pipelines) == 3
    assert experiment.baseline in experiment.pipelines
    assert not any(isinstance(s, llm_stage.LLMStage) for p in experiment.pipelines.values() for s in walk(p))
    warning = [r.getMessage() for r in caplog.records if "no working LLM runtime" in r.getMessage()]
    assert len(warning) == 1 and "llama-cpp-python" in warning[0] and "closed-book dropped" in warning[0]
