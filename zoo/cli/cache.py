"""``zoo cache list | verify | clear``: the registered weights' files in huggingface_hub's and torch.hub's caches
(:func:`zoo.hub.cache_entries`, :func:`zoo.hub.verify_cached`, :func:`zoo.hub.clear_cached`).

``list`` reads no file (a status comes from a digest remembered at the last load); ``verify`` hashes every
cached file again and prints one ``error:`` line per file that does not match its record (exit 1 if any);
``clear`` deletes the files of the names given, or of every registered record with ``--all``. Nothing here
touches the network.
"""

from __future__ import annotations

import argparse

from zoo.cli.base import UsageError, add_command, add_subcommands, console, say

__all__ = ["add_commands"]

#: The statuses that mean a cached file would be refused (or is damaged): ``verify`` exits 1 on them.
BAD_STATUSES = ("mismatch", "corrupt")
_STYLES = {"verified": "green", "mismatch": "bold red", "corrupt": "bold red", "unverified": "yellow"}


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Add ``cache`` and its sub-commands to the ``zoo`` tree."""
    cache = add_command(commands, "cache", None, help="list, verify or clear the cached weight files")
    cache_commands = add_subcommands(cache, dest="cache_command")
    names_help = "model (all its weights) or model.tag (default: every registered weight record)"
    listing = add_command(
        cache_commands, "list", list_cache, help="the registered weights' files in the caches; reads no file"
    )
    listing.add_argument("names", nargs="*", metavar="NAME", help=names_help)
    listing.add_argument("--all", action="store_true", help="also list records whose file is not cached")
    verify = add_command(
        cache_commands,
        "verify",
        verify_cache,
        help="hash every cached file again and compare it with its record (exit 1 on a mismatch)",
    )
    verify.add_argument("names", nargs="*", metavar="NAME", help=names_help)
    clear = add_command(cache_commands, "clear", clear_cache, help="delete cached weight files")
    clear.add_argument("names", nargs="*", metavar="NAME", help="model or model.tag whose files go")
    clear.add_argument("--all", action="store_true", help="delete the files of every registered record")
    clear.add_argument("--dry-run", action="store_true", help="only list what would be deleted")


def _names(args: argparse.Namespace) -> list[str] | None:
    return list(args.names) or None


def _size(size: int | None) -> str:
    return "-" if size is None else f"{size / 2**20:.1f}"


def _table(entries, title: str):
    from rich.table import Table
    from rich.text import Text

    table = Table(title=Text(title), title_justify="left")
    for column in ("weights", "cache", "status", "MiB", "sha256", "commit", "path"):
        table.add_column(column, justify="right" if column == "MiB" else "left", overflow="fold")
    for e in entries:
        table.add_row(
            Text(e.name),
            e.location,
            Text(e.status, style=_STYLES.get(e.status, "")),
            _size(e.size),
            (e.sha256 or "")[:12] or "-",
            (e.commit or "")[:12] or "-",
            Text(str(e.path) if e.path else "-"),
        )
    return table


def _report_problems(entries) -> int:
    """One ``error:`` line per file that would be refused; returns how many."""
    bad = [e for e in entries if e.status in BAD_STATUSES]
    for e in bad:
        say(f"error: {e.name}: {e.path}: {e.status}: {e.detail}", stderr=True, style="red")
    if bad:
        say(f"{len(bad)} file(s) would be refused at load: zoo cache clear NAME deletes one", stderr=True)
    return len(bad)


def list_cache(args: argparse.Namespace) -> int:
    """``zoo cache list``: a table of the cached files (``--all``: and of the records not cached)."""
    from zoo.hub import cache_entries

    entries = cache_entries(_names(args))
    cached = [e for e in entries if e.path is not None]
    shown = entries if args.all else cached
    total = sum(e.size or 0 for e in cached)
    title = f"{len(cached)} of {len(entries)} registered weight file(s) cached, {_size(total)} MiB"
    if shown:
        console().print(_table(shown, title))
    else:
        say(title)
    if any(e.status == "unchecked" for e in cached):
        say("unchecked: not hashed since the file last changed; zoo cache verify hashes it")
    _report_problems(cached)
    return 0


def verify_cache(args: argparse.Namespace) -> int:
    """``zoo cache verify``: hash every cached file; 1 if any would be refused at load."""
    from zoo.hub import verify_cached

    cached = [e for e in verify_cached(_names(args)) if e.path is not None]
    if cached:
        console().print(_table(cached, f"{len(cached)} cached weight file(s), hashed again"))
    else:
        say("no registered weight file is cached")
    return 1 if _report_problems(cached) else 0


def clear_cache(args: argparse.Namespace) -> int:
    """``zoo cache clear NAME... | --all``: delete the files (Hub files a whole revision at a time)."""
    from zoo.hub import clear_cached

    if not args.names and not args.all:
        raise UsageError("name the weights to delete (model or model.tag), or give --all for every record")
    if args.names and args.all:
        raise UsageError("give names or --all, not both")
    removed = clear_cached(_names(args), dry_run=args.dry_run)
    verb = "would delete" if args.dry_run else "deleted"
    for path in removed:
        say(f"{verb} {path}")
    say(f"{verb} {len(removed)} path(s)" if removed else "nothing cached to delete")
    return 0
