"""The checks every builder makes on its arguments, so that a typo is an error and never a silent default.

A builder that swallowed ``**kwargs`` turned ``zoo.create("deeplabv3-resnet101", pretrained=True)`` into a
randomly initialised model without a word. Builders therefore take explicit keywords only (their
``inspect.signature`` lists every one, with no ``**kwargs``); :func:`keyword_checked` makes a builder
name *every* unknown keyword, with the closest spelling, as a :class:`UnexpectedArgumentError` (a
``TypeError``), and builders that forward options to a framework check them with :func:`check_keywords`.

This module imports nothing heavy, so registering builders stays cheap.
"""

from __future__ import annotations

import difflib
import functools
import inspect
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from zoo.errors import InvalidArgumentError, UnexpectedArgumentError

BuilderT = TypeVar("BuilderT", bound=Callable[..., Any])


def check_num_classes(num_classes: Any, builder: str) -> int:
    """``num_classes`` as a positive ``int``, or :class:`InvalidArgumentError` naming ``builder``.

    ``bool`` is refused although it is an ``int`` subclass: ``num_classes=True`` is always a mistake.
    """
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise InvalidArgumentError(
            f"{builder}: num_classes must be a positive int (the output channels, background included), "
            f"got {num_classes!r}"
        )
    return num_classes


def check_keywords(given: Iterable[str], accepted: Iterable[str], builder: str) -> None:
    """Raise :class:`UnexpectedArgumentError` if ``given`` holds a keyword that is not ``accepted``.

    Args:
        given: the keyword names a caller passed.
        accepted: every keyword the builder understands.
        builder: the builder's name, for the message.

    Raises:
        UnexpectedArgumentError: naming every unknown keyword, the closest accepted spelling of each, and
            the accepted ones.
    """
    accepted = sorted(accepted)
    unknown = sorted(set(given) - set(accepted))
    if not unknown:
        return
    hints = []
    for name in unknown:
        close = difflib.get_close_matches(name, accepted, n=1, cutoff=0.6)
        hints.append(f"{name!r} (did you mean {close[0]!r}?)" if close else repr(name))
    raise UnexpectedArgumentError(
        f"{builder}() got unexpected keyword argument{'s' if len(unknown) > 1 else ''} {', '.join(hints)}; "
        f"it takes {', '.join(accepted) or 'no keyword arguments'}"
        + (
            ". Pretrained weights are chosen with zoo.create(name, weights=TAG) or 'name.TAG', not by a builder"
            if "pretrained" in unknown
            else ""
        )
    )


def keyword_checked(builder: BuilderT) -> BuilderT:
    """Wrap ``builder`` so that unknown keywords raise :class:`UnexpectedArgumentError`, all named at once.

    The wrapper keeps ``builder``'s name, docstring and signature (``inspect.signature`` follows
    ``__wrapped__``), so a caller can still read which keywords it takes.
    """
    parameters = inspect.signature(builder).parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        raise TypeError(f"{builder.__name__} takes **kwargs: list its keywords explicitly instead")
    accepted = [p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]

    @functools.wraps(builder)
    def checked(*args: Any, **kwargs: Any) -> Any:
        check_keywords(kwargs, accepted, builder.__name__)
        return builder(*args, **kwargs)

    return checked  # type: ignore[return-value]
