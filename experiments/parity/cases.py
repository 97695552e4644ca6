"""Each ragif measure next to its reference implementation on the same items (for tests/test_oracles.py
and experiments/parity_table.py).

A case builder returns a :class:`Case`: ragif's values and the reference package's values, item by
item. It raises ``ImportError`` when the reference package is not installed (tests skip then).
"""
from __future__ import annotations

import importlib
import json
import random
import sys
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

WORDS = ["the", "a", "an", "The", "cat", "Cat,", "cats", "dog", "dogs.", "running", "ran", "runs", "1990",
         "New", "York", "new-york", "art", "party", "it's", "Obama", "Hawaii", "born", "in", "was", "U.S.",
         "Dr.", "Smith", "café", "naïve", "(born", "1961)", "e.g.", "well-known", "isn't", "car", "auto",
         "automobile", "big", "large", "house", "houses", "quickly", "quick", "!", "?", ";", "--", "“quoted”"]


def generated_texts(n: int, seed: int = 0, max_words: int = 14) -> list[str]:
    """Deterministic strings with punctuation, articles, case, digits, unicode and several sentences."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        words = rng.choices(WORDS, k=rng.randint(0, max_words))
        if words and rng.random() < 0.4:
            words.insert(rng.randint(0, len(words)), rng.choice(["end.", "stop. Then", "done!", "so."]))
        out.append(" ".join(words))
    return out


def generated_answers(n: int = 300, seed: int = 0) -> dict[str, list]:
    """Responses, gold lists (1-3), evidence and questions drawn from :data:`WORDS`."""
    rng = random.Random(seed + 1)
    responses = generated_texts(n, seed)
    pool = generated_texts(3 * n, seed + 2, max_words=5)
    golds = [[pool[rng.randrange(len(pool))] or "x" for _ in range(rng.randint(1, 3))] for _ in range(n)]
    for i in range(0, n, 7):                                  # some exact and near-exact answers
        golds[i][0] = responses[i].upper() + " ." if i % 2 else responses[i]
    evidence = generated_texts(n, seed + 3, max_words=40)
    questions = generated_texts(n, seed + 4, max_words=8)
    return {"responses": responses, "golds": golds, "evidence": evidence, "questions": questions}


def nq_answers(n: int = 400, seed: int = 0) -> dict[str, list]:
    """Real NQ items (../shared/data/nq-rag): slices of the gold passage as responses, the gold passage
    plus a distractor as evidence. Raises FileNotFoundError without the shared data."""
    import gzip

    from rag.datasets import data_root

    root = data_root()
    path = root / "nq-rag" / "nq-open-oracle.jsonl.gz" if root else None
    if path is None or not path.exists():
        raise FileNotFoundError("../shared/data/nq-rag not available")
    rows = [json.loads(line) for line in gzip.open(path, "rt", encoding="utf-8")]
    distractors = [json.loads(line)["contents"] for line in open(root / "nq-rag" / "distractors.jsonl")]
    rng = random.Random(seed)
    rows = rng.sample(rows, n)
    out: dict[str, list] = {"responses": [], "golds": [], "evidence": [], "questions": []}
    for r in rows:
        passage = r["ctxs"][0]["text"]
        words = passage.split()
        start = rng.randint(0, max(0, len(words) - 5))
        out["responses"].append(" ".join(words[start:start + rng.randint(1, 40)]))
        out["golds"].append(list(r["answers"]))
        out["evidence"].append(passage + " " + rng.choice(distractors))
        out["questions"].append(r["question"])
    return out


@dataclass
class Case:
    """One comparison: ragif's values of ``measure`` and the ``reference`` package's, item by item."""

    measure: str
    reference: str
    ours: np.ndarray
    theirs: np.ndarray

    @property
    def max_diff(self) -> float:
        return float(np.max(np.abs(self.ours - self.theirs))) if len(self.ours) else 0.0

    @property
    def identical(self) -> float:
        return float(np.mean(self.ours == self.theirs)) if len(self.ours) else 1.0


# ---------------------------------------------------------------------------- instruct-qa
_HEAVY = ("evaluate", "openai.error", "tensorflow", "tensorflow_hub", "tensorflow_text", "spacy",
          "allennlp", "allennlp.predictors", "allennlp.predictors.predictor", "allennlp_models",
          "allennlp_models.pair_classification")


class _Stub(types.ModuleType):
    """A stand-in module: every attribute is a dummy class (instruct-qa only imports names at load time)."""

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        return type(name, (), {})


def instructqa_modules() -> tuple[types.ModuleType, types.ModuleType]:
    """``instruct_qa.evaluation.metrics`` and ``.faithfulness_metrics`` imported with stub modules for
    their heavy imports (removed again afterwards); raises ImportError when instruct-qa is not installed."""
    if importlib.util.find_spec("instruct_qa") is None:
        raise ImportError("instruct-qa is not installed (pip install --no-deps instruct-qa)")
    added = []
    for name in _HEAVY:
        if name not in sys.modules:
            try:
                if importlib.util.find_spec(name) is not None and name != "openai.error":
                    continue
            except (ImportError, ValueError):
                pass
            sys.modules[name] = _Stub(name)
            added.append(name)
    import transformers

    had = hasattr(transformers, "AutoModelWithLMHead")
    if not had:
        transformers.AutoModelWithLMHead = transformers.AutoModelForCausalLM
    try:
        metrics = importlib.import_module("instruct_qa.evaluation.metrics")
        faith = importlib.import_module("instruct_qa.evaluation.faithfulness_metrics")
    finally:
        for name in added:
            sys.modules.pop(name, None)
        if not had:
            del transformers.AutoModelWithLMHead
    return metrics, faith


def instructqa_scores(metric: object, args: tuple, folder: Path) -> np.ndarray:
    """Per-item scores of one instruct-qa metric object, as its ``store_individual_scores`` writes them
    (one JSON line per item: ``{"id_": i, name: {key: score}}``)."""
    metric(*args, ids=list(range(len(args[1]))))
    lines = (folder / metric.name / metric.file_name).read_text().splitlines()
    return np.array([next(iter(json.loads(line)[metric.name].values())) for line in lines], dtype=np.float64)


INSTRUCTQA_CORRECTNESS = {"EM": "EM", "F1": "F1", "Precision": "Precision", "Recall": "Recall",
                          "Recall-S": "RecallEM"}
INSTRUCTQA_FAITHFULNESS = {"K-Precision": "KPrecision", "K-Recall": "KRecall", "K-F1": "KF1",
                           "K-Precision++": "KPrecisionPlusPlus", "K-Recall++": "KRecallPlusPlus",
                           "K-F1++": "KF1PlusPlus"}


def instructqa_cases(items: dict[str, list], folder: Path) -> list[Case]:
    """ragif's token metrics against instruct-qa's metric classes on ``items``."""
    from rag.evaluation.answers import correctness_scores, faithfulness_scores

    metrics, faith = instructqa_modules()
    folder.mkdir(parents=True, exist_ok=True)
    args = types.SimpleNamespace(score_dir=str(folder), store_individual_scores=True)
    ours_c = correctness_scores(items["responses"], items["golds"])
    ours_f = faithfulness_scores(items["responses"], items["evidence"], items["questions"])
    cases = []
    for ours, cls in INSTRUCTQA_CORRECTNESS.items():
        metric = getattr(metrics, cls)(cls.lower(), file_name="scores.jsonl", args=args)
        theirs = instructqa_scores(metric, (items["responses"], items["golds"]), folder)
        cases.append(Case(ours, f"instruct-qa {cls}", ours_c[ours].to_numpy(), theirs))
    history = [[q] for q in items["questions"]]
    evidence = [[e] for e in items["evidence"]]
    for ours, cls in INSTRUCTQA_FAITHFULNESS.items():
        metric = getattr(faith, cls)(cls.lower(), file_name="scores.jsonl", args=args)
        theirs = instructqa_scores(metric, (history, items["responses"], evidence), folder)
        cases.append(Case(ours, f"instruct-qa {cls}", ours_f[ours].to_numpy(), theirs))
    return cases


# ---------------------------------------------------------------------------- rouge-score, nltk
def rouge_cases(items: dict[str, list]) -> list[Case]:
    """ROUGE-1/2/L F against Google's rouge-score ``score_multi`` (what HF evaluate calls for lists)."""
    from rouge_score import rouge_scorer

    from rag.evaluation.answers.rouge import rouge_scores

    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=False)
    theirs = [scorer.score_multi(golds, resp) for resp, golds in zip(items["responses"], items["golds"])]
    ours = rouge_scores(items["responses"], items["golds"])
    return [Case(f"ROUGE-{t}", "rouge-score", ours[f"ROUGE-{t}"].to_numpy(),
                 np.array([s[f"rouge{t}"].fmeasure for s in theirs])) for t in ("1", "2", "L")]


def nltk_data_folder(folder: Path) -> Path:
    """An NLTK data folder with the English Punkt model and, when Debian's WordNet is installed, WordNet."""
    from rag.evaluation.answers.nltk_data import DEBIAN_WORDNET, install_punkt, install_wordnet

    install_punkt(folder)
    if (DEBIAN_WORDNET / "data.noun").exists():
        install_wordnet(folder)
    return folder


def meteor_case(items: dict[str, list], folder: Path, synonyms: bool | None = None) -> Case:
    """METEOR against nltk's ``meteor_score`` on ``nltk.word_tokenize`` tokens (HF evaluate's recipe), with
    nltk's WordNet when it finds one (and ``synonyms`` is not False) and a synonym-free stand-in otherwise."""
    import nltk
    from nltk.translate.meteor_score import meteor_score

    from rag.evaluation.answers.meteor import meteor_scores

    nltk_data_folder(folder)
    if str(folder) not in nltk.data.path:
        nltk.data.path.insert(0, str(folder))
    ours = meteor_scores(items["responses"], items["golds"], synonyms=synonyms)
    wordnet = nltk.corpus.wordnet if "synonym" in ours.attrs["stages"] else types.SimpleNamespace(
        synsets=lambda word: [])
    theirs = [meteor_score([nltk.word_tokenize(g) for g in golds], nltk.word_tokenize(resp), wordnet=wordnet)
              for resp, golds in zip(items["responses"], items["golds"])]
    stages = "+".join(ours.attrs["stages"])
    return Case(f"METEOR ({stages})", "nltk meteor_score", ours.to_numpy(), np.array(theirs))


def porter_case(words: list[str]) -> Case:
    """ragif's Lucene-mode Porter stemmer against nltk's ``PorterStemmer(MARTIN_EXTENSIONS)`` (Porter's own
    reference version, which Lucene's PorterStemFilter ports); 1.0 per identical stem."""
    from nltk.stem.porter import PorterStemmer

    from retrievers.bm25.porter import stem

    nltk_stem = PorterStemmer(mode=PorterStemmer.MARTIN_EXTENSIONS)
    same = np.array([float(stem(w) == nltk_stem.stem(w, to_lowercase=False)) for w in words])
    return Case("Porter (Lucene)", "nltk PorterStemmer MARTIN_EXTENSIONS", same, np.ones(len(words)))


def vocabulary(texts: list[str], limit: int = 2000) -> list[str]:
    """Distinct lower-case alphabetic words of ``texts`` (first ``limit``)."""
    import re

    seen = dict.fromkeys(w for t in texts for w in re.findall(r"[a-z]+", t.lower()))
    return list(seen)[:limit]


CaseBuilder = Callable[..., list[Case]]
