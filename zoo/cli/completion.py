"""``zoo completion bash|zsh|tcsh``: a shell completion script for ``zoo`` (or ``zoo-bench``), made by shtab
from the same parser tree the commands use, so it always offers the commands and options that exist.

    zoo completion bash > ~/.local/share/bash-completion/completions/zoo
    zoo completion bash --command zoo-bench > ~/.local/share/bash-completion/completions/zoo-bench
    zoo completion zsh > "${fpath[1]}/_zoo"
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterator, Mapping

from zoo.cli.base import add_command, subcommands

__all__ = ["SHELLS", "add_commands", "completion_script"]

#: The shells shtab writes scripts for.
SHELLS = ("bash", "zsh", "tcsh")


def add_commands(
    commands: argparse._SubParsersAction, parsers: Mapping[str, Callable[[], argparse.ArgumentParser]]
) -> None:
    """Add ``completion`` to the ``zoo`` tree; ``parsers`` builds the parser of each command it completes."""
    p = add_command(
        commands,
        "completion",
        print_completion,
        help="print a shell completion script (bash, zsh, tcsh)",
        description=__doc__.split("\n\n")[0].replace("\n", " "),
    )
    p.epilog = "examples:\n" + "\n".join(line for line in __doc__.splitlines() if line.startswith("    zoo"))
    p.add_argument("shell", choices=SHELLS, help="the shell the script is for")
    p.add_argument(
        "--command", choices=tuple(parsers), default="zoo", help="the command the script completes"
    )
    p.set_defaults(parsers=parsers)


def _actions(parser: argparse.ArgumentParser) -> Iterator[argparse.Action]:
    """Every action of ``parser`` and of its sub-command parsers, depth first."""
    yield from parser._actions
    for child in dict.fromkeys(subcommands(parser).values()):
        yield from _actions(child)


def completion_script(parser: argparse.ArgumentParser, shell: str) -> str:
    """The ``shell`` completion script of ``parser``; arguments marked as paths complete files or folders."""
    import shtab

    kinds = {"file": shtab.FILE, "dir": shtab.DIRECTORY}
    for action in _actions(parser):
        kind = getattr(action, "path_kind", None)
        if kind:
            action.complete = kinds[kind]  # type: ignore[attr-defined]
    return shtab.complete(parser, shell=shell)


def print_completion(args: argparse.Namespace) -> int:
    """``zoo completion SHELL``: the script on stdout."""
    import sys

    sys.stdout.write(completion_script(args.parsers[args.command](), args.shell))
    return 0
