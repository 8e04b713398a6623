"""``python -m zoo.results``: the same commands as ``zoo results`` (upgrade, restore), kept for scripts.

python -m zoo.results upgrade [--table accuracy|speed] results.csv   ==  zoo results upgrade ...
python -m zoo.results restore results.csv.unsaved.jsonl                ==  zoo results restore ...
"""

from __future__ import annotations

import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``zoo results ARGV``; returns its exit code (0 done, 2 with one ``error:`` line otherwise)."""
    from zoo.cli import main as zoo_main

    return zoo_main(["results", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
