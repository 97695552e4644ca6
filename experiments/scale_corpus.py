"""Synthetic BEIR corpora of ~90-word passages (~870 bytes as JSONL) for the scale benchmarks, in chunks.

    python experiments/scale_corpus.py OUT_FOLDER --docs 1000000 [--queries 1000]

``OUT_FOLDER`` gets ``corpus.jsonl`` (``_id``, ``title``, ``text``; about 870 bytes per passage, like the
issue's measurements), ``queries.jsonl`` and ``qrels/test.tsv`` (one judged passage per query, so that the
folder loads as a BEIR data set), and ``pyserini/`` with the same passages as a JsonCollection
(``id``, ``contents`` = title and text on two lines) in ``SHARDS`` files (one per indexing thread), the input
of Pyserini's own indexer. The vocabulary
is Zipfian pseudo-words (fixed seed): the same size gives the same files.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

SYLLABLES = ["ka", "to", "ri", "men", "sul", "dor", "ph", "ex", "lin", "gra", "vo", "cet", "um", "bri", "zan",
             "ol", "tre", "mas", "quin", "fe", "nor", "ap", "sti", "wel"]
VOCABULARY = 200_000
CHUNK = 100_000
SHARDS = 2


def _words(rng: np.random.Generator) -> np.ndarray:
    parts = rng.integers(0, len(SYLLABLES), size=(VOCABULARY, 5))
    lengths = rng.integers(2, 5, size=VOCABULARY)
    return np.array(["".join(SYLLABLES[p] for p in row[:n]) for row, n in zip(parts, lengths)], dtype=object)


def _zipf(n: int, exponent: float) -> np.ndarray:
    weights = 1.0 / np.arange(1, n + 1) ** exponent
    return weights / weights.sum()


def write_corpus(folder: str | Path, n_docs: int, n_queries: int = 1000, seed: int = 0,
                 pyserini: bool = True) -> Path:
    """Write the corpus (and queries, qrels, the JsonCollection copy) into ``folder``; returns it."""
    folder = Path(folder)
    (folder / "qrels").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    words = _words(rng)
    doc_weights, query_weights = _zipf(VOCABULARY, 1.0), _zipf(VOCABULARY, 0.8)
    collection = folder / "pyserini"
    if pyserini:
        collection.mkdir(exist_ok=True)
    judged = rng.choice(n_docs, size=min(n_queries, n_docs), replace=False)
    raws = [open(collection / f"docs-{i}.json", "w", encoding="utf-8") if pyserini else open("/dev/null", "w")
            for i in range(SHARDS)]
    with open(folder / "corpus.jsonl", "w", encoding="utf-8") as out:
        for start in range(0, n_docs, CHUNK):
            n = min(CHUNK, n_docs - start)
            lengths = np.clip(rng.normal(90, 15, size=n).astype(int), 40, 200)
            ids = rng.choice(VOCABULARY, size=int(lengths.sum()), p=doc_weights)
            texts = [" ".join(c) for c in np.split(words[ids], np.cumsum(lengths)[:-1])]
            title_ids = rng.choice(VOCABULARY, size=2 * n, p=doc_weights).reshape(n, 2)
            for i, text in enumerate(texts):
                docno = f"doc{start + i}"
                title = f"{words[title_ids[i, 0]].title()} {words[title_ids[i, 1]]}"
                out.write(json.dumps({"_id": docno, "title": title, "text": text}) + "\n")
                if pyserini:
                    record = json.dumps({"id": docno, "contents": f"{title}\n{text}"})
                    raws[(start + i) // 1000 % SHARDS].write(record + "\n")
    for raw in raws:
        raw.close()
    with open(folder / "queries.jsonl", "w", encoding="utf-8") as q, \
            open(folder / "qrels" / "test.tsv", "w") as qrels:
        qrels.write("query-id\tcorpus-id\tscore\n")
        for i, doc in enumerate(judged):
            terms = rng.choice(VOCABULARY, size=int(rng.integers(3, 9)), p=query_weights)
            q.write(json.dumps({"_id": f"q{i}", "text": " ".join(words[terms])}) + "\n")
            qrels.write(f"q{i}\tdoc{doc}\t1\n")
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder")
    parser.add_argument("--docs", type=int, required=True)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--no-pyserini", action="store_true", help="skip the JsonCollection copy")
    args = parser.parse_args()
    write_corpus(args.folder, args.docs, args.queries, pyserini=not args.no_pyserini)


if __name__ == "__main__":
    main()
