"""``zoo leaderboard``: render the Markdown pages and plots (:func:`zoo.leaderboard.render`)."""

from __future__ import annotations

import argparse
import re

from zoo.cli.base import add_command, add_path_argument, say

__all__ = ["add_commands"]

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _date(text: str) -> str:
    if not _DATE.match(text):
        raise argparse.ArgumentTypeError(f"--date must be YYYY-MM-DD, got {text!r}")
    return text


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Add ``leaderboard`` to the ``zoo`` tree."""
    p = add_command(
        commands,
        "leaderboard",
        render_pages,
        help="render the Markdown leaderboards",
        description="Render the leaderboard pages (Markdown and plots) from measured results and reported figures.",
    )
    add_path_argument(
        p, "--results", metavar="DIR", default="leaderboards/data", help="folder of results files", kind="dir"
    )
    add_path_argument(
        p, "--out", metavar="DIR", default="leaderboards", help="folder the pages are written to", kind="dir"
    )
    p.add_argument(
        "--date",
        type=_date,
        metavar="YYYY-MM-DD",
        help="YYYY-MM-DD stated as the results' date (default: the newest row's date)",
    )


def render_pages(args: argparse.Namespace) -> int:
    """``zoo leaderboard``: render the pages and list the files written."""
    from zoo.leaderboard import render

    written = render(args.results, args.out, date=args.date)
    say(f"wrote {len(written)} file(s) to {args.out}")
    for path in written:
        say(f"  {path}")
    return 0
