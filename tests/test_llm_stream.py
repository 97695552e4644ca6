"""The LLM stream against fake OpenAI-compatible servers on 127.0.0.1: a judge and a reader keep `concurrency`
requests in flight across questions, the server's own limit is the default, a whole request has a deadline
(a trickling server cannot hold a run, and a request that reaches it is not sent again), and another model
served under the same name is a cache miss (of every call and of the stage's output)."""
from __future__ import annotations

import time

import pandas as pd
import pytest

import rag.llm
from rag.core.cache import Cache
from rag.judges import UtilityJudge
from rag.llm import LLMServerError, load_llm
from rag.readers import Reader
from tests.fake_llm_server import FakeServer

SELECTION = {"choices": [{"message": {"content": "My selection: [passage-0]"}, "finish_reason": "stop"}],
             "usage": {"prompt_tokens": 50, "completion_tokens": 6}}


@pytest.fixture
def server():
    fake = FakeServer().start()
    yield fake
    fake.stop()


@pytest.fixture(autouse=True)
def fresh_backends(monkeypatch):
    """Each test (and each 'new process' inside one) builds its own backends."""
    monkeypatch.setattr(rag.llm, "_LOADED", {})


def spec(url: str, **options) -> dict:
    return {"backend": "openai", "model": "m", "base_url": url, "backoff": 0.0, **options}


def ranking(questions: int, passages: int = 3) -> pd.DataFrame:
    return pd.DataFrame([{"qid": f"q{q}", "query": f"question {q}?", "docno": f"d{q}-{p}", "text": f"passage {p} of {q}",
                          "score": float(passages - p), "rank": p} for q in range(questions) for p in range(passages)])


def test_the_judge_keeps_concurrency_requests_in_flight_across_questions(server, tmp_path):
    server.reply, server.delay = (lambda body: SELECTION), 0.1
    judge = UtilityJudge(llm=spec(server.url, concurrency=4), method="listwise-set", depth=3)
    start = time.perf_counter()
    with Cache(tmp_path).activate():
        out = judge(ranking(40))
    took = time.perf_counter() - start
    assert len(server.requests) == 40 and set(out["qid"]) == {f"q{q}" for q in range(40)}
    assert server.most_in_flight == 4                 # never more than asked
    assert server.mean_in_flight() >= 3.0             # and about that many all along (one question at a time: 1)
    assert took < 40 * 0.1 / 2                        # one question at a time would take 4 s


def test_the_reader_streams_every_question_with_no_barrier(server, tmp_path):
    started: dict[int, float] = {}
    finished: dict[int, float] = {}

    def reply(body):                                  # every 16th question is slow
        number = int(body["messages"][-1]["content"].split("question ")[1].split("?")[0])
        started[number] = time.monotonic()
        time.sleep(0.6 if number % 16 == 0 else 0.02)
        finished[number] = time.monotonic()
        return {"choices": [{"message": {"content": "Paris"}, "finish_reason": "stop"}]}

    server.reply = reply
    reader = Reader(llm=spec(server.url, concurrency=8), template="closed_book", passages=0)
    queries = pd.DataFrame({"qid": [f"q{i}" for i in range(64)], "query": [f"question {i}?" for i in range(64)]})
    with Cache(tmp_path).activate():
        out = reader(queries)
    assert list(out["answer"].unique()) == ["Paris"] and len(server.requests) == 64
    assert server.most_in_flight == 8
    # batches of 16 with a barrier would start question 17 only after slow question 0 (and 16) finished;
    # one stream keeps the other slots busy meanwhile (an ordering, not a timing, so load cannot flip it)
    assert min(started[n] for n in range(17, 32)) < finished[0]


def test_concurrency_defaults_to_what_the_server_serves_at_once(server, tmp_path):
    server.gets["/props"] = {"total_slots": 2, "model_path": "/models/a.gguf"}
    server.delay = 0.05
    llm = load_llm(spec(server.url))
    assert llm.backend.in_flight() == 2
    with Cache(tmp_path).activate():
        llm.generate([f"q{i}" for i in range(12)])
    assert server.most_in_flight == 2


def test_llama_cpp_python_server_is_recognised_as_one_slot(server):
    server.gets["/openapi.json"] = {"info": {"title": "🦙 llama.cpp Python API", "version": "0.3.36"}}
    assert load_llm(spec(server.url)).backend.in_flight() == 1
    assert load_llm(spec(server.url, concurrency=3, name="explicit")).backend.in_flight() == 3   # as configured


def test_a_trickling_server_ends_at_the_deadline_and_is_not_asked_again(server, tmp_path):
    server.trickle = 0.5                              # one byte every half second: each read is quick
    llm = load_llm(spec(server.url, timeout=2, retries=3))
    start = time.perf_counter()
    with Cache(tmp_path).activate(), pytest.raises(LLMServerError) as caught:
        llm.generate(["What is the capital of France?"])
    took = time.perf_counter() - start
    assert took < 4.0 and "within timeout=2 s" in str(caught.value) and "\n" not in str(caught.value)
    assert len(server.requests) == 1                  # not re-sent: the server may still be working on it


def test_a_slow_answer_within_the_deadline_is_an_answer(server, tmp_path):
    server.delay = 1.0
    with Cache(tmp_path).activate():
        assert load_llm(spec(server.url, timeout=5)).generate(["q"])[0].text == "Paris"


def test_another_model_served_under_the_same_name_is_a_cache_miss(server, tmp_path):
    served = lambda root, created: {"object": "list", "data": [                                   # noqa: E731
        {"id": "m", "object": "model", "owned_by": "vllm", "root": root, "created": created,
         "permission": [{"id": f"modelperm-{created}"}]}]}
    queries = pd.DataFrame({"qid": ["q1", "q2"], "query": ["Capital of France?", "Capital of Italy?"]})
    cache = Cache(tmp_path)

    def run() -> pd.DataFrame:
        rag.llm._LOADED.clear()                                 # a new process: the server is asked again
        with cache.activate():
            load_llm(spec(server.url)).generate(["one call"])
            return Reader(llm=spec(server.url), template="closed_book", passages=0)(queries)

    server.gets["/v1/models"] = served("/weights/model-A", 1)
    run()
    assert len(server.requests) == 3
    server.gets["/v1/models"] = served("/weights/model-A", 2)  # a restart: same model, new start time
    run()
    assert len(server.requests) == 3                            # every call and the stage's output from the cache
    server.gets["/v1/models"] = served("/weights/model-B", 3)  # another model under the same name
    run()
    assert len(server.requests) == 6                            # nothing from the cache
    server.stop()                                               # the server is gone: what it served last is assumed
    rag.llm._LOADED.clear()
    with cache.activate():
        again = Reader(llm=spec(server.url, retries=0), template="closed_book", passages=0)(queries)
    assert list(again["answer"]) == ["Paris", "Paris"]
    server.start()                                              # (the fixture stops it)


class Scripted:
    """A local LLM object answering ``reply(prompt)``."""

    def __init__(self, name: str, reply):
        self.name, self.reply = name, reply

    def generate(self, prompts, **kw):
        from rag.llm import Generation

        return [Generation(self.reply(p), 10, 5, 0.0) for p in prompts]

    def option_probs(self, prompts, options):
        return [{o: 1 / len(options) for o in options} for _ in prompts]


def test_unparsable_judge_replies_give_one_warning_per_stage_with_counts(tmp_path, caplog):
    llm = load_llm(Scripted(f"garbage-{tmp_path.name}", lambda p: "I cannot decide."))
    with Cache(tmp_path).activate(), caplog.at_level("WARNING"):
        UtilityJudge(llm=llm, method="pointwise", depth=3)(ranking(7))
    warnings = [r.getMessage() for r in caplog.records if "could not be parsed" in r.getMessage()]
    assert warnings == ["pointwise judge: 21 of 21 replies could not be parsed, for 7 of 7 questions (counted as "
                        "unparsable, not selected)"]


def test_progress_lines_name_the_system_and_the_stage(tmp_path, monkeypatch, capsys):
    from rag.datasets import demo
    from rag.experiment import Experiment

    monkeypatch.setenv("RAGIF_PROGRESS", "lines")
    monkeypatch.setenv("RAGIF_PROGRESS_DELAY", "0")
    llm = load_llm(Scripted(f"paris-{tmp_path.name}", lambda p: "Paris"))
    Experiment({"closed book": Reader(llm=llm, template="closed_book", passages=0)}, demo(), ["EM"], cache=tmp_path).run()
    lines = capsys.readouterr().err.splitlines()
    total = len(demo().queries())
    assert any(line.startswith("closed book / Reader: ") and f"/{total} answers" in line for line in lines), lines
    assert any(line.startswith(f"closed book / Reader: done, {total} answers") for line in lines), lines
