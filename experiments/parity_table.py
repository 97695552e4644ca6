"""Parity table: every ragif measure next to its reference implementation, item by item.

    python experiments/parity_table.py [--n 300]

Prints ``measure | reference package | items | identical % | max |diff|`` for the comparisons that
tests/test_oracles.py asserts (to 1e-9): instruct-qa's metric classes, rouge-score, nltk (METEOR, Porter),
mteb (p-MRR), scipy and statsmodels (paired tests, corrections), scikit-learn (ROC-AUC, AP) and pytrec_eval.
Items are generated (deterministic) and, with ../shared/data, real NQ answers. A reference package that is
not installed is listed as skipped.
"""
from __future__ import annotations

import argparse
import logging
import tempfile
import warnings
from pathlib import Path

from parity import cases as oc
from parity import stats as ost


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=300)
    n = ap.parse_args().n
    logging.disable(logging.WARNING)
    warnings.simplefilter("ignore")
    tmp = Path(tempfile.mkdtemp())
    sets = {"generated": oc.generated_answers(n)}
    try:
        sets["NQ"] = oc.nq_answers(n)
    except FileNotFoundError:
        print("(../shared/data/nq-rag absent: generated items only)")
    builders = []
    for name, items in sets.items():
        builders += [(f"instruct-qa ({name})", lambda i=items, nm=name: oc.instructqa_cases(i, tmp / nm)),
                     (f"rouge-score ({name})", lambda i=items: oc.rouge_cases(i)),
                     (f"nltk METEOR ({name})", lambda i=items: [oc.meteor_case(i, tmp / "nltk_data")]),
                     (f"nltk METEOR, no synonyms ({name})",
                      lambda i=items: [oc.meteor_case(i, tmp / "nltk_data", synonyms=False)])]
    builders += [("nltk Porter", lambda: [oc.porter_case(oc.vocabulary(
                     [t for items in sets.values() for t in items["evidence"]], limit=3000))]),
                 ("mteb", lambda: ost.pmrr_cases(n_cases=n)), ("scipy tests", lambda: ost.paired_test_cases(n)),
                 ("statsmodels", lambda: ost.correction_cases(n)),
                 ("scikit-learn/scipy", lambda: ost.meta_eval_cases(n)),
                 ("pytrec_eval", ost.trec_eval_cases)]
    print("| measure | reference package | items | identical % | max abs diff |")
    print("|---|---|---|---|---|")
    for label, build in builders:
        try:
            cases = build()
        except ImportError as exc:
            print(f"| ({label}) | skipped: {exc} | | | |")
            continue
        for case in cases:
            suffix = " (NQ)" if "(NQ)" in label else ""
            print(f"| {case.measure}{suffix} | {case.reference} | {len(case.ours)} | {100 * case.identical:.1f} | "
                  f"{case.max_diff:.1e} |")


if __name__ == "__main__":
    main()
