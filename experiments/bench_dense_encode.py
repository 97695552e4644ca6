"""Encode throughput (docs/s) of ragif's dense encoder vs raw ``SentenceTransformer.encode``, same texts.

    python experiments/bench_dense_encode.py --docs 500 --threads 1 [--dataset scifact] [--onnx-threads 2]

Also measures the opt-in ``backend="onnx-int8"`` encoder (int8 all-MiniLM-L6-v2 on ONNX Runtime, with
``--onnx-threads`` threads) when ``ragif[onnx]`` is installed, with its ratio to the raw encode and the
smallest cosine between its vectors and the exact ones.

Both encode the same documents (title + text) with all-MiniLM-L6-v2, batch size 32, normalised; ragif's
path adds global length sorting, chunked progress and the thread setting. The runs alternate and the
best of ``--repeats`` is reported, since the machine is shared.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from rag.datasets import load_dataset
from retrievers import encoders


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="scifact")
    parser.add_argument("--docs", type=int, default=500)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--model", default="all-MiniLM-L6-v2")
    parser.add_argument("--onnx-threads", type=int, default=None, help="threads of the onnx-int8 encoder")
    args = parser.parse_args(argv)
    import torch
    torch.set_num_threads(args.threads)
    docs = load_dataset(args.dataset).corpus.frame().head(args.docs)
    texts = [f"{t} {x}" if t else x for t, x in zip(docs["title"], docs["text"])]
    st = encoders.load_model(args.model, "cpu")
    best = {"ragif": float("inf"), "sentence-transformers": float("inf")}
    onnx = None
    try:
        from retrievers.onnx_encoder import OnnxMiniLM
        onnx = OnnxMiniLM(args.onnx_threads or args.threads)
        best["ragif onnx-int8"] = float("inf")
    except ImportError as exc:
        print(f"(onnx-int8 not measured: {exc})")
    for _ in range(args.repeats):
        if onnx is not None:
            t0 = time.perf_counter()
            fast = encoders.encode(onnx, texts, args.batch_size, normalize=True, threads=args.onnx_threads or args.threads)
            best["ragif onnx-int8"] = min(best["ragif onnx-int8"], time.perf_counter() - t0)
        t0 = time.perf_counter()
        ours = encoders.encode(st, texts, args.batch_size, normalize=True, threads=args.threads)
        best["ragif"] = min(best["ragif"], time.perf_counter() - t0)
        t0 = time.perf_counter()
        raw = st.encode(texts, batch_size=args.batch_size, normalize_embeddings=True, convert_to_numpy=True)
        best["sentence-transformers"] = min(best["sentence-transformers"], time.perf_counter() - t0)
    np.testing.assert_allclose(ours, raw, atol=1e-4)
    rates = {k: len(texts) / v for k, v in best.items()}
    print(f"{len(texts)} docs of {args.dataset}, {args.model}, batch {args.batch_size}, {args.threads} thread(s)")
    for name, rate in rates.items():
        print(f"  {name:22s} {rate:8.1f} docs/s  ({best[name]:.1f} s)")
    print(f"  ratio ragif / sentence-transformers: {rates['ragif'] / rates['sentence-transformers']:.2f}")
    if onnx is not None:
        print(f"  ratio onnx-int8 / sentence-transformers: "
              f"{rates['ragif onnx-int8'] / rates['sentence-transformers']:.2f} (smallest cosine to the exact "
              f"vectors {float(np.min(np.sum(fast * raw, axis=1))):.4f})")


if __name__ == "__main__":
    main()
