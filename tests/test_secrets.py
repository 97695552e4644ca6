"""Secrets come from the environment only and never reach logs, error messages or provenance."""
from __future__ import annotations

import logging

from rag.cli import main
from rag.core.secrets import RedactingFilter, redact
from tests.conftest import BARE_RUN_SECRET


def test_redact_replaces_secret_environment_values(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-very-secret-value")
    monkeypatch.setenv("HOME_DIRECTORY_NAME", "not-a-secret")
    assert redact("calling with sk-very-secret-value") == "calling with [redacted]"
    assert redact("not-a-secret stays") == "not-a-secret stays"


def test_log_records_are_redacted(monkeypatch, caplog):
    monkeypatch.setenv("HF_TOKEN", "hf_abcdefghijkl")
    logger = logging.getLogger("rag.test-secrets")
    with caplog.at_level(logging.WARNING):
        caplog.handler.addFilter(RedactingFilter())
        logger.warning("request failed for key %s", "hf_abcdefghijkl")
    assert "hf_abcdefghijkl" not in caplog.text and "[redacted]" in caplog.text


def test_cli_errors_are_redacted(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("MY_SERVICE_TOKEN", "tok-0123456789")
    bad = tmp_path / "tok-0123456789.trec"
    bad.write_text("1 Q0 d 1 x t\n")
    assert main(["eval", str(bad), str(bad)]) == 2
    assert "tok-0123456789" not in capsys.readouterr().err


def test_provenance_records_no_environment(bare_run):
    """The session's bare `ragif run` (conftest.bare_run) ran with a secret in OPENAI_API_KEY."""
    assert bare_run.code == 0
    written = [path for path in bare_run.folder.rglob("*") if path.is_file()]
    assert any(path.name == "provenance.json" for path in written)
    for path in written:
        assert BARE_RUN_SECRET.encode() not in path.read_bytes(), path
