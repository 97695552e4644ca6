"""Gold answers as researchers receive them: lists, JSON/Python list cells in CSV, EVOUNA-style 'A/B|C'
strings split on request, and a counted warning when a separator is kept whole."""
from __future__ import annotations

import json
import logging

import pytest

from rag.datasets import gold_list, jsonl_queries, load_dataset, load_jsonl_dataset, load_qa_file
from rag.datasets.gold import parse_list_cell, split_gold
from rag.core.errors import InputError

EVOUNA_CSV = ('question,golden_answer\n'
              'who played hamlet in 1996?,Ken Branagh/Kenneth Branagh|Branagh\n'
              'which band sang back in black?,AC/DC\n'
              'capital of france?,Paris\n')


def write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def test_split_gold_cuts_at_every_separator_and_cleans_up():
    assert split_gold("Ken Branagh/Kenneth Branagh|Branagh") == ["Ken Branagh", "Kenneth Branagh", "Branagh"]
    assert split_gold(" a | a /b|| ") == ["a", "b"]
    assert split_gold("AC/DC", "|") == ["AC/DC"]


def test_gold_list_shapes():
    assert gold_list("Paris") == ["Paris"]
    assert gold_list(["Paris", " City of Light ", ""]) == ["Paris", "City of Light"]
    assert gold_list(1996) == ["1996"]
    assert gold_list({"text": ["Denver Broncos", "Broncos"], "answer_start": [177, 185]}) == ["Denver Broncos", "Broncos"]
    assert gold_list({"value": "Paris", "aliases": ["Paris", "City of Light"]}) == ["Paris", "City of Light"]
    assert gold_list(None) == [] and gold_list(float("nan")) == []
    assert gold_list('["a", "b/c"]', parse_lists=True) == ["a", "b/c"]
    assert gold_list("['a', \"it's\"]", parse_lists=True) == ["a", "it's"]        # pandas.to_csv writes this
    assert gold_list('["a", "b"]') == ['["a", "b"]']                              # only CSV cells are parsed
    assert gold_list(["x/y", "z"], split=True) == ["x", "y", "z"]
    assert gold_list("x/y|z", split="|") == ["x/y", "z"]
    with pytest.raises(InputError, match="must be a string"):
        gold_list([["nested"]], path="f.jsonl", line=3)
    with pytest.raises(InputError, match="split_gold"):
        gold_list("a", split=3)  # type: ignore[arg-type]
    assert parse_list_cell("[not a list") is None and parse_list_cell("[1, 2]") == [1, 2]


def test_csv_gold_splitting_on_and_off(tmp_path, caplog):
    path = write(tmp_path / "evouna.csv", EVOUNA_CSV)
    with caplog.at_level(logging.WARNING):
        kept = load_qa_file(path).queries()
    assert kept["answers"].tolist() == [["Ken Branagh/Kenneth Branagh|Branagh"], ["AC/DC"], ["Paris"]]
    assert "2 gold answer string(s) in 2 of 3 question(s) contain '/' or '|'" in caplog.text
    assert "evouna.csv" in caplog.text and "split_gold=True" in caplog.text

    caplog.clear()
    with caplog.at_level(logging.WARNING):
        split = load_qa_file(path, split_gold=True).queries()
    assert split["answers"].tolist() == [["Ken Branagh", "Kenneth Branagh", "Branagh"], ["AC", "DC"], ["Paris"]]
    assert caplog.text == ""
    only_bar = load_dataset(str(path), split_gold="|").queries()
    assert only_bar["answers"].tolist()[:2] == [["Ken Branagh/Kenneth Branagh", "Branagh"], ["AC/DC"]]


def test_splitting_changes_the_fingerprint(tmp_path):
    path = write(tmp_path / "evouna.csv", EVOUNA_CSV)
    assert load_qa_file(path).fingerprint() != load_qa_file(path, split_gold=True).fingerprint()
    assert load_qa_file(path).fingerprint() == load_qa_file(path).fingerprint()


def test_csv_json_list_cells(tmp_path):
    path = tmp_path / "lists.csv"
    path.write_text('id,question,answers\n'
                    'a,q one,"[""Paris"", ""City of Light""]"\n'
                    "b,q two,\"['x/y', 'z']\"\n", encoding="utf-8")
    queries = load_qa_file(path).queries()
    assert queries["qid"].tolist() == ["a", "b"]
    assert queries["answers"].tolist() == [["Paris", "City of Light"], ["x/y", "z"]]
    assert load_qa_file(path, split_gold=True).queries()["answers"].tolist()[1] == ["x", "y", "z"]


def test_jsonl_queries_split_and_warn(tmp_path, caplog):
    path = write(tmp_path / "q.jsonl", "\n".join(json.dumps(r) for r in [
        {"_id": "1", "text": "who?", "answers": "A/B|C"},
        {"_id": "2", "text": "what?", "answers": ["D"]}]) + "\n")
    with caplog.at_level(logging.WARNING):
        assert jsonl_queries(path, extra={"answers": "answers"})["answers"].tolist() == [["A/B|C"], ["D"]]
    assert "1 gold answer string(s) in 1 of 2 question(s)" in caplog.text
    split = jsonl_queries(path, extra={"answers": "answers"}, split_gold=True)
    assert split["answers"].tolist() == [["A", "B", "C"], ["D"]]
    data = load_jsonl_dataset(queries=path, query_fields={"qid": "_id", "query": "text"}, split_gold=True)
    assert data.queries()["answers"].tolist()[0] == ["A", "B", "C"]


def test_a_bad_gold_cell_names_file_line_and_field(tmp_path):
    path = write(tmp_path / "q.jsonl", '{"question": "a?", "gold": "x"}\n{"question": "b?", "gold": {"x": 1}}\n')
    with pytest.raises(InputError) as info:
        load_qa_file(path, fields={"answers": "gold"}).queries()
    assert (info.value.line, info.value.field) == (2, "gold") and str(info.value.path).endswith("q.jsonl")


def test_questions_without_gold_answers_are_counted(tmp_path, caplog):
    path = write(tmp_path / "q.csv", "question,answers\na?,x\nb?,\nc?,[]\n")
    with caplog.at_level(logging.WARNING):
        queries = load_qa_file(path).queries()
    assert queries["answers"].tolist() == [["x"], [], []]
    assert "2 of 3 question(s) have no gold answer (e.g. 'q1', 'q2')" in caplog.text
