"""p-MRR (METHODS.md §2.3) on hand-computed cases, the FollowIR-style folder loader, the instruction-pair
stage and p-MRR as a measure in an Experiment and a YAML config."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from rag.core.errors import InputError
from rag.evaluation import parse_measure
from rag.evaluation.pmrr import CHANGED_SUFFIX, PMRR, changed_documents, p_mrr, p_mrr_per_query, rank_change_score


def run(rows):
    return pd.DataFrame(rows, columns=["qid", "docno", "score"])


def qrels(rows):
    return pd.DataFrame(rows, columns=["qid", "docno", "label"])


QRELS_OG = qrels([("q1", "d1", 1), ("q1", "d2", 1), ("q1", "d3", 0),
                  ("q2", "d4", 1), ("q2", "d5", 1),
                  ("q3", "d7", 1)])
QRELS_NEW = qrels([("q1", "d1", 0), ("q1", "d2", 1), ("q1", "d3", 0),
                   ("q2", "d4", 0), ("q2", "d5", 0),
                   ("q3", "d7", 1)])
RUN_OG = run([("q1", "d1", .9), ("q1", "d2", .8), ("q1", "d3", .7),
              ("q2", "d4", .5), ("q2", "d5", .9), ("q2", "d6", .1),
              ("q3", "d7", .3)])
RUN_NEW = run([("q1", "d2", .9), ("q1", "d3", .8), ("q1", "d1", .7),
               ("q2", "d4", .9), ("q2", "d5", .8), ("q2", "d6", .1),
               ("q3", "d7", .3)])


def test_per_document_score_both_branches():
    assert rank_change_score(1, 3) == pytest.approx(1 - 1 / 3)      # moved down: wanted, positive
    assert rank_change_score(2, 1) == pytest.approx(1 / 2 - 1)      # moved up: negative
    assert rank_change_score(4, 4) == 0.0                           # unchanged


def test_hand_computed_p_mrr():
    per_query = p_mrr_per_query(RUN_OG, RUN_NEW, QRELS_OG, QRELS_NEW)
    # q1: d1 from rank 1 to 3 -> 1 - 1/3; q2: d4 2->1 gives -0.5, d5 1->2 gives +0.5 -> 0; q3 unchanged labels
    assert per_query.to_dict() == pytest.approx({"q1": 100 * (2 / 3), "q2": 0.0})
    assert p_mrr(RUN_OG, RUN_NEW, QRELS_OG, QRELS_NEW) == pytest.approx(100 * (2 / 3) / 2)
    assert p_mrr(RUN_OG, RUN_NEW, QRELS_OG, QRELS_NEW, scale=1) == pytest.approx((2 / 3) / 2)


def test_identical_runs_give_zero():
    assert p_mrr(RUN_OG, RUN_OG, QRELS_OG, QRELS_NEW) == 0.0


def test_ties_break_by_doc_id_descending_whatever_the_row_order():
    q_og, q_new = qrels([("q", "d", 1)]), qrels([("q", "d", 0)])
    og = run([("q", "x", .5), ("q", "d", .5)])           # tie: "x" > "d", so x ranks 1 and d ranks 2
    new = run([("q", "d", .5), ("q", "x", .5)])          # same scores, other row order: d still ranks 2
    assert p_mrr(og, new, q_og, q_new) == 0.0
    new_up = run([("q", "a", .5), ("q", "d", .5)])       # now "d" > "a": d ranks 1
    assert p_mrr(og, new_up, q_og, q_new) == pytest.approx(100 * (1 / 2 - 1))


def test_missing_documents_rank_after_the_run():
    q_og, q_new = qrels([("q", "d", 1)]), qrels([("q", "d", 0)])
    # absent from the 2-document original run (rank 3), first in the changed run: 1/3 - 1
    og = run([("q", "a", .9), ("q", "b", .8)])
    new = run([("q", "d", .9), ("q", "a", .8), ("q", "b", .7)])
    assert p_mrr(og, new, q_og, q_new) == pytest.approx(100 * (1 / 3 - 1))
    # absent from both runs (sizes 2 and 3): ranks 3 and 4 -> 1 - 3/4
    new_without = run([("q", "a", .9), ("q", "b", .8), ("q", "c", .7)])
    assert p_mrr(og, new_without, q_og, q_new) == pytest.approx(100 * (1 - 3 / 4))


def test_query_missing_from_a_run_is_skipped_with_a_warning(caplog):
    q_og = qrels([("q", "d", 1), ("r", "e", 1)])
    q_new = qrels([("q", "d", 0), ("r", "e", 0)])
    og = run([("q", "d", .9), ("q", "a", .8), ("r", "e", .9)])
    new = run([("q", "a", .9), ("q", "d", .8)])           # query r has no changed-instruction run
    with caplog.at_level("WARNING", logger="rag.evaluation.pmrr"):
        per_query = p_mrr_per_query(og, new, q_og, q_new)
    assert per_query.to_dict() == pytest.approx({"q": 100 * (1 - 1 / 2)})   # not r at rank 1 in both
    assert per_query.attrs["skipped"] == ["r"]
    assert "1 of 2 queries" in caplog.text
    with pytest.raises(InputError, match="missing from the original or the changed run"):
        p_mrr(run([]), run([]), q_og, q_new)


def test_no_changed_document_is_an_error_not_a_number():
    with pytest.raises(InputError, match="no document changed relevance"):
        p_mrr(RUN_OG, RUN_NEW, QRELS_OG, QRELS_OG)


def test_changed_set_treats_unjudged_as_zero():
    og = qrels([("q", "a", 1), ("q", "b", 0), ("q", "c", 2)])
    new = qrels([("q", "b", 0), ("q", "c", 1), ("q", "e", 0)])
    assert sorted(changed_documents(og, new)["docno"]) == ["a", "c"]


def test_changed_documents_given_by_the_dataset():
    from_qrels = p_mrr_per_query(RUN_OG, RUN_NEW, QRELS_OG, QRELS_NEW)
    listed = {"q1": ["d1"], "q2": ["d4", "d5"]}
    assert p_mrr_per_query(RUN_OG, RUN_NEW, changed=listed).to_dict() == pytest.approx(from_qrels.to_dict())
    table = pd.DataFrame({"qid": ["q1"], "docno": ["d1"]})
    assert p_mrr(RUN_OG, RUN_NEW, changed=table) == pytest.approx(100 * (2 / 3))
    with pytest.raises(InputError, match="changed documents, or the original and the changed qrels"):
        p_mrr(RUN_OG, RUN_NEW)


def test_measure_reads_paired_table_and_needs_changed_qrels():
    paired = pd.concat([RUN_OG, RUN_NEW.assign(qid=RUN_NEW["qid"] + CHANGED_SUFFIX)], ignore_index=True)
    measure = parse_measure("p-MRR")
    assert isinstance(measure, PMRR) and measure.name == "p-MRR"
    with pytest.raises(InputError, match="changed qrels"):
        measure.per_query(paired, QRELS_OG)
    bound = PMRR(QRELS_NEW)
    assert bound.per_query(paired, QRELS_OG).mean() == pytest.approx(100 / 3)
    with pytest.raises(InputError, match="instruction-pair"):
        bound.per_query(RUN_OG, QRELS_OG)
    with pytest.raises(InputError, match="FollowIR"):
        measure.bind_dataset(object())

    class Shipped:                      # a dataset that ships its list of changed documents
        def changed_documents(self, split=None):
            return {"q1": ["d1"], "q2": ["d4", "d5"]}

    assert PMRR().bind_dataset(Shipped()).per_query(paired, QRELS_OG).mean() == pytest.approx(100 / 3)


# ---------------------------------------------------------------------------- FollowIR-style data
DOCS = [("n1", "Electric cars", "Battery electric vehicles sold in Norway rose sharply."),
        ("n2", "Electric cars in China", "Chinese makers dominate the electric vehicle market."),
        ("n3", "Gardening", "How to grow tomatoes on a balcony."),
        ("n4", "Electric car subsidies", "Norway gives tax breaks for buying electric cars.")]


def write_followir(folder):
    folder.mkdir()
    with open(folder / "corpus.jsonl", "w") as fh:
        for d, t, x in DOCS:
            fh.write(json.dumps({"_id": d, "title": t, "text": x}) + "\n")
    with open(folder / "queries.jsonl", "w") as fh:
        fh.write(json.dumps({"_id": "1", "text": "electric car sales",
                             "instruction_og": "Relevant documents discuss electric car sales anywhere.",
                             "instruction_changed": "Only documents about China are relevant; Norway is not."})
                 + "\n")
    (folder / "qrels_og.tsv").write_text("query-id\tcorpus-id\tscore\n1\tn1\t1\n1\tn2\t1\n1\tn4\t1\n1\tn3\t0\n")
    (folder / "qrels_changed.tsv").write_text("query-id\tcorpus-id\tscore\n1\tn1\t0\n1\tn2\t1\n1\tn4\t0\n1\tn3\t0\n")
    with open(folder / "top_ranked.jsonl", "w") as fh:
        fh.write(json.dumps({"qid": "1", "pid": ["n1", "n2", "n3", "n4"]}) + "\n")
    return folder


def test_followir_loader(tmp_path):
    from rag.datasets import load_dataset
    ds = load_dataset("followir", path=write_followir(tmp_path / "core17-mini"))
    queries = ds.queries()
    assert queries.loc[0, "instruction"].startswith("Relevant documents")
    assert queries.loc[0, "instruction_changed"].startswith("Only documents about China")
    assert ds.qrels()["label"].sum() == 3 and ds.qrels_changed()["label"].sum() == 1
    assert sorted(ds.candidates()["docno"]) == ["n1", "n2", "n3", "n4"]
    assert ds.headline_measure() == "AP@1000"
    with pytest.raises(InputError, match="qrels_changed"):
        (tmp_path / "core17-mini" / "qrels_changed.tsv").unlink()
        load_dataset("followir", path=tmp_path / "core17-mini")


def test_instruction_pair_experiment_and_config(tmp_path):
    """A real instruction-following check with BM25 re-ranking: p-MRR by hand from the two runs."""
    from rag.experiment.config import load_experiment
    from rag.datasets import load_dataset
    from rag.experiment import Experiment
    from rag.evaluation.followir import evaluate_followir
    from retrievers.instruction_pair import InstructionPair
    from retrievers.lucene import LuceneBM25
    from retrievers.text import CandidatePool

    folder = write_followir(tmp_path / "mini")
    ds = load_dataset("followir", path=folder)
    inner = CandidatePool(ds) >> LuceneBM25(ds.corpus, rerank=True)
    paired = InstructionPair(inner)(ds.queries())
    assert set(paired["qid"]) == {"1", "1" + CHANGED_SUFFIX}
    og = paired[paired["qid"] == "1"]
    new = paired[paired["qid"] != "1"].assign(qid="1")
    expected = p_mrr(og, new, ds.qrels(), ds.qrels_changed())
    result = Experiment({"BM25": InstructionPair(inner)}, ds, ["AP@1000", "p-MRR"], cache=tmp_path / "c").run()
    assert result.table.loc["BM25", "p-MRR"] == pytest.approx(expected)
    ap = result.table.loc["BM25", "AP@1000"]
    assert 0 < ap <= 1
    assert evaluate_followir(inner, ds) == pytest.approx({"AP@1000": ap, "p-MRR": expected})
    config = tmp_path / "followir.yaml"
    config.write_text(f"""
name: followir-mini
dataset: {{name: followir, path: {folder}}}
measures: [AP@1000, p-MRR]
pipelines:
  BM25: {{instruction-pair: {{pipeline: [candidates, {{bm25: {{rerank: true}}}}]}}}}
""")
    from_config = load_experiment(config, cache=tmp_path / "c").run()
    assert from_config.table.loc["BM25", "p-MRR"] == pytest.approx(expected)
