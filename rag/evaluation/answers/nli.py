"""NLI-based faithfulness: P(entailment) of (premise = evidence, hypothesis = response).

Works with any Hugging Face sequence-classification NLI model whose ``id2label`` names an
entailment class (e.g. ``roberta-large-mnli``, ``microsoft/deberta-large-mnli``); none ships
offline here, so the caller must name one: a local folder or a model already in the Hugging Face
cache (anything else fails at once, in one line). The model is loaded once per process and its name
printed; ``score_answers`` records it in ``attrs["nli_model"]``. The pair is truncated from the evidence side only
(``truncation="only_first"``), so the response is never cut.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from rag.core.errors import InputError
from rag.evaluation.answers.models import load_once, local_only, resolve_model


@dataclass
class NLIScorer:
    """P(entailment) of a response given its evidence, from a sequence-classification NLI model."""

    model: str
    batch_size: int = 8
    max_length: int = 512
    threads: int | None = 1
    entailment_index: int = field(init=False, default=-1)

    def __post_init__(self) -> None:
        if not self.model:
            raise InputError("the NLI metric needs an NLI model (a local folder or a cached Hugging Face name)",
                             field="nli_model")
        self._path, self.model = resolve_model(self.model, "NLI")
        self._loaded = None

    def _load(self):
        if self._loaded is None:
            import torch

            if self.threads:
                torch.set_num_threads(self.threads)
            tok, clf = load_once("NLI", self._path, _load_classifier, self.model)
            labels = {int(k): str(v).lower() for k, v in clf.config.id2label.items()}
            hits = [i for i, name in labels.items() if name.startswith("entail")]
            if len(hits) != 1:
                raise InputError(f"NLI model {self.model!r} has no single entailment label: {labels}",
                                 field="nli_model")
            self.entailment_index = hits[0]
            self._loaded = (tok, clf)
        return self._loaded

    def score(self, evidence: Sequence[str], responses: Sequence[str]) -> np.ndarray:
        import torch

        tok, clf = self._load()
        out = []
        for start in range(0, len(responses), self.batch_size):
            prem = [str(e) for e in evidence[start:start + self.batch_size]]
            hyp = [str(r) for r in responses[start:start + self.batch_size]]
            inputs = tok(prem, hyp, padding=True, truncation="only_first", max_length=self.max_length,
                         return_tensors="pt")
            with torch.no_grad():
                probs = torch.softmax(clf(**inputs).logits, dim=-1)
            out.extend(probs[:, self.entailment_index].tolist())
        return np.asarray(out, dtype=np.float64)


def _load_classifier(path: str):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path, **local_only())
    clf = AutoModelForSequenceClassification.from_pretrained(path, **local_only())
    clf.eval()
    return tok, clf
