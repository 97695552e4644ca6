"""``python tests/interrupt_driver.py ARGS...``: the ``ragif`` command line with a few stages registered that
misbehave when interrupted, for tests/test_interrupt.py (configs name them like any stage).

Each stage writes ``$RAGIF_TEST_MARKER`` when it has started, so the test sends SIGINT at a known point.
"""
from __future__ import annotations

import dataclasses
import os
import re
import sys
import time
from pathlib import Path
from typing import ClassVar

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rag.cli import main  # noqa: E402
from rag.core.registry import register  # noqa: E402
from rag.core.stage import Stage  # noqa: E402


def _started() -> None:
    Path(os.environ["RAGIF_TEST_MARKER"]).touch()


@dataclasses.dataclass(repr=False)
class Misbehave(Stage):
    """Waits in one of several ways: ``sleep`` (plain Python), ``swallow`` (catches the interrupt and goes
    on), ``wrap`` (turns it into a RuntimeError), ``c-call`` (a regular expression that runs for seconds in C,
    where no Python signal handler can run), ``del`` (sleeps inside ``__del__``), ``cleanup`` (a ``finally``
    block that takes 30 s)."""

    how: str = "sleep"
    needs: ClassVar[tuple[str, ...]] = ("qid", "query")
    gives: ClassVar[tuple[str, ...]] = ()

    def transform(self, frame):
        _started()
        if self.how == "sleep":
            time.sleep(60)
        elif self.how == "swallow":
            for _ in range(600):
                try:
                    time.sleep(0.1)
                except BaseException:   # noqa: B036 - what a careless library does
                    pass
        elif self.how == "wrap":
            try:
                time.sleep(60)
            except KeyboardInterrupt as exc:
                raise RuntimeError("worker failed") from exc
        elif self.how == "c-call":
            re.match(r"(a|aa)+c", "a" * 40)
        elif self.how == "del":
            for _ in range(600):
                _Slow()
        elif self.how == "cleanup":
            try:
                time.sleep(60)
            finally:
                time.sleep(30)
        return frame


class _Slow:
    def __del__(self):
        time.sleep(0.05)


register("misbehave")(Misbehave)

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
