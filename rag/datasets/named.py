"""Named loaders for the public data sets in ``../shared/data`` (given their folder)."""
from __future__ import annotations

import ast
import csv
import hashlib
import io
import json
from pathlib import Path

import pandas as pd

from rag.core.errors import InputError
from rag.core.fields import text_value
from rag.datasets.fingerprint import file_fingerprint as hash_file  # memoised by stat
from rag.datasets.fingerprint import files_fingerprint as hash_files
from rag.datasets.base import Corpus, Dataset
from rag.datasets.beir import _as_answer_list, load_beir
from rag.datasets.gold import gold_list
from rag.datasets.io import iter_jsonl, iter_lines, open_binary, read_json
from rag.datasets.trec import iter_trec_documents, read_qrels, read_topics


def _need(path: Path) -> Path:
    if not path.exists():
        raise InputError("data file not found", path=path)
    return path


def scifact(path: str | Path) -> Dataset:
    """BEIR SciFact: 5,183 abstracts; ``test`` (300 claims) and ``train`` (505 claims) splits."""
    root = Path(path)
    return load_beir(root, name="scifact", split_query_files={"train": "queries-train.jsonl"})


def vaswani(path: str | Path) -> Dataset:
    """The Vaswani (NPL) collection: 11,429 documents, 93 queries, TREC formats."""
    root = Path(path)
    corpus_file = _need(root / "corpus" / "doc-text.trec")
    topics, qrels = _need(root / "query-text.trec"), _need(root / "qrels")
    corpus = Corpus(lambda: iter_trec_documents(corpus_file), fingerprint=hash_file(corpus_file),
                    source=str(corpus_file), name="vaswani")
    return Dataset(name="vaswani", corpus=corpus,
                   query_loaders={"test": lambda: read_topics(topics)[["qid", "query"]]},
                   qrels_loaders={"test": lambda: read_qrels(qrels)},
                   source=str(root), fingerprint_parts=(hash_files([corpus_file, topics, qrels]),))


BIRCO_TASKS = ("arguana", "clinical-trial", "relic", "wtb")


def birco(path: str | Path, task: str | None = None) -> Dataset:
    """One BIRCO task (a folder in BEIR layout with ``instruction.txt``); re-ranking over the judged pool.

    ``path`` is the task folder, or the BIRCO folder with ``task`` naming one of :data:`BIRCO_TASKS`.
    """
    root = Path(path)
    if task is not None:
        root = root / task
    instruction_file = _need(root / "instruction.txt")
    instruction = " ".join(instruction_file.read_text("utf-8").split())
    ds = load_beir(root, name=f"birco-{root.name}", instruction=instruction)
    ds.candidate_loaders = {s: _pool_from_qrels(ds, s) for s in ds.qrels_loaders}
    ds.fingerprint_parts = (*ds.fingerprint_parts, hash_file(instruction_file))
    return ds


def _pool_from_qrels(ds: Dataset, split: str):
    def load() -> pd.DataFrame:
        pool = ds.qrels(split)[["qid", "docno"]].copy()
        pool["score"] = 0.0
        return pool
    return load


def nq_open(path: str | Path, file: str = "NQ-open.dev.jsonl") -> Dataset:
    """NQ-open questions with answer lists (no corpus)."""
    root = Path(path)
    src = _need(root / file if root.is_dir() else root)

    def load() -> pd.DataFrame:
        rows = []
        for line, obj in iter_jsonl(src):
            if "question" not in obj:
                raise InputError("missing field", path=src, line=line, field="question")
            answers = obj.get("answer", obj.get("answers"))
            rows.append({"qid": f"nq{line - 1}", "query": text_value(obj["question"], src, line, "question"),
                         "answers": gold_list(answers, path=src, line=line, field_name="answer")})
        return pd.DataFrame(rows)
    return Dataset(name="nq-open", query_loaders={"test": load}, source=str(src),
                   fingerprint_parts=(hash_file(src),))


NQ_RAG_HELD_OUT = 1000   # nq-rag's first questions, never in its train split


def nq_rag(path: str | Path, distractors: bool = True) -> Dataset:
    """NQ-open questions with their gold Wikipedia passage, mixed with 1,000 distractor passages.

    Gold passages shared by several questions become one document; qrels map each question to its gold
    passage (label 1). Distractor ids are prefixed ``dis-``; gold ids are ``gold-<hash>``. Split ``test`` has
    every question; ``train`` the questions after the first 1,000 (for training rerankers: experiments take
    their questions from the first 1,000 of ``test``, e.g. ``queries: {limit: 200}``).
    """
    root = Path(path)
    oracle = _need(root / "nq-open-oracle.jsonl.gz")
    dis_file = root / "distractors.jsonl"
    questions: list[dict] = []
    gold_docs: dict[str, dict[str, str]] = {}
    qrels_rows: list[tuple[str, str, int]] = []
    for line, obj in iter_jsonl(oracle):
        ctxs = obj.get("ctxs") or []
        if not isinstance(ctxs, list) or not all(isinstance(c, dict) for c in ctxs):
            raise InputError("ctxs must be a list of passage objects", path=oracle, line=line, field="ctxs")
        gold = next((c for c in ctxs if c.get("isgold")), ctxs[0] if ctxs else None)
        if gold is None:
            raise InputError("question without a gold passage", path=oracle, line=line, field="ctxs")
        title = text_value(gold.get("title"), oracle, line, "ctxs.title", required=False)
        text = text_value(gold.get("text"), oracle, line, "ctxs.text", required=False)
        docno = "gold-" + hashlib.blake2b(f"{title}\n{text}".encode(), digest_size=8).hexdigest()
        gold_docs.setdefault(docno, {"docno": docno, "title": title, "text": text})
        qid = f"nq{line - 1}"
        questions.append({"qid": qid, "query": text_value(obj.get("question"), oracle, line, "question"),
                          "answers": gold_list(obj.get("answers"), path=oracle, line=line),
                          "gold_docno": docno})
        qrels_rows.append((qid, docno, 1))
    docs = list(gold_docs.values())
    files = [oracle]
    if distractors and dis_file.exists():
        files.append(dis_file)
        for line, obj in iter_jsonl(dis_file):
            contents = text_value(obj.get("contents"), dis_file, line, "contents", required=False)
            title, _, text = contents.partition("\n")
            docs.append({"docno": f"dis-{obj.get('id', line - 1)}", "title": title.strip().strip('"'), "text": text})
    corpus = Corpus(docs, fingerprint=hash_files(files), source=str(root), name="nq-rag")
    qframe = pd.DataFrame(questions)
    qrels = pd.DataFrame(qrels_rows, columns=["qid", "docno", "label"])
    train_qids = set(qframe["qid"].iloc[NQ_RAG_HELD_OUT:])
    return Dataset(name="nq-rag", corpus=corpus,
                   query_loaders={"test": lambda: qframe.copy(),
                                  "train": lambda: qframe.iloc[NQ_RAG_HELD_OUT:].reset_index(drop=True)},
                   qrels_loaders={"test": lambda: qrels.copy(),
                                  "train": lambda: qrels[qrels["qid"].isin(train_qids)].reset_index(drop=True)},
                   source=str(root), fingerprint_parts=(hash_files(files),))


def popqa_longtail(path: str | Path) -> Dataset:
    """PopQA long-tail: 1,399 questions with popularity (``s_pop``, ``o_pop``), relation (``relation``)
    and aliases (``answers``), and a Wikipedia evidence corpus aligned line by line (doc ``p<i>`` is the
    evidence for question ``popqa<i>``)."""
    root = Path(path)
    csv_file = _need(root / "DisambPopQA.csv")
    evidence = root / "crag_retrieved_refined.txt"
    with open_binary(csv_file) as fh:
        text = fh.read().decode("utf-8-sig")
    rows = []
    for i, rec in enumerate(csv.DictReader(io.StringIO(text))):
        line = i + 2
        try:
            answers = json.loads(rec["possible_answers"])
        except (json.JSONDecodeError, KeyError, TypeError):
            raise InputError("possible_answers is not a JSON list", path=csv_file, line=line,
                             field="possible_answers") from None
        try:
            s_pop, o_pop = float(rec["s_pop"]), float(rec["o_pop"])
        except (ValueError, KeyError, TypeError):
            raise InputError("popularity is not a number", path=csv_file, line=line, field="s_pop") from None
        rows.append({"qid": f"popqa{i}", "query": rec["question"], "answers": [str(a) for a in answers],
                     "relation": rec["prop"], "subject": rec["subj"], "object": rec["obj"],
                     "s_pop": s_pop, "o_pop": o_pop})
    queries = pd.DataFrame(rows)
    corpus = None
    qrels = None
    files = [csv_file]
    if evidence.exists():
        files.append(evidence)
        lines = [t for _, t in iter_lines(evidence)]
        if len(lines) != len(rows):
            raise InputError(f"{len(lines)} evidence lines for {len(rows)} questions; they must align",
                             path=evidence)
        docs = [{"docno": f"p{i}", "title": "", "text": " ".join(t.replace("#", " ").split())}
                for i, t in enumerate(lines)]
        corpus = Corpus(docs, fingerprint=hash_file(evidence), source=str(evidence), name="popqa-evidence")
        qrels = pd.DataFrame({"qid": queries["qid"], "docno": [f"p{i}" for i in range(len(rows))], "label": 1})
    return Dataset(name="popqa-longtail", corpus=corpus, query_loaders={"test": lambda: queries.copy()},
                   qrels_loaders={"test": lambda: qrels.copy()} if qrels is not None else {},
                   source=str(root), fingerprint_parts=(hash_files(files),))


def entityquestions(path: str | Path, relations: list[str] | None = None) -> Dataset:
    """EntityQuestions test: entity-centric questions over 24 relations (``relation`` column = Pxx)."""
    root = Path(path)
    folder = root / "test" if (root / "test").is_dir() else root
    files = sorted(folder.glob("P*.test.json"))
    if relations:
        files = [f for f in files if f.name.split(".")[0] in set(relations)]
    if not files:
        raise InputError("no P*.test.json files", path=folder)

    def load() -> pd.DataFrame:
        rows = []
        for f in files:
            relation = f.name.split(".")[0]
            data = read_json(f)
            if not isinstance(data, list):
                raise InputError("expected a JSON list of questions", path=f)
            for i, obj in enumerate(data):
                if not isinstance(obj, dict) or "question" not in obj:
                    raise InputError(f"item {i} has no 'question'", path=f, line=i + 1, field="question")
                rows.append({"qid": f"{relation}-{i}", "query": text_value(obj["question"], f, i + 1, "question"),
                             "answers": gold_list(obj.get("answers"), path=f, line=i + 1), "relation": relation})
        return pd.DataFrame(rows)
    return Dataset(name="entityquestions", query_loaders={"test": load}, source=str(folder),
                   fingerprint_parts=(hash_files(files),))


def hotpotqa(path: str | Path, file: str = "hotpot_dev_v1_simplified.json") -> Dataset:
    """HotpotQA dev questions with answers and question type (no contexts)."""
    root = Path(path)
    src = _need(root / file if root.is_dir() else root)

    def load() -> pd.DataFrame:
        data = read_json(src)
        if not isinstance(data, list):
            raise InputError("expected a JSON list", path=src)
        rows = []
        for i, o in enumerate(data, start=1):
            if not isinstance(o, dict) or "question" not in o:
                raise InputError("item has no 'question'", path=src, line=i, field="question")
            rows.append({"qid": f"hp{i - 1}", "query": text_value(o["question"], src, i, "question"),
                         "answers": gold_list(o.get("answer"), path=src, line=i, field_name="answer"),
                         "type": text_value(o.get("type"), src, i, "type", required=False)})
        return pd.DataFrame(rows)
    return Dataset(name="hotpotqa", query_loaders={"test": load}, source=str(src), fingerprint_parts=(hash_file(src),))


def _unquote(text: str) -> str:
    """Undo (possibly repeated) CSV quoting, where quotes inside are doubled."""
    while len(text) > 1 and text.startswith('"') and text.endswith('"'):
        inner = next(csv.reader([text]))[0]
        if inner == text:
            break
        text = inner
    return text


def triviaqa(path: str | Path, file: str = "topics.dpr.trivia.test.txt") -> Dataset:
    """TriviaQA test (DPR split): lines ``question<TAB>['answer', ...]`` (a Python list literal, read with
    :func:`ast.literal_eval`, which evaluates literals only)."""
    root = Path(path)
    src = _need(root / file if root.is_dir() else root)

    def load() -> pd.DataFrame:
        rows = []
        for line, text in iter_lines(src):
            if not text.strip():
                continue
            fields = next(csv.reader([text], delimiter="\t"))  # some lines are CSV-quoted
            if len(fields) != 2:
                raise InputError("expected 'question<TAB>answers'", path=src, line=line)
            question, answers = _unquote(fields[0]), _unquote(fields[1])
            try:
                parsed = ast.literal_eval(answers.strip())
            except (ValueError, SyntaxError):
                raise InputError("answers are not a list literal", path=src, line=line, field="answers") from None
            rows.append({"qid": f"tqa{line - 1}", "query": question.strip(),
                         "answers": [_unquote(a) for a in _as_answer_list(parsed, src)]})
        return pd.DataFrame(rows)
    return Dataset(name="triviaqa", query_loaders={"test": load}, source=str(src), fingerprint_parts=(hash_file(src),))
