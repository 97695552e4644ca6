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
from rag.core.files import describe_os_error, is_environment_error

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
    from rag.cli.interrupt import Guard

    with Guard() as guard:   # Ctrl-C anywhere, imports included: one line, exit code 130
        try:
            return _run(argv)
        except KeyboardInterrupt:
            return _interrupted(guard)
        except RagifError as exc:
            if guard.requested:   # an error raised while unwinding from Ctrl-C
                return _interrupted(guard)
            print(_redact(f"ragif: error: {exc}"), file=sys.stderr)
            return 2
        except BrokenPipeError:   # `ragif run | head`: the reader went away; nothing is wrong with the run
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            return 141
        except OSError as exc:
            if guard.requested:
                return _interrupted(guard)
            if not is_environment_error(exc):
                return _internal_error()
            print(_redact(f"ragif: error: {describe_os_error(exc)}"), file=sys.stderr)
            return 2
        except Exception:   # a bug in ragif, not bad input (bad input raises RagifError): say so
            if guard.requested:   # library code turned the KeyboardInterrupt into another exception
                return _interrupted(guard)
            return _internal_error()


def _run(argv: Sequence[str] | None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    from rag.core.secrets import install_log_redaction
    install_log_redaction()
    return args.func(args)


def _interrupted(guard) -> int:
    guard.say()
    return 130


def _redact(text: str) -> str:
    from rag.core.secrets import redact
    return redact(text)


def _internal_error() -> int:
    print(_redact(traceback.format_exc()), file=sys.stderr)
    print("ragif: internal error: this is a bug in ragif; please report it with the command and the "
          "traceback above", file=sys.stderr)
    return 3
