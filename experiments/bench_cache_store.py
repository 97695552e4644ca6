"""The cache's small records (LLM replies, per-query notes): one JSON file each (ragif 0.1, still used on network file
systems) vs one SQLite file (WAL, batched), measured side by side in one run.

    python experiments/bench_cache_store.py [--n 100000] [--writers 4] [--concurrent-n 20000] [--frame-rows 150000]

Prints, for each layout: ``--n`` puts through ``Cache.put_json`` (committed), ``--n`` lookups through
``Cache.get_json`` one at a time and through ``Cache.get_many``, bytes on disk and files; then ``--writers``
processes writing ``--concurrent-n`` records in all at once into one folder; then the cost of a frame fingerprint
the first time and again (``rag.core.hashing.hash_frame`` remembers it). Goal (issue 29): 100,000 lookups in <= 5 s.
A reply is ~200 bytes of JSON, as the reader's replies are.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


from rag.core.cache import LLM_REPLIES, Cache  # noqa: E402
from rag.core.hashing import hash_config  # noqa: E402

LAYOUTS = ("files", "sqlite")


def reply(i: int) -> dict:
    """A record shaped like a cached reader reply."""
    return {"text": f"The answer to question {i} is probably the one given in passage {i % 7}.",
            "prompt_tokens": 412 + i % 50, "completion_tokens": 17, "latency_s": 0.0123, "token_logprobs": None,
            "finish_reason": "stop"}


def keys(n: int, tag: str = "") -> list[str]:
    return [hash_config("bench", tag, i) for i in range(n)]


def disk_use(folder: Path) -> tuple[int, int]:
    """(bytes allocated on disk, files) under ``folder``."""
    used = files = 0
    for path in folder.rglob("*"):
        if path.is_file():
            used += path.stat().st_blocks * 512
            files += 1
    return used, files


def single_process(layout: str, n: int, root: Path) -> dict:
    """Wall and CPU seconds of ``n`` puts (committed), ``n`` lookups one by one and by ``get_many``; disk use."""
    cache = Cache(root, records=layout)
    names = keys(n)
    out: dict = {}

    def timed(field: str, work) -> None:
        wall, cpu = time.perf_counter(), time.process_time()
        work()
        out[field], out[field + "_cpu"] = time.perf_counter() - wall, time.process_time() - cpu

    def put() -> None:
        for i, key in enumerate(names):
            cache.put_json(key, reply(i), kind=LLM_REPLIES)
        cache.flush()

    timed("put", put)
    timed("get", lambda: out.__setitem__("found", sum(cache.get_json(k, kind=LLM_REPLIES) is not None
                                                       for k in names)))
    timed("get_many", lambda: out.__setitem__("found_many", sum(v is not None for v in
                                                                 cache.get_many(names, kind=LLM_REPLIES))))
    assert out["found"] == out["found_many"] == n, (out["found"], out["found_many"])
    cache.close()
    out["bytes"], out["files"] = disk_use(root)
    return out


def concurrent(layout: str, writers: int, n: int, root: Path) -> float:
    """Seconds from the start signal until the last of ``writers`` processes has committed its ``n // writers``
    records (a quarter of them keys shared by all) into one folder (imports done before the signal)."""
    procs = [subprocess.Popen([sys.executable, __file__, "--worker", layout, str(root), str(w), str(n // writers)],
                              stdout=subprocess.PIPE, text=True) for w in range(writers)]
    while len(list(root.glob("ready.*"))) < writers:
        if any(p.poll() is not None for p in procs):
            raise SystemExit(f"a {layout} writer failed to start")
        time.sleep(0.01)
    (root / "go").write_text(repr(time.time()))
    ends = []
    for proc in procs:
        out, _ = proc.communicate()
        if proc.returncode:
            raise SystemExit(f"a {layout} writer failed")
        ends.append(float(out.strip().splitlines()[-1]))
    return max(ends) - float((root / "go").read_text())


def worker(layout: str, root: Path, writer: int, n: int) -> None:
    """One of the concurrent writers: prints the wall-clock time at which its records were all committed."""
    cache = Cache(root, records=layout)
    own, shared = keys(n - n // 4, f"w{writer}"), keys(n // 4, "shared")
    cache.records  # opened before the start signal
    (root / f"ready.{writer}").touch()
    while not (root / "go").exists():
        time.sleep(0.001)
    for i, key in enumerate(own + shared):
        cache.put_json(key, reply(i), kind=LLM_REPLIES)
    cache.close()
    print(repr(time.time()))


def frame_hashing(rows: int) -> tuple[float, float]:
    import numpy as np
    import pandas as pd

    from rag.core.hashing import hash_frame

    frame = pd.DataFrame({"qid": [f"q{i // 3}" for i in range(rows)], "docno": [f"d{i}" for i in range(rows)],
                          "score": np.linspace(0, 1, rows), "rank": np.arange(rows) % 3,
                          "text": [f"passage {i} " + "words of a passage " * 20 for i in range(rows)]})
    start = time.perf_counter()
    first = hash_frame(frame)
    first_s = time.perf_counter() - start
    start = time.perf_counter()
    assert hash_frame(frame) == first
    return first_s, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="records put and looked up per layout")
    parser.add_argument("--writers", type=int, default=4, help="processes writing at once")
    parser.add_argument("--concurrent-n", type=int, default=20_000, help="records the writers put in all")
    parser.add_argument("--frame-rows", type=int, default=150_000, help="rows of the frame hashed (0: skip)")
    parser.add_argument("--layouts", default=",".join(LAYOUTS), help="files,sqlite (default both)")
    args = parser.parse_args()
    layouts = [x for x in args.layouts.split(",") if x]
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}; {args.n:,} records per layout "
          f"(wall and CPU seconds: on a loaded machine the CPU figures are the steadier ones)")
    results, together = {}, {}
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as tmp:
        for layout in layouts:
            results[layout] = single_process(layout, args.n, Path(tmp) / f"single-{layout}")
        for layout in layouts:
            (Path(tmp) / f"multi-{layout}").mkdir()
            together[layout] = concurrent(layout, args.writers, args.concurrent_n, Path(tmp) / f"multi-{layout}")
    print(f"\n| {'':34} | " + " | ".join(f"{x:>16}" for x in layouts) + (" | files/sqlite |" if len(layouts) == 2 else " |"))
    print(f"|{'-' * 36}|" + "|".join("-" * 18 for _ in layouts) + ("|--------------|" if len(layouts) == 2 else "|"))
    rows = [(f"{args.n:,} put_json (committed), s", "put"), ("  CPU s", "put_cpu"),
            (f"{args.n:,} get_json, s", "get"), ("  CPU s", "get_cpu"),
            (f"{args.n:,} lookups by get_many, s", "get_many"), ("  CPU s", "get_many_cpu"),
            ("disk used, MB", "bytes"), ("files", "files")]
    for label, field in rows:
        values = [results[x][field] for x in layouts]
        shown = [f"{v / 1e6:16.1f}" if field == "bytes" else f"{v:16,}" if field == "files" else f"{v:16.2f}"
                 for v in values]
        ratio = f" | x{values[0] / max(values[1], 1e-9):11.1f} |" if len(layouts) == 2 else " |"
        print(f"| {label:34} | " + " | ".join(shown) + ratio)
    label = f"{args.writers} processes, {args.concurrent_n:,} puts, s"
    values = [together[x] for x in layouts]
    ratio = f" | x{values[0] / max(values[1], 1e-9):11.1f} |" if len(layouts) == 2 else " |"
    print(f"| {label:34} | " + " | ".join(f"{v:16.2f}" for v in values) + ratio)
    for layout in layouts:
        per = results[layout]
        print(f"{layout}: {per['put'] / args.n * 1e6:.1f} us per put, {per['get'] / args.n * 1e6:.1f} us per lookup, "
              f"{per['get_many'] / args.n * 1e6:.1f} us per batched lookup")
    if "sqlite" in results:
        verdict = "met" if results["sqlite"]["get"] <= 5.0 else "NOT met"
        print(f"goal: {args.n:,} lookups <= 5 s: {results['sqlite']['get']:.2f} s wall, "
              f"{results['sqlite']['get_cpu']:.2f} s CPU ({verdict})")
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")
    if args.frame_rows:
        first, again = frame_hashing(args.frame_rows)
        print(f"frame fingerprint of {args.frame_rows:,} rows with a passage column: first {first:.3f} s, the same "
              f"frame again {again * 1e3:.1f} ms (x{first / max(again, 1e-9):.0f})")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker(sys.argv[2], Path(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))
    else:
        main()
