"""Top-k answer accuracy equals Pyserini's evaluate_dpr_retrieval (DPR's has_answer) on a constructed run,
question by question and in the mean; through an experiment it reads answers and passages from the data set."""
from __future__ import annotations

import contextlib
import io
import json
import random

import numpy as np
import pandas as pd
import pytest

from rag.core.cache import Cache
from rag.core.errors import InputError
from rag.datasets import Corpus, Dataset
from rag.evaluation.measures import parse_measure
from rag.evaluation.topk_accuracy import has_answer

dpr = pytest.importorskip("pyserini.eval.evaluate_dpr_retrieval")

PIECES = ["Paris", "paris", "PARIS", "Café", "Cafe\u0301", "cafe", "U.S.", "U.S", "1,000", "1000", "New York",
          "new-york", "Ol' Man River", "東京", "東京都", "naïve", "naive", "Ærø", "🎉", "x²", "½", "e.g.", "(1999)",
          "1999", "don't", "dont", "—", "the", "of", "a", "Smith", "Smith's", "İstanbul", "istanbul", "ß", "SS",
          "\u00a0", "tab\there", "中文字", "", "über", "Über", "co-op", "coop", "[a]", "*", "+", "?", "\\d+",
          "ΟΔΟΣ", "οδος", "Σ", "σ", "ς", "ΣΑΣ", "İ", "i\u0307", "ǅ", "ﬁ", "fi"]


def _random_text(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(PIECES) for _ in range(n))


def constructed(seed: int = 0, n_questions: int = 40, n_passages: int = 200, depth: int = 30):
    rng = random.Random(seed)
    passages = {f"p{i}": (f"Title {i}", _random_text(rng, rng.randint(3, 40)).replace("\n", " "))
                for i in range(n_passages)}
    questions = {}
    for q in range(n_questions):
        answers = [_random_text(rng, rng.randint(1, 3)) for _ in range(rng.randint(1, 3))]
        if rng.random() < 0.1:
            answers = []
        questions[f"q{q}"] = answers
    rows = []
    for qid in questions:
        for rank, docno in enumerate(rng.sample(sorted(passages), depth)):
            rows.append({"qid": qid, "docno": docno, "score": float(depth - rank), "rank": rank})
    return passages, questions, pd.DataFrame(rows)


def pyserini_topk(passages, questions, run: pd.DataFrame, ks: list[int], regex: bool, tmp_path) -> dict[int, float]:
    """Pyserini's evaluate_retrieval on the run written as its retrieval JSON (it computes has_answer itself
    from ``title\\ntext``; questions without answers are left out, as its converter would drop them)."""
    retrieval = {}
    for qid, group in run.sort_values(["qid", "rank"]).groupby("qid", sort=False):
        if not questions[qid]:
            continue
        retrieval[qid] = {"question": qid, "answers": questions[qid],
                          "contexts": [{"docid": d, "score": 1.0, "text": f"{passages[d][0]}\n{passages[d][1]}"}
                                       for d in group["docno"]]}
    path = tmp_path / f"retrieval-{regex}.json"
    path.write_text(json.dumps(retrieval))
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        dpr.evaluate_retrieval(str(path), ks, regex)
    values = {}
    for line in out.getvalue().splitlines():
        name, _, value = line.partition("\taccuracy: ")
        values[int(name[3:])] = float(value)
    return values


@pytest.mark.parametrize("regex", [False, True])
def test_topk_equals_pyserini_evaluate_dpr_retrieval(tmp_path, regex):
    passages, questions, run = constructed(seed=int(regex))
    frame = run.assign(answers=run["qid"].map(questions), text=run["docno"].map(lambda d: passages[d][1]),
                       title=run["docno"].map(lambda d: passages[d][0]))
    ks = [1, 5, 20]
    expected = pyserini_topk(passages, questions, run, ks, regex, tmp_path)
    for k in ks:
        measure = parse_measure(f"Top(regex={'true' if regex else 'false'})@{k}")
        values = measure.per_query(frame)
        assert values[[q for q, a in questions.items() if not a]].isna().all()   # no answers: not scored
        assert round(values.dropna().mean(), 4) == pytest.approx(expected[k], abs=1e-9)


def test_has_answer_equals_dpr_on_every_pair():
    rng = random.Random(7)
    tokenizer = dpr.SimpleTokenizer()
    for _ in range(3000):
        text = _random_text(rng, rng.randint(0, 12))
        answers = [_random_text(rng, rng.randint(0, 3)) for _ in range(rng.randint(1, 2))]
        for regex in (False, True):
            assert has_answer(text, answers, regex) == dpr.has_answers(text, answers, tokenizer, regex), (text, answers)


def test_names_and_parameters():
    assert parse_measure("Top-20").name == "Top-20" and parse_measure("Top-100").cutoff == 100
    assert parse_measure("Top@7").name == "Top-7" and parse_measure("Top@7").kind == "ranking"
    assert parse_measure("Top(regex=true)@20").name == "Top-20(regex)"
    with pytest.raises(InputError):
        parse_measure("Top(cutoff=0)")
    with pytest.raises(InputError):
        parse_measure("Top(bogus=1)")


def test_experiment_reads_answers_and_passages_from_the_data_set(tmp_path):
    """A BM25 run with no text column: the measure takes the answers and the corpus text from the data set."""
    from rag.experiment import Experiment
    from retrievers.lucene import LuceneBM25

    passages, questions, _ = constructed(seed=3, n_questions=12, n_passages=60)
    corpus = Corpus([{"docno": d, "title": t, "text": x} for d, (t, x) in passages.items()])
    queries = pd.DataFrame({"qid": list(questions), "query": [" ".join(a) or "paris" for a in questions.values()],
                            "answers": list(questions.values())})
    data = Dataset(name="constructed", corpus=corpus, query_loaders={"test": lambda: queries.copy()})
    with Cache(tmp_path).activate():
        bm25 = LuceneBM25(corpus, k=10)
        result = Experiment({"BM25": bm25}, data, ["Top-5", "Top@10"], cache=Cache(tmp_path)).run()
        run = bm25(queries.drop(columns="answers"))
    texts = {d: x for d, (_, x) in passages.items()}
    for k, name in ((5, "Top-5"), (10, "Top-10")):
        hits = []
        for qid, gold in questions.items():
            if not gold:
                continue
            top = run[run["qid"] == qid].sort_values("rank").head(k)["docno"]
            hits.append(any(has_answer(texts[d], gold) for d in top))
        assert result.table.loc["BM25", name] == pytest.approx(np.mean(hits))


def test_without_answers_or_text_it_says_what_is_missing():
    measure = parse_measure("Top-20")
    run = pd.DataFrame({"qid": ["q"], "docno": ["d"], "score": [1.0], "rank": [0]})
    with pytest.raises(InputError, match="gold answers"):
        measure.per_query(run)
    with pytest.raises(InputError, match="passage text"):
        measure.per_query(run.assign(answers=[["x"]]))
