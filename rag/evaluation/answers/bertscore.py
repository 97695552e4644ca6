"""BERTScore (Zhang et al. 2020) with any Hugging Face encoder; the default is the offline MiniLM.

Each text is encoded once (token embeddings of layer ``layer``, special tokens dropped, truncated to
the model's maximum length), embeddings are L2-normalised, and for a candidate/reference pair
P = mean over candidate tokens of the best cosine to a reference token, R the converse,
F = 2PR/(P+R). No idf weighting, no baseline rescaling (the reference setting). With several
references the pair with the best F is kept (as ``bert_score``). An empty text scores 0.
The model used is printed when it is loaded (once per process) and recorded in
:attr:`BertScorer.model_name` (``score_answers`` puts it in ``attrs["bertscore_model"]``): report it next to
every figure (the paper used roberta-large, which is not available offline here). A model that is not
available offline fails when the scorer is made, in one line (:mod:`rag.evaluation.answers.models`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd

from rag.evaluation.answers.models import load_once, local_only, resolve_model


@dataclass
class BertScorer:
    """BERTScore (precision, recall, F1 of greedily matched token embeddings) with a named encoder."""

    model: str | None = None          # HF name or folder; None -> offline all-MiniLM-L6-v2
    layer: int = -1                   # hidden layer whose token embeddings are compared
    batch_size: int = 32
    max_length: int = 512
    threads: int | None = 1
    model_name: str = field(init=False, default="")

    def __post_init__(self) -> None:
        self._path, self.model_name = resolve_model(self.model, "BERTScore")
        self._loaded = None

    def _load(self):
        if self._loaded is None:
            import torch

            if self.threads:
                torch.set_num_threads(self.threads)
            self._loaded = load_once("BERTScore", self._path, _load_encoder, self.model_name)
        return self._loaded

    def embed(self, texts: Sequence[str]) -> list[np.ndarray]:
        """Normalised token embeddings (one ``(n_tokens, dim)`` array per text; empty text -> 0 rows)."""
        import torch

        tok, enc = self._load()
        limit = min(self.max_length, getattr(tok, "model_max_length", self.max_length) or self.max_length)
        out: list[np.ndarray] = []
        for start in range(0, len(texts), self.batch_size):
            batch = [str(t) for t in texts[start:start + self.batch_size]]
            inputs = tok(batch, padding=True, truncation=True, max_length=limit, return_tensors="pt",
                         return_special_tokens_mask=True)
            special = inputs.pop("special_tokens_mask").bool()
            with torch.no_grad():
                hidden = enc(**inputs, output_hidden_states=True).hidden_states[self.layer]
            hidden = torch.nn.functional.normalize(hidden, dim=-1)
            keep = inputs["attention_mask"].bool() & ~special
            for i in range(len(batch)):
                out.append(hidden[i][keep[i]].numpy().astype(np.float32))
        return out

    def score(self, candidates: Sequence[str], references: Sequence[Sequence[str]]) -> pd.DataFrame:
        """P, R, F1 per candidate against its best reference (by F1)."""
        unique = list(dict.fromkeys([*map(str, candidates), *(str(r) for refs in references for r in refs)]))
        vectors = dict(zip(unique, self.embed(unique))) if unique else {}
        rows = []
        for cand, refs in zip(candidates, references):
            pairs = [greedy_match(vectors[str(cand)], vectors[str(ref)]) for ref in refs]
            best = max(pairs, key=lambda prf: prf[2], default=(0.0, 0.0, 0.0))
            rows.append(best)
        return pd.DataFrame(rows, columns=["P", "R", "F1"], dtype="float64")


def greedy_match(cand: np.ndarray, ref: np.ndarray) -> tuple[float, float, float]:
    """BERTScore P, R, F1 of two normalised token-embedding matrices."""
    if len(cand) == 0 or len(ref) == 0:
        return 0.0, 0.0, 0.0
    sim = cand @ ref.T
    p = float(sim.max(axis=1).mean())
    r = float(sim.max(axis=0).mean())
    f = 2 * p * r / (p + r) if p + r > 0 else 0.0
    return p, r, f


def _load_encoder(path: str):
    from transformers import AutoModel, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path, **local_only())
    enc = AutoModel.from_pretrained(path, **local_only())
    enc.eval()
    return tok, enc
