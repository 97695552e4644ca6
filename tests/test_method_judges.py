"""TICK, Meta Ranking, HREF, sampled judges and judge-variance intervals (METHODS.md §13-15, §17)."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from rag.core.errors import InputError
from rag.evaluation.judged.cost import ContextTokens, LLMCalls, RetrievalCalls
from rag.evaluation.judged.measures import HREF, TICK, MetaRanking, SampledLLMEval
from rag.evaluation.judged.variance import bootstrap_interval, judge_spread, paired_interval
from rag.evaluation.measures import parse_measure
from rag.judges.checklist import CHECKLIST_PROMPT, parse_checklist, parse_verdict, pass_rate, tick
from rag.judges.meta_ranking import Reference, meta_ranking, references_from, vote
from rag.judges.method_stages import MetaRankingSignal, TickJudge
from rag.judges.reference import outcome, pairwise_with_reference, win_rate
from tests.methods_fakes import ScriptedLLM

ANSWERS = pd.DataFrame({"qid": ["1", "2"], "query": ["Capital of Norway?", "Capital of Peru?"],
                        "answer": ["Oslo", "I think Quito"], "answers": [["Oslo"], ["Lima"]],
                        "contexts": [["Oslo is the capital."], []]})


# ------------------------------------------------------------------ TICK
def test_checklist_parsing_of_well_formed_and_malformed_replies():
    reply = "Analysis: the user wants a city.\nAnswer:\n1. Does it name a city?\n- Is it the capital?\n"
    assert parse_checklist(reply) == ["Does it name a city?", "Is it the capital?"]
    assert parse_checklist("**Answer:** Q1: Is it short?\nQ2) Is it correct?") == ["Is it short?", "Is it correct?"]
    assert parse_checklist("Is it right?\nIs it polite?") == ["Is it right?", "Is it polite?"]   # no Answer: line
    assert parse_checklist("Answer:\nmentions a city\nnames the capital") == ["mentions a city", "names the capital"]
    assert parse_checklist("") == [] and parse_checklist(None) == []
    many = "Answer:\n" + "\n".join(f"Item {i}?" for i in range(12))
    assert len(parse_checklist(many)) == 8


def test_verdict_parsing_and_pass_rate_hand_worked():
    assert parse_verdict("YES") is True and parse_verdict("**No**, because") is False
    assert parse_verdict("eyes wide") is None and parse_verdict("") is None and parse_verdict(None) is None
    assert pass_rate([True, False, True, True]) == 0.75
    assert pass_rate([True, None, False]) == 0.5                # unparsable excluded from the denominator
    assert math.isnan(pass_rate([None, None]))


def _tick_llm():
    def reply(prompt, params):
        if prompt.startswith("Please help judge"):
            return "Analysis: x\nAnswer:\nDoes it name a city?\nIs it the right capital?"
        if "Is it the right capital?" in prompt:
            return "YES" if "Oslo" in prompt.split("### RESPONSE")[1] else "no"
        return "maybe" if params["seed"] == 1 else "Yes."
    return ScriptedLLM(reply)


def test_tick_checklist_once_per_question_and_verdicts_per_item():
    llm = _tick_llm()
    results = tick(llm, ["Capital of Norway?", "Capital of Norway?"], ["Oslo", "Bergen"])
    assert sum(p.startswith("Please help judge") for p in llm.prompts) == 1   # one checklist for both responses
    assert llm.prompts[0] == CHECKLIST_PROMPT.format(instruction="Capital of Norway?")
    assert [r.score for r in results] == [1.0, 0.5]
    assert results[0].checklist == ["Does it name a city?", "Is it the right capital?"]
    assert results[1].prompt_tokens < results[0].prompt_tokens              # the checklist is charged once


def test_tick_samples_and_unparsable_flags():
    llm = _tick_llm()
    result = tick(llm, ["Q?"], ["Oslo"], samples=2, temperature=0.7)[0]
    assert result.scores == [1.0, 1.0] and result.unparsable == 1          # seed 1: "maybe" dropped
    assert result.verdicts[1] == [None, True]


def test_tick_stage_keeps_checklist_and_verdicts_and_measure_agrees():
    out = TickJudge(llm=_tick_llm())(ANSWERS)
    assert out["tick_checklist"][0] == ["Does it name a city?", "Is it the right capital?"]
    assert out["tick_verdicts"][1] == [[True, False]] and out["tick_score"].tolist() == [1.0, 0.5]
    measure = TICK(name="TICK")
    object.__setattr__(measure, "judge", lambda: _tick_llm())
    assert measure.per_query(ANSWERS).tolist() == [1.0, 0.5]
    with pytest.raises(InputError, match="temperature"):
        TICK(name="TICK", samples=3)


# ------------------------------------------------------------------ Meta Ranking
def test_meta_ranking_votes_hand_worked():
    labels = [True, True, False, False, True]
    preferred = [True, False, False, True, True]
    votes = [vote(p, c) for p, c in zip(preferred, labels)]
    assert votes == [1, 0, -1, 0, 1] and sum(votes) / 5 == pytest.approx(0.2)


def test_meta_ranking_reads_both_orders_from_option_probabilities():
    refs = [Reference(f"r{i}", f"resp{i}", c) for i, c in enumerate([True, True, False, False, True])]
    prefer = {0: True, 1: False, 2: False, 3: True, 4: True}

    def probs(prompt, options):
        i = int(prompt.split("Question: r")[1][0])
        target_first = prompt.index("TARGET") < prompt.index(f"resp{i}")
        wins = prefer[i]
        p_a = (1.0 if wins else 0.0) if target_first else (0.0 if wins else 1.0)
        return {"A": p_a, "B": 1 - p_a}

    llm = ScriptedLLM(lambda p, _: "", probs=probs)
    result = meta_ranking(llm, ["q"], ["TARGET"], refs)[0]
    assert result.votes == [1, 0, -1, 0, 1] and result.score == pytest.approx(0.2)
    assert len(llm.prompts) == 10


def test_meta_ranking_references_from_labelled_questions():
    table = pd.DataFrame({"query": [f"q{i}" for i in range(8)], "answers": [[f"a{i}"] for i in range(8)]})
    refs = references_from(table, 5)
    assert [r.correct for r in refs] == [True, False, True, False, True]
    assert refs[0] == Reference("q2", "a2", True) and refs[1] == Reference("q3", "a4", False)
    with pytest.raises(InputError, match="labelled"):
        references_from(table.head(3), 5)


def test_meta_ranking_signal_stage_and_measure():
    llm = ScriptedLLM(lambda p, _: "", probs=lambda p, o: {"A": 0.9, "B": 0.1})   # always prefers slot A
    refs = [{"query": "r", "response": "x", "correct": True}, {"query": "s", "response": "y", "correct": False}]
    out = MetaRankingSignal(llm=llm, references=refs, combine="votes")(ANSWERS)
    # order 1 (target in A) -> target preferred: +1 vs correct, 0 vs incorrect; order 2 -> reference preferred:
    # 0 vs correct, -1 vs incorrect. Means: [0.5, -0.5] -> 0.0
    assert out["meta_ranking_votes"][0] == [0.5, -0.5] and out["meta_ranking"][0] == 0.0
    # averaging the probabilities first: P(target) = (0.9 + 0.1) / 2 = 0.5 -> a tie against every reference
    assert MetaRankingSignal(llm=llm, references=refs)(ANSWERS)["meta_ranking_votes"][0] == [0.0, 0.0]
    with pytest.raises(InputError, match="correct"):
        MetaRankingSignal(llm=llm, references=[{"query": "r", "response": "x"}])
    with pytest.raises(InputError, match="samples"):
        MetaRanking(name="MetaRanking", samples=2, temperature=0.5)


# ------------------------------------------------------------------ HREF
def test_href_outcomes_and_win_rate_hand_worked():
    assert [outcome(p) for p in (0.9, 0.5, 0.1)] == [1.0, 0.5, 0.0]
    assert win_rate([1.0, 1.0, 0.0, 0.5]) == 0.625     # prefs [2,2,0,1] -> wins 0.5 + ties 0.25/2


def test_href_judges_both_orders_with_the_reference():
    def probs(prompt, options):   # prefers whichever response contains the reference text
        a = prompt.split("## Response (a)\n")[1].split("\n\n")[0]
        reference = prompt.split("(human-written)\n")[1].split("\n\n")[0]
        return {"a": 0.8, "b": 0.2} if reference in a else {"a": 0.2, "b": 0.8}
    llm = ScriptedLLM(lambda p, _: "", probs=probs)
    out = pairwise_with_reference(llm, ["Q"], ["Oslo"], ["Bergen"], ["Oslo"])
    assert out == [1.0] and "Reference response (human-written)\nOslo" in llm.prompts[0]
    measure = HREF(name="HREF", baseline="baseline_answer")
    object.__setattr__(measure, "judge", lambda: llm)
    table = ANSWERS.assign(baseline_answer=["Bergen", "Lima"])
    assert measure.per_query(table).tolist() == [1.0, 0.0]
    with pytest.raises(InputError, match="baseline"):
        HREF(name="HREF")


def test_sampled_llm_eval_means_over_samples():
    llm = ScriptedLLM(lambda p, params: "yes" if "Oslo" in p and params["seed"] == 0 else "no")
    measure = SampledLLMEval(name="LLM-Eval-sampled", samples=2, temperature=1.0)
    object.__setattr__(measure, "judge", lambda: llm)
    assert measure.per_query(ANSWERS).tolist() == [0.5, 0.0]
    critic = parse_measure("LLM-Critic-sampled")
    assert critic.kind == "faithfulness"


# ------------------------------------------------------------------ variance
def test_judge_spread_hand_worked():
    one = judge_spread([[1], [0], [1], [1]])
    assert one.mean == 0.75 and one.se == pytest.approx(0.25) and math.isnan(one.judge_noise_share)
    two = judge_spread([[1, 0], [1, 1]])
    assert two.mean == 0.75 and two.judge_noise_share == pytest.approx(1.0)
    assert judge_spread([[1, float("nan")], [0, 0]]).dropped == 1


def test_bootstrap_is_reproducible_and_paired_identical_systems_give_zero():
    values = np.random.default_rng(1).random(50)
    assert bootstrap_interval(values, seed=3) == bootstrap_interval(values, seed=3)
    assert paired_interval(values, values) == (0.0, 0.0, 0.0)


def test_bootstrap_interval_covers_the_true_mean_at_about_95_percent():
    rng = np.random.default_rng(0)
    covered = 0
    for trial in range(200):
        sample = rng.binomial(1, 0.3, size=100).astype(float)     # true mean 0.3
        lo, hi = bootstrap_interval(sample, n_boot=400, seed=trial)
        covered += lo <= 0.3 <= hi
    assert 0.88 <= covered / 200 <= 0.99


# ------------------------------------------------------------------ cost measures
def test_cost_measures_of_active_readers_and_refiners():
    table = ANSWERS.assign(retrievals=[3, 1], llm_calls=[4, 2])
    assert RetrievalCalls("RetrievalCalls").per_query(table).tolist() == [3.0, 1.0]
    assert LLMCalls("LLMCalls").per_query(table).tolist() == [4.0, 2.0]
    assert ContextTokens("ContextTokens").per_query(ANSWERS).tolist() == [5.0, 0.0]


# ------------------------------------------------------------------ meta-evaluation
def test_meta_eval_computes_judge_measures_and_records_the_judge(tmp_path, monkeypatch, capsys):
    import json

    from rag.cli.meta_eval import run_cli
    from rag.evaluation.judged import measures as judged

    rows = [("capital of france", "It is Paris.", ["Paris"], "yes"), ("largest planet", "Saturn", ["Jupiter"], "no"),
            ("author of hamlet", "Shakespeare wrote it", ["Shakespeare"], "yes"),
            ("boiling point", "I don't know", ["100 degrees"], "no"),
            ("first president", "George Washington", ["George Washington"], "yes"),
            ("tallest mountain", "K2", ["Everest"], "no"), ("red planet", "Mars", ["Mars"], "yes"),
            ("big ocean", "Atlantic", ["Pacific"], "no")]
    path = tmp_path / "scores.jsonl"
    path.write_text("\n".join(json.dumps({"id_": str(i), "question": q, "response": r, "answer": a, "human_eval": h})
                              for i, (q, r, a, h) in enumerate(rows)))

    def reply(prompt, params):   # checklist: one item; verdict YES when the response is one of the right ones
        if prompt.startswith("Please help judge"):
            return "Answer:\nIs the answer correct?"
        response = prompt.split("### RESPONSE\n")[1].split("\n\n")[0]
        return "YES" if response in ("It is Paris.", "Shakespeare wrote it", "George Washington", "Mars") else "NO"

    llm = ScriptedLLM(reply, name="scripted-judge", probs=lambda p, o: {o[0]: 0.6, o[1]: 0.4})
    monkeypatch.setattr(judged.JudgedMeasure, "judge", lambda self: llm)
    table = run_cli(str(path), compute=["TICK", "MetaRanking(n_references=2)"], instructqa=True, n_boot=50,
                    output=str(tmp_path / "out"))
    row = table.set_index("metric").loc["TICK"]
    assert row["n"] == 8 and row["roc_auc"] == 1.0
    printed = capsys.readouterr().out
    assert "TICK: judge qwen-0.5b" in printed and "MetaRanking" in printed
    assert "judge qwen-0.5b" in (tmp_path / "out" / "meta_eval.md").read_text()


def test_meta_ranking_routes_unreliable_closed_book_answers_to_retrieval():
    from rag.adaptive.policies import ConfidenceThreshold
    from rag.adaptive.route import Route
    from rag.core.stage import FunctionStage
    from rag.readers.reader import Reader

    # the judge prefers the target (slot A/B holding it) only when the target's response is "Oslo"
    def probs(prompt, options):
        a = prompt.split("Pair A\n")[1].split("\n\n")[0]
        b = prompt.split("Pair B\n")[1].split("\n\n")[0]
        target_in_a = "Capital" in a
        good = "Response: Oslo" in (a if target_in_a else b)
        return {"A": 0.9, "B": 0.1} if good == target_in_a else {"A": 0.1, "B": 0.9}

    llm = ScriptedLLM(lambda p, _: "Oslo" if "Norway" in p else "Quito", probs=probs)
    refs = [{"query": "r", "response": "x", "correct": True}, {"query": "s", "response": "y", "correct": False}]
    reader = Reader(llm=llm, template="closed_book", max_tokens=8)
    policy = reader >> MetaRankingSignal(llm=llm, references=refs) >> ConfidenceThreshold(signal="meta_ranking",
                                                                                           threshold=0.5)
    rag = FunctionStage(lambda f: f[["qid", "query"]].assign(answer="Lima", retrieved=True))
    out = Route(policy=policy, recall=reader, retrieve=rag)(ANSWERS[["qid", "query"]])
    assert out["retrieved"].tolist() == [False, True] and out["answer"].tolist() == ["Oslo", "Lima"]


def test_checklist_parsing_of_a_small_models_inline_and_repeated_reply():
    reply = ("Analysis: The next movie is out in 2023.\nAnswer: CHECKLIST QUESTIONS (1. What is the next movie? "
             "2. When is it released?)\n\nAnalysis: The next movie is out in 2023.\nAnswer: CHECK")
    assert parse_checklist(reply) == ["What is the next movie?", "When is it released?"]
    same = "Answer: CHECKLIST QUESTIONS (1. Who won? 2. Who won? 3. Who won?"
    assert parse_checklist(same) == ["Who won?"]
