"""Per-sample losses (pointwise and pairwise) and the difficulty weights of a batch."""
from __future__ import annotations

import numpy as np
import pandas as pd

from rag.core.errors import ConfigError
from rerankers.training import curriculum as cl


def sample_losses(scores, labels, loss: str, margin: float = 1.0):
    """Per-sample losses. Pointwise: ``scores``/``labels`` are flat (label = graded relevance);
    pairwise: ``scores`` is (n, 1 + negatives) with the positive first."""
    import torch
    import torch.nn.functional as F

    if loss == "bce":
        return F.binary_cross_entropy_with_logits(scores, (labels > 0).float(), reduction="none")
    if loss == "mse":
        return (scores - labels.float()) ** 2
    if loss == "softmax":
        return 1.0 - torch.softmax(scores, dim=1)[:, 0]
    if loss == "cross-entropy":
        return -torch.log_softmax(scores, dim=1)[:, 0]
    if loss == "hinge":
        return torch.relu(margin - scores[:, :1] + scores[:, 1:]).mean(dim=1)
    raise ConfigError(f"unknown loss {loss!r}", field="loss")


def difficulty(pool: pd.DataFrame, pos: np.ndarray, neg: np.ndarray, pairwise: bool, anti: bool) -> np.ndarray:
    """Curriculum difficulty weights D of a batch: one per pair (pairwise) or one per document, positives
    first then the negatives row by row (pointwise)."""
    ease = pool["ease"].to_numpy()
    if pairwise:
        return cl.pairwise_weights(ease[pos], ease[neg], anti=anti)
    rows = np.concatenate([pos, neg.reshape(-1)])
    relevant = pool["relevant"].to_numpy()[rows]
    return cl.pointwise_weights(ease[rows], relevant, anti=anti)


