"""Measured results: the tables zoo writes (:mod:`zoo.results.schema`) and the store that holds them
(:mod:`zoo.results.store`).

    from zoo.results import ACCURACY, SPEED, ResultsStore

    store = ResultsStore("results.csv")                 # accuracy rows, per-class values beside them
    speed = ResultsStore("speed.csv", SPEED)            # speed rows
    report = store.preflight(planned_rows)              # before any model is built
    store.append(row, per_class)                        # constant time for CSV stores

Command line: ``zoo results upgrade [--table NAME] PATH`` and ``zoo results restore FILE`` (also
``python -m zoo.results ...``).
"""

from zoo.errors import DuplicateResultError, ResultsFileError
from zoo.results.schema import ACCURACY, METRIC_COLUMNS, SCHEMAS, SPEED, OlderLayout, TableSchema, key_text
from zoo.results.store import PreflightReport, ResultsStore, UnsavedResultError, restore_unsaved

__all__ = [
    "ACCURACY",
    "METRIC_COLUMNS",
    "SCHEMAS",
    "SPEED",
    "DuplicateResultError",
    "OlderLayout",
    "PreflightReport",
    "ResultsFileError",
    "ResultsStore",
    "TableSchema",
    "UnsavedResultError",
    "key_text",
    "restore_unsaved",
]
