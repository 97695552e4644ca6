"""Throughput of ragif's llama.cpp backend vs raw llama-cpp-python on the same prompts.

    python experiments/bench_llm.py [--n 10] [--max-tokens 32] [--threads 1]

Same GGUF file, same thread count, greedy decoding, the same chat-formatted questions (NQ-open when the
shared data is there, else the demo questions). ragif runs with an empty cache (so every call really runs);
a second ragif pass shows the cached cost. Prints seconds per prompt, generated tokens/s and the ratio.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def questions(n: int) -> list[str]:
    from rag.datasets import demo, load_dataset

    try:
        frame = load_dataset("nq-open").queries()
    except Exception:
        frame = demo().queries()
    return [f"Answer the question with a few words.\nQuestion: {q}?\nAnswer:" for q in frame["query"].head(n)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10)
    ap.add_argument("--max-tokens", type=int, default=32)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--reuse-prefix", action="store_true", help="ragif reuses shared prompt prefixes as raw does")
    ap.add_argument("--rounds", type=int, default=2, help="alternating rounds; the best of each is kept")
    args = ap.parse_args()
    import llama_cpp

    from rag.core.cache import Cache
    from rag.llm import load_llm
    from rag.llm.models import QWEN_05B

    prompts = questions(args.n)
    path = str(QWEN_05B.path())
    raw = llama_cpp.Llama(model_path=path, n_ctx=4096, n_threads=args.threads, n_threads_batch=args.threads,
                          verbose=False, seed=0)
    llm = load_llm({"backend": "llamacpp", "model": "qwen-0.5b", "threads": args.threads,
                    "reuse_prefix": args.reuse_prefix})

    def run_raw() -> tuple[float, int]:
        start, tokens = time.perf_counter(), 0
        for p in prompts:
            out = raw.create_chat_completion([{"role": "user", "content": p}], max_tokens=args.max_tokens,
                                             temperature=0.0)
            tokens += out["usage"]["completion_tokens"]
        return time.perf_counter() - start, tokens

    def run_ours() -> tuple[float, list]:
        with tempfile.TemporaryDirectory() as tmp, Cache(tmp).activate():
            start = time.perf_counter()
            gens = llm.generate(prompts, max_tokens=args.max_tokens)
            return time.perf_counter() - start, gens

    raw_s, ours_s = float("inf"), float("inf")
    for _ in range(args.rounds):  # alternate, keep the best of each: the machine is shared
        t, raw_tokens = run_raw()
        raw_s = min(raw_s, t)
        t, gens = run_ours()
        ours_s = min(ours_s, t)
    with tempfile.TemporaryDirectory() as tmp, Cache(tmp).activate():
        llm.generate(prompts, max_tokens=args.max_tokens)
        start = time.perf_counter()
        llm.generate(prompts, max_tokens=args.max_tokens)
        cached_s = time.perf_counter() - start
    ours_tokens = sum(g.completion_tokens for g in gens)
    print(f"{len(prompts)} prompts, max {args.max_tokens} new tokens, {args.threads} thread(s), {Path(path).name}, "
          f"ragif reuse_prefix={args.reuse_prefix} (raw llama-cpp-python always reuses the shared prefix)")
    print(f"raw llama-cpp-python create_chat_completion: {raw_s / len(prompts):6.2f} s/prompt  "
          f"{raw_tokens / raw_s:6.1f} generated tok/s")
    print(f"ragif llama.cpp backend (empty cache):       {ours_s / len(prompts):6.2f} s/prompt  "
          f"{ours_tokens / ours_s:6.1f} generated tok/s   ratio vs raw (time): {raw_s / ours_s:.2f}x")
    print(f"ragif, cached re-run:                        {cached_s / len(prompts):6.4f} s/prompt  "
          f"ratio vs raw: {raw_s / max(cached_s, 1e-9):.0f}x")


if __name__ == "__main__":
    main()
