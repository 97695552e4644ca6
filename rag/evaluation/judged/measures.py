"""LLM-judged answer measures: ``TICK``, ``MetaRanking``, ``HREF`` and sampled ``LLM-Eval`` / ``LLM-Critic``.

Every one takes ``llm`` (the judge, a :func:`rag.llm.load_llm` spec; default the offline Qwen2.5-0.5B) and those
that generate take ``samples`` (n judge samples per question, seeds 0..n-1, ``temperature`` > 0 when n > 1): the
per-question value is the mean of its samples, so the board shows the mean, and
:func:`rag.evaluation.judged.variance.judge_spread` gives its bootstrap interval across questions and the share of
judge noise. The judge's model is recorded in the results (``provenance``). Judge calls go through the LLM cache:
a ``tick`` or ``meta-ranking`` stage in the pipeline with the same judge makes the measure free.
"""
from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from rag.core.errors import InputError
from rag.evaluation.answers.llm_judge import correctness_messages, faithfulness_messages, parse_yes_no
from rag.judges.checklist import tick
from rag.judges.meta_ranking import meta_ranking, references_from
from rag.judges.method_stages import check_sampling, instruction_texts
from rag.judges.reference import pairwise_with_reference

DEFAULT_JUDGE = "qwen-0.5b"
# bump when a scoring rule in rag/judges (checklist, meta_ranking, reference) changes: this file is part of
# rag.evaluation.code_version(), so cached per-question values are then recomputed
JUDGE_RULES = 3


@dataclasses.dataclass(frozen=True)
class JudgedMeasure:
    """Base: a judge LLM, n samples, per-question mean of the samples."""

    name: str
    llm: str | None = None       # the judge (a rag.llm spec; default the offline qwen-0.5b)
    samples: int = 1             # judge samples per question (the value is their mean)
    temperature: float = 0.0     # > 0 when samples > 1
    seed: int = 0                # seed of the first sample

    kind: ClassVar[str] = "correctness"
    lower_is_better: ClassVar[bool] = False
    missing_reason: ClassVar[str] = "the judge's replies could not be parsed"

    def __post_init__(self) -> None:
        check_sampling(self.samples, self.temperature)

    def judge(self) -> Any:
        from rag.llm import load_llm
        return load_llm(self.llm or DEFAULT_JUDGE)

    def provenance(self) -> dict[str, Any]:
        return {"judge": self.llm or DEFAULT_JUDGE, "samples": self.samples, "temperature": self.temperature}

    def answers_table(self, results: pd.DataFrame) -> pd.DataFrame:
        for column in ("qid", "query", "answer"):
            if column not in results.columns:
                raise InputError(f"{self.name} scores answers: the table needs a {column!r} column", field=column)
        return results.drop_duplicates("qid").reset_index(drop=True)

    def sample_scores(self, table: pd.DataFrame) -> list[list[float]]:  # pragma: no cover - abstract
        """Each question's score per judge sample (NaN: unparsable)."""
        raise NotImplementedError

    def per_query(self, results: pd.DataFrame, qrels: pd.DataFrame | None = None) -> pd.Series:
        table = self.answers_table(results)
        values = [np.nanmean(s) if np.isfinite(np.asarray(s, float)).any() else math.nan
                  for s in self.sample_scores(table)]
        return pd.Series(np.asarray(values, dtype="float64"), index=table["qid"].astype(str).to_numpy(), name=self.name)


@dataclasses.dataclass(frozen=True)
class TICK(JudgedMeasure):
    """Fraction of YES over an LLM-written checklist for the question (Cook et al. 2024)."""

    max_items: int = 8           # checklist items kept

    def sample_scores(self, table: pd.DataFrame) -> list[list[float]]:
        results = tick(self.judge(), instruction_texts(table), table["answer"].fillna("").astype(str).tolist(),
                       self.samples, self.temperature, self.seed, self.max_items)
        return [r.scores for r in results]


@dataclasses.dataclass(frozen=True)
class MetaRanking(JudgedMeasure):
    """Reliability in [-1, 1] against ``n_references`` labelled pairs of the data set (Liu et al. 2024).
    Deterministic (next-token probabilities), so ``samples`` stays 1."""

    n_references: int = 5        # reference pairs from the data set's labelled questions
    both_orders: bool = True     # ask each comparison in both orders
    combine: str = "probabilities"   # both orders: average the probabilities, or the votes

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.samples != 1:
            raise InputError("MetaRanking reads the judge's probabilities (no sampling): samples must be 1",
                             field="samples")

    def bind_dataset(self, dataset: Any, split: str) -> "MetaRanking":
        bound = dataclasses.replace(self)
        object.__setattr__(bound, "_references", references_from(dataset.queries(split), self.n_references))
        return bound

    def sample_scores(self, table: pd.DataFrame) -> list[list[float]]:
        refs = getattr(self, "_references", None)
        if refs is None:
            if "answers" not in table.columns:
                raise InputError("MetaRanking needs reference pairs: run it in an experiment (the data set's labelled "
                                 "questions) or on a table with gold 'answers'", field="answers")
            refs = references_from(table, self.n_references)
        results = meta_ranking(self.judge(), table["query"].astype(str).tolist(),
                               table["answer"].fillna("").astype(str).tolist(), refs, self.both_orders,
                               self.combine)
        return [[r.score] for r in results]


def read_baseline(spec: str, table: pd.DataFrame) -> list[str]:
    """Baseline answers aligned with ``table``: a column of the table, or a JSONL/CSV file with ``qid, answer``
    (e.g. a saved run ``results/.../runs/<system>.jsonl``)."""
    if spec in table.columns:
        return table[spec].fillna("").astype(str).tolist()
    path = Path(spec)
    if not path.is_file():
        raise InputError(f"HREF baseline {spec!r} is neither a column of the answers nor a file", field="baseline")
    other = pd.read_json(path, lines=True, dtype={"qid": str}) if path.suffix in (".jsonl", ".json") \
        else pd.read_csv(path, dtype={"qid": str})
    if not {"qid", "answer"} <= set(other.columns):
        raise InputError("the baseline file needs 'qid' and 'answer' columns", path=path, field="baseline")
    found = dict(zip(other["qid"].astype(str), other["answer"].fillna("").astype(str)))
    missing = [q for q in table["qid"].astype(str) if q not in found]
    if missing:
        raise InputError(f"{len(missing)} questions have no baseline answer (e.g. {missing[:3]})", path=path,
                         field="baseline")
    return [found[q] for q in table["qid"].astype(str)]


def reference_texts(table: pd.DataFrame) -> list[str]:
    """The human-written reference: a ``reference`` column, else the gold answers joined with " / "."""
    if "reference" in table.columns:
        return table["reference"].fillna("").astype(str).tolist()
    if "answers" in table.columns:
        return [" / ".join(map(str, a)) if isinstance(a, (list, tuple, np.ndarray)) else str(a)
                for a in table["answers"]]
    raise InputError("HREF needs a human reference: a 'reference' or 'answers' column", field="answers")


@dataclasses.dataclass(frozen=True)
class HREF(JudgedMeasure):
    """Win rate against ``baseline`` answers with the human reference shown to the judge (Lyu et al. 2024);
    ``with_reference=false`` is the judge without it. Deterministic (probabilities): ``samples`` stays 1."""

    baseline: str = ""           # baseline answers: a column, or a JSONL/CSV file with qid and answer
    with_reference: bool = True  # show the human reference (gold answers) to the judge

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.baseline:
            raise InputError("HREF needs baseline answers: HREF(baseline=<column or runs/<system>.jsonl>)",
                             field="baseline")
        if self.samples != 1:
            raise InputError("HREF reads the judge's probabilities (no sampling): samples must be 1", field="samples")

    def sample_scores(self, table: pd.DataFrame) -> list[list[float]]:
        outcomes = pairwise_with_reference(self.judge(), instruction_texts(table), reference_texts(table),
                                           read_baseline(self.baseline, table),
                                           table["answer"].fillna("").astype(str).tolist(), self.with_reference)
        return [[o] for o in outcomes]


@dataclasses.dataclass(frozen=True)
class SampledLLMEval(JudgedMeasure):
    """Adlakha et al.'s LLM-Eval (correctness, max over gold answers) or LLM-Critic (faithfulness) judged ``samples``
    times; the reference parse (``parity``: "yes" anywhere) unless ``parity=false`` (first word; else NaN)."""

    parity: bool = True          # reference parse ("yes" anywhere); false: first word, else unparsable

    @property
    def critic(self) -> bool:
        return self.name.startswith("LLM-Critic")

    @property
    def kind(self) -> str:  # type: ignore[override]
        return "faithfulness" if self.critic else "correctness"

    def sample_scores(self, table: pd.DataFrame) -> list[list[float]]:
        chats, owner = [], []
        for i, row in table.iterrows():
            q, a = str(row["query"]), str(row["answer"] or "")
            if self.critic:
                contexts = row.get("contexts")
                evidence = "\n".join(map(str, contexts)) if isinstance(contexts, (list, tuple, np.ndarray)) else ""
                if evidence.strip():
                    chats.append(faithfulness_messages(q, a, evidence))
                    owner.append(i)
            else:
                for gold in (row.get("answers") if isinstance(row.get("answers"), (list, tuple, np.ndarray)) else []):
                    chats.append(correctness_messages(q, str(gold), a))
                    owner.append(i)
        out = [[math.nan] * self.samples for _ in range(len(table))]
        llm = self.judge()
        for k in range(self.samples):
            gens = llm.generate(chats, max_tokens=2, temperature=self.temperature, seed=self.seed + k) if chats else []
            for i, gen in zip(owner, gens):
                v = parse_yes_no(gen.text, self.parity)
                if not math.isnan(v):
                    out[i][k] = v if math.isnan(out[i][k]) else max(out[i][k], v)
        return out
