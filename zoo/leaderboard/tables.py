"""Pure functions that turn values into Markdown: escaping, number formats, tables.

Nothing here reads files or the registry; every function returns a string (or a list of lines) so that the
pages are easy to test and byte-for-byte deterministic.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

__all__ = ["code", "escape", "fmt_diff", "fmt_float", "is_missing", "table"]

#: Shown in a cell whose value is unknown or not measured.
MISSING = "–"

# Backslash first, so that the backslashes added for the others are not doubled.
_BACKSLASH_ESCAPED = ("\\", "|", "*", "_", "`", "[", "]")


def is_missing(value: Any) -> bool:
    """Whether ``value`` is absent: ``None``, NaN, pandas' NA, or an empty / whitespace-only string."""
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    try:
        return bool(value != value)  # NaN and pd.NA (NA != NA is NA, and bool(NA) raises)
    except TypeError:
        return True


def escape(text: Any) -> str:
    """``text`` as literal Markdown inside a table cell: syntax characters escaped, one line.

    ``| * _ ` [ ]`` and the backslash get a backslash; ``<`` ``>`` ``&`` become HTML entities (a backslash
    does not stop every renderer from reading ``<tag>`` as HTML); newlines become spaces.
    """
    if is_missing(text):
        return MISSING
    out = str(text)
    for ch in _BACKSLASH_ESCAPED:
        out = out.replace(ch, "\\" + ch)
    out = out.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return " ".join(out.splitlines())


def code(text: Any) -> str:
    """``text`` as an inline code span that is safe inside a table cell (``|`` escaped, backticks fenced)."""
    if is_missing(text):
        return MISSING
    body = " ".join(str(text).splitlines()).replace("|", "\\|")
    fence = "`"
    while fence in body:
        fence += "`"
    if fence != "`" or body.startswith("`") or body.endswith("`"):
        return f"{fence} {body} {fence}"
    return f"`{body}`"


def fmt_float(value: Any, digits: int = 2) -> str:
    """``value`` with ``digits`` decimals, or :data:`MISSING` when absent or not a number."""
    if is_missing(value):
        return MISSING
    try:
        number = float(value)
    except (TypeError, ValueError):
        return escape(value)
    if math.isnan(number):
        return MISSING
    return f"{number:.{digits}f}"


def fmt_diff(value: float, digits: int = 2) -> str:
    """A signed difference in points: ``+1.23``, ``-0.40``, ``±0.00``."""
    if math.isnan(value):
        return MISSING
    text = f"{value:+.{digits}f}"
    return "±" + text[1:] if float(text) == 0 else text


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], align: str | None = None) -> list[str]:
    """A GitHub-flavoured Markdown table. Cells are used as given (escape them first).

    Args:
        headers: column titles (already Markdown).
        rows: one sequence of cell strings per row, each as long as ``headers``.
        align: one character per column, ``l`` or ``r``; default all left.
    """
    align = align or "l" * len(headers)
    if len(align) != len(headers):
        raise ValueError(f"align has {len(align)} entries for {len(headers)} columns")
    rule = ["---:" if a == "r" else "---" for a in align]
    lines = ["| " + " | ".join(headers) + " |", "| " + " | ".join(rule) + " |"]
    for row in rows:
        if len(row) != len(headers):
            raise ValueError(f"row has {len(row)} cells for {len(headers)} columns: {row!r}")
        lines.append("| " + " | ".join(cell if cell else MISSING for cell in row) + " |")
    return lines
