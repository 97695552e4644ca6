"""Progress: a bar with rates on a terminal (or when forced), periodic lines with rate and ETA in scripts and
CI logs (quick work stays quiet), nothing when switched off."""
from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

from rag.core.progress import LineReporter, bar, enabled, mode, progress

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


def test_quick_work_is_quiet_when_not_a_terminal_and_all_is_quiet_when_switched_off(monkeypatch):
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


def test_quick_work_in_a_piped_process_prints_nothing():
    code = ("from rag.core.progress import progress, bar\n"
            "for _ in progress(range(1000), desc='indexing', unit='doc'): pass\n"
            "with bar(10, desc='x') as u: u(10)\n"
            "print('done')\n")
    env = {k: v for k, v in os.environ.items() if k != "RAGIF_PROGRESS"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60,
                          env={**env, "PYTHONPATH": str(REPO)})
    assert done.returncode == 0 and done.stdout == "done\n" and done.stderr == ""


# --------------------------------------------------------------------------- lines when not a terminal
class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_lines_every_tenth_with_rate_and_eta():
    clock, out = FakeClock(), io.StringIO()
    report = LineReporter(total=40, desc="encoding", unit="text", stream=out, delay=5, clock=clock)
    for _ in range(40):
        clock.now += 0.5           # 2 text/s, 20 s in all
        report.update(1)
    report.close()
    lines = out.getvalue().splitlines()
    # quiet for the first 5 s, then a line at once and one per tenth crossed (at least half a tenth apart:
    # 30% is skipped after 25%), then 'done'
    assert lines[:2] == ["encoding: 10/40 text (25%) in 0:05, 2.00 text/s, ETA 0:15",
                         "encoding: 16/40 text (40%) in 0:08, 2.00 text/s, ETA 0:12"]
    assert [line.split(" text ")[0] for line in lines[2:-1]] == [f"encoding: {n}/40" for n in (20, 24, 28, 32, 36)]
    assert lines[-1] == "encoding: done, 40 text in 0:20 (2.00 text/s)"


def test_lines_every_30_seconds_without_a_total():
    clock, out = FakeClock(), io.StringIO()
    report = LineReporter(total=None, desc="Lucene indexing", unit="doc", stream=out, delay=5, clock=clock)
    for _ in range(70):
        clock.now += 1.0           # 1 doc/s, 70 s
        report.update(1)
    report.close()
    assert out.getvalue().splitlines() == ["Lucene indexing: 30 doc in 0:30, 1.00 doc/s",
                                           "Lucene indexing: 60 doc in 1:00, 1.00 doc/s",
                                           "Lucene indexing: done, 70 doc in 1:10 (1.00 doc/s)"]


def test_slow_items_read_in_seconds_per_item_and_a_resumed_run_counts_from_its_start():
    clock, out = FakeClock(), io.StringIO()
    report = LineReporter(total=10, desc="training", unit="iteration", stream=out, initial=6, delay=0, clock=clock)
    clock.now += 40.0
    report.update(1)
    assert out.getvalue() == "training: 7/10 iteration (70%) in 0:40, 40.0 s/iteration, ETA 2:00\n"


def test_work_cut_short_says_where_it_stopped():
    clock, out = FakeClock(), io.StringIO()
    report = LineReporter(total=100, desc="x", stream=out, delay=0, every_fraction=0.5, clock=clock)
    clock.now += 10
    report.update(20)
    report.close()
    assert out.getvalue().splitlines()[-1] == "x: stopped at 20/100, 20 it in 0:10 (2.00 it/s)"


def test_a_piped_process_prints_lines_and_nothing_when_switched_off():
    code = ("from rag.core.progress import progress\n"
            "for _ in progress(range(50), desc='indexing', unit='doc'): pass\n"
            "print('done')\n")
    env = {k: v for k, v in os.environ.items() if k != "RAGIF_PROGRESS"}
    env.update(PYTHONPATH=str(REPO), RAGIF_PROGRESS_DELAY="0")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60, env=env)
    lines = done.stderr.splitlines()
    assert done.stdout == "done\n" and len(lines) == 10, done.stderr
    assert lines[0].startswith("indexing: 5/50 doc (10%) in 0:00, ") and "ETA" in lines[0]
    assert lines[-1].startswith("indexing: done, 50 doc in 0:00 (")
    quiet = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60,
                           env={**env, "RAGIF_PROGRESS": "0"})
    assert quiet.stdout == "done\n" and quiet.stderr == ""


def test_mode_follows_the_switch(monkeypatch):
    monkeypatch.delenv("RAGIF_PROGRESS", raising=False)
    assert (mode(FakeTTY()), mode(io.StringIO())) == ("bar", "lines")
    for value, expected in (("0", "off"), ("off", "off"), ("1", "bar"), ("lines", "lines")):
        monkeypatch.setenv("RAGIF_PROGRESS", value)
        assert mode(io.StringIO()) == expected


def test_progress_inside_a_scope_names_the_system(monkeypatch):
    from rag.core.progress import scope

    monkeypatch.setenv("RAGIF_PROGRESS", "1")
    out = FakeTTY()
    with scope("BM25 → reader"):
        list(progress(range(3), desc="Reader answers", stream=out))
    list(progress(range(3), desc="Reader answers", stream=out))
    text = out.getvalue()
    assert "BM25 → reader / Reader answers" in text and text.count("Reader answers") >= 2
