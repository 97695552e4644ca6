"""Ranking measures and statistics next to their reference implementations (mteb, scipy, statsmodels,
scikit-learn, pytrec_eval), item by item; see experiments/parity/cases.py for the :class:`Case` contract."""
from __future__ import annotations

import gc

import numpy as np
import pandas as pd

from .cases import Case


def paired_runs(n_queries: int = 60, n_docs: int = 40, seed: int = 0) -> dict[str, pd.DataFrame]:
    """Original/changed runs and qrels with ties, documents absent from a run and queries missing from
    one run (the cases where p-MRR implementations disagree)."""
    rng = np.random.default_rng(seed)
    rows_og, rows_new, q_og, q_new = [], [], [], []
    for q in range(n_queries):
        qid = f"q{q}"
        docs = [f"d{rng.integers(0, 3 * n_docs)}" for _ in range(n_docs)]
        docs = list(dict.fromkeys(docs))
        for d in docs:
            label = int(rng.random() < 0.3)
            q_og.append((qid, d, label))
            q_new.append((qid, d, label if rng.random() < 0.7 else 1 - label))
        levels = rng.integers(1, 6) if q % 3 == 0 else 10_000          # few score levels: many ties
        for rows in (rows_og, rows_new):
            if (q % 11 == 5 and rows is rows_new) or (q % 13 == 7 and rows is rows_og):
                continue                                              # query missing from one run
            kept = [d for d in docs if rng.random() < 0.85]           # some judged documents unretrieved
            rows += [(qid, d, float(rng.integers(0, levels))) for d in kept]
    frame = lambda rows, cols: pd.DataFrame(rows, columns=cols)  # noqa: E731
    return {"run_og": frame(rows_og, ["qid", "docno", "score"]), "run_new": frame(rows_new, ["qid", "docno", "score"]),
            "qrels_og": frame(q_og, ["qid", "docno", "label"]), "qrels_new": frame(q_new, ["qid", "docno", "label"])}


def mteb_dicts(runs: dict[str, pd.DataFrame]) -> tuple[dict, dict, dict]:
    """MTEB's inputs: runs under ``qid-og`` / ``qid-changed`` and ``{qid: [changed doc ids]}``."""
    from rag.evaluation.pmrr import changed_documents

    def nested(run: pd.DataFrame, suffix: str) -> dict[str, dict[str, float]]:
        out: dict[str, dict[str, float]] = {}
        for q, d, s in zip(run["qid"], run["docno"], run["score"]):
            out.setdefault(f"{q}{suffix}", {})[d] = float(s)
        return out

    changed = changed_documents(runs["qrels_og"], runs["qrels_new"])
    sets = {q: list(g["docno"]) for q, g in changed.groupby("qid", sort=False)}
    return nested(runs["run_og"], "-og"), nested(runs["run_new"], "-changed"), sets


def pmrr_cases(n_cases: int = 200, seed: int = 0) -> list[Case]:
    """p-MRR (fraction, as MTEB reports it) against mteb's ``calculate_pmrr`` on ``n_cases`` random paired
    runs of 1-8 queries, and per query on one larger pair."""
    from mteb._evaluators.retrieval_metrics import calculate_pmrr

    from rag.evaluation.pmrr import p_mrr

    ours, theirs = [], []
    for i in range(n_cases):
        rng = np.random.default_rng(seed + i)
        runs = paired_runs(int(rng.integers(1, 9)), int(rng.integers(2, 12)), seed + i)
        og, new, sets = mteb_dicts(runs)
        kept = [q for q in sets if f"{q}-og" in og and f"{q}-changed" in new]
        if not kept:
            continue
        ours.append(p_mrr(runs["run_og"], runs["run_new"], runs["qrels_og"], runs["qrels_new"], scale=1))
        theirs.append(float(calculate_pmrr(og, new, sets)))
    return [Case("p-MRR", "mteb calculate_pmrr", np.array(ours), np.array(theirs))]


def paired_test_cases(n: int = 300, seed: int = 0) -> list[Case]:
    """ragif's paired tests against scipy on per-query values, including differences of about 1e-9."""
    from scipy import stats

    from rag.evaluation.significance import paired_test

    rng = np.random.default_rng(seed)
    out: dict[str, tuple[list, list]] = {"t-test": ([], []), "wilcoxon": ([], [])}
    for i in range(n):
        size = int(rng.integers(5, 60))
        a = rng.random(size)
        scale = [1e-9, 1e-3, 0.1][i % 3]
        b = a + rng.normal(0.002 * (i % 5), scale, size)
        tied = rng.random(size) < 0.2
        b[tied] = a[tied]                                            # some zero differences
        out["t-test"][0].append(paired_test(a, b, "t-test"))
        out["t-test"][1].append(float(stats.ttest_rel(a, b).pvalue))
        out["wilcoxon"][0].append(paired_test(a, b, "wilcoxon"))
        out["wilcoxon"][1].append(float(stats.wilcoxon(a, b, zero_method="wilcox").pvalue))
    return [Case(f"paired {t}", f"scipy {'ttest_rel' if t == 't-test' else 'wilcoxon'}", np.array(o), np.array(r))
            for t, (o, r) in out.items()]


def correction_cases(n: int = 300, seed: int = 0) -> list[Case]:
    """Holm and Bonferroni adjusted p-values against statsmodels' ``multipletests``."""
    from statsmodels.stats.multitest import multipletests

    from rag.evaluation.significance import correct

    rng = np.random.default_rng(seed)
    cases = []
    # statsmodels' Holm branch calls gc.collect() on every call, whose cost grows with everything alive in the
    # process (about 2.4 s a call inside the test session, with models and JVM loaded: 81 s for this table).
    # The objects that exist beforehand are frozen (ignored by the collector) meanwhile; no value changes.
    gc.freeze()
    try:
        for method in ("holm", "bonferroni"):
            ours, theirs = [], []
            while len(ours) < n:
                p = rng.random(int(rng.integers(1, 12))) ** 3
                p[rng.random(len(p)) < 0.2] = p[0]                         # tied p-values
                ours += correct(p.tolist(), method)
                theirs += multipletests(p, method=method)[1].tolist()
            cases.append(Case(f"{method.capitalize()} correction", "statsmodels multipletests", np.array(ours),
                              np.array(theirs)))
    finally:
        gc.unfreeze()
    return cases


def meta_eval_cases(n_sets: int = 100, seed: int = 0) -> list[Case]:
    """meta-eval's ROC-AUC against scikit-learn, and Spearman/Kendall/point-biserial against scipy."""
    from scipy import stats
    from sklearn.metrics import roc_auc_score

    from rag.evaluation.meta_eval import meta_evaluate

    rng = np.random.default_rng(seed)
    got: dict[str, tuple[list, list]] = {k: ([], []) for k in ("roc_auc", "spearman", "kendall", "point_biserial")}
    for i in range(n_sets):
        size = int(rng.integers(5, 80))
        label = rng.integers(0, 2, size)
        label[0], label[1] = 0, 1
        metric = np.round(label * 0.3 + rng.random(size), int(rng.integers(1, 4)))   # ties
        row = meta_evaluate(pd.DataFrame({"m": metric, "label": label}), ["m"], "label", n_boot=0).iloc[0]
        refs = {"roc_auc": roc_auc_score(label, metric), "spearman": stats.spearmanr(metric, label).statistic,
                "kendall": stats.kendalltau(metric, label).statistic,
                "point_biserial": stats.pointbiserialr(label, metric).statistic}
        for k, v in refs.items():
            got[k][0].append(row[k])
            got[k][1].append(v)
    names = {"roc_auc": ("ROC-AUC (meta-eval)", "scikit-learn roc_auc_score"),
             "spearman": ("Spearman (meta-eval)", "scipy spearmanr"), "kendall": ("Kendall tau-b (meta-eval)",
                                                                                  "scipy kendalltau"),
             "point_biserial": ("point-biserial (meta-eval)", "scipy pointbiserialr")}
    return [Case(*names[k], np.array(o), np.array(r)) for k, (o, r) in got.items()]


def ranking_runs(n_queries: int = 300, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A run (scores without ties) and graded qrels in which every relevant document is retrieved."""
    rng = np.random.default_rng(seed)
    run, qrels = [], []
    for q in range(n_queries):
        docs = [f"d{j}" for j in rng.permutation(200)[: int(rng.integers(5, 120))]]
        scores = rng.permutation(len(docs)) + rng.random()
        run += [(f"q{q}", d, float(s)) for d, s in zip(docs, scores)]
        labels = rng.choice([0, 0, 0, 1, 2], len(docs))
        labels[0] = max(labels[0], 1)
        qrels += [(f"q{q}", d, int(lab)) for d, lab in zip(docs, labels) if lab or rng.random() < 0.5]
    return (pd.DataFrame(run, columns=["qid", "docno", "score"]),
            pd.DataFrame(qrels, columns=["qid", "docno", "label"]))


def trec_eval_cases(seed: int = 0) -> list[Case]:
    """ragif's ranking measures (through ir-measures) against pytrec_eval called directly, and AP
    against scikit-learn's ``average_precision_score`` (no ties, every relevant document retrieved)."""
    import pytrec_eval
    from sklearn.metrics import average_precision_score

    from rag.evaluation.scoring import per_query

    run, qrels = ranking_runs(seed=seed)
    ours = per_query(run, qrels, ["nDCG@10", "AP", "P@5", "RR", "R@100"]).pivot(index="qid", columns="measure",
                                                                                 values="value")
    nested = lambda f, col, cast: {q: dict(zip(g["docno"], g[col].map(cast))) for q, g in f.groupby("qid")}  # noqa: E731
    evaluator = pytrec_eval.RelevanceEvaluator(nested(qrels, "label", int),
                                               {"ndcg_cut", "map", "P", "recip_rank", "recall"})
    ref = evaluator.evaluate(nested(run, "score", float))
    qids = sorted(ref)
    keys = {"nDCG@10": "ndcg_cut_10", "AP": "map", "P@5": "P_5", "RR": "recip_rank", "R@100": "recall_100"}
    cases = [Case(m, f"pytrec_eval {k}", ours.loc[qids, m].to_numpy(), np.array([ref[q][k] for q in qids]))
             for m, k in keys.items()]
    sk = []
    for q in qids:
        judged = dict(zip(qrels.loc[qrels["qid"] == q, "docno"], qrels.loc[qrels["qid"] == q, "label"]))
        r = run[run["qid"] == q]
        sk.append(average_precision_score([int(judged.get(d, 0) > 0) for d in r["docno"]], r["score"]))
    cases.append(Case("AP", "scikit-learn average_precision_score", ours.loc[qids, "AP"].to_numpy(), np.array(sk)))
    return cases
