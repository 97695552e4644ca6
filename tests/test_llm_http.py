"""The OpenAI-compatible backend against a scripted HTTP server on 127.0.0.1: replies without text are retried,
raised as EmptyReplyError and never cached (a re-run at the same URL sends the request again), Retry-After
is honoured within a bound, connections are reused, and credentials in base_url are never shown."""
from __future__ import annotations

import json
import logging
import re
import socket
import threading
import time
from email.utils import format_datetime
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from rag.core.cache import Cache
from rag.core.errors import ConfigError
from rag.llm import EmptyReplyError, LLMServerError, load_llm
from rag.llm.backends import openai as openai_backend
from rag.llm.backends.replies import retry_after_seconds

GOOD = {"choices": [{"message": {"role": "assistant", "content": "Paris"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 7, "completion_tokens": 1}}
LOGPROBS = {"choices": [{"message": {"role": "assistant", "content": "yes"}, "finish_reason": "length",
                         "logprobs": {"content": [{"token": "yes", "logprob": -0.1,
                                                   "top_logprobs": [{"token": "yes", "logprob": -0.1},
                                                                    {"token": "no", "logprob": -2.5}]}]}}]}
BAD_REPLIES = {
    "empty choices": ({"choices": []}, "empty 'choices'"),
    "content null": ({"choices": [{"message": {"role": "assistant", "content": None}}]}, "content is null"),
    "error object in a 200 body": ({"error": {"message": "model overloaded", "code": 503}}, "model overloaded"),
    "no choices key": ({"id": "x", "object": "chat.completion"}, "no 'choices'"),
    "choices not a list": ({"choices": {"message": "hi"}}, "not a list"),
    "message missing": ({"choices": [{"text": "Paris"}]}, "no 'message'"),
    "content not text": ({"choices": [{"message": {"content": ["Paris"]}}]}, "not text"),
    "empty content, generation not finished": ({"choices": [{"message": {"content": ""}}]}, "empty message"),
    "JSON that is not an object": ([1, 2], "not an object"),
    "body that is not JSON": ("<html>upstream error</html>", "not JSON"),
    "empty body": ("", "empty"),
}


def _with(usage=None, logprobs=None, **choice):
    reply = {"choices": [{"message": {"role": "assistant", "content": "Paris"}, "finish_reason": "stop", **choice}]}
    if usage is not None:
        reply["usage"] = usage
    if logprobs is not None:
        reply["choices"][0]["logprobs"] = logprobs
    return reply


def _lp(*values):
    return {"content": [{"token": "Paris", "logprob": v} for v in values]}


# replies with text but another field a backend reads malformed: (reply, asks for logprobs, what the error names)
MALFORMED = {
    "prompt_tokens Infinity": (_with({"prompt_tokens": float("inf"), "completion_tokens": 1}), False, "prompt_tokens"),
    "prompt_tokens negative": (_with({"prompt_tokens": -3, "completion_tokens": 1}), False, "outside"),
    "completion_tokens not whole": (_with({"prompt_tokens": 3, "completion_tokens": 2.5}), False, "completion_tokens"),
    "completion_tokens NaN": (_with({"prompt_tokens": 3, "completion_tokens": float("nan")}), False, "completion_tokens"),
    "prompt_tokens a string": (_with({"prompt_tokens": "7", "completion_tokens": 1}), False, "not a count"),
    "prompt_tokens a boolean": (_with({"prompt_tokens": True, "completion_tokens": 1}), False, "not a count"),
    "prompt_tokens huge": (_with({"prompt_tokens": 10 ** 30, "completion_tokens": 1}), False, "outside"),
    "usage a list": (_with([1, 2]), False, "'usage' is a list"),
    "finish_reason a number": (_with(finish_reason=5), False, "finish_reason"),
    "model a list": ({**_with(), "model": ["a"]}, False, "model"),
    "logprobs a string": (_with(logprobs="yes"), True, "logprobs is a str"),
    "logprobs.content an object": (_with(logprobs={"content": {"token": "x"}}), True, "logprobs.content"),
    "logprobs entry a number": (_with(logprobs={"content": [0.5]}), True, "logprobs.content[0]"),
    "logprob null": (_with(logprobs=_lp(-0.1, None)), True, "content[1].logprob is None"),
    "logprob positive": (_with(logprobs=_lp(0.7)), True, "content[0].logprob is 0.7"),
    "logprob -Infinity for a generated token": (_with(logprobs=_lp(float("-inf"))), True, "-inf"),
    "logprob a string": (_with(logprobs=_lp("-0.1")), True, "logprob is '-0.1'"),
    "no logprobs though asked": (_with(), True, "no log-probabilities"),
}
TOP = {"choices": [{"message": {"content": "yes"}, "finish_reason": "length",
                    "logprobs": {"content": [{"token": "yes", "logprob": -0.1, "top_logprobs": None}]}}]}
MALFORMED_TOP = {
    "top logprob null": ([{"token": "yes", "logprob": None}], "top_logprobs[0].logprob"),
    "top logprob positive": ([{"token": "yes", "logprob": 2.0}], "top_logprobs[0].logprob is 2.0"),
    "top logprob NaN": ([{"token": "yes", "logprob": float("nan")}], "top_logprobs[0].logprob"),
    "top token not text": ([{"token": 7, "logprob": -0.1}], "no 'token' string"),
    "top_logprobs an object": ({"yes": -0.1}, "not a list"),
}


class Script:
    """Replies handed out in order (the last one repeats); records every request and its connection."""

    def __init__(self):
        self.replies: list[tuple[int, dict, object]] = []
        self.poisoned: set[str] = set()   # prompts answered with an empty 'choices' list
        self.delay = 0.0                  # seconds before each answer
        self.requests: list[dict] = []
        self.lock = threading.Lock()

    def then(self, body: object, status: int = 200, headers: dict | None = None, times: int = 1) -> "Script":
        self.replies.extend([(status, headers or {}, body)] * times)
        return self

    def next(self) -> tuple[int, dict, object]:
        with self.lock:
            return self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]


@pytest.fixture
def server():
    script = Script()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, so that connection reuse can be seen

        def do_POST(self):  # noqa: N802 - http.server's name
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            script.requests.append({"path": self.path, "body": body, "client": self.client_address,
                                    "authorization": self.headers.get("Authorization")})
            time.sleep(script.delay)
            status, headers, reply = script.next()
            if body["messages"][-1]["content"] in script.poisoned:
                status, headers, reply = 200, {}, {"choices": []}
            data = reply.encode() if isinstance(reply, str) else json.dumps(reply).encode()
            self.send_response(status)
            for name, value in {"Content-Type": "application/json", **headers}.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    script.port = httpd.server_address[1]
    script.url = f"http://127.0.0.1:{script.port}/v1"
    yield script
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def no_sleep(monkeypatch):
    delays: list[float] = []

    async def record(seconds: float) -> None:
        delays.append(seconds)

    monkeypatch.setattr(openai_backend, "sleep", record)
    return delays


def client(url: str, **options):
    return load_llm({"backend": "openai", "model": "m", "base_url": url, "backoff": 0.0, **options})


@pytest.mark.parametrize("case", sorted(BAD_REPLIES))
def test_a_reply_without_text_is_retried_raised_and_never_cached(case, server, no_sleep, tmp_path):
    body, says = BAD_REPLIES[case]
    server.then(body, times=3)
    llm = client(server.url, retries=2)
    with Cache(tmp_path).activate():
        with pytest.raises(EmptyReplyError) as caught:
            llm.generate(["What is the capital of France?"])
        message = str(caught.value)
        assert says in message and server.url in message and "\n" not in message
        assert len(server.requests) == 3 and len(no_sleep) == 2      # retried, then failed
        server.replies = []
        server.then(GOOD)                                           # a good server at the same URL
        gen = llm.generate(["What is the capital of France?"])[0]
    assert gen.text == "Paris" and not gen.cached and len(server.requests) == 4


def test_an_empty_answer_that_the_server_says_is_finished_is_an_answer(server, tmp_path):
    server.then({"choices": [{"message": {"content": ""}, "finish_reason": "stop"}]})
    with Cache(tmp_path).activate():
        assert client(server.url, retries=0).generate(["say nothing"])[0].text == ""


def test_a_bad_reply_then_a_good_one_within_the_retries(server, no_sleep, tmp_path):
    server.then({"choices": []}).then(GOOD)
    with Cache(tmp_path).activate():
        assert client(server.url, retries=2).generate(["q"])[0].text == "Paris"
    assert len(server.requests) == 2 and len(no_sleep) == 1


def test_answers_before_a_failure_are_cached(server, no_sleep, tmp_path):
    server.then(GOOD, times=2).then({"choices": []}, times=2)
    llm = client(server.url, retries=1, concurrency=1)
    with Cache(tmp_path).activate():
        with pytest.raises(EmptyReplyError):
            llm.generate(["a", "b", "c"])
        server.replies = []
        server.then(GOOD)
        again = llm.generate(["a", "b", "c"])
    assert [g.cached for g in again] == [True, True, False] and len(server.requests) == 5


def test_concurrent_answers_before_a_failure_are_cached_and_no_new_request_starts(server, tmp_path):
    server.then(GOOD)
    server.poisoned, server.delay = {"q3"}, 0.05
    prompts = [f"q{i}" for i in range(30)]
    llm = client(server.url, retries=0, concurrency=3)
    with Cache(tmp_path).activate():
        with pytest.raises(EmptyReplyError):
            llm.generate(prompts)
        answered = {r["body"]["messages"][-1]["content"] for r in server.requests} - {"q3"}
        first = len(server.requests)
        assert first < len(prompts)                               # the rest were never sent
        server.poisoned = set()
        again = llm.generate(prompts)
    assert {p for p, g in zip(prompts, again) if g.cached} == answered
    assert len(server.requests) == first + len(prompts) - len(answered)


def test_option_probs_without_logprobs_is_an_error_not_a_uniform_guess(server, no_sleep, tmp_path):
    server.then(GOOD, times=2)
    with Cache(tmp_path).activate():
        with pytest.raises(EmptyReplyError, match="no log-probabilities"):
            client(server.url, retries=1).option_probs(["Is Paris in France?"], ["yes", "no"])
        server.replies = []
        server.then(LOGPROBS)
        probs = client(server.url, retries=1).option_probs(["Is Paris in France?"], ["yes", "no"])[0]
    assert probs["yes"] > 0.9 and sum(probs.values()) == pytest.approx(1.0)


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_a_malformed_reply_field_is_retried_raised_never_cached(case, server, no_sleep, tmp_path):
    body, logprobs, says = MALFORMED[case]
    server.then(body, times=3)
    llm = client(server.url, retries=2)
    with Cache(tmp_path).activate():
        with pytest.raises(EmptyReplyError) as caught:
            llm.generate(["What is the capital of France?"], logprobs=logprobs)
        message = str(caught.value)
        assert says in message and "no usable reply after 3 attempts" in message and "\n" not in message
        assert len(server.requests) == 3 and len(no_sleep) == 2
        server.replies = []
        server.then(_with({"prompt_tokens": 7, "completion_tokens": 1}, logprobs=_lp(-0.1)))
        gen = llm.generate(["What is the capital of France?"], logprobs=logprobs)[0]
    assert not gen.cached and len(server.requests) == 4          # the bad reply was never cached
    assert gen.prompt_tokens == 7 and gen.completion_tokens == 1
    assert gen.token_logprobs == ([-0.1] if logprobs else None)


@pytest.mark.parametrize("case", sorted(MALFORMED_TOP))
def test_malformed_top_logprobs_are_retried_then_an_error(case, server, no_sleep, tmp_path):
    top, says = MALFORMED_TOP[case]
    reply = json.loads(json.dumps(TOP))
    reply["choices"][0]["logprobs"]["content"][0]["top_logprobs"] = top
    server.then(reply, times=2)
    with Cache(tmp_path).activate(), pytest.raises(EmptyReplyError, match=re.escape(says)):
        client(server.url, retries=1).option_probs(["Is Paris in France?"], ["yes", "no"])
    assert len(server.requests) == 2


def test_tiny_positive_rounding_and_minus_infinity_candidates_are_accepted(server, tmp_path):
    reply = json.loads(json.dumps(TOP))
    reply["choices"][0]["logprobs"]["content"][0]["top_logprobs"] = [
        {"token": "yes", "logprob": 1e-8}, {"token": "no", "logprob": float("-inf")}]
    server.then(reply)
    with Cache(tmp_path).activate():
        probs = client(server.url, retries=0).option_probs(["Is Paris in France?"], ["yes", "no"])[0]
    assert probs["yes"] == pytest.approx(1.0) and probs["no"] < 1e-6


def test_a_backend_object_with_bad_counts_is_never_cached(tmp_path):
    from rag.llm import Generation

    class Bad:
        name = "bad-counts"
        counts = -1

        def generate(self, prompts, **kw):
            return [Generation("Paris", self.counts, 1, 0.0) for _ in prompts]

        def option_probs(self, prompts, options):
            raise NotImplementedError

    backend = Bad()
    with Cache(tmp_path).activate():
        with pytest.raises(EmptyReplyError, match="prompt_tokens -1 is not a count"):
            load_llm(backend).generate(["q"])
        backend.counts = 3
        assert not load_llm(backend).generate(["q"])[0].cached


def test_a_cache_entry_with_bad_counts_is_a_miss(server, tmp_path):
    from rag.core.hashing import hash_config
    from rag.llm.base import as_messages

    server.then(GOOD)
    llm = client(server.url)
    params = {"max_tokens": 64, "temperature": 0.0, "stop": [], "seed": 0, "logprobs": False}
    key = hash_config("llm-generate", llm.key_identity(), as_messages("q"), params)
    cache = Cache(tmp_path)
    cache.put_json(key, {"text": "stale", "prompt_tokens": float("inf"), "completion_tokens": -1, "latency_s": 0.1,
                         "token_logprobs": None})
    with cache.activate():
        gen = llm.generate(["q"])[0]
    assert gen.text == "Paris" and not gen.cached and len(server.requests) == 1


@pytest.mark.parametrize("retry_after, expected", [("2", 2.0), ("0", 0.0), ("3600", 5.0)])
def test_retry_after_seconds_is_honoured_within_the_bound(retry_after, expected, server, no_sleep, tmp_path):
    server.then({"error": "slow down"}, status=429, headers={"Retry-After": retry_after}).then(GOOD)
    with Cache(tmp_path).activate():
        assert client(server.url, retries=1, max_backoff=5.0).generate(["q"])[0].text == "Paris"
    assert no_sleep == [expected]


def test_retry_after_as_an_http_date():
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=timezone.utc)
    assert retry_after_seconds(format_datetime(now + timedelta(seconds=30), usegmt=True), now=now) == 30.0
    assert retry_after_seconds(format_datetime(now - timedelta(seconds=30), usegmt=True), now=now) == 0.0
    assert retry_after_seconds("soon") is None and retry_after_seconds(None) is None
    assert retry_after_seconds("nan") is None


def test_a_client_error_is_not_retried(server, no_sleep, tmp_path):
    server.then({"error": {"message": "unknown model m"}}, status=404)
    with Cache(tmp_path).activate(), pytest.raises(LLMServerError, match="HTTP 404.*unknown model m"):
        client(server.url, retries=3).generate(["q"])
    assert len(server.requests) == 1 and no_sleep == []


def test_connections_are_reused(server, tmp_path):
    server.then(GOOD)
    with Cache(tmp_path).activate():
        client(server.url, concurrency=1).generate([f"question {i}" for i in range(5)])
    assert len(server.requests) == 5 and len({r["client"] for r in server.requests}) == 1


def test_concurrent_requests_keep_prompt_order(server, tmp_path):
    server.then(GOOD)
    with Cache(tmp_path).activate():
        gens = client(server.url, concurrency=4).generate([f"question {i}" for i in range(12)])
    sent = sorted(r["body"]["messages"][0]["content"] for r in server.requests)
    assert len(gens) == 12 and sent == sorted(f"question {i}" for i in range(12))


def test_credentials_in_base_url_are_used_but_never_shown(server, no_sleep, tmp_path, caplog):
    url = f"http://alice:s3cr3t-key@127.0.0.1:{server.port}/v1?api_key=k3y-in-query"
    server.then({"choices": []})
    llm = client(url, retries=1)
    assert llm.name == f"openai:m@http://***@127.0.0.1:{server.port}/v1?api_key=***"
    assert client(url, retries=1).name == llm.name                 # stable: the cache key does not change
    with caplog.at_level(logging.WARNING), Cache(tmp_path).activate():
        with pytest.raises(EmptyReplyError) as caught:
            llm.generate(["q"])
    shown = str(caught.value) + repr(llm.backend) + llm.name + caplog.text
    assert "s3cr3t" not in shown and "k3y-in-query" not in shown and "alice" not in shown
    assert server.requests[0]["authorization"].startswith("Basic ")  # still sent to the server


def test_an_unreachable_server_is_one_clear_line_without_secrets(no_sleep):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]                              # a port nobody listens on
    llm = client(f"https://bob:hunter2-secret@127.0.0.1:{port}/v1", retries=2, timeout=2)
    with pytest.raises(LLMServerError) as caught:
        llm.generate(["hi"])
    message = str(caught.value)
    assert "unreachable or failing after 3 attempts" in message and "is it running" in message
    assert "\n" not in message and "hunter2" not in message and f"127.0.0.1:{port}" in message


@pytest.mark.parametrize("spec, field", [
    ({"base_url": "127.0.0.1:8000/v1"}, "llm.base_url"),
    ({"base_url": "ftp://host/v1"}, "llm.base_url"),
    ({"base_url": "http://host:port/v1"}, "llm.base_url"),
    ({"retries": -1}, "llm.retries"),
    ({"concurrency": 0}, "llm.concurrency"),
    ({"concurrency": "many"}, "llm.concurrency"),
    ({"timeout": "soon"}, "llm.timeout"),
    ({"retires": 3}, "llm.retires"),
])
def test_bad_http_options_are_config_errors(spec, field):
    with pytest.raises(ConfigError) as caught:
        load_llm({"backend": "openai", "model": "m", **spec})
    assert caught.value.field == field


def test_the_backend_pickles_without_its_connection_pool(server, tmp_path):
    import pickle

    server.then(GOOD)
    llm = client(server.url)
    with Cache(tmp_path).activate():
        llm.generate(["warm the pool"])
    copy = pickle.loads(pickle.dumps(llm.backend))
    assert copy.name == llm.name and copy._client is None and llm.backend._client is not None
    with Cache(tmp_path).activate():
        assert load_llm(copy).generate(["the copy answers"])[0].text == "Paris"
