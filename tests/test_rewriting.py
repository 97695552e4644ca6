"""Query rewriting stages: RaR (one- and two-step), HyDE, multi-query with RRF / union fusion (METHODS §8-9)."""
from __future__ import annotations

import pandas as pd
import pytest

from rag.core.build import BuildContext, build_stage
from rag.core.errors import InputError
from rag.core.stage import FunctionStage
from rag.rewriting import prompts
from rag.rewriting.expansion import HyDE, MultiQuery, union_in_order
from rag.rewriting.rar import OriginalQuery, RaRReader, Rephrase
from retrievers.fusion import reciprocal_rank_fusion
from tests.methods_fakes import ScriptedLLM

QUERIES = pd.DataFrame({"qid": ["1", "2"], "query": ["Was Joe Biden born in an even month?", "Q"],
                        "answers": [["no"], ["a"]]})


def test_rar_prompts_are_the_reference_strings():
    assert prompts.rar_one_step("Was Joe Biden born in an even month?", spec="") == \
        '"Was Joe Biden born in an even month?"\nRephrase and expand the question, and respond. '
    assert prompts.rar_respond("Q", "R", spec="") == \
        "(original) Q\n(rephrased) R\nUse your answer for the rephrased question to answer the original question."
    assert prompts.rar_respond("Q", "R", style="gpt-3.5").startswith("(original) Q\n(revised) R\n")
    assert prompts.strip_quotes('"R"') == "R" and prompts.strip_quotes('"R') == '"R'


def test_rar_one_step_reader_sends_the_one_step_prompt_and_keeps_the_question():
    llm = ScriptedLLM(lambda p, _: "The answer is no.")
    out = RaRReader(llm=llm, mode="one-step")(QUERIES)
    assert llm.prompts[0] == prompts.rar_one_step(QUERIES["query"][0])
    assert out["query"].tolist() == QUERIES["query"].tolist()
    assert out["answer"].tolist() == ["The answer is no.", "The answer is no."]
    assert out["rar_prompt"][0] == llm.prompts[0] and not out["retrieved"].any()


def test_two_step_uses_the_rephrase_stage_and_counts_both_costs():
    rephraser = ScriptedLLM(lambda p, _: '"Expanded ' + p.split('"')[1] + '"')
    responder = ScriptedLLM(lambda p, _: "yes")
    pipeline = Rephrase(llm=rephraser, target="question") >> RaRReader(llm=responder, mode="two-step")
    out = pipeline(QUERIES)
    assert rephraser.prompts[1] == prompts.rar_rephrase("Q")
    assert responder.prompts[1] == prompts.rar_respond("Q", "Expanded Q")   # quotes stripped
    assert out["query"].tolist() == QUERIES["query"].tolist()
    one = out.set_index("qid").loc["2"]
    assert one["llm_prompt_tokens"] == len(prompts.rar_rephrase("Q").split()) + len(responder.prompts[1].split())


def test_two_step_without_a_rephrase_stage_rephrases_itself():
    llm = ScriptedLLM(lambda p, _: "R" if "rephrase and expand it" in p else "A")
    out = RaRReader(llm=llm, mode="two-step")(QUERIES.head(1))
    assert len(llm.prompts) == 2 and out["answer"][0] == "A"


def test_rephrase_for_retrieval_then_original_query_restores_the_question():
    llm = ScriptedLLM(lambda p, _: "rewritten")
    seen = {}

    def retrieve(frame):
        seen["query"] = frame["query"].tolist()
        return frame.assign(docno="d1", score=1.0, rank=0)

    out = (Rephrase(llm=llm) >> FunctionStage(retrieve) >> OriginalQuery())(QUERIES)
    assert seen["query"] == ["rewritten", "rewritten"]
    assert out["query"].tolist() == QUERIES["query"].tolist()
    assert out["rephrased_query"].tolist() == ["rewritten", "rewritten"]


def test_rephrase_rejects_an_unknown_target():
    with pytest.raises(InputError, match="target"):
        Rephrase(llm=ScriptedLLM(lambda p, _: ""), target="reader")


def test_hyde_concatenates_query_and_passages_and_samples_with_seeds():
    llm = ScriptedLLM(lambda p, params: f" passage{params['seed']} ")
    out = HyDE(llm=llm, n=2, temperature=0.7)(QUERIES.head(1))
    assert llm.prompts[0] == "Please write a passage to answer the question.\nQuestion: " \
        "Was Joe Biden born in an even month?\nPassage:"
    assert out["query"][0] == "Was Joe Biden born in an even month? passage0 passage1"
    assert out["original_query"][0] == QUERIES["query"][0]
    replaced = HyDE(llm=llm, mode="replace")(QUERIES.head(1))
    assert replaced["query"][0] == "passage0"


def test_multi_query_prompt_parse_and_fusion():
    assert prompts.parse_lines("1. a\n\nb\n") == ["1. a", "b"]
    runs = [pd.DataFrame({"qid": ["q", "q"], "docno": ["d1", "d2"], "rank": [0, 1]}),
            pd.DataFrame({"qid": ["q", "q"], "docno": ["d2", "d3"], "rank": [0, 1]})]
    assert union_in_order(runs)["docno"].tolist() == ["d1", "d2", "d3"]
    fused = reciprocal_rank_fusion(runs, 60).set_index("docno")["score"]
    assert fused["d2"] == pytest.approx(1 / 62 + 1 / 61) and fused["d1"] == pytest.approx(1 / 61)


def test_multi_query_searches_each_rewrite_and_fuses_by_question():
    llm = ScriptedLLM(lambda p, _: "alpha\n\nbeta\ngamma\ndelta")
    searched = []

    def retrieve(frame):
        searched.extend(frame["query"].tolist())
        rows = []
        for qid, q in zip(frame["qid"], frame["query"]):
            docs = {"alpha": ["d1", "d2"], "beta": ["d2", "d3"]}.get(q, ["d9"])
            rows += [{"qid": qid, "query": q, "docno": d, "score": -r, "rank": r} for r, d in enumerate(docs)]
        return pd.DataFrame(rows)

    stage = MultiQuery(llm=llm, retriever=FunctionStage(retrieve), n=2, include_original=False)
    out = stage(QUERIES.head(1))
    assert searched == ["alpha", "beta"]           # 2 of the 3 rewrites, original not searched
    assert out["docno"].tolist()[0] == "d2" and set(out["docno"]) == {"d1", "d2", "d3"}
    assert out["query"][0] == QUERIES["query"][0] and out["rewritten_queries"][0] == ["alpha", "beta"]
    union = MultiQuery(llm=llm, retriever=FunctionStage(retrieve), n=2, include_original=False, fusion="union")
    assert union(QUERIES.head(1))["docno"].tolist() == ["d1", "d2", "d3"]


def test_stages_build_from_config_with_a_nested_retriever():
    stage = build_stage({"multi-query": {"n": 2, "retriever": {"rank-cutoff": {"k": 5}}}}, BuildContext())
    assert isinstance(stage, MultiQuery) and stage.retriever.name == "RankCutoff"
    assert build_stage({"rar": {"mode": "two-step"}}, BuildContext()).mode == "two-step"
