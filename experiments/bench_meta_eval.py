"""Benchmark: ``ragif meta-eval``'s bootstrap, 15,433 items x 10 metrics x 1,000 resamples.

ragif: :func:`rag.evaluation.meta_eval.meta_evaluate` (vectorised: one count matrix per chunk of resamples, all four
statistics from cell counts). Peer: the previous implementation, which ranked every resample (scipy
``rankdata`` on the whole resample matrix) and called ``kendalltau`` once per resample; it is kept below
as it was. Both draw the same indices from the same seed, so the intervals must be identical (to 1e-12).
Each runs in its own subprocess so that peak memory (max RSS, minus the process after imports) is its own.

Data: 15,433 answers built from NQ (../shared/data/nq-rag; slices of the gold passage), scored with ragif's
token metrics (EM, F1, Precision, Recall, Recall-S, K-Precision, K-Recall, K-F1, ROUGE-L) plus one
continuous score (a noisy F1, standing in for BERTScore); a three-class human-like label
(incorrect < partial < correct) drawn from the answers' recall with noise.

    python experiments/bench_meta_eval.py [--n 15433] [--boot 1000] [--peer-boot 1000]

On a loaded machine compare the CPU seconds: wall time then includes waiting for a core.
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]

METRICS = ["EM", "F1", "Precision", "Recall", "Recall-S", "K-Precision", "K-Recall", "K-F1", "ROUGE-L", "soft-F1"]
ORDER = ["incorrect", "partial", "correct"]


def build(n: int, path: Path) -> None:
    from bench_qa_metrics import build as answers

    from rag.evaluation.answers import score_answers

    responses, golds, evidence, questions = answers(n, seed=1)
    frame = pd.DataFrame({"query": questions, "answer": responses, "answers": golds, "evidence": evidence})
    scored = score_answers(frame, METRICS[:-1])
    rng = np.random.default_rng(0)
    scored["soft-F1"] = np.clip(scored["F1"] + rng.normal(0, 0.1, n), 0, 1)
    latent = scored["Recall"] + rng.normal(0, 0.35, n)
    scored["human"] = np.select([latent > 0.8, latent > 0.3], ["correct", "partial"], "incorrect")
    scored[[*METRICS, "human"]].to_csv(path, index=False)


# ---------------------------------------------------------------------------- the previous implementation
def _rank_rows(a):
    from scipy.stats import rankdata
    return rankdata(a, axis=-1)


def _pearson_rows(x, y):
    xc = x - x.mean(axis=-1, keepdims=True)
    yc = y - y.mean(axis=-1, keepdims=True)
    denom = np.sqrt((xc ** 2).sum(-1) * (yc ** 2).sum(-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denom > 0, (xc * yc).sum(-1) / np.where(denom > 0, denom, 1), np.nan)


def _auc_rows(score, binary):
    ranks = _rank_rows(score)
    n_pos = binary.sum(-1)
    n_neg = binary.shape[-1] - n_pos
    u = (ranks * binary).sum(-1) - n_pos * (n_pos + 1) / 2
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where((n_pos > 0) & (n_neg > 0), u / np.where(n_pos * n_neg > 0, n_pos * n_neg, 1), np.nan)


def _kendall_rows(x, y):
    from scipy.stats import kendalltau
    out = np.empty(x.shape[0])
    for i in range(x.shape[0]):
        out[i] = kendalltau(x[i], y[i]).statistic if np.ptp(x[i]) > 0 and np.ptp(y[i]) > 0 else np.nan
    return out


def previous_meta_evaluate(frame, metrics, label, order, n_boot, seed=0, confidence=0.95):
    from rag.evaluation.meta_eval import encode_labels

    codes, binary, _ = encode_labels(frame[label], "auto", order, None)
    rng = np.random.default_rng(seed)
    alpha = (1 - confidence) / 2
    rows = []
    for metric in metrics:
        score = pd.to_numeric(frame[metric], errors="coerce").to_numpy(dtype=float)
        keep = ~np.isnan(score) & ~np.isnan(codes)
        s, c, b = score[keep], codes[keep], binary[keep]
        row = {"metric": metric}
        idx = rng.integers(0, len(s), size=(n_boot, len(s)))
        si, ci, bi = s[idx], c[idx], b[idx]
        boot = {"spearman": _pearson_rows(_rank_rows(si), _rank_rows(ci)), "kendall": _kendall_rows(si, ci),
                "point_biserial": _pearson_rows(si, bi), "roc_auc": _auc_rows(si, bi)}
        for st, vals in boot.items():
            vals = vals[~np.isnan(vals)]
            row[f"{st}_lo"], row[f"{st}_hi"] = float(np.quantile(vals, alpha)), float(np.quantile(vals, 1 - alpha))
        rows.append(row)
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------- one side in a subprocess
def peak_rss_mb() -> float:
    """This process's peak resident memory: VmHWM (reset by exec, unlike ru_maxrss, which a child started
    from a big parent inherits), else ru_maxrss."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_side(side: str, data: Path, n_boot: int) -> dict:
    import tracemalloc

    frame = pd.read_csv(data)
    base = peak_rss_mb()
    tracemalloc.start()
    t0, c0 = time.perf_counter(), time.process_time()
    if side == "ragif":
        from rag.evaluation.meta_eval import meta_evaluate
        table = meta_evaluate(frame, METRICS, "human", order=ORDER, n_boot=n_boot)
    else:
        table = previous_meta_evaluate(frame, METRICS, "human", ORDER, n_boot)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    traced = tracemalloc.get_traced_memory()[1]
    peak = peak_rss_mb()
    cols = [c for c in table.columns if c.endswith(("_lo", "_hi"))]
    return {"seconds": seconds, "cpu": cpu, "rss_mb": peak, "extra_rss_mb": peak - base,
            "traced_mb": traced / 2 ** 20, "bounds": table[cols].to_numpy().tolist()}


def spawn(side: str, data: Path, n_boot: int) -> dict:
    out = subprocess.run([sys.executable, __file__, "--side", side, "--data", str(data), "--boot", str(n_boot)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=15_433)
    ap.add_argument("--boot", type=int, default=1000)
    ap.add_argument("--peer-boot", type=int, default=None, help="resamples for the previous implementation "
                    "(default --boot; fewer to save time: then its time is scaled up and only the first "
                    "metric's draws are compared)")
    ap.add_argument("--side", help=argparse.SUPPRESS)
    ap.add_argument("--data", help=argparse.SUPPRESS)
    opts = ap.parse_args()
    if opts.side:
        print(json.dumps(run_side(opts.side, Path(opts.data), opts.boot)))
        return
    data = Path("/tmp") / f"ragif_bench_meta_eval_{opts.n}.csv"
    if not data.exists():
        build(opts.n, data)
    peer_boot = opts.peer_boot or opts.boot
    ours = spawn("ragif", data, opts.boot)
    peer = spawn("previous", data, peer_boot)
    ours_same = spawn("ragif", data, peer_boot) if peer_boot != opts.boot else ours
    a, b = np.array(ours_same["bounds"]), np.array(peer["bounds"])
    rows = slice(None) if peer_boot == opts.boot else slice(0, 1)
    same = np.allclose(a[rows], b[rows], rtol=0, atol=1e-12, equal_nan=True)
    scale = opts.boot / peer_boot
    print(f"{opts.n} items x {len(METRICS)} metrics x {opts.boot} resamples, three-class label, seed 0")
    scaled = f" (scaled from {peer_boot} resamples)" if scale != 1 else ""
    print(f"ragif vectorised : {ours['seconds']:7.2f} s wall, {ours['cpu']:7.2f} s CPU; peak RSS "
          f"{ours['rss_mb']:5.0f} MB (+{ours['extra_rss_mb']:.0f} MB over the process with the table loaded, "
          f"{ours['traced_mb']:.0f} MB traced)")
    print(f"previous         : {peer['seconds'] * scale:7.2f} s wall, {peer['cpu'] * scale:7.2f} s CPU{scaled}; "
          f"peak RSS {peer['rss_mb']:5.0f} MB (+{peer['extra_rss_mb']:.0f} MB, {peer['traced_mb']:.0f} MB traced)")
    print(f"speed-up x{peer['seconds'] * scale / ours['seconds']:.1f} wall, "
          f"x{peer['cpu'] * scale / ours['cpu']:.1f} CPU; intervals {'identical (to 1e-12)' if same else 'DIFFERENT'}; "
          "goal <= 10 s and <= 300 MB")
    if not same:
        raise SystemExit("the vectorised bootstrap changed the intervals")


if __name__ == "__main__":
    main()
