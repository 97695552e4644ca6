"""Which on-disk docstore: byte offsets into the JSONL file, SQLite, a memory-mapped Arrow file, or ragif's own.

    python experiments/bench_docstore.py CORPUS.jsonl [--lookups 10000] [--rounds 3]

Each candidate is built from the same BEIR ``corpus.jsonl`` and then asked for the title and text of
``--lookups`` random ids (a fresh process per candidate and per phase, so that memory is its own):
build seconds, bytes per passage on disk (the store's own files; the offset store also needs the JSONL
file to stay), lookup seconds (median of ``--rounds``; each round draws new ids) and peak resident
memory of the lookup process. ``ragif`` is :class:`rag.datasets.docstore.DiskDocStore` (built through
ragif's corpus reader, which checks every document); the other three are written here only to be measured.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import sqlite3
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd



def _hashes(docnos: list[str]) -> np.ndarray:
    return pd.util.hash_array(np.asarray(docnos, dtype=object)).view(np.uint64)


# ---------------------------------------------------------------------- candidate 1: offsets into the file
def build_offsets(corpus: Path, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    offsets, ids = [], []
    position = 0
    with open(corpus, "rb") as fh:
        for raw in fh:
            ids.append(json.loads(raw)["_id"])
            offsets.append(position)
            position += len(raw)
    hashes = _hashes(ids)
    order = np.argsort(hashes, kind="stable")
    np.save(out / "hashes.npy", hashes[order])
    np.save(out / "offsets.npy", np.asarray(offsets, dtype=np.int64)[order])


def lookup_offsets(corpus: Path, out: Path, docnos: list[str]) -> list[tuple[str, str]]:
    hashes = np.load(out / "hashes.npy", mmap_mode="r")
    offsets = np.load(out / "offsets.npy", mmap_mode="r")
    wanted = _hashes(docnos)
    where = np.searchsorted(hashes, wanted)
    found = []
    with open(corpus, "rb") as fh:
        for docno, w in zip(docnos, where.tolist()):
            fh.seek(int(offsets[w]))
            obj = json.loads(fh.readline())
            assert obj["_id"] == docno
            found.append((obj.get("title", ""), obj["text"]))
    return found


# ---------------------------------------------------------------------- candidate 2: SQLite
def build_sqlite(corpus: Path, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(out / "docs.sqlite")
    db.execute("PRAGMA journal_mode=OFF")
    db.execute("PRAGMA synchronous=OFF")
    db.execute("CREATE TABLE docs (docno TEXT PRIMARY KEY, title TEXT, text TEXT) WITHOUT ROWID")
    batch = []
    with open(corpus, "rb") as fh:
        for raw in fh:
            obj = json.loads(raw)
            batch.append((obj["_id"], obj.get("title", ""), obj["text"]))
            if len(batch) == 10_000:
                db.executemany("INSERT INTO docs VALUES (?, ?, ?)", batch)
                batch.clear()
    db.executemany("INSERT INTO docs VALUES (?, ?, ?)", batch)
    db.commit()
    db.close()


def lookup_sqlite(corpus: Path, out: Path, docnos: list[str]) -> list[tuple[str, str]]:
    db = sqlite3.connect(f"file:{out / 'docs.sqlite'}?mode=ro", uri=True)
    found: dict[str, tuple[str, str]] = {}
    for start in range(0, len(docnos), 900):
        chunk = docnos[start:start + 900]
        rows = db.execute(f"SELECT docno, title, text FROM docs WHERE docno IN ({','.join('?' * len(chunk))})", chunk)
        found.update((d, (t, x)) for d, t, x in rows)
    return [found[d] for d in docnos]


# ---------------------------------------------------------------------- candidate 3: memory-mapped Arrow
def build_arrow(corpus: Path, out: Path) -> None:
    import pyarrow as pa

    out.mkdir(parents=True, exist_ok=True)
    schema = pa.schema([("docno", pa.string()), ("title", pa.string()), ("text", pa.string())])
    ids: list[np.ndarray] = []
    with pa.OSFile(str(out / "docs.arrow"), "wb") as sink, pa.ipc.new_file(sink, schema) as writer:
        columns: tuple[list, list, list] = ([], [], [])

        def flush() -> None:
            if columns[0]:
                writer.write_batch(pa.record_batch([pa.array(c, pa.string()) for c in columns], schema=schema))
                ids.append(_hashes(columns[0]))
                for c in columns:
                    c.clear()
        with open(corpus, "rb") as fh:
            for raw in fh:
                obj = json.loads(raw)
                columns[0].append(obj["_id"])
                columns[1].append(obj.get("title", ""))
                columns[2].append(obj["text"])
                if len(columns[0]) == 65_536:
                    flush()
        flush()
    hashes = np.concatenate(ids)
    order = np.argsort(hashes, kind="stable")
    np.save(out / "hashes.npy", hashes[order])
    np.save(out / "rows.npy", order.astype(np.uint32))


def lookup_arrow(corpus: Path, out: Path, docnos: list[str]) -> list[tuple[str, str]]:
    import pyarrow as pa

    table = pa.ipc.open_file(pa.memory_map(str(out / "docs.arrow"))).read_all()
    hashes, rows = np.load(out / "hashes.npy", mmap_mode="r"), np.load(out / "rows.npy", mmap_mode="r")
    wanted = np.asarray(rows[np.searchsorted(hashes, _hashes(docnos))], dtype=np.int64)
    starts = np.cumsum([0] + [len(c) for c in table.column("docno").chunks])
    which = np.searchsorted(starts, wanted, side="right") - 1
    found: list = [None] * len(docnos)
    for c in np.unique(which).tolist():   # batch by batch: a take over the chunked column copies it whole
        at = np.flatnonzero(which == c)
        batch = table.to_batches()[c]
        picked = batch.take(pa.array(wanted[at] - starts[c])).to_pydict()
        for i, d, t, x in zip(at.tolist(), picked["docno"], picked["title"], picked["text"]):
            assert d == docnos[i]
            found[i] = (t, x)
    return found


# ---------------------------------------------------------------------- candidate 4: ragif's DiskDocStore
def build_ragif(corpus: Path, out: Path) -> None:
    from rag.datasets import jsonl_corpus
    from rag.datasets.docstore import DiskDocStore

    DiskDocStore.build(jsonl_corpus(corpus), out)


def lookup_ragif(corpus: Path, out: Path, docnos: list[str]) -> list[tuple[str, str]]:
    from rag.datasets.docstore import DiskDocStore

    titles, texts = DiskDocStore(out).fetch(docnos)
    return list(zip(titles, texts))


CANDIDATES = {"offsets": (build_offsets, lookup_offsets), "sqlite": (build_sqlite, lookup_sqlite),
              "arrow": (build_arrow, lookup_arrow), "ragif": (build_ragif, lookup_ragif)}


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def phase(name: str, step: str, corpus: Path, out: Path, lookups: int, seed: int) -> dict:
    build, lookup = CANDIDATES[name]
    if step == "build":
        start = time.perf_counter()
        build(corpus, out)
        return {"seconds": time.perf_counter() - start, "peak_mb": _peak_mb(),
                "bytes": sum(p.stat().st_size for p in out.rglob("*") if p.is_file())}
    n_docs = sum(1 for _ in open(corpus, "rb"))
    rng = np.random.default_rng(seed)
    docnos = [f"doc{i}" for i in rng.choice(n_docs, size=lookups, replace=False)]
    before = _peak_mb()
    start = time.perf_counter()
    found = lookup(corpus, out, docnos)
    seconds = time.perf_counter() - start
    assert len(found) == lookups and all(isinstance(t, str) for _, t in found)
    return {"seconds": seconds, "peak_mb": _peak_mb(), "base_mb": before}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", type=Path)
    parser.add_argument("--work", type=Path, default=Path("/tmp/bench-docstore"))
    parser.add_argument("--lookups", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", nargs="*", default=list(CANDIDATES))
    parser.add_argument("--phase", nargs=3, metavar=("NAME", "STEP", "SEED"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        name, step, seed = args.phase
        print(json.dumps(phase(name, step, args.corpus, args.work / name, args.lookups, int(seed))))
        return
    n_docs = sum(1 for _ in open(args.corpus, "rb"))
    rows = []
    for name in args.only:
        def run(step: str, seed: int = 0) -> dict:
            done = subprocess.run([sys.executable, __file__, str(args.corpus), "--work", str(args.work),
                                   "--lookups", str(args.lookups), "--phase", name, step, str(seed)],
                                  check=True, capture_output=True, text=True)
            return json.loads(done.stdout.strip().splitlines()[-1])
        import shutil
        shutil.rmtree(args.work / name, ignore_errors=True)
        built = run("build")
        looked = [run("lookup", seed) for seed in range(1, args.rounds + 1)]
        rows.append({"store": name, "build_s": round(built["seconds"], 1), "build_peak_mb": round(built["peak_mb"]),
                     "bytes_per_passage": round(built["bytes"] / n_docs, 1),
                     "lookup_s": round(statistics.median(r["seconds"] for r in looked), 3),
                     "lookup_peak_mb": round(max(r["peak_mb"] for r in looked))})
        print(json.dumps(rows[-1]), flush=True)
    print(f"\n{n_docs:,} passages, {args.lookups:,} random lookups, load average {os.getloadavg()[0]:.1f}")
    print(pd.DataFrame(rows).to_string(index=False))


if __name__ == "__main__":
    main()
