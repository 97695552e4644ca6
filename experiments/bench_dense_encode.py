"""Encode throughput (docs/s) of ragif's dense encoders vs raw ``SentenceTransformer.encode``, same texts.

    python experiments/bench_dense_encode.py --docs 500 --threads 1 [--dataset scifact] [--fast-threads 2]

The peer is the raw encode on ``--threads`` threads. Measured beside it: ragif's exact encoder (same
threads; its vectors must equal the peer's), and the opt-in fast encoders with ``--fast-threads`` threads:
``runtime="torch-bf16"`` (bfloat16 autocast, any model; also on ``--threads`` threads) and
``runtime="onnx-int8"`` (int8 all-MiniLM-L6-v2 on ONNX Runtime, when ``ragif[onnx]`` is installed). Each
opt-in line prints its ratio to the peer and the smallest cosine between its vectors and the exact ones.

All encode the same documents (title + text) with all-MiniLM-L6-v2, batch size 32, normalised; ragif's
path adds global length sorting, chunked progress and the thread setting. The runs alternate and the
best of ``--repeats`` is reported, since the machine is shared.
"""
from __future__ import annotations

import argparse
import time
from typing import Callable

import numpy as np

from rag.datasets import load_dataset
from retrievers import encoders
from retrievers.st_encoder import Bfloat16Encoder, SentenceTransformerEncoder


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="scifact")
    parser.add_argument("--docs", type=int, default=500)
    parser.add_argument("--threads", type=int, default=1, help="threads of the peer and of ragif's exact encoder")
    parser.add_argument("--fast-threads", type=int, default=2, help="threads of the opt-in fast encoders")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--model", default="all-MiniLM-L6-v2")
    args = parser.parse_args(argv)
    import torch
    torch.set_num_threads(args.threads)
    docs = load_dataset(args.dataset).corpus.frame().head(args.docs)
    texts = [f"{t} {x}" if t else x for t, x in zip(docs["title"], docs["text"])]
    exact = SentenceTransformerEncoder(args.model, "cpu", threads=args.threads)
    st = exact.st()
    bf16 = Bfloat16Encoder(args.model, "cpu", threads=args.threads)
    bf16_fast = Bfloat16Encoder(args.model, "cpu", threads=args.fast_threads)
    runs: dict[str, Callable[[], np.ndarray]] = {
        "sentence-transformers": lambda: st.encode(texts, batch_size=args.batch_size, normalize_embeddings=True,
                                                   convert_to_numpy=True),
        "ragif exact": lambda: encoders.encode(exact, texts, args.batch_size, True),
        f"ragif torch-bf16 {args.threads}t": lambda: encoders.encode(bf16, texts, args.batch_size, True),
        f"ragif torch-bf16 {args.fast_threads}t": lambda: encoders.encode(bf16_fast, texts, args.batch_size, True),
    }
    try:
        from retrievers.onnx_encoder import OnnxMiniLM
        onnx = OnnxMiniLM(threads=args.fast_threads)
        runs[f"ragif onnx-int8 {args.fast_threads}t"] = lambda: encoders.encode(onnx, texts, args.batch_size, True)
    except ImportError as exc:
        print(f"(onnx-int8 not measured: {exc})")
    best = dict.fromkeys(runs, float("inf"))
    vectors: dict[str, np.ndarray] = {}
    for _ in range(args.repeats):
        for name, run in runs.items():
            t0 = time.perf_counter()
            vectors[name] = run()
            best[name] = min(best[name], time.perf_counter() - t0)
    exact = vectors["sentence-transformers"]
    np.testing.assert_allclose(vectors["ragif exact"], exact, atol=1e-4)
    rates = {k: len(texts) / v for k, v in best.items()}
    peer = rates["sentence-transformers"]
    print(f"{len(texts)} docs of {args.dataset}, {args.model}, batch {args.batch_size}; "
          f"peer: raw SentenceTransformer.encode on {args.threads} thread(s)")
    for name, rate in rates.items():
        note = "" if name in ("sentence-transformers", "ragif exact") else \
            f"  smallest cosine to the exact vectors {float(np.min(np.sum(vectors[name] * exact, axis=1))):.5f}"
        print(f"  {name:26s} {rate:8.1f} docs/s  ({best[name]:6.1f} s)  x{rate / peer:.2f}{note}")


if __name__ == "__main__":
    main()
