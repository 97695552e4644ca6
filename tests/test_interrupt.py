"""Ctrl-C anywhere: SIGINT sent to a real ``ragif`` process ends it with the one ``ragif: interrupted`` line,
exit code 130 and no traceback, wherever it lands (rag.cli.interrupt).

The stages of tests/interrupt_driver.py misbehave on purpose: an interrupt swallowed by a library, turned into
another exception, landing in ``__del__``, arriving while the main thread is in a long C call, or a second
Ctrl-C during a slow cleanup."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DRIVER = REPO / "tests" / "interrupt_driver.py"
LINE = "ragif: interrupted; finished stages are cached, run again to resume"


def _start(argv: list[str], tmp: Path, grace: float = 3.0, driver: bool = True) -> tuple[subprocess.Popen, Path]:
    marker = tmp / "started"
    env = {**os.environ, "PYTHONPATH": str(REPO), "RAGIF_CACHE": str(tmp / "cache"), "RAGIF_TEST_MARKER": str(marker),
           "RAGIF_INTERRUPT_GRACE": str(grace)}
    command = [sys.executable, str(DRIVER), *argv] if driver else [sys.executable, "-m", "rag.cli", *argv]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                               cwd=tmp, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    return process, marker


def _wait_for(condition, process: subprocess.Popen, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if process.poll() is not None:
            pytest.fail(f"ended before the interrupt: {process.communicate()[1][-2000:]}")
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail("never reached the point of the interrupt")
        time.sleep(0.05)


def _interrupt(process: subprocess.Popen, presses: int = 1, gap: float = 0.5, limit: float = 60):
    t0 = time.monotonic()
    for i in range(presses):
        if i:
            time.sleep(gap)
        process.send_signal(signal.SIGINT)
    try:
        out, err = process.communicate(timeout=limit)
    except subprocess.TimeoutExpired:
        process.kill()
        pytest.fail("still running after Ctrl-C")
    return process.returncode, err, time.monotonic() - t0


def _assert_one_line(code: int, err: str) -> None:
    assert code == 130, err[-3000:]
    assert "Traceback" not in err and "Exception ignored" not in err and "internal error" not in err, err[-3000:]
    assert err.count(LINE) == 1, err[-3000:]


def _config(tmp: Path, how: str) -> Path:
    path = tmp / "exp.yaml"
    path.write_text(f"name: x\ndataset: demo\nmeasures: [LLMTokens]\npipelines:\n"   # no JVM: its SIGINT handling
                    f"  M: {{misbehave: {{how: {how}}}}}\n", "utf-8")               # is the JVM's -Xrs option
    return path


@pytest.mark.parametrize("how, within", [("sleep", 20), ("wrap", 20), ("swallow", 20), ("del", 20),
                                         ("c-call", 20)])
def test_ctrl_c_during_a_run_ends_with_one_line(tmp_path, how, within):
    """``sleep``: the ordinary case; ``wrap``: a library turned the interrupt into RuntimeError (was: internal
    error and a traceback); ``swallow``: a library ate it (was: the run went on); ``del``: it landed in
    ``__del__`` (was: "Exception ignored" and the run went on); ``c-call``: the main thread was in C for 60 s."""
    # a swallowed interrupt, and one that lands in __del__, end the run when the grace period is over: 1 s here
    grace = 1.0 if how in ("swallow", "del") else 3.0
    process, marker = _start(["run", str(_config(tmp_path, how)), "-o", str(tmp_path / "out")], tmp_path, grace)
    _wait_for(marker.exists, process)
    time.sleep(0.3)
    code, err, seconds = _interrupt(process)
    _assert_one_line(code, err)
    assert seconds < within, seconds
    assert not (tmp_path / "out").exists()   # nothing half-written


def test_a_second_ctrl_c_ends_a_slow_cleanup_at_once(tmp_path):
    process, marker = _start(["run", str(_config(tmp_path, "cleanup")), "-o", str(tmp_path / "out")], tmp_path,
                             grace=60)
    _wait_for(marker.exists, process)
    time.sleep(0.3)
    code, err, seconds = _interrupt(process, presses=2, gap=1.0)
    _assert_one_line(code, err)
    assert seconds < 15, seconds


def test_ctrl_c_while_the_command_line_is_still_importing(tmp_path):
    """The commands' modules import pandas, torch and friends: an interrupt there was a raw traceback."""
    process, _ = _start(["components"], tmp_path, driver=False)
    time.sleep(0.4)
    code, err, _ = _interrupt(process)
    if code == 0:
        pytest.skip("the command finished before the interrupt")
    _assert_one_line(code, err)


def test_ctrl_c_during_train_reranker(tmp_path):
    """The issue's example: ``ragif train-reranker`` printed "internal error" and a 100-line traceback."""
    import json

    beir = tmp_path / "beir"
    (beir / "qrels").mkdir(parents=True)
    words = "alpha beta gamma delta epsilon zeta eta theta iota kappa".split()
    docs = [{"_id": f"d{i}", "text": " ".join(words[(i + j) % 10] for j in range(12))} for i in range(40)]
    (beir / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs), "utf-8")
    (beir / "queries.jsonl").write_text("".join(json.dumps({"_id": f"q{i}", "text": f"{words[i % 10]} "
                                                            f"{words[(i + 3) % 10]}"}) + "\n" for i in range(20)))
    (beir / "qrels" / "train.tsv").write_text("query-id\tcorpus-id\tscore\n" +
                                              "".join(f"q{i}\td{i}\t1\n" for i in range(20)), "utf-8")
    config = tmp_path / "train.yaml"
    config.write_text(f"dataset: {beir}\ntrain_split: train\nvalid_queries: 4\nbatches_per_iteration: 1\n"
                      f"batch_size: 2\nmax_length: 32\nvalidate_every: 1000\nvalid_depth: 5\n"
                      f"output: {tmp_path / 'model'}\niterations: 1000\n", "utf-8")
    # its BM25 run is computed here first, into the cache the command uses, so the interrupted process starts no
    # JVM (whose own SIGINT handler is the JVM's -Xrs option, tested with Lucene): checked below
    from rerankers.training import load_training_config, training_data

    warm = load_training_config(config)
    warm.cache = str(tmp_path / "cache")
    training_data(warm)
    process, _ = _start(["train-reranker", str(config), "--threads", "1"], tmp_path, driver=False)
    _wait_for(lambda: (tmp_path / "model" / "ragif_training.json").exists(), process, seconds=300)
    assert "libjvm" not in Path(f"/proc/{process.pid}/maps").read_text()   # the BM25 run came from the cache
    code, err, _ = _interrupt(process)
    _assert_one_line(code, err)
    assert not (tmp_path / "model" / "checkpoint.tmp").exists() or (tmp_path / "model" / "checkpoint").exists()


# ------------------------------------------------------------------ the line, in process (no signals)
class _Ended(BaseException):
    pass


class _Recorder:
    """Stands in for ``os`` in rag.cli.interrupt: records writes to fd 2 and, at ``_exit``, how many lines were
    out by then."""

    def __init__(self):
        self.lines = 0
        self.exits: list[tuple[int, int]] = []

    def write(self, fd, data):
        assert fd == 2 and data.decode() == LINE + "\n"
        self.lines += 1
        return len(data)

    def _exit(self, code):
        self.exits.append((code, self.lines))
        raise _Ended


class _SlowStream:
    """A stdout whose flush takes a while (a loaded machine) or runs something in the middle of it."""

    def __init__(self, during_flush):
        self.during_flush = during_flush

    def flush(self):
        self.during_flush()


def test_a_thread_that_ends_the_process_waits_for_the_line_another_is_printing(monkeypatch):
    """The watcher and the Python-level handler both see a second Ctrl-C: whichever ends the process must not do
    so while the other is still flushing before writing the line (was: exit 130 and nothing on stderr)."""
    import threading

    from rag.cli import interrupt

    recorder = _Recorder()
    monkeypatch.setattr(interrupt, "os", recorder)
    flushing = threading.Event()
    monkeypatch.setattr(sys, "stdout", _SlowStream(lambda: (flushing.set(), time.sleep(0.5))))
    guard = interrupt.Guard()

    def watcher():
        try:
            guard.finish()
        except _Ended:
            pass

    thread = threading.Thread(target=watcher)
    thread.start()
    assert flushing.wait(10)
    with pytest.raises(_Ended):
        guard.finish()                       # the main thread's handler, while the watcher flushes
    thread.join(10)
    assert recorder.lines == 1
    assert recorder.exits == [(130, 1), (130, 1)]   # neither ended the process before the line was out


def test_a_ctrl_c_handler_that_interrupts_the_printing_thread_leaves_the_line_to_it(monkeypatch):
    """The main thread prints the line after unwinding; a second Ctrl-C runs the handler in the middle of that
    (same thread, the lock re-entered): the line is printed once and the process ends right after it."""
    from rag.cli import interrupt

    recorder = _Recorder()
    monkeypatch.setattr(interrupt, "os", recorder)
    guard = interrupt.Guard()
    returned = []
    monkeypatch.setattr(sys, "stdout", _SlowStream(lambda: returned.append(guard.finish())))
    with pytest.raises(_Ended):
        guard.say()
    assert returned == [None]                # the handler returned instead of ending before the line
    assert recorder.lines == 1 and recorder.exits == [(130, 1)]
    guard2 = interrupt.Guard()
    monkeypatch.setattr(sys, "stdout", _SlowStream(lambda: None))
    guard2.say()
    assert recorder.lines == 2 and len(recorder.exits) == 1   # say alone prints and returns
    with pytest.raises(_Ended):
        guard2.finish()
    assert recorder.lines == 2 and recorder.exits[-1] == (130, 2)   # once only
