"""``ragif board RESULTS``: rewrite the leaderboards and plots of a results folder."""
from __future__ import annotations

import argparse


def _cmd_board(args: argparse.Namespace) -> int:
    from rag.report.board import Board, write_boards

    written = write_boards(args.results, formats=args.format.split(","))
    print(Board.load(args.results).markdown())
    for path in written:
        print(f"wrote {path}")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    bd = sub.add_parser("board", help="write leaderboards (Markdown, HTML, LaTeX) of a results folder")
    bd.add_argument("results")
    bd.add_argument("--format", default="md,html,tex,plots", help="comma-separated: md, html, tex, plots")
    bd.set_defaults(func=_cmd_board)
