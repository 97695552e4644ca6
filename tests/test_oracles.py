"""Every answer measure and every statistic equals its reference package, item by item (to 1e-9):
instruct-qa's metric classes, rouge-score, nltk (METEOR, Porter), mteb (p-MRR), scipy and statsmodels
(paired tests, corrections), scikit-learn (ROC-AUC, AP) and pytrec_eval (through ir-measures).

The reference packages come with the ``dev`` extra; a test skips only when its package is not installed.
``experiments/parity_table.py`` prints the same comparisons as a table.
"""
from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from experiments.parity import cases as oc
from experiments.parity import stats as ost
from tests.conftest import shared_data


def need(*modules: str) -> None:
    for module in modules:
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"reference package {module} is not installed (pip install -e '.[dev]')")


def check(cases: list[oc.Case], min_items: int = 100) -> None:
    assert cases
    for case in cases:
        assert len(case.ours) == len(case.theirs) >= min_items, case.measure
        np.testing.assert_allclose(case.ours, case.theirs, rtol=0, atol=1e-9,
                                   err_msg=f"{case.measure} vs {case.reference}")


@pytest.fixture(scope="module")
def generated():
    return oc.generated_answers(300)


def test_token_metrics_equal_instructqa_classes(generated, tmp_path):
    need("instruct_qa")
    cases = oc.instructqa_cases(generated, tmp_path)
    assert {c.measure for c in cases} == set(oc.INSTRUCTQA_CORRECTNESS) | set(oc.INSTRUCTQA_FAITHFULNESS)
    check(cases)


@pytest.mark.shared_data
def test_token_metrics_equal_instructqa_classes_on_nq(tmp_path):
    need("instruct_qa")
    shared_data("nq-rag")
    check(oc.instructqa_cases(oc.nq_answers(300), tmp_path))


def test_rouge_equals_rouge_score(generated):
    need("rouge_score")
    check(oc.rouge_cases(generated))


@pytest.mark.parametrize("synonyms", [None, False])
def test_meteor_equals_nltk_meteor_score(generated, tmp_path, synonyms):
    need("nltk", "punkt")
    case = oc.meteor_case(generated, tmp_path / "nltk_data", synonyms)
    check([case])
    if synonyms is False:
        assert case.measure == "METEOR (exact+stem)"


def test_meteor_synonym_stage_runs_with_wordnet(tmp_path):
    """With Debian's WordNet the synonym stage runs and is recorded; 'car'/'auto' then match."""
    need("nltk", "punkt")
    from rag.evaluation.answers.nltk_data import DEBIAN_WORDNET
    if not (DEBIAN_WORDNET / "data.noun").exists():
        pytest.skip("Debian's WordNet is not installed (apt-get install wordnet-base wordnet-sense-index)")
    import nltk

    from rag.evaluation.answers.meteor import meteor_scores
    folder = oc.nltk_data_folder(tmp_path / "nltk_data")
    nltk.data.path.insert(0, str(folder))
    with_syn = meteor_scores(["the car is red"], [["the auto is red"]])
    without = meteor_scores(["the car is red"], [["the auto is red"]], synonyms=False)
    assert with_syn.attrs["stages"] == ("exact", "stem", "synonym") and without.attrs["stages"] == ("exact", "stem")
    assert with_syn[0] == pytest.approx(0.9921875) and without[0] == pytest.approx(0.6388888888888888)


def test_lucene_porter_equals_nltk_martin_porter(generated):
    need("nltk")
    words = oc.vocabulary(generated["evidence"] + generated["responses"]) + [
        "generalizations", "oscillators", "triplicate", "feudalism", "hopefulness", "electrical", "agreed",
        "happy", "sky", "conformabli", "radiologi", "as", "is", "a", "bled", "sing", "hoping", "controlling"]
    case = oc.porter_case(words)
    assert case.identical == 1.0, [w for w, same in zip(words, case.ours) if not same]


@pytest.mark.shared_data
def test_lucene_porter_equals_nltk_on_nq_vocabulary():
    need("nltk")
    shared_data("nq-rag")
    words = oc.vocabulary(oc.nq_answers(400)["evidence"], limit=3000)
    case = oc.porter_case(words)
    assert len(words) >= 2000 and case.identical == 1.0, [w for w, same in zip(words, case.ours) if not same]


def test_pmrr_equals_mteb_calculate_pmrr():
    need("mteb")
    check(ost.pmrr_cases(n_cases=120), min_items=100)


def test_paired_tests_equal_scipy():
    check(ost.paired_test_cases(n=100))


def test_holm_and_bonferroni_equal_statsmodels():
    need("statsmodels")
    check(ost.correction_cases(n=200))


def test_meta_eval_statistics_equal_sklearn_and_scipy():
    need("sklearn")
    check(ost.meta_eval_cases(n_sets=100))


def test_ranking_measures_equal_pytrec_eval_and_sklearn_ap():
    need("pytrec_eval", "sklearn")
    check(ost.trec_eval_cases())


def test_paired_test_exact_rules():
    """Tiny differences get scipy's p-value; only exactly identical values get the documented 1.0."""
    from scipy import stats

    from rag.core.errors import InputError
    from rag.evaluation.significance import paired_test

    rng = np.random.default_rng(5)
    a = rng.random(30)
    b = a + rng.normal(1e-9, 1e-9, 30)
    for test, ref in (("t-test", stats.ttest_rel(a, b).pvalue), ("wilcoxon", stats.wilcoxon(a, b).pvalue)):
        assert paired_test(a, b, test) == pytest.approx(ref, rel=1e-12) and paired_test(a, b, test) < 0.5
    assert paired_test(a, a.copy(), "t-test") == 1.0 and paired_test(a, a.copy(), "wilcoxon") == 1.0
    assert paired_test(a[:1], b[:1]) == 1.0
    quarters = np.arange(30) / 4                     # exact binary fractions: every difference is exactly 0.5
    assert paired_test(quarters + 0.5, quarters, "t-test") == 0.0 == stats.ttest_rel(quarters + 0.5, quarters).pvalue
    with pytest.raises(InputError, match="equally long"):
        paired_test(a, b[:-1])
    with pytest.raises(InputError, match="unknown test"):
        paired_test(a, b, "z-test")


def test_pmrr_on_a_followir_folder_equals_mteb(tmp_path):
    """The p-MRR measure of an Experiment on a constructed FollowIR folder (BM25 re-ranking with both
    instructions) equals mteb's calculate_pmrr on the same two runs."""
    need("mteb")
    from mteb._evaluators.retrieval_metrics import calculate_pmrr

    from rag.datasets import load_dataset
    from rag.experiment import Experiment
    from retrievers.instruction_pair import InstructionPair
    from rag.evaluation.pmrr import changed_documents, split_paired_run
    from retrievers.lucene import LuceneBM25
    from retrievers.text import CandidatePool
    from tests.test_pmrr import write_followir

    ds = load_dataset("followir", path=write_followir(tmp_path / "mini"))
    pair = InstructionPair(CandidatePool(ds) >> LuceneBM25(ds.corpus, rerank=True))
    result = Experiment({"BM25": pair}, ds, ["p-MRR"], cache=tmp_path / "c").run()
    og, new = split_paired_run(pair(ds.queries()))
    nested = lambda run, suffix: {f"{q}{suffix}": dict(zip(g["docno"], g["score"])) for q, g in run.groupby("qid")}  # noqa: E731
    changed = changed_documents(ds.qrels(), ds.qrels_changed())
    sets = {q: list(g["docno"]) for q, g in changed.groupby("qid")}
    expected = 100 * calculate_pmrr(nested(og, "-og"), nested(new, "-changed"), sets)
    assert result.table.loc["BM25", "p-MRR"] == pytest.approx(expected, abs=1e-9)
