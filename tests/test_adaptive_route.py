"""Answerer, confidence signals, mention counts and the routing stage, with a scripted fake LLM."""
import math
from dataclasses import dataclass

import pandas as pd
import pytest

from rag.adaptive import (
    AlwaysRetrieve,
    ConfidenceThreshold,
    NeverRetrieve,
    PopularityThreshold,
)
from rag.adaptive.counts import MentionCounts
from rag.adaptive.route import Route
from rag.adaptive.signals import (
    AnswerConfidence,
    RTuningConfidence,
    SelfJudge,
    SureProbability,
)
from rag.core.errors import InputError
from rag.core.stage import FunctionStage
from rag.datasets import Corpus
from rag.readers.reader import ShortAnswerer, clean_answer


@dataclass
class Generation:
    text: str
    prompt_tokens: int
    completion_tokens: int
    latency_s: float
    cached: bool = False
    token_logprobs: list | None = None


class FakeLLM:
    """Answers from a table keyed by a word in the prompt; knows Paris only when a passage is given."""

    name = "fake"

    def __init__(self):
        self.calls = []

    def generate(self, prompts, *, max_tokens=64, temperature=0.0, stop=None, seed=0, logprobs=False):
        out = []
        for p in prompts:
            self.calls.append(p)
            if "Passage:" in p:
                text, lps = "Paris.\nmore", [-0.1]
            elif "France" in p:
                text, lps = "Lyon", [-2.0, -2.0]
            else:
                text, lps = "Berlin", [-0.01]
            out.append(Generation(text, len(p.split()), len(lps), 0.01, token_logprobs=lps if logprobs else None))
        return out

    def option_probs(self, prompts, options):
        out = []
        for p in prompts:
            self.calls.append(p)
            if options == ["sure", "unsure"]:
                out.append({"sure": 0.2, "unsure": 0.6} if "Lyon" in p else {"sure": 0.9, "unsure": 0.1})
            elif "broken" in p:
                out.append({})
            else:
                out.append({"9": 0.5, "7": 0.5} if "Berlin" in p else {"2": 1.0})
        return out

    def count_tokens(self, prompt):
        return len(prompt.split())


QUERIES = pd.DataFrame({"qid": ["q1", "q2"], "query": ["Capital of France?", "Capital of Germany?"],
                        "relation": ["capital", "capital"], "s_pop": [10.0, 1000.0]})


def test_clean_answer():
    assert clean_answer(" Paris.\nThe capital") == "Paris"
    assert clean_answer("") == ""


def test_short_answerer_closed_book_and_with_passages():
    llm = FakeLLM()
    closed = ShortAnswerer(llm=llm)(QUERIES)
    assert closed["answer"].tolist() == ["Lyon", "Berlin"]
    assert closed["answer_logprobs"].tolist() == [[-2.0, -2.0], [-0.01]]
    assert (closed["prompt_tokens"] > 0).all() and closed["contexts"].tolist() == [[], []]
    results = pd.DataFrame({"qid": ["q1", "q1", "q2"], "query": ["Capital of France?"] * 2 + ["Capital of Germany?"],
                            "docno": ["d2", "d1", "d3"], "score": [1.0, 2.0, 1.0], "rank": [1, 0, 0],
                            "text": ["second", "first", "third"]})
    rag = ShortAnswerer(llm=llm, passages=1)(results)
    assert rag["answer"].tolist() == ["Paris", "Paris"] and rag["contexts"].tolist() == [["first"], ["third"]]
    assert "docno" not in rag.columns
    with pytest.raises(InputError, match="add-text"):
        ShortAnswerer(llm=llm, passages=1)(results.drop(columns="text"))
    assert ShortAnswerer(llm=llm).fingerprint() == ShortAnswerer(llm=FakeLLM()).fingerprint()


def test_signals():
    llm = FakeLLM()
    closed = ShortAnswerer(llm=llm)(QUERIES)
    sig = (AnswerConfidence() >> SureProbability(llm=llm) >> SelfJudge(llm=llm) >> RTuningConfidence())(closed)
    assert sig["answer_confidence"].tolist() == pytest.approx([math.exp(-2.0), math.exp(-0.01)])
    assert sig["p_sure"].tolist() == pytest.approx([0.25, 0.9])
    assert sig["self_judge"].tolist() == pytest.approx([2.0, 8.0])
    assert sig["rtuning_confidence"].tolist() == pytest.approx([0.5 * math.exp(-2) + 0.125, 0.5 * math.exp(-0.01) + 0.45])
    assert (sig["tokens_p_sure"] > 10).all()
    assert "Are you sure you accurately answered the question based on your internal knowledge?" in llm.calls[-4]
    broken = SelfJudge(llm=llm)(closed.assign(answer=["broken", "broken"], answer_logprobs=[None, []]))
    assert broken["self_judge"].isna().all()
    assert AnswerConfidence()(closed.assign(answer_logprobs=[None, []]))["answer_confidence"].isna().all()


def test_route_runs_each_question_down_one_path():
    llm = FakeLLM()
    reader = ShortAnswerer(llm=llm)
    passages = FunctionStage(lambda q: q.assign(docno="d", score=1.0, rank=0, text="Paris is the capital"),
                             name="one_passage")
    rag = passages >> ShortAnswerer(llm=llm, passages=1)
    confident = reader >> AnswerConfidence() >> ConfidenceThreshold(threshold=0.5)
    out = Route(policy=confident, recall=reader, retrieve=rag)(QUERIES)
    assert out["qid"].tolist() == ["q1", "q2"]
    assert out["retrieved"].tolist() == [True, False]
    assert out["answer"].tolist() == ["Paris", "Berlin"]
    assert out["answer_confidence"].notna().all() and "retrieve" not in out.columns
    # metadata policy: recall runs only on the questions it keeps
    llm.calls.clear()
    policy = PopularityThreshold(cuts={"capital": math.log10(100)})
    out = Route(policy=policy, recall=reader, retrieve=rag)(QUERIES)
    assert out["retrieved"].tolist() == [True, False] and len(llm.calls) == 2
    assert Route(policy=NeverRetrieve(), recall=reader, retrieve=rag)(QUERIES)["retrieved"].sum() == 0
    assert Route(policy=AlwaysRetrieve(), recall=reader, retrieve=rag)(QUERIES)["answer"].eq("Paris").all()
    with pytest.raises(InputError, match="retrieve"):
        Route(policy=reader, recall=reader, retrieve=rag)(QUERIES)


def test_route_builds_from_a_config():
    from rag.core.build import BuildContext, build_stage
    stage = build_stage({"adaptive-route": {"policy": {"popularity-threshold": {"cuts": {"capital": 3.0}}},
                                            "recall": "never-retrieve", "retrieve": "always-retrieve"}},
                        BuildContext())
    assert isinstance(stage, Route) and stage.policy.cuts == {"capital": 3.0}


def test_mention_counts():
    corpus = Corpus([{"docno": "1", "title": "", "text": "Ada Lovelace was born in London."},
                     {"docno": "2", "title": "Ada Lovelace", "text": "Her father was Lord Byron."},
                     {"docno": "3", "title": "", "text": "Ada wrote notes."}])
    q = pd.DataFrame({"qid": ["a", "b", "c"], "subject": ["Ada Lovelace", "Ada Lovelace", "Nobody"],
                      "relation": ["place of birth", "father", "sport"]})
    out = MentionCounts(corpus=corpus)(q)
    assert out["s_count"].tolist() == [2, 2, 0]
    assert out["sr_count"].tolist() == [1, 1, 0]
    with pytest.raises(InputError):
        MentionCounts(corpus=corpus)(q.drop(columns="subject"))


def test_answer_measures_on_routed_answers():
    from rag.evaluation import parse_measure
    llm = FakeLLM()
    reader = ShortAnswerer(llm=llm)
    rag = FunctionStage(lambda q: q.assign(docno="d", score=1.0, rank=0, text="x"), name="p") >> ShortAnswerer(llm=llm, passages=1)
    queries = QUERIES.assign(answers=[["Paris"], ["berlin"]])
    out = Route(policy=PopularityThreshold(cuts={"capital": math.log10(100)}), recall=reader, retrieve=rag)(queries)
    assert parse_measure("AliasAcc").per_query(out, None).to_dict() == {"q1": 1.0, "q2": 1.0}
    assert parse_measure("RetrievalRate").per_query(out, None).to_dict() == {"q1": 1.0, "q2": 0.0}
    assert (parse_measure("LLMTokens").per_query(out, None) > 0).all()
    with pytest.raises(InputError):
        parse_measure("RetrievalRate").per_query(queries, None)


def test_popqa_route_config_builds():
    from pathlib import Path

    from rag.datasets import data_root
    root = data_root()
    if root is None or not (root / "popqa-longtail").exists():
        pytest.skip("shared data popqa-longtail is absent (set RAGIF_DATA)")
    from rag.experiment.config import load_experiment
    experiment = load_experiment(Path(__file__).resolve().parents[1] / "experiments" / "popqa_route.yaml")
    routes = {name: p for name, p in experiment.pipelines.items() if isinstance(p, Route)}
    assert set(routes) == {"popularity-route", "confidence-route"}
    assert routes["popularity-route"].policy.cuts["country"] == 1.74
    # the cuts are log10 of monthly views: 1.74 retrieves below 55 views for the relations it names
    questions = experiment.queries()
    assert questions["relation"].nunique() > 5            # a stratified sample, not the first 40 (one relation)
    policy = routes["popularity-route"].policy
    named = questions["relation"].isin(set(policy.cuts))
    expected = ~named | (questions["s_pop"] < 10 ** 1.74)   # relations without a cut: default retrieve
    assert (policy(questions)["retrieve"] == expected).all() and (named & ~expected).any()
    assert routes["confidence-route"].policy.stages[-1].threshold == 0.5
