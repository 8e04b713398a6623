"""What every command group of the ``zoo`` tree shares: the help formatter, the usage error, argument types,
and consoles that never read user text as markup.

Every message that can hold user text (a path, an id, a model name, an error) is printed as a
:class:`rich.text.Text` or through :func:`say`, never as a markup string: ``[/x]`` in a path would raise
``rich.errors.MarkupError`` and ``[bold]`` in an id would be swallowed.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from rich_argparse import RawDescriptionRichHelpFormatter

from zoo.errors import UsageError

__all__ = [
    "HelpFormatter",
    "LazyChoices",
    "UsageError",
    "add_command",
    "add_path_argument",
    "add_subcommands",
    "comma_list",
    "command_overview",
    "console",
    "dataset_names",
    "dataset_or_folder_names",
    "is_muted",
    "mute",
    "non_negative_float",
    "non_negative_int",
    "positive_float",
    "positive_int",
    "say",
    "subcommands",
]


class HelpFormatter(RawDescriptionRichHelpFormatter):
    """Rich help; every option with a default shows it; descriptions keep their line breaks (examples).

    Markup in help strings is off: help text is data, and some of it holds brackets.
    """

    help_markup = False
    text_markup = False

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        # flags (nargs 0: store_true, store_false, count) say what they do; their default says nothing more
        shows_default = (action.option_strings and action.nargs != 0) or action.nargs in (
            argparse.OPTIONAL,
            argparse.ZERO_OR_MORE,
        )
        no_default = action.default is None or action.default is False or action.default == argparse.SUPPRESS
        if shows_default and "(default" not in text and not no_default:
            text += " (default: %(default)s)"
        return text


class LazyChoices(Sequence[str]):
    """Choices read from the library the first time argparse looks at them (to check a value, or to write
    help), so that building the whole tree for ``zoo list`` imports nothing it does not use.

    Give the argument a ``metavar`` (and ``%(choices)s`` in its help): argparse formats a missing metavar
    from the choices as soon as the argument is added."""

    def __init__(self, load: Callable[[], Sequence[str]]) -> None:
        self._load = load
        self._values: Sequence[str] | None = None

    def _loaded(self) -> Sequence[str]:
        if self._values is None:
            self._values = tuple(self._load())
        return self._values

    def __getitem__(self, index):  # type: ignore[override]
        return self._loaded()[index]

    def __len__(self) -> int:
        return len(self._loaded())


def _dataset_names() -> Sequence[str]:
    # zoo.datasets.spec is the one table of datasets; importing its package costs numpy, which zoo list and
    # zoo info do not otherwise need
    from zoo.datasets.spec import DATASET_NAMES

    return DATASET_NAMES


#: The benchmark datasets' names, as argparse choices.
dataset_names = LazyChoices(_dataset_names)


class DatasetOrFolderChoices(LazyChoices):
    """The benchmark datasets, and ``folder:PATH`` for a folder of the user's own (``zoo.datasets.folder``)."""

    def __contains__(self, value: object) -> bool:
        return (isinstance(value, str) and value.startswith("folder:")) or value in self._loaded()


#: What ``zoo bench eval --dataset`` accepts.
dataset_or_folder_names = DatasetOrFolderChoices(_dataset_names)


def add_command(
    commands: argparse._SubParsersAction,
    name: str,
    handler: Callable[[argparse.Namespace], int] | None,
    *,
    help: str,
    description: str | None = None,
    interrupted: str = "",
) -> argparse.ArgumentParser:
    """Add the sub-command ``name`` to ``commands`` and tie it to ``handler`` (``args -> exit code``).

    Args:
        commands: the parent's sub-parsers.
        name: the sub-command's name.
        handler: what runs it; ``None`` for a group whose own sub-commands have handlers.
        help: one line for the parent's list of commands.
        description: the command's own help text (default: ``help``).
        interrupted: what to tell a user who pressed Ctrl-C (what was kept, how to go on).
    """
    parser = commands.add_parser(
        name, help=help, description=description or help, formatter_class=HelpFormatter
    )
    parser.summary = help  # type: ignore[attr-defined]  # for the overview of the whole tree
    if handler is not None:
        parser.set_defaults(handler=handler, command_prog=parser.prog, interrupted=interrupted)
    return parser


def add_subcommands(parser: argparse.ArgumentParser, *, dest: str) -> argparse._SubParsersAction:
    """The sub-command slot of ``parser``: required, listed under "commands"."""
    return parser.add_subparsers(dest=dest, required=True, title="commands", metavar="COMMAND")


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """The sub-commands directly under ``parser``: name -> parser (aliases included)."""
    found: dict[str, argparse.ArgumentParser] = {}
    for action in parser._actions:
        if action.nargs == argparse.PARSER and isinstance(action.choices, dict):
            found.update(action.choices)
    return found


def command_overview(parser: argparse.ArgumentParser) -> str:
    """Every runnable command under ``parser``, one line each with its summary: what ``zoo --help`` shows
    below its own commands, so the whole tree is visible from the top."""
    leaves: list[tuple[str, str]] = []

    def walk(node: argparse.ArgumentParser) -> None:
        children = subcommands(node)
        if not children and node is not parser:
            leaves.append((node.prog, getattr(node, "summary", "")))
        for child in dict.fromkeys(children.values()):
            walk(child)

    walk(parser)
    width = max(len(prog) for prog, _ in leaves)
    return "every command:\n" + "\n".join(f"  {prog:<{width}}  {summary}" for prog, summary in leaves)


def add_path_argument(
    parser: argparse.ArgumentParser, *names: str, kind: str, **kwargs: Any
) -> argparse.Action:
    """``parser.add_argument(*names, **kwargs)`` for a path; ``kind`` (``"file"`` or ``"dir"``) tells shell
    completion (``zoo completion``) what to offer."""
    action = parser.add_argument(*names, **kwargs)
    action.path_kind = kind  # type: ignore[attr-defined]
    return action


def positive_int(text: str) -> int:
    """An argparse type: an integer of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def non_negative_int(text: str) -> int:
    """An argparse type: an integer of at least 0."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"cannot be negative, got {value}")
    return value


def non_negative_float(text: str) -> float:
    """An argparse type: a number of at least 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"cannot be negative, got {text!r}")
    return value


def positive_float(text: str) -> float:
    """An argparse type: a number greater than 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text!r}")
    return value


def comma_list(kind: Callable[[str], Any], choices: Iterable[str] | None = None) -> Callable[[str], list]:
    """An argparse type: a comma-separated list of ``kind`` values (each among ``choices`` when given)."""
    allowed = None if choices is None else tuple(choices)

    def parse(text: str) -> list:
        values = [kind(v.strip()) for v in text.split(",") if v.strip()]
        if not values:
            raise argparse.ArgumentTypeError("expected a comma-separated list")
        bad = [v for v in values if allowed is not None and v not in allowed]
        if bad:
            raise argparse.ArgumentTypeError(f"{', '.join(map(str, bad))} not in {', '.join(allowed)}")
        return values

    parse.__name__ = f"comma-separated {getattr(kind, '__name__', 'value')} list"
    return parse


_muted = False


def mute(muted: bool = True) -> None:
    """Silence this process's output: status, log records and error lines (a torchrun rank other than 0,
    whose rank 0 reports for every rank). :func:`zoo.cli.main` unmutes at the start of every command."""
    global _muted
    _muted = muted


def is_muted() -> bool:
    """Whether :func:`mute` silenced this process."""
    return _muted


def console(*, stderr: bool = False):
    """A console for status output (quiet when muted); piped output (logs, CI) gets a wide line, so tables
    and long paths are not folded into 80 columns."""
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    return Console(stderr=stderr, quiet=_muted, width=None if stream.isatty() else 200)


def say(text: str, *, stderr: bool = False, style: str | None = None) -> None:
    """Print ``text`` verbatim (no markup, no highlighting, never folded), e.g. a line naming a path."""
    from rich.text import Text

    console(stderr=stderr).print(Text(text, style=style or ""), soft_wrap=True)
