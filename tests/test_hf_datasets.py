"""Hugging Face datasets and single-file QA sets: a save_to_disk folder made here with `datasets`, parquet and
JSONL files with a field mapping, contexts and gold passages, the usual errors, and the hub offline."""
from __future__ import annotations

import json
import os

import pandas as pd
import pytest

from rag.datasets import load_dataset, load_hf, load_qa_file
from rag.core.errors import ConfigError, InputError

ROWS = {
    "id": ["nq1", "nq2", "nq3"],
    "question": ["who wrote hamlet?", "capital of france?", "largest planet?"],
    "golden_answers": [["William Shakespeare", "Shakespeare"], ["Paris"], ["Jupiter"]],
    "s_pop": [5200.0, 91000.0, 30000.0],
    "relation": ["author", "capital", "largest"],
    "gold_passage": [{"title": "Hamlet", "text": "Hamlet is a tragedy by William Shakespeare."},
                     {"title": "Paris", "text": "Paris is the capital of France."},
                     {"title": "Jupiter", "text": "Jupiter is the largest planet."}],
}
FIELDS = {"qid": "id", "answers": "golden_answers", "gold_passage": "gold_passage", "popularity": "s_pop",
          "keep": ["relation"]}


def check_rows(data, split="test"):
    queries = data.queries(split)
    assert queries["qid"].tolist() == ROWS["id"]
    assert queries["query"].tolist() == ROWS["question"]
    assert queries["answers"].tolist() == ROWS["golden_answers"]
    assert queries["s_pop"].tolist() == ROWS["s_pop"] and queries["relation"].tolist() == ROWS["relation"]
    qrels = data.qrels(split)
    assert qrels["qid"].tolist() == ROWS["id"] and qrels["label"].tolist() == [1, 1, 1]
    docs = data.corpus.documents(qrels["docno"])
    assert docs["title"].tolist() == ["Hamlet", "Paris", "Jupiter"]
    assert queries["gold_docno"].tolist() == qrels["docno"].tolist()


def test_save_to_disk_folder_made_with_datasets(tmp_path):
    datasets = pytest.importorskip("datasets")
    folder = tmp_path / "nq-small"
    datasets.Dataset.from_dict(ROWS).save_to_disk(str(folder))
    check_rows(load_hf(folder, fields=FIELDS))
    via_dispatch = load_dataset(str(folder), fields=FIELDS)
    check_rows(via_dispatch)
    assert via_dispatch.name == "nq-small" and via_dispatch.splits == ["test"]


def test_dataset_dict_folder_keeps_its_splits(tmp_path):
    datasets = pytest.importorskip("datasets")
    folder = tmp_path / "dd"
    half = {k: v[:1] for k, v in ROWS.items()}
    datasets.DatasetDict({"train": datasets.Dataset.from_dict(half),
                          "validation": datasets.Dataset.from_dict(ROWS)}).save_to_disk(str(folder))
    data = load_dataset(str(folder), fields=FIELDS)
    assert data.splits == ["train", "validation"] and data.default_split == "validation"
    check_rows(data, "validation")
    assert len(data.queries("train")) == 1
    assert load_hf(folder, fields=FIELDS, splits="train").splits == ["train"]
    with pytest.raises(InputError, match="no split 'test'"):
        load_hf(folder, fields=FIELDS, splits="test")


def test_folder_errors_name_the_row_and_field(tmp_path):
    datasets = pytest.importorskip("datasets")
    folder = tmp_path / "bad"
    bad = {**ROWS, "s_pop": ["5200", "many", "3"]}
    datasets.Dataset.from_dict(bad).save_to_disk(str(folder))
    with pytest.raises(InputError) as info:
        load_hf(folder, fields=FIELDS)
    assert (info.value.line, info.value.field) == (2, "s_pop") and str(info.value.path) == str(folder)
    assert "'many' is not a number" in str(info.value)


def test_not_a_datasets_folder(tmp_path):
    (tmp_path / "x").mkdir()
    with pytest.raises(InputError, match="not a datasets save_to_disk folder"):
        load_hf(tmp_path / "x")


def test_parquet_with_field_mapping(tmp_path):
    path = tmp_path / "nq.parquet"
    pd.DataFrame(ROWS).to_parquet(path)
    check_rows(load_dataset(str(path), fields=FIELDS))


def test_jsonl_with_contexts_gives_corpus_and_candidate_pool(tmp_path):
    records = [{"question": "who wrote hamlet?", "answer": "Shakespeare",
                "ctxs": [{"id": "w1", "title": "Hamlet", "text": "Hamlet is by Shakespeare.", "isgold": True},
                         {"id": "w2", "title": "Macbeth", "text": "Macbeth is a play."}]},
               {"question": "largest planet?", "answer": ["Jupiter"],
                "ctxs": ["Jupiter is the largest planet.", {"id": "w2", "title": "Macbeth", "text": "Macbeth is a play."}]}]
    path = tmp_path / "qa.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n", encoding="utf-8")
    data = load_dataset(str(path))
    queries = data.queries()
    assert queries["qid"].tolist() == ["q0", "q1"] and queries["answers"].tolist() == [["Shakespeare"], ["Jupiter"]]
    assert len(data.corpus) == 3                                    # w2 is shared, the bare string gets a hash id
    pool = data.candidates()
    assert pool[pool.qid == "q0"]["docno"].tolist() == ["w1", "w2"]
    assert pool[pool.qid == "q1"]["docno"].tolist()[1] == "w2"
    assert data.qrels()[["qid", "docno"]].values.tolist() == [["q0", "w1"]]


def test_qa_file_errors(tmp_path):
    path = tmp_path / "q.jsonl"
    path.write_text('{"question": "a?", "answers": ["x"]}\n{"answers": ["y"], "question": "  "}\n', encoding="utf-8")
    with pytest.raises(InputError) as info:
        load_qa_file(path)
    assert (info.value.line, info.value.field) == (2, "question") and "empty question" in str(info.value)
    path.write_text('{"query_text": "a?"}\n', encoding="utf-8")
    with pytest.raises(InputError, match="no question field"):
        load_qa_file(path)
    path.write_text('{"id": "1", "question": "a?"}\n{"id": "1", "question": "b?"}\n', encoding="utf-8")
    with pytest.raises(InputError, match="duplicate question id '1' \\(first on line 1\\)"):
        load_qa_file(path)
    with pytest.raises(ConfigError, match="did you mean 'answers'"):
        load_qa_file(path, fields={"answer": "gold"})
    csv = tmp_path / "q.csv"
    csv.write_text("question,answers\na?,x\nb?,y,z\n", encoding="utf-8")
    with pytest.raises(InputError) as info:
        load_qa_file(csv)
    assert info.value.line == 3 and "expected 2 fields" in str(info.value)
    with pytest.raises(InputError, match="file not found"):
        load_dataset(str(tmp_path / "missing.parquet"))


def test_hub_name_fails_in_one_clear_line_offline(monkeypatch):
    pytest.importorskip("datasets")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert os.environ["HF_HUB_OFFLINE"] == "1"
    with pytest.raises(InputError) as info:
        load_dataset("hf:ragif-tests/no-such-dataset-xyz")
    message = str(info.value)
    assert "\n" not in message and "'ragif-tests/no-such-dataset-xyz'" in message and "HF_HUB_OFFLINE=1" in message


def test_the_hub_path_reads_what_datasets_load_dataset_returns(tmp_path):
    """``hf:`` goes through ``datasets.load_dataset``; a local data folder takes the same path offline."""
    pytest.importorskip("datasets")
    (tmp_path / "repo").mkdir()
    pd.DataFrame(ROWS).to_parquet(tmp_path / "repo" / "train.parquet")
    data = load_dataset(f"hf:{tmp_path / 'repo'}", fields=FIELDS)
    assert data.splits == ["train"] and data.name == "repo"
    check_rows(data, "train")


def test_squad_style_answer_records(tmp_path):
    datasets = pytest.importorskip("datasets")
    folder = tmp_path / "squad-like"
    datasets.Dataset.from_dict({"id": ["s1"], "question": ["who won?"], "context": ["The Broncos won."],
                                "answers": [{"text": ["Denver Broncos", "Broncos"], "answer_start": [0, 4]}]}
                               ).save_to_disk(str(folder))
    data = load_dataset(str(folder), fields={"gold_passage": "context"})
    assert data.queries()["answers"].tolist() == [["Denver Broncos", "Broncos"]]
    assert data.corpus.documents(data.qrels()["docno"])["text"].tolist() == ["The Broncos won."]
