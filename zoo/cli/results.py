"""``zoo results upgrade PATH`` and ``zoo results restore FILE``: the maintenance of results stores.

``upgrade`` rewrites a store an older zoo wrote in the current layout (the old file kept as
``<name>.bak-<UTC time>``); the store's own message names this command when it refuses such a file.
``restore`` appends the rows a failed append kept in a recovery file (``<store>.unsaved.jsonl``) to their
stores. ``python -m zoo.results`` is the same group.
"""

from __future__ import annotations

import argparse

from zoo.cli.base import LazyChoices, add_command, add_path_argument, add_subcommands, say

__all__ = ["add_commands", "add_results_commands"]


def _table_names():
    from zoo.results import SCHEMAS

    return sorted(SCHEMAS)


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Add ``results`` and its sub-commands to the ``zoo`` tree."""
    results = add_command(commands, "results", None, help="upgrade a results store, restore unsaved rows")
    add_results_commands(results)


def add_results_commands(parser: argparse.ArgumentParser) -> None:
    """Add ``upgrade`` and ``restore`` under ``parser`` (``zoo results``, or ``python -m zoo.results``)."""
    results_commands = add_subcommands(parser, dest="results_command")
    upgrade = add_command(
        results_commands,
        "upgrade",
        upgrade_store,
        help="rewrite a store written by an older zoo in the current layout, keeping a backup",
    )
    add_path_argument(
        upgrade, "path", help="the main results file (its per-class file is upgraded with it)", kind="file"
    )
    upgrade.add_argument(
        "--table",
        choices=LazyChoices(_table_names),
        metavar="TABLE",
        default="accuracy",
        help="what the store holds: %(choices)s",
    )
    restore = add_command(
        results_commands,
        "restore",
        restore_rows,
        help="append the rows a failed append kept in a recovery file to their stores",
    )
    add_path_argument(restore, "file", help="the .unsaved.jsonl file the error named", kind="file")


def upgrade_store(args: argparse.Namespace) -> int:
    """``zoo results upgrade``: one line per file upgraded (and its backup), or that nothing changed."""
    from zoo.results import SCHEMAS, ResultsStore

    backups = ResultsStore(args.path, SCHEMAS[args.table]).upgrade()
    for backup in backups:
        say(f"upgraded {backup.name.rsplit('.bak-', 1)[0]}; the old file is kept as {backup}")
    if not backups:
        say(f"{args.path}: already in the current layout; nothing changed")
    return 0


def restore_rows(args: argparse.Namespace) -> int:
    """``zoo results restore``: append the saved rows; the recovery file goes once all are stored."""
    from zoo.results import restore_unsaved

    say(f"restored {restore_unsaved(args.file)} row(s) from {args.file}")
    return 0
