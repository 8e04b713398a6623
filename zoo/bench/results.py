"""Where the accuracy results store used to live; it is now :mod:`zoo.results` (one store class for every table,
:data:`zoo.results.ACCURACY` and :data:`zoo.results.SPEED` the two tables).

The names below are derived from :data:`zoo.results.ACCURACY` and kept so that code written against this module
goes on working; new code imports from :mod:`zoo.results`.
"""

from __future__ import annotations

from zoo.errors import DuplicateResultError, ResultsFileError
from zoo.results import ACCURACY, METRIC_COLUMNS, ResultsStore

__all__ = [
    "COLUMNS",
    "FLOAT_COLUMNS",
    "INT_COLUMNS",
    "KEY_COLUMNS",
    "METRIC_COLUMNS",
    "PER_CLASS_COLUMNS",
    "PER_CLASS_VALUE_COLUMNS",
    "DuplicateResultError",
    "ResultsFileError",
    "ResultsStore",
    "row_key",
]

KEY_COLUMNS: tuple[str, ...] = ACCURACY.key_columns
COLUMNS: list[str] = list(ACCURACY.columns)
FLOAT_COLUMNS: tuple[str, ...] = tuple(c for c in ACCURACY.columns if c in ACCURACY.float_columns)
INT_COLUMNS: tuple[str, ...] = tuple(c for c in ACCURACY.columns if c in ACCURACY.int_columns)
PER_CLASS_VALUE_COLUMNS: tuple[str, ...] = ACCURACY.per_class_value_columns
PER_CLASS_COLUMNS: list[str] = [*KEY_COLUMNS, *PER_CLASS_VALUE_COLUMNS]
row_key = ACCURACY.key
