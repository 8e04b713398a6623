"""The ``zoo`` command tree, its ``zoo-bench`` alias, logging, and the one place that maps exceptions to exit
codes (:func:`run_command`).

Exit codes (:mod:`zoo.errors`): 0 done; 1 some models (shards, rows) failed and the others were written; 2
unusable arguments, data, results store or environment (every :class:`~zoo.errors.ZooError`, unless its
``exit_code`` says otherwise, and argparse's usage errors); 130 interrupted.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import re
import shlex
import sys
from collections.abc import Callable, Iterator, Sequence

from zoo.cli import bench, cache, completion, data, leaderboard, models, results
from zoo.cli.base import (
    HelpFormatter,
    add_subcommands,
    command_overview,
    console,
    is_muted,
    mute,
    subcommands,
)
from zoo.errors import EXIT_INTERRUPTED, EXIT_USAGE, ZooError

__all__ = ["bench_main", "build_bench_parser", "build_parser", "main", "run_command"]

BENCH_DESCRIPTION = """Evaluate segmentation models (eval), measure their speed (speed), compute their complexity (profile),
merge sharded results (merge).

zoo-bench ARGS is zoo bench eval ARGS when ARGS do not start with a command:
  zoo-bench --dataset voc --models 'deeplabv3-*'  ==  zoo bench eval --dataset voc --models 'deeplabv3-*'
"""


def _add_global_options(parser: argparse.ArgumentParser) -> None:
    from zoo import __version__

    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log records: debug ones too")
    parser.add_argument(
        "-q",
        "--quiet",
        action="count",
        default=0,
        help="fewer log records: warnings and errors only (-qq: errors)",
    )


def build_parser(prog: str = "zoo") -> argparse.ArgumentParser:
    """The whole ``zoo`` command tree: list, info, data {check,download}, bench {eval,speed,merge},
    leaderboard, results {upgrade,restore}, cache {list,verify,clear}, completion."""
    parser = argparse.ArgumentParser(
        prog=prog, description="Semantic-segmentation model zoo.", formatter_class=HelpFormatter
    )
    _add_global_options(parser)
    commands = add_subcommands(parser, dest="zoo_command")
    models.add_commands(commands)
    data.add_commands(commands)
    bench.add_commands(commands)
    leaderboard.add_commands(commands)
    results.add_commands(commands)
    cache.add_commands(commands)
    completion.add_commands(commands, {"zoo": build_parser, "zoo-bench": build_bench_parser})
    parser.epilog = (
        command_overview(parser) + "\n\nzoo-bench is zoo bench; zoo-bench ARGS is zoo bench eval ARGS."
    )
    return parser


def build_bench_parser(prog: str = "zoo-bench") -> argparse.ArgumentParser:
    """``zoo-bench``: the ``zoo bench`` group as a command of its own."""
    parser = argparse.ArgumentParser(prog=prog, description=BENCH_DESCRIPTION, formatter_class=HelpFormatter)
    _add_global_options(parser)
    bench.add_bench_commands(parser)
    return parser


def _log_level(verbosity: int) -> int:
    """0 -> INFO, each -v one level lower (DEBUG), each -q one level higher (WARNING, ERROR)."""
    return min(max(logging.INFO - 10 * verbosity, logging.DEBUG), logging.CRITICAL)


@contextlib.contextmanager
def log_to_stderr(verbosity: int = 0) -> Iterator[None]:
    """While a command runs, the ``zoo`` loggers' records go to stderr through one
    :class:`rich.logging.RichHandler` (no markup: messages hold paths and names), at the level ``verbosity``
    asks for; a muted process (:func:`zoo.cli.base.mute`) drops them. Removed again afterwards, so commands
    run in one process (tests, notebooks) never stack handlers."""
    from rich.console import Console
    from rich.logging import RichHandler

    logger = logging.getLogger("zoo")
    # rich pads every record to the console's width: the terminal's, or 80 columns (or $COLUMNS) in a pipe
    handler = RichHandler(console=Console(stderr=True), show_time=False, show_path=False, markup=False)
    handler.addFilter(lambda record: not is_muted())
    previous = logger.level
    logger.setLevel(_log_level(verbosity))
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)


def _print_problem(prog: str, kind: str, message: str, style: str) -> None:
    """``prog: kind: message``, one line per line of ``message``, verbatim (no markup), never folded."""
    from rich.text import Text

    if is_muted():
        return
    err = console(stderr=True)
    if not message:
        err.print(Text.assemble(f"{prog}: ", (kind, style)), soft_wrap=True)
    for line in message.splitlines():
        err.print(Text.assemble(f"{prog}: ", (f"{kind}:", style), f" {line}"), soft_wrap=True)


def run_command(command: Callable[[], int], *, prog: str = "zoo", interrupted: str = "") -> int:
    """Run one command and turn what it raises into its exit code and one line, never a traceback.

    Args:
        command: the command's body; returns 0 (done) or 1 (some items failed, the others done).
        prog: the command's name, the prefix of the lines printed (``zoo bench merge: error: ...``).
        interrupted: what to tell a user who pressed Ctrl-C (what was kept, how to go on).

    Returns:
        What ``command`` returned; a :class:`~zoo.errors.ZooError`'s ``exit_code`` (2, or 1 for a refusal
        such as :class:`~zoo.errors.MergeError`'s); 2 for an ``OSError`` (a file that cannot be read or
        written: the message names it); 130 for Ctrl-C.
    """
    try:
        return command()
    except KeyboardInterrupt:
        _print_problem(prog, "interrupted", interrupted, "yellow")
        return EXIT_INTERRUPTED
    except ZooError as error:
        _print_problem(prog, "error", str(error), "bold red")
        return error.exit_code
    except OSError as error:  # disk full, permission denied, a path that vanished: the environment, not zoo
        _print_problem(prog, "error", str(error), "bold red")
        return EXIT_USAGE


def _dispatch(parser: argparse.ArgumentParser, argv: list[str], typed: list[str]) -> int:
    """Parse ``argv`` (argparse's usage errors exit 2 here) and run the command it names."""
    args = parser.parse_args(argv)
    args.command_line = shlex.join(typed)  # stored with every result row: what the user typed
    mute(False)
    with log_to_stderr(args.verbose - args.quiet):
        return run_command(lambda: args.handler(args), prog=args.command_prog, interrupted=args.interrupted)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``zoo`` console script (and ``python -m zoo.cli``); returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    return _dispatch(build_parser(), argv, ["zoo", *argv])


_GLOBAL_FLAG = re.compile(r"^(-[vq]+|--verbose|--quiet)$")


def bench_main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``zoo-bench`` (and ``python -m zoo.bench``, also under torchrun): ``zoo bench``, where
    arguments that do not start with a sub-command (``eval``, ``speed``, ``merge``) are ``eval``'s."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_bench_parser()
    return _dispatch(parser, with_default_command(argv, tuple(subcommands(parser))), ["zoo-bench", *argv])


def with_default_command(argv: list[str], commands: Sequence[str], default: str = "eval") -> list[str]:
    """``argv`` with ``default`` inserted after the leading global flags unless a command (or a request for
    help or the version) comes first."""
    position = 0
    while position < len(argv) and _GLOBAL_FLAG.match(argv[position]):
        position += 1
    if position == len(argv) or argv[position] in (*commands, "-h", "--help", "--version"):
        return argv
    return [*argv[:position], default, *argv[position:]]
