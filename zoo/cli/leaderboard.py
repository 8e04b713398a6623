"""``zoo leaderboard``: render the Markdown pages and plots (:func:`zoo.leaderboard.render`).

The measured rows come from ``--results`` (a folder of ``zoo-bench`` results files), which must exist and hold
at least one; ``--reported-only`` renders the publishers' figures alone. Both folders default to the
checkout's ``leaderboards/data`` and ``leaderboards/`` only when run at the root of a zoo checkout (a folder
with ``pyproject.toml`` and ``leaderboards/``); anywhere else they must be given, so pages are never written
into a folder nobody asked for.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from zoo.cli.base import UsageError, add_command, add_path_argument, say

__all__ = ["add_commands"]

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
#: Where the pages and the committed results live in a zoo checkout (relative to its root).
CHECKOUT_PAGES = Path("leaderboards")
CHECKOUT_RESULTS = CHECKOUT_PAGES / "data"


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
        description="Render the leaderboard pages (Markdown and plots) from measured results and reported "
        "figures.\n\nexamples:\n  zoo leaderboard --results runs/ --out pages/\n"
        "  zoo leaderboard                 # at the root of a zoo checkout: leaderboards/data -> leaderboards/",
    )
    add_path_argument(
        p,
        "--results",
        metavar="DIR",
        help=f"folder of zoo-bench results files (default in a zoo checkout: {CHECKOUT_RESULTS})",
        kind="dir",
    )
    add_path_argument(
        p,
        "--out",
        metavar="DIR",
        help=f"folder the pages are written to (default in a zoo checkout: {CHECKOUT_PAGES})",
        kind="dir",
    )
    p.add_argument(
        "--reported-only",
        action="store_true",
        help="render the publishers' reported figures only, without measured results",
    )
    p.add_argument(
        "--include-partial",
        action="store_true",
        help="rank rows of part of a split, untrained models and checkpoints with the full-split rows",
    )
    p.add_argument(
        "--date",
        type=_date,
        metavar="YYYY-MM-DD",
        help="YYYY-MM-DD stated as the results' date (default: the newest row's date)",
    )


def in_checkout(folder: Path | None = None) -> bool:
    """Whether ``folder`` (default: the working directory) is the root of a zoo checkout."""
    root = Path.cwd() if folder is None else folder
    return (root / "pyproject.toml").is_file() and (root / CHECKOUT_PAGES).is_dir()


def _results_folder(given: str | None) -> Path:
    """``--results``, or the checkout's ``leaderboards/data`` at a checkout's root; render checks the folder."""
    if given is not None:
        return Path(given)
    if not in_checkout():
        raise UsageError(
            "give --results DIR (the folder of your zoo-bench results files), or --reported-only; "
            f"{CHECKOUT_RESULTS} is the default only at the root of a zoo checkout"
        )
    return CHECKOUT_RESULTS


def _out_folder(given: str | None) -> Path:
    if given is not None:
        return Path(given)
    if not in_checkout():
        raise UsageError(
            f"give --out DIR for the pages; {CHECKOUT_PAGES} is the default only at the root of a zoo checkout"
        )
    return CHECKOUT_PAGES


def render_pages(args: argparse.Namespace) -> int:
    """``zoo leaderboard``: check the folders, render the pages and list the files written."""
    from zoo.leaderboard import render

    if args.reported_only and args.results is not None:
        raise UsageError("--reported-only renders no measured results: give it or --results, not both")
    out = _out_folder(args.out)
    results = None if args.reported_only else _results_folder(args.results)
    written = render(results, out, date=args.date, include_partial=args.include_partial)
    say(f"wrote {len(written)} file(s) to {out}")
    for path in written:
        say(f"  {path}")
    return 0
