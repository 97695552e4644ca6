"""`ragif doctor`: every check reports, failures say how to fix them, the exit code follows."""
from __future__ import annotations

import socket

from rag import doctor
from rag.cli import main


def test_doctor_reports_every_check(capsys):
    code = main(["doctor"])
    out = capsys.readouterr().out
    for name in ("python", "torch", "java (Lucene)", "faiss", "offline models", "llama.cpp", "ray", "LLM server"):
        assert name in out
    assert "checks passed" in out
    assert code == (1 if " FAIL " in out or "\nFAIL " in out else 0)


def test_unreachable_llm_server_fails_with_a_fix(monkeypatch):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("RAGIF_LLM_BASE_URL", f"http://127.0.0.1:{port}/v1")
    check = doctor.check_llm_server()
    assert check.status == doctor.FAIL and "RAGIF_LLM_BASE_URL" in check.fix


def test_a_crashing_check_is_reported_not_raised(monkeypatch, capsys):
    def broken():
        raise RuntimeError("boom")

    monkeypatch.setattr(doctor, "CHECKS", [doctor.check_python, broken])
    assert main(["doctor"]) == 1
    out = capsys.readouterr().out
    assert "FAIL  broken" in out and "boom" in out and "1/2 checks passed, 1 failed" in out
