"""Is ragif ever the bottleneck in front of a fast LLM server? Requests per second through `Experiment` against a
raw httpx client sending the same requests to the same instant server, in the same run.

    python experiments/bench_llm_throughput.py [--questions 10000] [--concurrency 16] [--rounds 2]

* The server: an OpenAI-compatible ``/v1/chat/completions`` on 127.0.0.1 in its own process (asyncio, no
  framework, one canned reply), so that everything measured is the client side.
* ragif: a synthetic QA set (``--questions`` questions, a corpus of twice as many passages), two systems
  through one :class:`~rag.experiment.Experiment` (closed-book reader; BM25 → reader, passages=3), measure EM; then the
  utility judge (listwise-set over BM25's top 3) as its own experiment. BM25's index and rankings are computed
  once beforehand; each round uses a new model ``name``, so every LLM call and every LLM stage is computed
  afresh, with ``concurrency`` requests in flight.
* The peers: the requests ragif sent (recorded by the server), sent again by a plain httpx client with
  ``concurrency`` threads (``httpx.Client`` + a thread pool: the obvious loop, the issue's peer) and by a bare
  ``aiohttp`` session with a semaphore (the client ragif's backend uses, without ragif: the stricter peer).
  Rounds alternate ragif and the peers; the best of each.
* ragif's rate is LLM requests / the time spent in ragif's LLM calls (``CachedLLM.generate``: cache keys and
  lookups, the stream, checking each reply, handing it to the cache writers and waiting for them), the part
  that stands between a stage and the server; and, for the record, LLM requests / the whole ``Experiment.run``
  (BM25 lookups, stage-output caching, evaluation and statistics included) and each system's pipeline time.
  The cached re-run repeats the last round's experiment; saving writes its results folder (tables, runs, boards,
  plots) with ``ExperimentResults.save``. The load average is the machine's 1-minute figure after each row.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import random
import shutil
import socket
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

os.environ.setdefault("RAGIF_PROGRESS", "0")

REPLY = json.dumps({"id": "bench", "object": "chat.completion", "model": "m", "choices": [
    {"index": 0, "message": {"role": "assistant", "content": "My selection: [passage-0]. Paris"},
     "finish_reason": "stop"}], "usage": {"prompt_tokens": 120, "completion_tokens": 9}}).encode()


# ------------------------------------------------------------------------------------------- the server
def serve(port: int, ready: "multiprocessing.synchronize.Event") -> None:
    """An instant OpenAI-compatible server: POST answers REPLY (the body is recorded while recording is on);
    ``GET /count`` the POSTs so far; ``GET /record/on|off``; ``GET /dump?FILE`` writes the recorded bodies."""
    state = {"count": 0, "record": False, "bodies": []}

    def answer(status: bytes, body: bytes) -> bytes:
        return (b"HTTP/1.1 " + status + b"\r\nContent-Type: application/json\r\nContent-Length: "
                + str(len(body)).encode() + b"\r\n\r\n" + body)

    ok = answer(b"200 OK", REPLY)

    class Protocol(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport, self.buffer = transport, b""
            sock = transport.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def data_received(self, data: bytes) -> None:
            self.buffer += data
            out = []
            while True:
                end = self.buffer.find(b"\r\n\r\n")
                if end < 0:
                    break
                head = self.buffer[:end]
                at = head.lower().find(b"content-length:")
                length = int(head[at + 15:head.find(b"\r\n", at) if head.find(b"\r\n", at) > 0 else None]) \
                    if at >= 0 else 0
                if len(self.buffer) < end + 4 + length:
                    break
                body, self.buffer = self.buffer[end + 4:end + 4 + length], self.buffer[end + 4 + length:]
                line = head[:head.find(b"\r\n")] if b"\r\n" in head else head
                if line.startswith(b"POST"):
                    state["count"] += 1
                    if state["record"]:
                        state["bodies"].append(body)
                    out.append(ok)
                else:
                    out.append(self.get(line.split(b" ")[1].decode()))
            if out:
                self.transport.write(b"".join(out))

        def get(self, path: str) -> bytes:
            if path == "/count":
                return answer(b"200 OK", str(state["count"]).encode())
            if path.startswith("/record/"):
                state["record"], state["bodies"] = path.endswith("/on"), [] if path.endswith("/on") else state["bodies"]
                return answer(b"200 OK", b"{}")
            if path.startswith("/dump?"):
                with open(path.split("?", 1)[1], "wb") as handle:
                    handle.write(b"\n".join(state["bodies"]))
                return answer(b"200 OK", str(len(state["bodies"])).encode())
            return answer(b"404 Not Found", b'{"error": "not found"}')

    async def main() -> None:
        server = await asyncio.get_running_loop().create_server(Protocol, "127.0.0.1", port, backlog=512)
        ready.set()
        async with server:
            await server.serve_forever()

    asyncio.run(main())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str) -> str:
    import httpx

    return httpx.get(url, timeout=60).text


# ------------------------------------------------------------------------------------------- the peer
def raw_threads(url: str, bodies: list[bytes], concurrency: int) -> float:
    """Seconds for a plain httpx client with ``concurrency`` threads to send ``bodies`` and read each answer."""
    import httpx

    with httpx.Client(limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
                      timeout=60) as client:
        headers = {"Content-Type": "application/json"}

        def one(body: bytes) -> str:
            return client.post(url, content=body, headers=headers).json()["choices"][0]["message"]["content"]

        start = time.perf_counter()
        with ThreadPoolExecutor(concurrency) as pool:
            texts = list(pool.map(one, bodies))
        took = time.perf_counter() - start
    assert len(texts) == len(bodies)
    return took


def raw_aiohttp(url: str, bodies: list[bytes], concurrency: int) -> float:
    """The same with an ``aiohttp`` session (what ragif's backend uses) and a semaphore of ``concurrency``."""
    import aiohttp

    async def main() -> float:
        connector = aiohttp.TCPConnector(limit=concurrency)
        async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=60)) as session:
            slots = asyncio.Semaphore(concurrency)
            headers = {"Content-Type": "application/json"}

            async def one(body: bytes) -> str:
                async with slots:
                    async with session.post(url, data=body, headers=headers) as response:
                        return (await response.json())["choices"][0]["message"]["content"]

            start = time.perf_counter()
            texts = await asyncio.gather(*(one(b) for b in bodies))
            assert len(texts) == len(bodies)
            return time.perf_counter() - start

    return asyncio.run(main())


# ------------------------------------------------------------------------------------------- ragif
WORDS = ("river mountain castle painter engine ocean treaty novel planet violin harbour glacier empire "
         "composer bridge desert festival library island volcano merchant cathedral railway orchard").split()


def dataset(questions: int, seed: int = 0):
    import pandas as pd

    from rag.datasets import Corpus, Dataset

    rng = random.Random(seed)
    docs = [{"docno": f"d{i}", "title": f"{WORDS[i % len(WORDS)]} {i}",
             "text": " ".join(rng.choice(WORDS) for _ in range(40)) + f" fact{i}"} for i in range(2 * questions)]
    queries = pd.DataFrame({"qid": [f"q{i}" for i in range(questions)],
                            "query": [f"Which {rng.choice(WORDS)} is described by fact{rng.randrange(2 * questions)} "
                                      f"near the {rng.choice(WORDS)}?" for i in range(questions)],
                            "answers": [["Paris"] for _ in range(questions)]})
    corpus = Corpus(docs)
    return Dataset(name=f"bench-{questions}", corpus=corpus, query_loaders={"test": lambda: queries.copy()}), corpus


def systems(corpus, spec: dict, judge: bool) -> dict:
    from rag.judges import UtilityJudge
    from rag.readers import Reader
    from retrievers.bm25.fast import FastBM25
    from retrievers.text import AddText

    bm25 = FastBM25(corpus)
    if judge:
        return {"BM25 → judge": bm25 % 3 >> AddText(corpus) >> UtilityJudge(llm=spec, method="listwise-set",
                                                                           depth=3)}
    return {"closed-book": Reader(llm=spec, template="closed_book", passages=0),
            "BM25 → reader": bm25 % 3 >> Reader(llm=spec, passages=3, corpus=corpus)}


def _memory_records():
    from rag.core.cache import Cache

    class MemoryRecords(Cache):
        """Small records in a dict (with the batched calls the LLM layer uses where a cache has them)."""

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.records: dict = {}

        def get_json(self, key):
            return self.records.get(key)

        def put_json(self, key, value):
            self.records.setdefault(key, value)

        def get_many(self, keys):
            return {k: self.records[k] for k in keys if k in self.records}

        def put_many(self, items):
            for key, value in items:
                self.records.setdefault(key, value)

    return MemoryRecords


LLM_SECONDS = [0.0]


def time_llm_calls() -> None:
    """Add the wall time of every ``CachedLLM.generate`` call to :data:`LLM_SECONDS`."""
    from rag.llm.cached import CachedLLM

    generate = CachedLLM.generate

    def timed(self, *args, **kwargs):
        start = time.perf_counter()
        try:
            return generate(self, *args, **kwargs)
        finally:
            LLM_SECONDS[0] += time.perf_counter() - start

    CachedLLM.generate = timed


def ragif_round(ds, corpus, url: str, concurrency: int, name: str, cache, judge: bool, base: str):
    from rag.experiment import Experiment

    spec = {"backend": "openai", "model": "m", "base_url": url, "concurrency": concurrency, "name": name}
    before = int(get(f"{base}/count"))
    experiment = Experiment(systems(corpus, spec, judge), ds, ["LLMTokens"] if judge else ["EM", "LLMTokens"],
                            cache=cache)
    LLM_SECONDS[0] = 0.0
    start = time.perf_counter()
    results = experiment.run()
    took = time.perf_counter() - start
    calls = int(get(f"{base}/count")) - before
    return took, calls, results, LLM_SECONDS[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--cache", default=None, help="cache folder (default: a new temporary one)")
    parser.add_argument("--memory-records", action="store_true",
                        help="keep the cache's small records (LLM replies) in memory, with get_many/put_many: what the "
                             "stream costs without the store's per-entry files (tables stay on disk)")
    args = parser.parse_args()

    import rag
    from rag.core.cache import Cache

    MemoryRecords = _memory_records()

    port = free_port()
    ready = multiprocessing.get_context("spawn").Event()
    server = multiprocessing.get_context("spawn").Process(target=serve, args=(port, ready), daemon=True)
    server.start()
    ready.wait(30)
    base, url = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{port}/v1"
    work = Path(tempfile.mkdtemp(prefix="bench-llm-", dir=args.cache and Path(args.cache).parent))
    cache = (MemoryRecords if args.memory_records else Cache)(args.cache or work / "cache")
    print(f"ragif {rag.__version__} from {Path(rag.__file__).parents[1]}; {args.questions:,} questions, concurrency "
          f"{args.concurrency}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; LLM replies cached "
          f"{'in memory (--memory-records)' if args.memory_records else 'in the cache folder, ' + type(cache).__name__}")
    time_llm_calls()
    ds, corpus = dataset(args.questions)
    with cache.activate():      # BM25's index and rankings (what feeds the reader) once, before anything is timed
        from rag.core.stage import Pipeline

        retrieval = systems(corpus, {"backend": "openai", "model": "m", "base_url": url}, False)["BM25 → reader"]
        Pipeline(retrieval.stages[:-1])(ds.queries())
    rows = []
    try:
        for judge in (False, True):
            label = "utility judge (BM25 → judge)" if judge else "reader (closed-book + BM25 → reader)"
            best_ragif, best_llm, best_raw, timings, calls = None, None, None, {}, 0
            for r in range(args.rounds):
                get(f"{base}/record/on")
                took, calls, results, llm = ragif_round(ds, corpus, url, args.concurrency,
                                                     f"bench-{'judge' if judge else 'reader'}-{r}", cache, judge, base)
                dump = work / "bodies.jsonl"
                sent = int(get(f"{base}/dump?{dump}"))
                get(f"{base}/record/off")
                bodies = dump.read_bytes().split(b"\n")
                assert sent == calls == len(bodies)
                raw = (raw_threads(f"{url}/chat/completions", bodies, args.concurrency),
                       raw_aiohttp(f"{url}/chat/completions", bodies, args.concurrency))
                if best_ragif is None or took < best_ragif:
                    best_ragif, timings = took, results.timings
                best_llm = llm if best_llm is None else min(best_llm, llm)
                best_raw = raw if best_raw is None else tuple(min(a, b) for a, b in zip(best_raw, raw))
            rows.append((label, calls, calls / best_raw[0], calls / best_raw[1], calls / best_llm,
                         calls / best_ragif, best_ragif, timings))
            start = time.perf_counter()
            _, _, results, _ = ragif_round(ds, corpus, url, args.concurrency,
                                           f"bench-{'judge' if judge else 'reader'}-{args.rounds - 1}", cache, judge,
                                           base)
            cached = time.perf_counter() - start
            start = time.perf_counter()
            results.save(work / f"results-{'judge' if judge else 'reader'}")
            rows[-1] += (cached, time.perf_counter() - start, os.getloadavg()[0])
    finally:
        server.terminate()
        shutil.rmtree(work, ignore_errors=True)
    print()
    print("| work | LLM calls | raw httpx loop | raw aiohttp | ragif LLM calls (vs httpx, vs aiohttp) | ragif whole "
          "Experiment.run (vs httpx) | per system (pipeline time) | cached re-run | saving results | load average |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for label, calls, httpx_rate, aiohttp_rate, llm_rate, rate, took, timings, cached, save, load in rows:
        per = "; ".join(f"{k} {v:.1f} s" for k, v in timings.items())
        print(f"| {label} | {calls:,} | {httpx_rate:,.0f} req/s | {aiohttp_rate:,.0f} req/s | {llm_rate:,.0f} req/s "
              f"(x{llm_rate / httpx_rate:.2f}, x{llm_rate / aiohttp_rate:.2f}) | {rate:,.0f} req/s ({took:.1f} s, "
              f"x{rate / httpx_rate:.2f}) | {per} | {cached:.1f} s | {save:.1f} s | {load:.1f} |")


if __name__ == "__main__":
    main()
