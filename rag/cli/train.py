"""``ragif train-reranker CONFIG``: train a cross-encoder reranker (optionally with a curriculum)."""
from __future__ import annotations

import argparse


def _cmd_train_reranker(args: argparse.Namespace) -> int:
    from rerankers.training import load_training_config, train_reranker

    config = load_training_config(args.config)
    if args.threads:
        config.threads = args.threads
    result = train_reranker(config)
    print(result.history.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    print(f"model in {result.output}/ (best iteration {result.best_iteration}, validation {result.best_valid}); "
          f"{result.seconds:.1f} s of training, peak memory {result.peak_memory_mb or float('nan'):.0f} MB")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    tr = sub.add_parser("train-reranker", help="train a cross-encoder reranker from a YAML training config")
    tr.add_argument("config", help="YAML file whose keys are rerankers.training.TrainingConfig fields")
    tr.add_argument("--threads", type=int, help="torch CPU threads")
    tr.set_defaults(func=_cmd_train_reranker)
