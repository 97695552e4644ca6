"""A Ray driver for the multi-node tests (tests/test_ray_cluster.py), run inside the head node's namespace
(``RAY_ADDRESS`` set) or, with ``--executor local``, in this machine's namespace without Ray.

    python tests/ray_driver.py CONFIG OUTPUT CACHE REPORT [--encode OUT.npy] [--shards N]

Runs the experiment CONFIG (its results saved to OUTPUT, the cache in CACHE), optionally encodes the demo
corpus with all-MiniLM-L6-v2 in N shards, and writes REPORT (JSON): where every shard ran.
"""
from __future__ import annotations

import argparse
import json
import sys
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from rag.core.cache import Cache  # noqa: E402
from rag.core.executor import encode_in_shards, shard_log  # noqa: E402

def encode_minilm(texts: list[str], threads: int = 1) -> np.ndarray:
    """all-MiniLM-L6-v2 embeddings of ``texts`` (the model is loaded once per process)."""
    from retrievers import encoders
    from retrievers.st_encoder import SentenceTransformerEncoder

    return encoders.encode(SentenceTransformerEncoder("all-MiniLM-L6-v2", "cpu", threads=threads), texts, 16,
                           True)


def main() -> None:
    import tests.ray_stages  # noqa: F401  (registers the test stages)
    from rag.experiment.config import load_experiment

    parser = argparse.ArgumentParser()
    parser.add_argument("config")
    parser.add_argument("output")
    parser.add_argument("cache")
    parser.add_argument("report")
    parser.add_argument("--encode", help="also encode the demo corpus in shards into this .npy file")
    parser.add_argument("--executor", default="ray")
    parser.add_argument("--shards", type=int, default=2)
    args = parser.parse_args()
    cache = Cache(args.cache)
    with shard_log() as runs:
        results = load_experiment(args.config, cache=cache).run()
        results.save(args.output)
        if args.encode:
            from rag.datasets import demo

            texts = [f"{d['title']} {d['text']}" for d in demo().corpus]
            with cache.activate():
                vectors = encode_in_shards(partial(encode_minilm, threads=1), texts, args.shards, args.executor)
            np.save(args.encode, vectors)
    Path(args.report).write_text(json.dumps({"shards": [[r.call, r.shard, r.node, r.pid, round(r.seconds, 3)]
                                                        for r in runs], "cache": cache.stats()}))


if __name__ == "__main__":
    main()
