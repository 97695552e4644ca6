"""The reader stage: prompts verbatim, k passages, post-processing, evidence recorded, closed-book."""
from __future__ import annotations

import pandas as pd
import pytest

from rag.core.errors import InputError
from rag.readers.prompts import TEMPLATES, post_process, render_prompt, trim_history
from rag.readers.reader import Reader


class EchoLLM:
    """Fake LLM: records prompts; answers with a fixed reply (or the prompt length)."""

    name = "echo"

    def __init__(self, reply="Paris\n\nQuestion: next?"):
        self.reply, self.prompts, self.kw = reply, [], None

    def generate(self, prompts, **kw):
        self.prompts.extend(prompts)
        self.kw = kw
        return [type("G", (), {"text": self.reply, "prompt_tokens": len(p.split()), "completion_tokens": 3,
                               "latency_s": 0.01, "cached": False})() for p in prompts]


def results():
    rows = []
    for qid, query in (("q1", "capital of France?"), ("q2", "largest planet?")):
        for rank in range(3):
            rows.append({"qid": qid, "query": query, "answers": ["x"], "docno": f"{qid}-d{rank}",
                         "score": 3.0 - rank, "rank": rank, "title": f"T{rank}", "text": f"text {qid} {rank}"})
    return pd.DataFrame(rows)


def test_qa_prompt_is_verbatim():
    prompt = render_prompt("qa", "who?", [{"title": "A", "text": "a text"}, {"title": "B", "text": "b"}])
    assert prompt == ("Please answer the following question given the following passages:\n"
                      "- Title: A\na text\n\n- Title: B\nb\nQuestion: who?\nAnswer: ")
    unans = render_prompt("qa_unanswerable", "who?", [{"title": "A", "text": "t"}])
    assert unans.startswith("Please answer the following question given the following passage. If the answer is "
                            "not in the passage or cannot be inferred from the passage, respond as \"I don't know\".\n")
    llama = render_prompt("llama_chat_qa", "who?", [{"title": "A", "text": "t"}, {"title": "B", "text": "u"}])
    assert llama == ("[INST] <<SYS>>\nPlease answer the following question given the following passages:\n<</SYS>>\n\n"
                     "- Title: A\nt\n- Title: B\nu\nQuestion: who?\n[/INST]\nAnswer: ")
    assert "infered" in TEMPLATES["conv_qa_unanswerable"].text


def test_conversational_history_and_trimming():
    history = [{"speaker": "Human", "utterance": "hi"}, {"speaker": "Assistant", "utterance": "hello"}]
    prompt = render_prompt("conv_qa", "and then?", [{"title": "A", "text": "t"}], history)
    assert prompt == ("Please answer the following question given the following passages and the conversation "
                      "history:\n\n- Title: A\nt\n\nUser: hi\nAgent: hello\nUser: and then?\nAgent: ")
    assert trim_history(list(range(12))) == [0, 1, 2, 3, 6, 7, 8, 9, 10, 11]
    assert trim_history(list(range(11))) == [0, 1, 2, 3, 6, 7, 8, 9, 10]
    assert len(trim_history(list(range(25)))) <= 10


def test_post_processing_rules():
    assert post_process("Paris\n\nQuestion: next?") == "Paris"
    assert post_process("\nParis is big.\nIt is nice.\nAnswer: again") == "Paris is big.\nIt is nice."
    assert post_process("Answer: Paris") == "Answer: Paris"           # only a non-first line is cut
    assert post_process("- Title: X\nfoo") == ""


def test_reader_uses_top_k_records_evidence_and_cost():
    llm = EchoLLM()
    out = Reader(llm=llm, passages=2, max_tokens=32)(results().sample(frac=1, random_state=1))
    assert set(out["qid"]) == {"q1", "q2"}
    row = out.set_index("qid").loc["q1"]
    assert row["answer"] == "Paris" and row["raw_answer"].startswith("Paris\n")
    assert row["contexts"] == ["text q1 0", "text q1 1"] and row["context_docnos"] == ["q1-d0", "q1-d1"]
    assert row["answers"] == ["x"] and row["retrieved"] and row["completion_tokens"] == 3
    assert "- Title: T0\ntext q1 0\n\n- Title: T1\ntext q1 1\nQuestion: capital of France?" in row["prompt"]
    assert llm.kw == {"max_tokens": 32, "temperature": 0.0, "seed": 0}
    assert "docno" not in out.columns and len(out) == 2


def test_reader_fetches_text_from_corpus():
    from rag.datasets import Corpus

    corpus = Corpus([{"docno": f"q1-d{i}", "title": f"C{i}", "text": f"corpus {i}"} for i in range(3)])
    frame = results().query("qid == 'q1'").drop(columns=["text", "title"])
    out = Reader(llm=EchoLLM(), passages=1, corpus=corpus)(frame)
    assert out.loc[0, "contexts"] == ["corpus 0"] and out.loc[0, "context_titles"] == ["C0"]


def test_closed_book_and_clear_errors():
    queries = pd.DataFrame({"qid": ["1"], "query": ["who?"]})
    out = Reader(llm=EchoLLM("Me"), template="closed_book")(queries)
    assert out.loc[0, "answer"] == "Me" and out.loc[0, "contexts"] == [] and not out.loc[0, "retrieved"]
    assert out.loc[0, "prompt"] == "Please answer the following question.\nQuestion: who?\nAnswer: "
    with pytest.raises(InputError, match="closed_book"):
        Reader(llm=EchoLLM())(queries)
    with pytest.raises(ValueError, match="unknown template"):
        Reader(template="qaa")


def test_reader_from_config_and_answer_measures():
    from rag.core.build import component
    from rag.evaluation import evaluate

    reader = component("reader", passages=1, template="qa")
    assert isinstance(reader, Reader) and reader.passages == 1
    reader.llm = EchoLLM("text q1 0")
    answers = reader(results())
    values = evaluate(answers, None, ["K-Precision", "EM"])
    assert values["K-Precision"] == pytest.approx((1 + 2 / 3) / 2) and values["EM"] == 0.0  # q2 lacks "q1"
