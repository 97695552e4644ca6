"""Run many ``python -m rag.cli ...`` command lines, each in its own process, paying the interpreter start and
the command line's imports once: this process imports them, then forks one child per command line. A child
takes its own working directory, environment, argv, stdout and stderr files, runs ``rag.cli`` as ``__main__``
(as ``python -m rag.cli`` does) and ends like an interpreter does: an uncaught exception is printed as a
traceback with exit status 1, ``sys.exit(code)`` gives the code, and ``atexit`` handlers run.

    python tests/cli_forker.py JOBS.json WORKERS

JOBS.json: a list of ``{"argv": [...], "cwd": ..., "env": {...}, "stdout": path, "stderr": path}``. Prints one
JSON line: the exit status of each job, in order (a signal number as a negative status, like subprocess).
"""
from __future__ import annotations

import json
import os
import sys
import threading


def _preload() -> None:
    """What nearly every case imports anyway; none of it starts a thread, a JVM or torch (checked below)."""
    import rag.cli
    import rag.datasets  # noqa: F401
    import rag.evaluation.scoring  # noqa: F401
    import rag.experiment.config  # noqa: F401
    import rag.report.tables  # noqa: F401

    rag.cli.parser()
    for late in ("jnius", "torch"):
        assert late not in sys.modules, f"{late} must be imported by the cases that need it, not before the fork"


def _become(job: dict) -> None:
    """In the child: the process ``python -m rag.cli *argv`` would be, from here on; never returns (the
    SystemExit or exception of the command line goes up through the interpreter's own exit)."""
    import runpy

    for fd, path in ((1, job["stdout"]), (2, job["stderr"])):
        os.dup2(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644), fd)
    os.chdir(job["cwd"])
    os.environ.clear()
    os.environ.update(job["env"])
    sys.path[0] = os.getcwd()   # `python -m` puts the working directory first
    sys.argv = ["-m", *job["argv"]]   # run_module sets argv[0] to rag/cli/__main__.py, as `python -m` does
    runpy.run_module("rag.cli", run_name="__main__", alter_sys=True)
    sys.exit(0)


def _spawn(job: dict) -> int:
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        _become(job)   # the child leaves through SystemExit or an uncaught exception, never through a return
    return pid


def _status(wait_status: int) -> int:
    return -os.WTERMSIG(wait_status) if os.WIFSIGNALED(wait_status) else os.WEXITSTATUS(wait_status)


def main() -> None:
    jobs = json.loads(open(sys.argv[1], encoding="utf-8").read())
    workers = int(sys.argv[2])
    _preload()
    # no Python thread may hold a lock at the fork; the native pools numpy and pyarrow start at import (OpenBLAS,
    # jemalloc) have fork handlers, as multiprocessing's "fork" start method relies on
    assert threading.active_count() == 1, "fork needs one Python thread"
    # no gc.freeze() here, though it would save 0.1-0.3 s a case: a frozen module's objects are never finalized
    # at the children's shutdown, which would hide an "Exception ignored in ... __del__" traceback there
    codes: list[int | None] = [None] * len(jobs)
    running: dict[int, int] = {}
    pending = list(range(len(jobs)))
    while pending or running:
        while pending and len(running) < workers:
            index = pending.pop(0)
            running[_spawn(jobs[index])] = index
        pid, wait_status = os.wait()
        codes[running.pop(pid)] = _status(wait_status)
    print(json.dumps(codes))


main()
