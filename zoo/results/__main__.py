"""``python -m zoo.results``: upgrade a store written by an older zoo, or restore rows a failed append saved.

python -m zoo.results upgrade [--table accuracy|speed] results.csv
python -m zoo.results restore results.csv.unsaved.jsonl
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from zoo.errors import EXIT_OK, EXIT_USAGE, ZooError
from zoo.results.schema import SCHEMAS
from zoo.results.store import ResultsStore, restore_unsaved


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; returns the exit code (0 done, 2 with one ``error:`` line when it cannot be done)."""
    parser = argparse.ArgumentParser(prog="python -m zoo.results", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    upgrade = commands.add_parser("upgrade", help="rewrite a store in the current layout, keeping a backup")
    upgrade.add_argument("path", help="the main results file (its per-class file is upgraded with it)")
    upgrade.add_argument("--table", choices=sorted(SCHEMAS), default="accuracy", help="what the store holds")
    restore = commands.add_parser("restore", help="append the rows a failed append saved to FILE")
    restore.add_argument("file", help="the .unsaved.jsonl file named in the error")
    args = parser.parse_args(argv)
    try:
        if args.command == "upgrade":
            backups = ResultsStore(args.path, SCHEMAS[args.table]).upgrade()
            for backup in backups:
                print(f"upgraded {backup.name.rsplit('.bak-', 1)[0]}; the old file is kept as {backup}")
            if not backups:
                print(f"{args.path}: already in the current layout; nothing changed")
        else:
            print(f"restored {restore_unsaved(args.file)} row(s) from {args.file}")
    except ZooError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
