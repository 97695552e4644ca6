"""The word-break scanner's speed (retrievers/bm25/scanner.py), compiled and as Python, next to the regular
expression the analyzer uses for plain text (the peer: Python's ``re``, which gives the same tokens).

Texts: SciFact's corpus from the shared data (``$RAGIF_DATA``), else a synthetic corpus; a tenth of the texts
get characters the regular expression cannot serve (soft hyphens, zero width joiners, emoji sequences), so
every branch of the scanner runs. Prints characters per CPU second and the ratios, best of ``--repeat`` runs.

    python experiments/bench_scanner.py [--docs 5000] [--repeat 5]
"""
from __future__ import annotations

import argparse
import json
import random
import time


def texts(n: int) -> list[str]:
    from rag.datasets import data_root

    root = data_root()
    corpus = root / "scifact" / "corpus.jsonl" if root else None
    if corpus is not None and corpus.exists():
        with open(corpus, encoding="utf-8") as f:
            found = [f"{d.get('title', '')} {d.get('text', '')}" for d in map(json.loads, f)][:n]
    else:
        rng = random.Random(0)
        words = ["protein", "cell", "2.5", "can't", "e-mail", "U.S.A.", "x_1", "naïve", "日本語", "ひらがな", "42,000"]
        found = [" ".join(rng.choice(words) for _ in range(150)) for _ in range(n)]
    odd = ["soft\u00adhyphen", "zero\u200bwidth", "👩\u200d🔬 lab", "🇫🇷 flag", "#\ufe0f\u20e3 key", "👍🏻 ok"]
    rng = random.Random(1)
    return [t + " " + rng.choice(odd) if i % 10 == 0 else t for i, t in enumerate(found)]


def best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.process_time()       # CPU time: steadier than the clock on a shared machine
        fn()
        times.append(time.process_time() - start)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=5000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()

    from retrievers.bm25.analysis import token_pattern
    from retrievers.bm25.corpus_tokens import code_points
    from retrievers.bm25.scanner import scan_text
    from retrievers.bm25.unicode_tables import class_table

    docs = texts(args.docs)
    chars = sum(map(len, docs))
    print(f"{len(docs)} texts, {chars / 1e6:.1f} M characters")
    joined, points, bounds = code_points(docs)
    table = class_table()
    rows = {}
    try:
        from retrievers.bm25.build_kernels import scan_batch

        scan_batch(points[:1000], bounds[:2].clip(max=1000), table)             # compile (or load the cache)
        rows["scanner, compiled (numba)"] = best(lambda: scan_batch(points, bounds, table), args.repeat)
    except ImportError:
        print("numba is not installed: no compiled scanner")
    pattern = token_pattern()
    rows["regular expression (re)"] = best(lambda: [pattern.findall(t) for t in docs], args.repeat)
    sample = docs[: max(1, len(docs) // 20)]
    share = sum(map(len, sample)) / chars
    rows["scanner, as Python"] = best(lambda: [scan_text(t) for t in sample], max(1, args.repeat // 2)) / share
    peer = rows["regular expression (re)"]
    for name, seconds in rows.items():
        print(f"{name:28s} {chars / seconds / 1e6:8.2f} M chars/s   x{peer / seconds:6.2f} the regular expression")
    assert all(scan_text(t) == pattern.findall(t) for t in sample if t.isascii()), "the scanner and re disagree"


if __name__ == "__main__":
    main()
