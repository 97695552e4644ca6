"""Progress bars: rates on a terminal (or when forced), nothing at all in CI / piped output."""
from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

from rag.core.progress import bar, enabled, progress

REPO = Path(__file__).resolve().parents[1]


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_terminal_gets_a_bar_with_a_rate(monkeypatch):
    monkeypatch.delenv("RAGIF_PROGRESS", raising=False)
    out = FakeTTY()
    assert list(progress(range(5), desc="indexing", unit="doc", stream=out)) == [0, 1, 2, 3, 4]
    text = out.getvalue()
    assert "indexing" in text and "5/5" in text and "doc/s" in text


def test_batches_are_counted_in_items(monkeypatch):
    monkeypatch.setenv("RAGIF_PROGRESS", "1")
    out = io.StringIO()
    assert sum(1 for _ in progress([0, 32, 64, 96], unit="text", scale=32, desc="encoding", stream=out)) == 4
    assert "128/128" in out.getvalue() and "text/s" in out.getvalue()


def test_manual_bar(monkeypatch):
    monkeypatch.setenv("RAGIF_PROGRESS", "yes")
    out = io.StringIO()
    with bar(total=6, desc="LLM calls", unit="call", stream=out) as update:
        update(4)
        update(2)
    assert "LLM calls" in out.getvalue() and "6/6" in out.getvalue() and "call/s" in out.getvalue()


def test_quiet_when_not_a_terminal_or_switched_off(monkeypatch):
    monkeypatch.delenv("RAGIF_PROGRESS", raising=False)
    out = io.StringIO()
    assert list(progress("abc", stream=out)) == ["a", "b", "c"] and out.getvalue() == ""
    with bar(total=3, stream=out) as update:
        update(3)
    assert out.getvalue() == ""
    monkeypatch.setenv("RAGIF_PROGRESS", "0")
    tty = FakeTTY()
    assert enabled(FakeTTY()) is False
    list(progress(range(3), stream=tty))
    assert tty.getvalue() == ""


def test_piped_output_of_a_real_process_has_no_bar():
    code = ("from rag.core.progress import progress, bar\n"
            "for _ in progress(range(1000), desc='indexing', unit='doc'): pass\n"
            "with bar(10, desc='x') as u: u(10)\n"
            "print('done')\n")
    env = {k: v for k, v in os.environ.items() if k != "RAGIF_PROGRESS"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60,
                          env={**env, "PYTHONPATH": str(REPO)})
    assert done.returncode == 0 and done.stdout == "done\n" and done.stderr == ""
