"""``ragif board RESULTS``: rewrite the leaderboards and plots of a results folder."""
from __future__ import annotations

import argparse


def _cmd_board(args: argparse.Namespace) -> int:
    from rag.core.cache import Cache
    from rag.report.board import Board, parse_digits, write_boards

    digits = parse_digits(args.digits) if args.digits is not None else None
    written = write_boards(args.results, formats=args.format.split(","), digits=digits, cache=Cache(args.cache))
    print(Board.load(args.results).markdown(digits))
    for path in written:
        print(f"wrote {path}")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    bd = sub.add_parser("board", help="write leaderboards (Markdown, HTML, LaTeX) of a results folder")
    bd.add_argument("results")
    bd.add_argument("--format", default="md,html,tex,plots", help="comma-separated: md, html, tex, plots")
    bd.add_argument("--digits", help="decimals of the scores (default 4), e.g. 3; MEASURE=N for one measure, "
                                     "e.g. 3,LLMTokens=0 (measures that declare digits, such as tokens, keep theirs "
                                     "unless named)")
    bd.add_argument("--cache", help="cache folder for the plots (default: $RAGIF_CACHE or ~/.cache/ragif)")
    bd.set_defaults(func=_cmd_board)
