"""The identity of a GGUF model in cache keys: its sha256, hashed once per (path, size, modification time), and
the llama.cpp parameters that change outputs when they are not the defaults; the offline models' names stand
for their checksums, so their keys (and every cached call of them) stay as they were."""
from __future__ import annotations

import hashlib
import os

import pytest

from rag.llm.backends.llamacpp import LlamaCppLLM
from rag.llm.identity import llm_fingerprint
from rag.readers import Reader


def test_the_offline_model_keeps_its_name_as_identity():
    assert LlamaCppLLM.identity_of("qwen-0.5b") is None
    assert llm_fingerprint("qwen-0.5b") == "qwen-0.5b"
    assert LlamaCppLLM.identity_of("qwen-0.5b", n_ctx=2048, threads=4) == {"n_ctx": 2048}   # threads: same logits
    assert llm_fingerprint({"backend": "llamacpp", "model": "qwen-0.5b", "threads": 2}) == \
        {"backend": "llamacpp", "model": "qwen-0.5b", "threads": 2}


def test_a_gguf_file_is_known_by_its_checksum_hashed_once(tmp_path, monkeypatch):
    from rag.llm import gguf

    path = tmp_path / "model.gguf"
    path.write_bytes(b"GGUF" + b"x" * 5000)
    first = LlamaCppLLM.identity_of(str(path))
    assert first == {"sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
    monkeypatch.setattr(gguf, "_SHA256_MEMO", {})           # a new process: remembered in the cache folder

    class NoHashing:
        @staticmethod
        def sha256(*args, **kwargs):
            raise AssertionError("hashed twice")

    monkeypatch.setattr(gguf, "hashlib", NoHashing)
    assert LlamaCppLLM.identity_of(str(path)) == first
    monkeypatch.undo()
    path.write_bytes(b"GGUF" + b"y" * 5000)                  # another model in the same place
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10_000_000))
    assert LlamaCppLLM.identity_of(str(path)) != first
    reader = Reader(llm=str(path), template="closed_book", passages=0)
    assert reader.config()["llm"] == [str(path), {"sha256": hashlib.sha256(path.read_bytes()).hexdigest()}]


@pytest.mark.parametrize("spec", ["no-such-model.gguf", {"backend": "llamacpp", "model": "/nowhere/x.gguf"}])
def test_a_missing_file_has_no_identity_and_is_reported_when_loaded(spec):
    assert llm_fingerprint(spec) == spec
