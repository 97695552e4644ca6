"""The ``ragif`` command line: one module per command.

    ragif run [CONFIG]            run an experiment (bare: the RAG chain on the built-in demo set)
    ragif grid A.yaml B.yaml      run several experiment configs (in parallel on Ray)
    ragif eval RUN QRELS -m ...   evaluate a TREC run file against qrels
    ragif board RESULTS           write Markdown/HTML/LaTeX leaderboards of a results folder
    ragif reproduce [FILE]        run the reproductions and check their figures
    ragif components [KEY]        every registry key with its parameters (the component reference)
    ragif datasets                list the named datasets and where they were found
    ragif doctor                  what works on this machine and how to fix what does not
    ragif plot KIND SOURCE        plots (PNG + SVG): per-query deltas, tradeoff, scatter, ROC, curves
    ragif train-reranker CONFIG   train a cross-encoder reranker (optionally with a curriculum)
    ragif meta-eval SCORES ...    agreement of answer metrics with human labels (Spearman, Kendall, AUC)
"""
from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
import traceback
from typing import Sequence

from rag.core.errors import RagifError

COMMANDS = ("run", "eval", "board", "reproduce", "components", "datasets", "plot", "doctor", "train", "meta_eval")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ragif", description="Retrieval-augmented QA and instruction-following IR "
                                                          "experiments.")
    p.add_argument("-v", "--verbose", action="store_true", help="log progress messages")
    sub = p.add_subparsers(dest="command", required=True)
    for name in COMMANDS:
        importlib.import_module(f"rag.cli.{name}").add_parser(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    from rag.core.secrets import install_log_redaction, redact
    install_log_redaction()
    try:
        return args.func(args)
    except RagifError as exc:
        print(redact(f"ragif: error: {exc}"), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("ragif: interrupted; finished stages are cached, run again to resume", file=sys.stderr)
        return 130
    except BrokenPipeError:   # `ragif run | head`: the reader went away; nothing is wrong with the run
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
    except Exception:   # a bug in ragif, not bad input (bad input raises RagifError): say so
        print(redact(traceback.format_exc()), file=sys.stderr)
        print("ragif: internal error: this is a bug in ragif; please report it with the command and the "
              "traceback above", file=sys.stderr)
        return 3
