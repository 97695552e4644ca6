"""Evaluation and reporting at scale, ragif against the plain tools, measured side by side in one run.

    python experiments/bench_eval.py eval   [--systems 10 --queries 10000 --depth 100]
    python experiments/bench_eval.py report [--questions 50000 10000 --systems 2]

``eval``: synthetic TREC runs (``--systems`` x ``--queries`` x ``--depth`` lines; scores and relevance drawn
with a seed, so the runs differ in quality) and qrels, evaluated with nDCG@10, AP and R@100 and paired t-tests
of every system against the first, two ways:

- ragif: ``rag.datasets.read_run`` / ``read_qrels``, ``rag.evaluation.per_query`` and ``significance`` (what
  ``ragif eval`` and ``Experiment`` run);
- plain: ``pandas.read_csv`` + a dict of dicts + one ``pytrec_eval.RelevanceEvaluator`` + ``scipy.stats.ttest_rel``.

The two are interleaved run file by run file (who goes first alternates), so a change in the machine's load
hits both alike. It prints CPU seconds and wall seconds of each, their ratio, and the largest difference
between the two sets of per-query values and p-values (they must be identical).

``report``: a results folder with synthetic per-query values (``--questions`` x ``--systems`` x nine
measures of every kind; no LLM is run), then the time to save it (tables, leaderboards, plots) and to
rewrite its boards and plots (``ragif board``), with the size of the page and of the plots.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

MEASURES = ("nDCG@10", "AP", "R@100")
TREC_NAMES = {"nDCG@10": "ndcg_cut_10", "AP": "map", "R@100": "recall_100"}


# ---------------------------------------------------------------------------------------------- synthetic data
def make_runs(folder: Path, systems: int, queries: int, depth: int, corpus: int, seed: int) -> tuple[list[Path], Path]:
    """Write ``systems`` TREC runs and one qrels file (kept between invocations with the same sizes)."""
    folder.mkdir(parents=True, exist_ok=True)
    stamp = folder / f"made-{systems}-{queries}-{depth}-{corpus}-{seed}"
    runs = [folder / f"run{i}.trec" for i in range(systems)]
    qrels_path = folder / "qrels.txt"
    if stamp.exists():
        return runs, qrels_path
    rng = np.random.default_rng(seed)
    qids = np.array([f"q{i}" for i in range(queries)], dtype=object)
    relevant = rng.integers(0, corpus, size=(queries, 20))        # 20 judged documents per query
    labels = rng.integers(0, 3, size=(queries, 20))
    qrels = pd.DataFrame({"qid": np.repeat(qids, 20), "iter": 0,
                          "docno": np.char.add("d", relevant.ravel().astype(str)), "label": labels.ravel()})
    qrels = qrels.drop_duplicates(["qid", "docno"])
    qrels.to_csv(qrels_path, sep=" ", header=False, index=False)
    for i, path in enumerate(runs):
        # each system finds a share of the judged documents (more for later systems) and fills up with others
        found = rng.random((queries, 20)) < 0.2 + 0.05 * i
        docs = rng.integers(0, corpus, size=(queries, depth))
        docs[:, :20] = np.where(found, relevant, docs[:, :20])
        for row in range(queries):             # distinct documents per query
            _, first = np.unique(docs[row], return_index=True)
            if len(first) < depth:
                dup = np.setdiff1d(np.arange(depth), first)
                docs[row, dup] = corpus + row * depth + dup
        scores = np.sort(rng.random((queries, depth)) * 10, axis=1)[:, ::-1]
        order = rng.permuted(np.tile(np.arange(depth), (queries, 1)), axis=1)   # found documents anywhere
        docs = np.take_along_axis(docs, order, axis=1)
        frame = pd.DataFrame({"qid": np.repeat(qids, depth), "q0": "Q0",
                              "docno": np.char.add("d", docs.ravel().astype(str)),
                              "rank": np.tile(np.arange(1, depth + 1), queries),
                              "score": np.round(scores.ravel(), 6), "tag": f"sys{i}"})
        frame.to_csv(path, sep=" ", header=False, index=False, float_format="%.6f")
    stamp.touch()
    return runs, qrels_path


# ---------------------------------------------------------------------------------------------- the two paths
class Plain:
    """pandas + pytrec_eval + scipy, written as a researcher would."""

    name = "plain"

    def __init__(self, qrels_path: Path):
        import pytrec_eval

        q = pd.read_csv(qrels_path, sep=r"\s+", header=None, names=["qid", "iter", "docno", "label"],
                        dtype={"qid": str, "docno": str})
        qrels: dict[str, dict[str, int]] = {}
        for qid, docno, label in zip(q["qid"], q["docno"], q["label"]):
            qrels.setdefault(qid, {})[docno] = int(label)
        self.evaluator = pytrec_eval.RelevanceEvaluator(qrels, set(TREC_NAMES.values()))
        self.rows: list[tuple] = []

    def evaluate(self, system: str, path: Path) -> None:
        r = pd.read_csv(path, sep=r"\s+", header=None, names=["qid", "q0", "docno", "rank", "score", "tag"],
                        dtype={"qid": str, "docno": str})
        run: dict[str, dict[str, float]] = {}
        for qid, docno, score in zip(r["qid"].tolist(), r["docno"].tolist(), r["score"].tolist()):
            inner = run.get(qid)
            if inner is None:
                inner = run[qid] = {}
            inner[docno] = score
        for qid, values in self.evaluator.evaluate(run).items():
            for name, trec in TREC_NAMES.items():
                self.rows.append((system, qid, name, values[trec]))

    def finish(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        from scipy import stats

        long = pd.DataFrame(self.rows, columns=["system", "qid", "measure", "value"])
        tests = []
        for name in MEASURES:
            wide = long[long["measure"] == name].pivot(index="qid", columns="system", values="value")
            for system in wide.columns[1:]:
                tests.append((system, name, stats.ttest_rel(wide[system], wide["sys0"]).pvalue))
        return long, pd.DataFrame(tests, columns=["system", "measure", "p_value"])


class Ragif:
    """ragif's evaluation path: read_qrels / read_run, per_query, significance (what `ragif eval` and an
    Experiment run)."""

    name = "ragif"

    def __init__(self, qrels_path: Path):
        from rag.datasets import read_qrels

        self.qrels = read_qrels(qrels_path)
        self.frames: list[pd.DataFrame] = []

    def evaluate(self, system: str, path: Path) -> None:
        from rag.datasets import read_run
        from rag.evaluation import per_query

        self.frames.append(per_query(read_run(path), self.qrels, list(MEASURES)).assign(system=system))

    def finish(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        from rag.evaluation import significance

        long = pd.concat(self.frames, ignore_index=True)
        sig = significance(long, "sys0", "t-test", "none")
        return long, sig[["system", "measure", "p_value"]]


def timed(fn, *args):
    cpu, wall = time.process_time(), time.perf_counter()
    out = fn(*args)
    return out, time.process_time() - cpu, time.perf_counter() - wall


def bench_eval(args: argparse.Namespace) -> None:
    """Both paths on the same files, interleaved run by run (who goes first alternates), so that a change in
    the machine's load hits both alike; CPU and wall seconds summed per path."""
    folder = Path(args.folder)
    t0 = time.perf_counter()
    runs, qrels = make_runs(folder, args.systems, args.queries, args.depth, args.corpus, args.seed)
    lines = args.systems * args.queries * args.depth
    print(f"{args.systems} runs x {args.queries:,} queries x {args.depth} documents = {lines:,} run lines "
          f"(data ready in {time.perf_counter() - t0:.1f} s, {folder}); load {os.getloadavg()[0]:.2f}")
    cpu = {"plain": 0.0, "ragif": 0.0}
    wall = dict(cpu)
    paths: dict[str, Plain | Ragif] = {}
    for cls in (Plain, Ragif):
        paths[cls.name], c, w = timed(cls, qrels)
        cpu[cls.name] += c
        wall[cls.name] += w
    for i, path in enumerate(runs):
        for name in ("plain", "ragif") if i % 2 == 0 else ("ragif", "plain"):
            _, c, w = timed(paths[name].evaluate, f"sys{i}", path)
            cpu[name] += c
            wall[name] += w
    results = {}
    for name in ("plain", "ragif"):
        results[name], c, w = timed(paths[name].finish)
        cpu[name] += c
        wall[name] += w
        print(f"{name:6s}: {cpu[name]:7.1f} CPU s  {wall[name]:7.1f} s wall")
    (pl, ps), (rl, rs) = results["plain"], results["ragif"]
    key = ["system", "qid", "measure"]
    both = pl.merge(rl, on=key, suffixes=("_plain", "_ragif"), how="outer")
    value_diff = float((both["value_plain"] - both["value_ragif"]).abs().max())
    p = ps.merge(rs, on=["system", "measure"], suffixes=("_plain", "_ragif"), how="outer")
    p_diff = float((p["p_value_plain"] - p["p_value_ragif"]).abs().max())
    means = both.groupby("measure")[["value_plain", "value_ragif"]].mean()
    print(means.to_string(float_format=lambda v: f"{v:.6f}"))
    print(f"per-query values: {len(both):,} (plain {len(pl):,}, ragif {len(rl):,}); largest difference "
          f"{value_diff:.3g}; p-values: {len(p)}, largest difference {p_diff:.3g}")
    print(f"ragif / plain: x{cpu['ragif'] / cpu['plain']:.2f} CPU, x{wall['ragif'] / wall['plain']:.2f} wall "
          f"(goal <= x1.5 CPU); load {os.getloadavg()[0]:.2f}")


# ---------------------------------------------------------------------------------------------- reports
REPORT_MEASURES = {"nDCG@10": "ranking", "R@3": "ranking", "EM": "correctness", "F1": "correctness",
                   "Recall": "correctness", "K-Precision": "faithfulness", "LLMTokens": "cost",
                   "LLMSeconds": "cost", "RetrievalRate": "cost"}


def synthetic_results(questions: int, systems: int, seed: int):
    """ExperimentResults with per-query values of nine measures (a closed-book baseline and RAG systems)."""
    from rag.evaluation.significance import significance
    from rag.experiment.results import ExperimentResults

    rng = np.random.default_rng(seed)
    qids = [f"q{i}" for i in range(questions)]
    names = ["closed-book"] + [f"BM25 → reader k={k}" for k in range(1, systems)]
    frames = []
    for s, system in enumerate(names):
        for measure, kind in REPORT_MEASURES.items():
            if s == 0 and kind in ("ranking", "faithfulness"):
                continue      # closed-book: no ranking, no passages
            if measure in ("EM", "RetrievalRate"):
                values = (rng.random(questions) < 0.3 + 0.1 * s).astype(float)
            elif measure == "LLMTokens":
                values = rng.integers(50, 900, questions).astype(float)
            elif measure == "LLMSeconds":
                values = rng.gamma(2.0, 0.4, questions)
            else:
                values = np.clip(rng.beta(2, 3, questions) + 0.05 * s, 0, 1)
            frames.append(pd.DataFrame({"system": system, "qid": qids, "measure": measure, "value": values}))
    long = pd.concat(frames, ignore_index=True)
    table = long.pivot_table(index="system", columns="measure", values="value", aggfunc="mean", sort=False)
    table = table.reindex(index=names, columns=list(REPORT_MEASURES))
    table.columns.name = None
    sig = significance(long, names[0])
    provenance = {"experiment": f"synthetic-{questions}", "baseline": names[0], "measures": list(REPORT_MEASURES),
                  "dataset": {"name": "synthetic", "split": "test", "queries": questions},
                  "measure_info": {m: {"kind": k, "lower_is_better": k == "cost" and m != "RetrievalRate"}
                                   for m, k in REPORT_MEASURES.items()},
                  "pipelines": {n: n for n in names}}
    return ExperimentResults(f"synthetic-{questions}", table, long, sig, {}, provenance, names[0])


def _size(folder: Path, pattern: str) -> float:
    return sum(p.stat().st_size for p in folder.glob(pattern)) / 1e6


def bench_report(args: argparse.Namespace) -> None:
    from rag.core.cache import Cache
    from rag.report.board import write_boards

    for n in args.questions:
        results = synthetic_results(n, args.systems, args.seed)
        with tempfile.TemporaryDirectory() as tmp:
            folder, cache = Path(tmp) / "results", Cache(Path(tmp) / "cache")
            results.cache = cache
            _, cpu, wall = timed(lambda: results.save(folder, save_runs=False))
            _, bcpu, bwall = timed(lambda: write_boards(folder, formats=["md", "html", "tex", "plots"]))
            with cache.activate():
                _, ccpu, cwall = timed(lambda: results.save(folder, save_runs=False))
            print(f"{n:>7,} questions x {args.systems} systems x {len(REPORT_MEASURES)} measures: save {wall:6.1f} s "
                  f"({cpu:.1f} CPU s), save again (plots cached) {cwall:6.1f} s, ragif board {bwall:6.1f} s "
                  f"({bcpu:.1f} CPU s); leaderboard.html {_size(folder, 'leaderboard.html'):.2f} MB, "
                  f"plots {_size(folder, 'deltas-*.svg'):.2f} MB SVG + {_size(folder, 'deltas-*.png'):.2f} MB PNG, "
                  f"per_query.csv {_size(folder, 'per_query.csv'):.1f} MB; load {os.getloadavg()[0]:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    ev = sub.add_parser("eval", help="ragif's evaluation path vs pandas + pytrec_eval + scipy")
    ev.add_argument("--systems", type=int, default=10)
    ev.add_argument("--queries", type=int, default=10_000)
    ev.add_argument("--depth", type=int, default=100)
    ev.add_argument("--corpus", type=int, default=1_000_000)
    ev.add_argument("--seed", type=int, default=0)
    ev.add_argument("--folder", default=str(Path(tempfile.gettempdir()) / "ragif-bench-eval"))
    rp = sub.add_parser("report", help="saving results and rewriting boards for many questions")
    rp.add_argument("--questions", type=int, nargs="+", default=[10_000, 50_000])
    rp.add_argument("--systems", type=int, default=2)
    rp.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.what == "eval":
        bench_eval(args)
    else:
        bench_report(args)


if __name__ == "__main__":
    main()
