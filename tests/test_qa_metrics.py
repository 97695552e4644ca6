"""Answer metrics against hand-computed values of the reference definitions (METHODS §1.3-1.5)."""
from __future__ import annotations

import math
import random

import pandas as pd
import pytest

from rag.core.errors import InputError
from rag.evaluation.answers import correctness_scores, faithfulness_scores, normalize_answer, score_answers
from rag.evaluation.answers.llm_judge import CORRECTNESS_USER, parse_yes_no
from rag.evaluation.answers.meteor import meteor_pair, meteor_stages, meteor_tokens
from rag.evaluation.answers.overlap import reference_correctness
from rag.evaluation.answers.rouge import rouge_pair, rouge_tokens


def one(response, golds):
    return correctness_scores([response], [golds]).iloc[0].to_dict()


def test_normalisation_is_the_squad_recipe():
    assert normalize_answer("The  Quick, brown fox!") == "quick brown fox"
    assert normalize_answer("An apple a day") == "apple day"
    assert normalize_answer("theatre") == "theatre"          # whole words only
    assert normalize_answer(None) == ""
    assert normalize_answer("Café—ok") == "café—ok"           # no unicode folding; em dash is not ASCII punctuation


def test_correctness_hand_computed():
    s = one("Paris is the capital of France", ["Paris"])
    assert s["EM"] == 0 and s["Precision"] == pytest.approx(0.2) and s["Recall"] == 1.0
    assert s["F1"] == pytest.approx(1 / 3) and s["Recall-S"] == 1.0 and s["Recall-S-word"] == 1.0
    assert one("The Eiffel Tower.", ["eiffel tower"])["EM"] == 1.0


def test_max_over_golds_is_per_metric():
    s = one("born in 1990 in Ohio", ["1990", "Ohio, USA"])
    assert s["F1"] == pytest.approx(1 / 3)          # from "1990"; "Ohio, USA" gives 2/7
    assert s["Recall"] == 1.0 and s["Precision"] == pytest.approx(0.2)


def test_multiset_overlap():
    s = one("dog dog cat", ["dog cat cat"])
    assert s["Precision"] == pytest.approx(2 / 3) and s["Recall"] == pytest.approx(2 / 3)
    assert s["F1"] == pytest.approx(2 / 3)


def test_recall_s_substring_quirk_and_word_variant():
    s = one("a party", ["art"])
    assert s["Recall-S"] == 1.0 and s["Recall-S-word"] == 0.0
    s = one("It was the New York Times.", ["new york"])
    assert s["Recall-S"] == 1.0 and s["Recall-S-word"] == 1.0


def test_empty_edge_cases_follow_reference_code():
    s = one("", ["x"])
    assert s == {"EM": 0.0, "F1": 0.0, "Precision": 0.0, "Recall": 0.0, "Recall-S": 0.0, "Recall-S-word": 0.0}
    s = one("cat", ["the"])                          # gold normalises to nothing
    assert s["Recall"] == 1.0 and s["F1"] == 0.0 and s["Precision"] == 0.0 and s["EM"] == 0.0
    s = one("the", ["an"])                           # both empty
    assert s["EM"] == 1.0 and s["F1"] == 1.0 and s["Precision"] == 0.0 and s["Recall"] == 1.0


def test_vectorised_equals_plain_reference_on_random_strings():
    rng = random.Random(0)
    words = ["the", "a", "cat", "Cat,", "dog", "1990", "new", "york", "", "an", "art", "party"]
    responses = [" ".join(rng.choices(words, k=rng.randint(0, 8))) for _ in range(300)]
    golds = [[" ".join(rng.choices(words, k=rng.randint(0, 3))) for _ in range(rng.randint(1, 3))]
             for _ in range(300)]
    fast = correctness_scores(responses, golds)
    for i, (r, g) in enumerate(zip(responses, golds)):
        ref = reference_correctness(r, g)
        for k, v in ref.items():
            assert fast.loc[i, k] == pytest.approx(v), (i, k, r, g)


def test_faithfulness_hand_computed():
    f = faithfulness_scores(["Obama was born in Hawaii in 1961"],
                            ["Barack Obama was born in Honolulu, Hawaii. He was born on August 4, 1961."],
                            ["where was obama born"]).iloc[0]
    assert f["K-Precision"] == pytest.approx(6 / 7)
    assert f["K-Recall"] == pytest.approx(6 / 14)
    assert f["K-F1"] == pytest.approx(4 / 7)
    assert f["K-Precision++"] == pytest.approx(3 / 4)
    assert f["K-Recall++"] == pytest.approx(3 / 14)
    assert f["K-F1++"] == pytest.approx(1 / 3)


def test_faithfulness_edge_cases():
    f = faithfulness_scores(["Obama was born", "", "x"], ["Obama", "evidence", ""],
                            ["was obama born", "q", "q"])
    assert f.loc[0, ["K-Precision++", "K-Recall++", "K-F1++"]].tolist() == [1.0, 1.0, 1.0]  # nothing left
    assert f.loc[1, "K-Precision"] == 0.0 and f.loc[1, "K-F1"] == 0.0
    assert f.loc[1, "K-Precision++"] == 1.0            # empty response: nothing left after removal -> 1
    assert f.loc[2, "K-Recall"] == 1.0 and f.loc[2, "K-F1"] == 0.0


def test_score_answers_joins_contexts_and_uses_history():
    frame = pd.DataFrame({"qid": ["1"], "query": ["where was he born"],
                          "answer": ["He was born in Hawaii"], "answers": [["Hawaii"]],
                          "contexts": [["Obama was born in", "Honolulu, Hawaii"]],
                          "history": [[{"speaker": "User", "utterance": "Tell me about Obama"}]]})
    out = score_answers(frame, ["EM", "Recall", "K-Precision", "K-Precision++"])
    assert out.loc[0, "Recall"] == 1.0 and out.loc[0, "EM"] == 0.0
    assert out.loc[0, "K-Precision"] == pytest.approx(4 / 5)   # he, was, born, in, hawaii: "he" unsupported
    assert out.loc[0, "K-Precision++"] == 1.0                   # only "hawaii" is left, and it is in the evidence


def test_score_answers_errors_are_clear():
    frame = pd.DataFrame({"query": ["q"], "answer": ["a"], "answers": [[]]})
    with pytest.raises(InputError, match="no gold answer"):
        score_answers(frame, ["EM"])
    with pytest.raises(InputError, match="did you mean 'K-Precision'"):
        score_answers(frame, ["K-Precison"])
    with pytest.raises(InputError, match="contexts"):
        score_answers(frame.assign(answers=[["a"]]), ["K-F1"])


def test_rouge_hand_computed():
    r = rouge_pair(rouge_tokens("the cat sat on the mat"), rouge_tokens("The cat is on the mat."))
    assert r["ROUGE-L"] == pytest.approx(5 / 6) and r["ROUGE-1"] == pytest.approx(5 / 6)
    assert r["ROUGE-2"] == pytest.approx(3 / 5)
    assert rouge_pair([], ["a"])["ROUGE-L"] == 0.0


def test_meteor_hand_computed():
    same = meteor_tokens("the cat sat on the mat")
    assert meteor_pair(same, same) == pytest.approx(1 - 0.5 * (1 / 6) ** 3)
    shuffled = meteor_tokens("on the mat the cat sat")
    assert meteor_pair(shuffled, same) == pytest.approx(1 - 0.5 * (5 / 6) ** 3)   # 6 matches in 5 chunks
    assert meteor_pair(meteor_tokens("dog"), same) == 0.0
    assert meteor_pair(meteor_tokens("cats running"), meteor_tokens("cat runs")) == pytest.approx(1 - 0.5 / 8)
    assert meteor_pair([], same) == 0.0 and meteor_pair(same, []) == 0.0


def test_meteor_tokens_are_nltk_word_tokenize_and_stages_are_recorded():
    assert meteor_tokens("Dr. Smith went to the U.S. in 1990. He said: \"it's fine.\" Then he left.") == [
        "Dr.", "Smith", "went", "to", "the", "U.S.", "in", "1990", ".", "He", "said", ":", "``", "it", "'s", "fine",
        ".", "''", "Then", "he", "left", "."]
    frame = pd.DataFrame({"answer": ["cats running"], "answers": [["cat runs"]]})
    out = score_answers(frame, ["METEOR"])
    assert out.attrs["meteor_stages"] == meteor_stages() and meteor_stages()[:2] == ("exact", "stem")
    assert meteor_stages(False) == ("exact", "stem")


def test_meteor_takes_best_reference():
    frame = pd.DataFrame({"query": ["q"], "answer": ["the cat sat"], "answers": [["dog", "the cat sat"]]})
    assert score_answers(frame, ["METEOR"]).loc[0, "METEOR"] == pytest.approx(1 - 0.5 * (1 / 3) ** 3)


class FakeLLM:
    """Says yes when the gold (or evidence) string occurs in the prediction's prompt block."""

    name = "fake"

    def __init__(self, replies=None):
        self.prompts = []
        self.replies = replies

    def generate(self, prompts, **kw):
        self.prompts.extend(prompts)
        self.kw = kw
        out = []
        for i, chat in enumerate(prompts):
            text = chat[-1]["content"]
            if self.replies is not None:
                reply = self.replies[i % len(self.replies)]
            elif "Ground-truth answer:" in text:
                gold = text.split("Ground-truth answer: ")[1].split("\n")[0]
                pred = text.split("Prediction: ")[1].split("\n")[0]
                reply = "Yes." if gold.lower() in pred.lower() else "No"
            else:
                reply = "yes"
            out.append(type("G", (), {"text": reply})())
        return out

    def option_probs(self, prompts, options):
        return [{"yes": 0.75, "no": 0.25} for _ in prompts]


def test_llm_eval_prompt_decoding_and_max_over_golds():
    llm = FakeLLM()
    frame = pd.DataFrame({"query": ["who?"], "answer": ["It was Marie Curie"], "answers": [["Pierre", "Marie Curie"]]})
    out = score_answers(frame, ["LLM-Eval"], llm=llm)
    assert out.loc[0, "LLM-Eval"] == 1.0
    assert len(llm.prompts) == 2 and llm.kw["max_tokens"] == 2 and llm.kw["temperature"] == 0.0
    assert llm.prompts[0][0]["content"].startswith("You are CompareGPT, a machine to verify the correctness")
    assert llm.prompts[0][1]["content"] == CORRECTNESS_USER.format(question="who?", gt_answer="Pierre",
                                                                   prediction="It was Marie Curie")
    assert llm.prompts[0][1]["content"].endswith("Prediction: It was Marie Curie\n\nCompareGPT response:")
    probs = score_answers(frame.assign(contexts=[["x"]]), ["LLM-Critic"], llm=llm, judge_mode="prob")
    assert probs.loc[0, "LLM-Critic"] == 0.75


def test_yes_no_parsing_parity_and_strict():
    assert parse_yes_no(" Yes.") == 1.0 and parse_yes_no("no") == 0.0
    assert parse_yes_no("eyes") == 1.0                     # the reference rule's quirk
    assert math.isnan(parse_yes_no("eyes", parity=False))
    assert parse_yes_no("No, it", parity=False) == 0.0
    assert math.isnan(parse_yes_no(None, parity=False)) and parse_yes_no(None) == 0.0


def test_llm_critic_prompt_has_evidence_joined():
    llm = FakeLLM(replies=["no"])
    frame = pd.DataFrame({"query": ["q"], "answer": ["p"], "contexts": [["one", "two"]]})
    out = score_answers(frame, ["LLM-Critic"], llm=llm)
    assert out.loc[0, "LLM-Critic"] == 0.0
    assert "groudedness" in llm.prompts[0][0]["content"]
    assert llm.prompts[0][1]["content"].endswith("Prediction: p\n\nEvidence: one two\n\nCompareGPT response:")


def test_registered_measures_score_answer_tables():
    from rag.evaluation import evaluate
    from rag.evaluation import parse_measure

    answers = pd.DataFrame({"qid": ["a", "b"], "query": ["q1", "q2"], "answer": ["Paris", "no idea"],
                            "answers": [["Paris"], ["Rome"]], "contexts": [["Paris is nice"], ["Rome"]]})
    assert parse_measure("K-Precision").name == "K-Precision"
    values = evaluate(answers, None, ["EM", "Recall", "K-Precision"])
    assert values == {"EM": 0.5, "Recall": 0.5, "K-Precision": 0.5}


def test_fast_normalisation_equals_reference_recipe():
    from rag.evaluation.answers.text import normalize_many

    texts = ["The  Quick, brown fox!", "the—end of an era", "Ünïcode: THE café, a naïve the_one",
             "tab\tthe\nnewline an", "x\x01the", "A.B.C. the-the", "l'an the", "", "  ", "ⓐ the ⅲ"]
    fast = normalize_many(texts)
    for t in texts:
        assert fast[t] == normalize_answer(t), t


def test_fast_normalisation_paths_equal_the_squad_recipe():
    """The joined one-pass normalisation and the spaced token counts equal normalize_answer on hostile text
    (unicode punctuation next to articles, control characters, odd whitespace, final sigma, surrogates)."""
    from collections import Counter

    from rag.evaluation.answers.text import answer_tokens, normalize_many, spaced_many

    rng = random.Random(1)
    chars = "abcdefghijklmnopqrstuvwxyzTHEAN0123456789 ,.;!?'\"()-\t\n" + "éß—’İıǅΣσς\u0301\u200b\u00a0\u2028\x01\x1c½²"
    words = ["a", "an", "the", "The", "AN", "x", "é", "the\u00a0a", "the—a", "–the", "½a", "  ", "\t", "\x1e"]
    texts = ["".join(rng.choice(chars) for _ in range(rng.randint(0, 40))) for _ in range(1500)]
    texts += [" ".join(rng.choice(words) for _ in range(rng.randint(0, 12))) for _ in range(1500)]
    texts += ["x\ud800y the", "ΑΣ the Σ", "", " "]
    for subset in (texts, [t for t in texts if t.isascii() and "\x01" not in t]):
        norm, spaced = normalize_many(subset), spaced_many(subset)
        for t in subset:
            tokens = answer_tokens(t)
            assert norm[t] == normalize_answer(t), repr(t)
            assert spaced[t].n_tokens == len(tokens), repr(t)
            assert all(spaced[t].count(tok) == n for tok, n in Counter(tokens).items()), repr(t)
