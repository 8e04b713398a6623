"""Pure functions that turn values into Markdown: escaping, number formats, tables.

Nothing here reads files or the registry; every function returns a string (or a list of lines) so that the
pages are easy to test and byte-for-byte deterministic.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = [
    "MISSING",
    "code",
    "escape",
    "fmt_diff",
    "fmt_float",
    "fmt_float_array",
    "fmt_floats",
    "is_missing",
    "table",
    "table_row",
]

#: Shown in a cell whose value is unknown or not measured.
MISSING = "–"

#: Each Markdown syntax character and its literal form, replaced in one pass (so that the backslash of an
#: escape is never escaped again, and ``&`` of an entity never turned into ``&amp;``).
_ESCAPES = str.maketrans({**{ch: "\\" + ch for ch in "\\|*_`[]"}, "&": "&amp;", "<": "&lt;", ">": "&gt;"})


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
    if type(text) is str:
        return _escape_text(text)
    if is_missing(text):
        return MISSING
    return " ".join(str(text).translate(_ESCAPES).splitlines())


@functools.lru_cache(maxsize=1 << 14)
def _escape_text(text: str) -> str:
    """:func:`escape` of a string, remembered: table cells repeat (model names, devices, dates) across thousands
    of rows."""
    if not text.strip():
        return MISSING
    return " ".join(text.translate(_ESCAPES).splitlines())


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


def fmt_floats(values: Sequence[Any], digits: int = 2) -> list[str]:
    """:func:`fmt_float` of each value, with a fast path for Python floats (a column's ``tolist()``)."""
    return [
        (MISSING if v != v else f"{v:.{digits}f}") if type(v) is float else fmt_float(v, digits)
        for v in values
    ]


#: :func:`fmt_float_array` formats values below this magnitude: the rounding error of ``value * 10**digits`` stays
#: far below :data:`_TIE_MARGIN` there.
_ARRAY_MAX = 1e6
#: How close to a rounding tie (``x.5`` after scaling) a value may come before only Python's correctly rounded
#: formatting can tell which way it goes.
_TIE_MARGIN = 1e-6


def fmt_float_array(values: np.ndarray, digits: int = 2) -> tuple[pa.Array, np.ndarray]:
    """``f"{v:.{digits}f}"`` of each value of a float array, as a pyarrow string array built without a Python
    string per value (hundreds of thousands of per-class values).

    The value is scaled by ``10**digits`` and rounded to an integer, whose digits are the text. That rounds as
    Python does wherever the scaled value is not within :data:`_TIE_MARGIN` of a tie; the values it cannot vouch
    for (near a tie, NaN, infinite, or of magnitude :data:`_ARRAY_MAX` or more) are left to :func:`fmt_floats`.

    Args:
        values: float64 values.
        digits: decimals, at least 1.

    Returns:
        The texts (null where not formatted) and a boolean array saying which values were formatted.

    Raises:
        ValueError: ``digits`` is below 1.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    if digits < 1:
        raise ValueError(f"digits must be at least 1, got {digits}")
    values = np.asarray(values, dtype=np.float64)
    scale = 10**digits
    with np.errstate(invalid="ignore", over="ignore"):
        scaled = values * scale
        done = (np.abs(values) < _ARRAY_MAX) & (np.abs(scaled - np.floor(scaled) - 0.5) > _TIE_MARGIN)
        units = np.abs(np.rint(np.where(done, scaled, 0.0))).astype(np.int64)
    whole = pc.cast(pa.array(units // scale, mask=~done), pa.string())  # null where not done: so is the text
    part = pc.utf8_lpad(pc.cast(pa.array(units % scale), pa.string()), digits, "0")
    # the sign of the value, not of its rounded digits: Python writes -0.001 as "-0.00"
    sign = pa.DictionaryArray.from_arrays(pa.array(np.signbit(values).astype(np.int8)), pa.array(["", "-"]))
    return pc.binary_join_element_wise(pc.cast(sign, pa.string()), whole, ".", part, ""), done


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
        lines.append(table_row(row))
    return lines


def table_row(cells: Sequence[str]) -> str:
    """One row of a :func:`table` (an empty cell shows :data:`MISSING`); the caller checks the cell count."""
    return "| " + " | ".join([cell if cell else MISSING for cell in cells]) + " |"
