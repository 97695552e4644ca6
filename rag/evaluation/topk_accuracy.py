"""Top-k retrieval accuracy of open-domain QA, as DPR and Pyserini compute it: a question counts when one of
its top ``k`` passages contains one of its gold answers.

"Contains", DPR's ``has_answer``: the passage text (not its title) and each answer are normalised to Unicode
NFD, split by DPR's simple tokenizer (runs of letters, digits and combining marks, or any other single
visible character) and lower-cased; the answer's tokens must appear as a contiguous run of the passage's.
With ``regex=True`` (CuratedTREC) each answer is a regular expression searched in the NFD text, ignoring
case; an answer that is not a valid expression matches nothing. Pyserini's ``evaluate_dpr_retrieval`` gives
the same numbers on the same run (``tests/test_topk_accuracy.py`` checks it); Pyserini reports BM25 on
Wikipedia (``wikipedia-dpr-100w``, k1=0.9, b=0.4) NQ test Top-20 64.02 and Top-100 79.20.

Names: ``Top-1``, ``Top-5``, ``Top-10``, ``Top-20``, ``Top-50``, ``Top-100``, or ``Top@k`` / ``Top(cutoff=k)`` for
any ``k``; ``Top(regex=true)@20`` for regular-expression answers. A ranking measure: it reads each question's
ranking, its ``answers`` (the ranking's column, else the data set's) and its passages' text (the ranking's
``text`` column, else the data set's corpus docstore). A question without gold answers is not scored; in an
experiment (the measure bound to the data set) a question the system retrieved nothing for counts 0, as in
DPR (Pyserini's evaluation leaves such a question out; BM25 retrieves something for every NQ question).
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any, ClassVar, Iterable

import numpy as np
import pandas as pd

from rag.core.errors import InputError

_TOKEN = None


def tokens(text: str) -> list[str]:
    """DPR's simple tokenizer, lower-cased: ``[\\p{L}\\p{N}\\p{M}]+`` runs or single ``[^\\p{Z}\\p{C}]`` characters."""
    global _TOKEN
    if _TOKEN is None:
        import regex
        _TOKEN = regex.compile(r"([\p{L}\p{N}\p{M}]+)|([^\p{Z}\p{C}])",
                               flags=regex.IGNORECASE | regex.UNICODE | regex.MULTILINE)
    return [m.group().lower() for m in _TOKEN.finditer(text)]


def _nfd(text: str) -> str:
    return unicodedata.normalize("NFD", text)


def answer_patterns(answers: Iterable[str], regex: bool = False) -> list[Any]:
    """What :func:`has_answer` compares: token lists, or compiled expressions (None for an invalid one)."""
    if not regex:
        return [tokens(_nfd(a)) for a in answers]
    out = []
    for a in answers:
        try:
            out.append(re.compile(_nfd(a), flags=re.IGNORECASE | re.UNICODE | re.MULTILINE))
        except (re.error, RecursionError, OverflowError, ValueError):
            out.append(None)
    return out


def _folded(text: str) -> str:
    """Lower case with both sigmas alike: Python lower-cases a final capital sigma by its context, so a token
    lower-cased alone may differ there from the same span of the whole text lower-cased."""
    return text.lower().replace("\u03c2", "\u03c3")


def has_answer(text: str, answers: Iterable[str] | list[Any], regex: bool = False, prepared: bool = False) -> bool:
    """Whether ``text`` contains one of ``answers`` (DPR's rule; see the module docstring). ``prepared``:
    ``answers`` already went through :func:`answer_patterns`."""
    patterns = list(answers) if prepared else answer_patterns(answers, regex)
    text = _nfd(text)
    if regex:
        return any(p is not None and p.search(text) is not None for p in patterns)
    if any(len(answer) == 0 for answer in patterns):   # an answer with no tokens occurs everywhere, as in DPR
        return True
    folded = _folded(text)      # a token of the answer that is not even a substring of the text: no match
    candidates = [a for a in patterns if all(_folded(t) in folded for t in a)]
    if not candidates:
        return False
    words = tokens(text)
    for answer in candidates:
        n, first = len(answer), answer[0]
        for i in range(len(words) - n + 1):
            if words[i] == first and words[i:i + n] == answer:
                return True
    return False


@dataclass
class TopKAccuracy:
    """Top-k answer accuracy (``name`` ``Top-<k>``): 1 when one of the question's top ``cutoff`` passages
    contains a gold answer, else 0; the mean over questions is DPR's and Pyserini's "Top-k"."""

    name: str = "Top"
    cutoff: int | None = None   # k; from the name (Top-20) when not given, else 20
    regex: bool = False         # answers are regular expressions (CuratedTREC)
    kind: ClassVar[str] = "ranking"
    needs_qrels: ClassVar[bool] = False   # it reads gold answers and passage text, not relevance judgements
    lower_is_better: ClassVar[bool] = False
    missing_reason: ClassVar[str] = "the question has no gold answers"
    _answers: dict[str, list[str]] | None = field(default=None, init=False, repr=False)
    _corpus: Any = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        named = re.fullmatch(r"Top-([0-9]+)", self.name or "", flags=re.IGNORECASE)
        if self.cutoff is None:
            self.cutoff = int(named[1]) if named else 20
        if isinstance(self.cutoff, bool) or not isinstance(self.cutoff, int) or self.cutoff < 1:
            raise ValueError(f"cutoff must be a positive integer, got {self.cutoff!r}")
        if not isinstance(self.regex, bool):
            raise ValueError(f"regex must be true or false, got {self.regex!r}")
        self.name = f"Top-{self.cutoff}" + ("(regex)" if self.regex else "")

    def bind_dataset(self, dataset: Any, split: str | None = None) -> "TopKAccuracy":
        """This measure with the data set's gold answers and corpus, for rankings that carry neither."""
        answers = None
        queries = dataset.queries(split)
        if "answers" in queries.columns:
            answers = dict(zip(queries["qid"].astype(str), queries["answers"]))
        bound = TopKAccuracy(self.name, self.cutoff, self.regex)
        bound._answers, bound._corpus = answers, getattr(dataset, "corpus", None)
        return bound

    # ------------------------------------------------------------------ computing
    def _answer_lists(self, results: pd.DataFrame) -> dict[str, list[str]]:
        """Gold answers by question: the ranking's ``answers`` column, else (and for questions the ranking
        lacks) those of the data set the measure is bound to."""
        out = {q: _as_list(a) for q, a in (self._answers or {}).items()}
        if "answers" in results.columns:
            firsts = results.drop_duplicates("qid")
            out.update({str(q): _as_list(a) for q, a in zip(firsts["qid"], firsts["answers"])})
        elif self._answers is None:
            raise InputError(f"{self.name} needs the questions' gold answers (an 'answers' column or a data set "
                             "with answers)", field="answers")
        return out

    def _texts(self, top: pd.DataFrame) -> list[str]:
        if "text" in top.columns:
            return ["" if pd.isna(t) else str(t) for t in top["text"]]
        if self._corpus is None:
            raise InputError(f"{self.name} needs passage text: a 'text' column (add-text) or a data set with a "
                             "corpus", field="text")
        codes, docnos = pd.factorize(top["docno"].astype(str))
        _, texts = self._corpus.docstore().fetch(list(docnos))
        return np.asarray(texts, dtype=object)[codes].tolist()

    def per_query(self, results: pd.DataFrame, qrels: pd.DataFrame | None = None) -> pd.Series:
        answers = self._answer_lists(results)
        ranked = results[results["docno"].notna()] if "docno" in results.columns else results.iloc[0:0]
        if "rank" in ranked.columns:
            ranked = ranked.sort_values(["qid", "rank"], kind="mergesort")
        elif len(ranked):
            ranked = ranked.sort_values(["qid", "score"], ascending=[True, False], kind="mergesort")
        top = ranked.groupby("qid", sort=False).head(self.cutoff)
        passages: dict[str, list[str]] = {}
        for qid, text in zip(top["qid"].astype(str), self._texts(top)):
            passages.setdefault(qid, []).append(text)
        values = {}
        asked = [*results["qid"].astype(str), *(self._answers or {})]   # bound: a question with no hit counts 0
        for qid in dict.fromkeys(asked):
            gold = answers.get(qid, [])
            if not gold:
                values[qid] = np.nan
                continue
            patterns = answer_patterns(gold, self.regex)
            values[qid] = float(any(has_answer(t, patterns, self.regex, prepared=True) for t in passages.get(qid, [])))
        series = pd.Series(values, dtype="float64", name=self.name)
        series.index.name = "qid"
        return series


def _as_list(value: Any) -> list[str]:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return []
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value]
