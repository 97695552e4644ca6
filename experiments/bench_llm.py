"""Throughput of ragif's LLM backends against the peer they wrap, measured side by side in one run.

    python experiments/bench_llm.py [--n 20] [--max-tokens 32] [--threads 1] [--rounds 3] [--server]

1. In process: ``load_llm("qwen-0.5b")`` (the default llama.cpp backend, empty cache) against raw
   llama-cpp-python ``create_chat_completion`` on the same GGUF file, prompts (NQ-open questions when the
   shared data is there, else the demo questions), thread count and greedy decoding. Rounds are interleaved
   prompt by prompt and the least time per prompt is kept, so that load from other processes on a shared
   machine hits both sides alike; CPU-time ratios are printed beside wall-time ones, and where the time goes
   (prompt rows evaluated, decode steps, everything else). Also checks that ragif's outputs with and without
   prefix reuse are identical (text and token counts), and how often raw llama-cpp-python agrees with them
   (its own prefix reuse is not exact, so it may differ).
2. Option probabilities (``option_probs``) of judge-like prompts (one instruction and question over many
   passages of the demo corpus): ragif with and without prefix reuse (identical values required) against raw
   llama-cpp-python the way its API gives token probabilities (``logits_all=True``,
   ``create_chat_completion(max_tokens=1, logprobs=True, top_logprobs=20)``).
3. ``--server``: the OpenAI-compatible backend against a plain httpx client sending the same requests to
   llama.cpp's own server (``python -m llama_cpp.server``, started here on 127.0.0.1). That server has one
   slot, so requests queue there whatever the client's concurrency (ragif runs at 1, interleaved prompt by
   prompt with the direct client, and at 4, as whole batches).
"""
from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def questions(n: int) -> list[str]:
    from rag.datasets import demo, load_dataset

    try:
        frame = load_dataset("nq-open").queries()
        source = "NQ-open"
    except Exception:  # noqa: BLE001 - no shared data: the demo questions
        frame, source = demo().queries(), "the demo set (no shared data: set RAGIF_DATA for NQ-open)"
    prompts = [f"Answer the question with a few words.\nQuestion: {q}?\nAnswer:" for q in frame["query"].head(n)]
    print(f"{len(prompts)} questions from {source}")
    return prompts


def best_of(rounds: int, sides: dict[str, Callable[[], Any]]) -> dict[str, tuple[float, Any]]:
    """Each side run whole ``rounds`` times, alternating; the least wall time of each and its result."""
    best: dict[str, tuple[float, Any]] = {}
    for _ in range(rounds):
        for name, run in sides.items():
            start = time.perf_counter()
            result = run()
            spent = time.perf_counter() - start
            if name not in best or spent < best[name][0]:
                best[name] = (spent, result)
    return best


class Meter:
    """Counts what a ``Llama`` evaluates: prompt rows (batches of 2 or more tokens) and single-token decode
    steps, with the CPU time of each."""

    def __init__(self, llama: Any):
        self.rows = self.steps = 0
        self.rows_cpu = self.steps_cpu = 0.0
        evaluate = llama.eval

        def counted(tokens: Any) -> None:
            start = time.process_time()
            evaluate(tokens)
            spent = time.process_time() - start
            if len(tokens) > 1:
                self.rows, self.rows_cpu = self.rows + len(tokens), self.rows_cpu + spent
            else:
                self.steps, self.steps_cpu = self.steps + 1, self.steps_cpu + spent

        llama.eval = counted


def interleaved(rounds: int, prompts: list[str], sides: dict[str, Callable[[int, str], Any]]) -> dict[str, dict]:
    """Every side on prompt 1, then every side on prompt 2, ... (the side order flips each round), so that
    load from other processes hits the sides alike. Per side: the sum over prompts of the least wall and CPU
    time over the rounds, the CPU time of all rounds, and the results of the last round."""
    out = {name: {"wall": [float("inf")] * len(prompts), "cpu": [float("inf")] * len(prompts), "cpu_all": 0.0,
                  "results": [None] * len(prompts)} for name in sides}
    for r in range(rounds):
        order = list(sides) if r % 2 == 0 else list(reversed(sides))
        for i, prompt in enumerate(prompts):
            for name in order:
                start, cpu = time.perf_counter(), time.process_time()
                result = sides[name](r, prompt)
                wall, cpu = time.perf_counter() - start, time.process_time() - cpu
                side = out[name]
                side["wall"][i], side["cpu"][i] = min(side["wall"][i], wall), min(side["cpu"][i], cpu)
                side["cpu_all"] += cpu
                side["results"][i] = result
    for side in out.values():
        side["wall"], side["cpu"] = sum(side["wall"]), sum(side["cpu"])
    return out


def in_process(args: argparse.Namespace, prompts: list[str]) -> None:
    import llama_cpp

    from rag.core.cache import Cache
    from rag.llm import CachedLLM, load_llm
    from rag.llm.gguf import QWEN_05B

    path = str(QWEN_05B.path())
    raw = llama_cpp.Llama(model_path=path, n_ctx=4096, n_threads=args.threads, n_threads_batch=args.threads,
                          verbose=False, seed=0)
    ours = load_llm({"backend": "llamacpp", "model": "qwen-0.5b", "threads": args.threads})
    scratch = load_llm({"backend": "llamacpp", "model": "qwen-0.5b", "threads": args.threads,
                        "reuse_prefix": "off"})
    meters = {"raw": Meter(raw), "ragif": Meter(ours.backend._llm), "ragif, reuse off": Meter(scratch.backend._llm)}
    folder = tempfile.TemporaryDirectory()

    def run_raw(_: int, prompt: str) -> tuple[str, int]:
        reply = raw.create_chat_completion([{"role": "user", "content": prompt}], max_tokens=args.max_tokens,
                                           temperature=0.0)
        return reply["choices"][0]["message"]["content"], reply["usage"]["completion_tokens"]

    def run(llm: Any, tag: str) -> Callable[[int, str], tuple[str, int]]:
        per_round: dict[int, CachedLLM] = {}

        def go(r: int, prompt: str) -> tuple[str, int]:
            if r not in per_round:  # a new, empty cache each round: every call really runs
                per_round[r] = CachedLLM(llm.backend, cache=Cache(Path(folder.name) / f"{tag}{r}"))
            gen = per_round[r].generate([prompt], max_tokens=args.max_tokens)[0]
            return gen.text, gen.completion_tokens
        return go

    sides = {"raw": run_raw, "ragif": run(ours, "on")}
    if not args.skip_scratch:
        sides["ragif, reuse off"] = run(scratch, "off")
    got = interleaved(args.rounds, prompts, sides)
    counts = {name: vars(meter).copy() for name, meter in meters.items()}  # before the cached re-run below
    with tempfile.TemporaryDirectory() as tmp, Cache(tmp).activate():
        ours.generate(prompts, max_tokens=args.max_tokens)
        start = time.perf_counter()
        ours.generate(prompts, max_tokens=args.max_tokens)
        cached_s = time.perf_counter() - start
    folder.cleanup()
    n, raw_side = len(prompts), got["raw"]
    print(f"\n== in process: {n} prompts, max {args.max_tokens} new tokens, {args.threads} thread(s), "
          f"{Path(path).name}; {args.rounds} rounds interleaved prompt by prompt, least time per prompt")
    labels = {"raw": "raw llama-cpp-python create_chat_completion", "ragif": "ragif load_llm('qwen-0.5b'), empty cache",
              "ragif, reuse off": "ragif with prefix reuse off"}
    for name, side in got.items():
        tokens = sum(t for _, t in side["results"])
        line = f"{labels[name]:<44} {side['wall'] / n:7.3f} s/prompt  {tokens / side['wall']:6.1f} generated tok/s"
        if name != "raw":
            line += (f"   speed vs raw: x{raw_side['wall'] / side['wall']:.2f} "
                     f"(CPU time x{raw_side['cpu'] / side['cpu']:.2f})")
        print(line)
    if "ragif, reuse off" in got:
        same = got["ragif, reuse off"]["results"] == got["ragif"]["results"]
        print(f"ragif outputs (text, token count) identical with and without prefix reuse: {same}"
              + ("" if same else "   <- a bug"))
    print(f"ragif, cached re-run                         {cached_s / n:7.4f} s/prompt")
    agree = sum(a == b for a, b in zip(raw_side["results"], got["ragif"]["results"]))
    print(f"raw and ragif give the same answer for {agree}/{n} prompts (raw's prefix reuse is not exact)")
    print("where the time goes (all rounds, per prompt):")
    for name, c in counts.items():
        if name not in got:
            continue
        runs = n * args.rounds
        other = got[name]["cpu_all"] - c["rows_cpu"] - c["steps_cpu"]
        print(f"  {name:<17} prompt rows evaluated {c['rows'] / runs:5.1f} ({1000 * c['rows_cpu'] / max(c['rows'], 1):4.1f} "
              f"ms CPU each), decode steps {c['steps'] / runs:5.1f} ({1000 * c['steps_cpu'] / max(c['steps'], 1):4.1f} "
              f"ms each), everything else {1000 * other / runs:5.1f} ms CPU")


def judge_prompts(n_queries: int) -> list[str]:
    from rag.datasets import demo

    data = demo()
    passages = [doc["text"] for doc in data.corpus]
    return [f"Is the passage relevant to the question? Answer yes or no.\nQuestion: {q}\nPassage: {p}"
            for q in data.queries()["query"].head(n_queries) for p in passages]


def options(args: argparse.Namespace) -> None:
    import math

    import llama_cpp

    from rag.core.cache import Cache
    from rag.llm import CachedLLM, load_llm
    from rag.llm.gguf import QWEN_05B

    prompts = judge_prompts(args.option_queries)
    raw = llama_cpp.Llama(model_path=str(QWEN_05B.path()), n_ctx=4096, n_threads=args.threads,
                          n_threads_batch=args.threads, verbose=False, seed=0, logits_all=True)
    ours = load_llm({"backend": "llamacpp", "model": "qwen-0.5b", "threads": args.threads})
    scratch = load_llm({"backend": "llamacpp", "model": "qwen-0.5b", "threads": args.threads,
                        "reuse_prefix": "off"})
    folder = tempfile.TemporaryDirectory()

    def run_raw(_: int, prompt: str) -> dict[str, float]:
        reply = raw.create_chat_completion([{"role": "user", "content": prompt}], max_tokens=1, temperature=0.0,
                                           logprobs=True, top_logprobs=20)
        top = reply["choices"][0]["logprobs"]["content"][0]["top_logprobs"]
        return {o: sum(math.exp(t["logprob"]) for t in top if t["token"].strip().lower() == o) for o in ("yes", "no")}

    def run(llm: Any, tag: str) -> Callable[[int, str], dict[str, float]]:
        per_round: dict[int, CachedLLM] = {}

        def go(r: int, prompt: str) -> dict[str, float]:
            if r not in per_round:
                per_round[r] = CachedLLM(llm.backend, cache=Cache(Path(folder.name) / f"{tag}{r}"))
            return per_round[r].option_probs([prompt], ["yes", "no"])[0]
        return go

    got = interleaved(args.rounds, prompts, {"raw": run_raw, "ragif": run(ours, "on"), "off": run(scratch, "off")})
    folder.cleanup()
    n, raw_side = len(prompts), got["raw"]
    print(f"\n== option probabilities: {n} judge prompts ({args.option_queries} question(s) x "
          f"{n // args.option_queries} passages of the demo corpus); {args.rounds} rounds interleaved prompt by prompt")
    print(f"raw llama-cpp-python, logits_all=True, top_logprobs=20  {raw_side['wall'] / n:7.3f} s/prompt")
    for name, label in (("ragif", "ragif option_probs (exact prefix reuse)"), ("off", "ragif option_probs, reuse off")):
        side = got[name]
        print(f"{label:<55} {side['wall'] / n:7.3f} s/prompt  speed vs raw: x{raw_side['wall'] / side['wall']:.2f} "
              f"(CPU time x{raw_side['cpu'] / side['cpu']:.2f})")
    print(f"ragif option probabilities identical with and without prefix reuse: "
          f"{got['ragif']['results'] == got['off']['results']}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def via_server(args: argparse.Namespace, prompts: list[str]) -> None:
    import httpx

    from rag.core.cache import Cache
    from rag.llm import load_llm
    from rag.llm.gguf import QWEN_05B

    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "llama_cpp.server", "--model", str(QWEN_05B.path()),
                               "--host", "127.0.0.1", "--port", str(port), "--n_threads", str(args.threads),
                               "--n_threads_batch", str(args.threads), "--n_ctx", "4096"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.time() + 180
        while True:
            try:
                if httpx.get(f"{base}/models", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.time() > deadline or server.poll() is not None:
                raise SystemExit("the llama.cpp server did not start")
            time.sleep(0.5)
        body = {"model": "qwen", "max_tokens": args.max_tokens, "temperature": 0.0, "seed": 0}
        session = httpx.Client(timeout=300)

        def direct(_: int, prompt: str) -> str:
            reply = session.post(f"{base}/chat/completions", json={**body, "messages": [{"role": "user",
                                                                                         "content": prompt}]})
            return reply.json()["choices"][0]["message"]["content"]

        def ragif(concurrency: int) -> Any:
            return load_llm({"backend": "openai", "model": "qwen", "base_url": base, "concurrency": concurrency,
                             "timeout": 300, "retries": 0})

        one = ragif(1)
        # the server's own prefix reuse is not exact and a prompt sent right after itself is nearly all reused:
        # the two sides take the prompts in different orders, so that neither follows its own prompt
        partner = dict(zip(prompts, prompts[len(prompts) // 2:] + prompts[:len(prompts) // 2]))

        def ragif_one(_: int, prompt: str) -> tuple[str, str]:
            with tempfile.TemporaryDirectory() as tmp, Cache(tmp).activate():
                return partner[prompt], one.generate([partner[prompt]], max_tokens=args.max_tokens)[0].text

        got = interleaved(args.rounds, prompts, {"direct": direct, "ragif": ragif_one})
        direct_answers = dict(zip(prompts, got["direct"]["results"]))
        same = sum(direct_answers[p] == text for p, text in got["ragif"]["results"])
        four = ragif(4)

        def batch_direct() -> list[str]:
            return [direct(0, p) for p in prompts]

        def batch_four() -> list[str]:
            with tempfile.TemporaryDirectory() as tmp, Cache(tmp).activate():
                return [g.text for g in four.generate(prompts, max_tokens=args.max_tokens)]

        best = best_of(args.rounds, {"direct": batch_direct, "ragif c=4": batch_four})
        session.close()
        n = len(prompts)
        print(f"\n== llama.cpp server (python -m llama_cpp.server: one slot, {args.threads} thread(s)) on 127.0.0.1, "
              f"{n} prompts, {args.rounds} rounds")
        print(f"direct httpx requests, one at a time            {got['direct']['wall'] / n:7.3f} s/prompt")
        print(f"ragif OpenAI-compatible backend, concurrency 1  {got['ragif']['wall'] / n:7.3f} s/prompt  speed vs "
              f"direct: x{got['direct']['wall'] / got['ragif']['wall']:.2f} (interleaved prompt by prompt)   same "
              f"answers: {same}/{n} (the server's prefix reuse is not exact)")
        print(f"ragif, concurrency 4 (the server queues them)   {best['ragif c=4'][0] / n:7.3f} s/prompt  speed vs "
              f"direct: x{best['direct'][0] / best['ragif c=4'][0]:.2f} (whole batches, best of {args.rounds})")
    finally:
        server.terminate()
        server.wait(timeout=30)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20, help="questions")
    ap.add_argument("--max-tokens", type=int, default=32)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds; the best of each side is kept")
    ap.add_argument("--server", action="store_true", help="also the OpenAI-compatible backend via llama.cpp's server")
    ap.add_argument("--skip-scratch", action="store_true", help="do not time ragif with prefix reuse off")
    ap.add_argument("--option-queries", type=int, default=1, help="questions for the option_probs part (0: skip)")
    ap.add_argument("--no-in-process", action="store_true", help="skip the in-process generation part")
    args = ap.parse_args()
    prompts = questions(args.n)
    if not args.no_in_process:
        in_process(args, prompts)
    if args.option_queries:
        options(args)
    if args.server:
        via_server(args, prompts)


if __name__ == "__main__":
    main()
