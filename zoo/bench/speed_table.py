"""The compact speed table shown by ``zoo bench speed`` and on ``leaderboards/speed.md``: one definition of its
columns and of how each figure is rounded, for the terminal and the page alike.

Measured figures are rounded to what their spread supports: throughput is shown as ``median ± half the
min-max range over the timed blocks``, the half-range to one significant digit and the median to the same
decimal place; latency, TFLOP/s and MFU keep the same relative precision. GFLOPs are computed, not
measured, and keep three significant digits. A row without a spread keeps three significant digits.

Importing this module does not import torch.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

__all__ = ["SPEED_TABLE_COLUMNS", "rounded", "speed_table_cells", "variant_text", "with_spread"]

#: The columns of the compact table, in order: (header, right-aligned).
SPEED_TABLE_COLUMNS: tuple[tuple[str, bool], ...] = (
    ("model", False),
    ("size", False),
    ("bs", True),
    ("dtype", False),
    ("variant", False),
    ("img/s", True),
    ("p50/p99 ms", True),
    ("MiB", True),
    ("GFLOPs", True),
    ("TFLOP/s", True),
    ("MFU", True),
)
#: What a missing figure shows.
MISSING = "-"
#: Significant digits of a figure without a spread.
_DIGITS = 3
#: Short names of the timed regions (``zoo.options.TIMED_REGIONS``) in the variant column.
_REGIONS = {"forward": "fwd", "forward+upsample+argmax": "fwd+argmax"}


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _decimals_for(uncertainty: float) -> int:
    """Decimal places that keep one significant digit of ``uncertainty`` (negative: round to tens, ...)."""
    one_digit = float(f"{uncertainty:.0e}")  # 0.0999... is 0.1: one decimal, not two
    return -math.floor(math.log10(one_digit))


def _fixed(value: float, decimals: int) -> str:
    return f"{round(value, decimals):.{max(decimals, 0)}f}"


def rounded(value: Any, relative: float | None = None) -> str:
    """``value`` rounded to the precision a relative uncertainty ``relative`` supports (three significant
    digits without one, or where it is 0); :data:`MISSING` for a missing or non-finite value."""
    number = _number(value)
    if number is None:
        return MISSING
    if number == 0:
        return "0"
    if relative and relative > 0:
        return _fixed(number, _decimals_for(abs(number) * relative))
    return _fixed(number, _DIGITS - 1 - math.floor(math.log10(abs(number))))


def with_spread(value: Any, low: Any, high: Any) -> str:
    """``"median ± half-range"`` rounded to the half-range's first significant digit (``"45 ± 2"``,
    ``"1.53 ± 0.04"``); the value alone (three significant digits) without a spread."""
    number, lo, hi = _number(value), _number(low), _number(high)
    if number is None:
        return MISSING
    if lo is None or hi is None or hi <= lo:
        return rounded(number)
    half = (hi - lo) / 2
    decimals = _decimals_for(half)
    return f"{_fixed(number, decimals)} ± {_fixed(half, decimals)}"


def _relative_spread(row: Mapping[str, Any]) -> float | None:
    value, low, high = (_number(row.get(k)) for k in ("images_per_s", "images_per_s_min", "images_per_s_max"))
    if value is None or low is None or high is None or value <= 0 or high <= low:
        return None
    return (high - low) / 2 / value


def _flag(value: Any) -> bool:
    return str(value).strip().lower() in ("true", "1", "yes")


def variant_text(row: Mapping[str, Any]) -> str:
    """The variant in a few characters: ``eager fwd``, ``compile=max-autotune CL tf32 fwd+argmax``
    (CL: channels_last)."""
    mode = str(row.get("compile") or "none")
    parts = ["eager" if mode in ("none", "nan", "") else f"compile={mode}"]
    parts += [name for column, name in (("channels_last", "CL"), ("cuda_graphs", "graphs"), ("tf32", "tf32"))
              if _flag(row.get(column))]  # fmt: skip
    timed = str(row.get("timed") or "")
    if timed and timed != "nan":
        parts.append(_REGIONS.get(timed, timed))
    return " ".join(parts)


def speed_table_cells(row: Mapping[str, Any]) -> list[str]:
    """The cells of :data:`SPEED_TABLE_COLUMNS` for one speed row (a row of ``zoo.results.SPEED``; columns it
    lacks show :data:`MISSING`). A row whose status is not ``ok`` shows its status instead of a throughput;
    a row the correctness gate flagged gets ``!`` after its throughput."""
    height, width = _number(row.get("height")), _number(row.get("width"))
    size = f"{int(height)}x{int(width)}" if height is not None and width is not None else MISSING
    batch = _number(row.get("batch_size"))
    status = str(row.get("status") or "ok")
    relative = _relative_spread(row)
    if status not in ("ok", "nan"):
        throughput = status
    else:
        throughput = with_spread(
            row.get("images_per_s"), row.get("images_per_s_min"), row.get("images_per_s_max")
        )
        throughput += " !" if str(row.get("correctness")) == "flagged" else ""
    p50, p99 = rounded(row.get("latency_ms_p50"), relative), rounded(row.get("latency_ms_p99"), relative)
    latency = MISSING if p50 == p99 == MISSING else f"{p50}/{p99}"
    memory = _number(row.get("peak_memory_mib"))
    mfu = _number(row.get("mfu"))
    return [
        str(row.get("model")),
        size,
        MISSING if batch is None else str(int(batch)),
        str(row.get("dtype") or MISSING),
        variant_text(row),
        throughput,
        latency,
        MISSING if memory is None else f"{memory:.0f}",
        rounded(row.get("gflops_per_image")),
        rounded(row.get("tflops_achieved"), relative),
        MISSING if mfu is None else f"{rounded(mfu * 100, relative)}%",
    ]
