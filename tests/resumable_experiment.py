"""An experiment slow enough to be killed midway (driven by tests/test_resume.py in a subprocess).

    python tests/resumable_experiment.py CACHE_DIR OUTPUT_DIR DELAY_SECONDS
"""
from __future__ import annotations

import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import ClassVar

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rag.core.cache import Cache  # noqa: E402
from rag.core.stage import Stage  # noqa: E402
from rag.datasets import demo  # noqa: E402
from rag.experiment import Experiment  # noqa: E402
from retrievers.lucene import LuceneBM25  # noqa: E402


@dataclasses.dataclass(repr=False)
class SlowRescore(Stage):
    """Re-scores by ``score * weight`` after sleeping (stands in for an expensive reranker)."""

    weight: float = 1.0
    delay: float = dataclasses.field(default=1.0, metadata={"config": False})
    needs: ClassVar[tuple[str, ...]] = ("qid", "docno", "score")
    gives: ClassVar[tuple[str, ...]] = ("score", "rank")

    def transform(self, frame):
        from rag.core.stage import add_ranks

        time.sleep(self.delay)
        return add_ranks(frame.drop(columns=["rank"], errors="ignore").assign(score=frame["score"] * self.weight))


def main() -> None:
    cache, output, delay = Cache(sys.argv[1]), Path(sys.argv[2]), float(sys.argv[3])
    data = demo()
    pipelines = {f"BM25-b{b}": LuceneBM25(data.corpus, b=b) >> SlowRescore(weight=1 + b, delay=delay)
                 for b in (0.4, 0.6, 0.8, 1.0)}
    results = Experiment(pipelines, data, ["nDCG@10", "RR@10"], cache=cache, name="resume").run()
    results.save(output)
    print(json.dumps(cache.stats()))


if __name__ == "__main__":
    main()
