"""The tables a results store holds, defined once as data: columns, types, key, companion table, history.

A :class:`TableSchema` says everything the store needs to know about one table: its columns in display order,
which are floats (NaN allowed) or nullable integers (every other column is text), which columns identify a
row, values a column must hold, the per-class companion table if there is one, and the column layouts older
releases wrote. The store (:mod:`zoo.results.store`) is one class parametrized by such a schema; the two
tables zoo writes are the two objects :data:`ACCURACY` and :data:`SPEED` below. Every other list of columns in
zoo (row templates, merge, leaderboard) is derived from them.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "ACCURACY",
    "METRIC_COLUMNS",
    "BadValueError",
    "SCHEMAS",
    "SPEED",
    "OlderLayout",
    "TableSchema",
    "key_text",
]

#: Dataset-level metrics of an accuracy row, in percent (see ``zoo.metrics``); NaN where undefined.
METRIC_COLUMNS: tuple[str, ...] = ("mIoU", "aAcc", "mAcc", "fwIoU", "mDice")


def key_text(value: Any, column: str) -> str:
    """``value`` as the text that identifies it in a key: ``None``/NaN -> ``""``, ``True`` -> ``"True"``,
    ``512`` (or ``numpy.int64(512)``) -> ``"512"``, a string as it is.

    Raises:
        ValueError: ``value`` is not a string, a bool or a number.
    """
    if isinstance(value, str):
        return value
    if value is None or value is pd.NA:
        return ""
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        return "" if math.isnan(value) else repr(float(value))
    raise ValueError(f"column {column!r} must be a string, got {type(value).__name__}: {value!r}")


def _is_missing(value: Any) -> bool:
    """``None``, ``pd.NA`` or ``""``: the empty field a CSV store holds for a value not measured."""
    return value is None or value is pd.NA or (isinstance(value, str) and value == "")


def _as_float(value: Any, column: str) -> float:
    if _is_missing(value):
        return math.nan
    if isinstance(value, bool):
        raise ValueError(f"column {column!r} must be a number, got a bool: {value!r}")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"column {column!r} must be a number, got {value!r}") from None


def _as_int(value: Any, column: str) -> Any:
    if _is_missing(value) or (isinstance(value, float) and math.isnan(value)):
        return pd.NA
    if isinstance(value, bool):
        raise ValueError(f"column {column!r} must be an integer, got a bool: {value!r}")
    try:
        as_int = int(value)
    except (TypeError, ValueError):
        raise ValueError(f"column {column!r} must be an integer, got {value!r}") from None
    if as_int != value:
        raise ValueError(f"column {column!r} must be an integer, got {value!r}")
    if not _INT64_MIN <= as_int <= _INT64_MAX:
        raise ValueError(f"column {column!r}: {value!r} {_OUTSIDE_INT64}")
    return as_int


# integer columns are stored as pandas' Int64: Python's int reads any length, so the range is checked apart
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_OUTSIDE_INT64 = "lies outside the 64-bit integer range the column is stored in"


#: Number texts that Python's ``float`` / ``int`` and pyarrow's casts both accept, and read to the same value.
_FLOAT_TEXT = r"^[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|(?i:nan|inf|infinity))$"
_INT_TEXT = r"^[+-]?[0-9]+$"


class BadValueError(ValueError):
    """A stored text that is not of its column's type; ``index`` is its position in the texts given."""

    def __init__(self, index: int, message: str) -> None:
        super().__init__(message)
        self.index = index


@dataclass(frozen=True)
class OlderLayout:
    """A column layout an older release of zoo wrote, and how one of its rows becomes a current row.

    Attributes:
        version: the layout's version number (the current schema's :attr:`TableSchema.version` is higher).
        columns: the columns that release wrote, in any order.
        upgrade: takes one row of that layout (column -> text as stored) and returns the row in the current
            layout (column -> text). Only facts that hold for every row that release wrote may be filled in.
    """

    version: int
    columns: tuple[str, ...]
    upgrade: Callable[[dict[str, str]], dict[str, str]]


@dataclass(frozen=True)
class TableSchema:
    """One table of the results store, as data.

    Attributes:
        name: short name used in messages and on the command line (``"accuracy"``, ``"speed"``).
        version: version of the current column layout; older ones are listed in ``older``.
        columns: every column, in display order; a row given to the store has exactly these.
        key_columns: the columns that identify a row; the store holds at most one row per key.
        float_columns: stored as ``float64``, NaN (an empty field in CSV) where missing.
        int_columns: stored as nullable ``Int64``, NA (an empty field) where missing.
        required: values some columns must hold, with the reason shown when a row breaks the rule.
        per_class: the companion table (one row per class of each row), or ``None``. Its columns start
            with this table's key columns, which it takes from the row it belongs to.
        older: layouts earlier releases wrote; a file in one of them is refused until it is upgraded.
    """

    name: str
    version: int
    columns: tuple[str, ...]
    key_columns: tuple[str, ...]
    float_columns: frozenset[str] = frozenset()
    int_columns: frozenset[str] = frozenset()
    required: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    per_class: TableSchema | None = None
    older: tuple[OlderLayout, ...] = ()

    def __post_init__(self) -> None:
        # Schemas are written by hand; a slip here would corrupt every store, so check them when defined.
        if len(set(self.columns)) != len(self.columns):
            raise ValueError(f"{self.name}: repeated column names")
        unknown = (set(self.key_columns) | self.float_columns | self.int_columns | set(self.required)) - set(
            self.columns
        )
        if unknown:
            raise ValueError(f"{self.name}: not in columns: {sorted(unknown)}")
        if self.float_columns & self.int_columns:
            raise ValueError(f"{self.name}: a column is both float and int")
        if self.per_class is not None and self.per_class.columns[: len(self.key_columns)] != self.key_columns:
            raise ValueError(f"{self.name}: the per-class table must start with the key columns")

    # ------------------------------------------------------------------ columns and types

    @property
    def per_class_value_columns(self) -> tuple[str, ...]:
        """The per-class columns a caller gives (the key columns come from the row); ``()`` without one."""
        if self.per_class is None:
            return ()
        return self.per_class.columns[len(self.key_columns) :]

    def dtype(self, column: str) -> str:
        """The pandas dtype of ``column``: ``"float64"``, ``"Int64"`` or ``"str"``."""
        if column in self.float_columns:
            return "float64"
        if column in self.int_columns:
            return "Int64"
        return "str"

    def column_problems(self, present: Iterable[object], extra_word: str = "unknown") -> str:
        """``"missing column(s): ...; <extra_word> column(s): ..."`` for columns not as expected, else ``""``."""
        present = [str(c) for c in present]
        missing = [c for c in self.columns if c not in present]
        extra = [c for c in present if c not in self.columns]
        what = [f"missing column(s): {', '.join(missing)}"] if missing else []
        what += [f"{extra_word} column(s): {', '.join(extra)}"] if extra else []
        return "; ".join(what)

    # ------------------------------------------------------------------ keys

    def key(self, row: Mapping[str, Any]) -> tuple[str, ...]:
        """The key of ``row``: its :attr:`key_columns` values as text (see :func:`key_text`), in order.

        Raises:
            ValueError: ``row`` lacks a key column, or a key value is not a string, bool or number.
        """
        missing = [c for c in self.key_columns if c not in row]
        if missing:
            raise ValueError(f"{self.name} row lacks key column(s): {', '.join(missing)}")
        return tuple(key_text(row[c], c) for c in self.key_columns)

    def key_of(self, row_or_key: Mapping[str, Any] | Sequence[Any]) -> tuple[str, ...]:
        """The key of a row (any mapping) or of a key given as a sequence of :attr:`key_columns` values.

        Raises:
            ValueError: a sequence of the wrong length, or a value that cannot be a key.
        """
        if isinstance(row_or_key, Mapping):
            return self.key(row_or_key)
        if isinstance(row_or_key, str) or len(row_or_key) != len(self.key_columns):
            raise ValueError(
                f"a {self.name} key has {len(self.key_columns)} values {self.key_columns}, got {row_or_key!r}"
            )
        return tuple(key_text(v, c) for v, c in zip(row_or_key, self.key_columns, strict=True))

    def describe_key(self, key: Sequence[str]) -> str:
        """``key`` as ``column=value`` pairs, for messages."""
        return ", ".join(f"{c}={v!r}" for c, v in zip(self.key_columns, key, strict=True))

    # ------------------------------------------------------------------ values

    def normalise(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """``row`` checked and converted to the stored types (float, int or ``pd.NA``, str).

        Float columns take numbers or ``None`` (NaN); int columns integers or ``None`` (NA); in both, ``""``
        (the empty field a CSV store holds for a missing value) is missing too. Every other column takes a
        string (numbers and bools are converted with ``str``, ``None`` becomes ``""``).

        Raises:
            ValueError: missing or unknown columns (named), a value of the wrong type, or a required
                column with another value.
        """
        problems = self.column_problems(row)
        if problems:
            raise ValueError(f"{self.name} row: {problems}")
        out: dict[str, Any] = {}
        for c in self.columns:
            value = row[c]
            if c in self.float_columns:
                out[c] = _as_float(value, c)
            elif c in self.int_columns:
                out[c] = _as_int(value, c)
            else:
                out[c] = key_text(value, c)
        for c, (value, why) in self.required.items():
            if out[c] != value:
                raise ValueError(f"{self.name} row: {c} must be {value!r}, got {out[c]!r} ({why})")
        return out

    def parse_texts(self, column: str, texts: Sequence[str]) -> list[Any]:
        """Stored texts of ``column`` as values of its type (an empty text is NaN or NA); text columns as they are.

        Raises:
            BadValueError: a text that is not of the column's type; ``index`` says which.
        """
        if column in self.float_columns:
            nan = math.nan
            try:  # float() is correctly rounded: the repr that column_texts writes comes back bit for bit
                return [float(t) if t else nan for t in texts]
            except ValueError:
                convert: Callable[[str], Any] = float
        elif column in self.int_columns:
            na = pd.NA
            try:
                values = [int(t) if t else na for t in texts]
            except ValueError:
                convert = int
            else:
                for index, value in enumerate(values):
                    if value is not na and not _INT64_MIN <= value <= _INT64_MAX:
                        raise BadValueError(index, f"column {column!r}: {texts[index]!r} {_OUTSIDE_INT64}")
                return values
        else:
            return list(texts)
        for index, text in enumerate(texts):
            try:
                if text:
                    convert(text)
            except ValueError:
                raise BadValueError(
                    index, f"column {column!r}: {text!r} is not {self.kind(column)}"
                ) from None
        raise AssertionError("unreachable: a conversion failed above")

    def parse_arrow(self, column: str, texts: Any) -> Any:
        """:meth:`parse_texts` of a whole column of text at once: ``texts`` is a pyarrow string array (from
        :func:`zoo.results.files.arrow_columns`). Returns a numpy or pandas array of the column's type holding
        the values :meth:`parse_texts` gives, or ``None`` when one text is not in the forms both read alike;
        the caller then uses :meth:`parse_texts`, which accepts what Python's ``float`` and ``int`` accept and
        names a bad value.

        Numbers are taken only in the forms both Python and pyarrow read, to the same value: decimal floats
        (correctly rounded by both), ``nan``/``inf``/``infinity`` and plain decimal integers.
        """
        import pyarrow as pa
        import pyarrow.compute as pc

        if column in self.float_columns:
            pattern, target = _FLOAT_TEXT, pa.float64()
        elif column in self.int_columns:
            pattern, target = _INT_TEXT, pa.int64()
        else:
            return texts.to_pandas().array
        present = pc.not_equal(texts, "")
        if not pc.all(pc.or_(pc.invert(present), pc.match_substring_regex(texts, pattern))).as_py():
            return None
        every = pc.all(present).as_py() is not False  # (an empty column has none missing)
        try:  # empty texts become nulls first (a copy of the column), only where there are some
            values = pc.cast(
                texts if every else pc.if_else(present, texts, pa.scalar(None, texts.type)), target
            )
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):  # e.g. an integer beyond int64
            return None
        if column in self.float_columns:
            return values.to_numpy()  # nulls become NaN
        mask = pc.invert(present).to_numpy()
        return pd.arrays.IntegerArray(values.fill_null(0).to_numpy(), mask)

    def kind(self, column: str) -> str:
        """What a value of ``column`` must be, for messages: ``"a number"``, ``"an integer"`` or ``"text"``."""
        return {"float64": "a number", "Int64": "an integer"}.get(self.dtype(column), "text")

    def column_texts(self, column: str, values: Iterable[Any]) -> list[str]:
        """Values of ``column`` (as :meth:`normalise` or :meth:`typed` give them) as the text a CSV file stores.

        Floats are written with ``repr`` (the shortest text that reads back to the same float), NaN and NA as
        an empty field, as ``pandas.DataFrame.to_csv`` writes them.
        """
        if column in self.float_columns:
            return ["" if v is None or v is pd.NA or v != v else repr(float(v)) for v in values]
        if column in self.int_columns:
            return ["" if v is None or v is pd.NA or v != v else str(int(v)) for v in values]
        return [v if isinstance(v, str) else key_text(v, column) for v in values]

    def format_row(self, row: Mapping[str, Any], order: Sequence[str] | None = None) -> list[str]:
        """The CSV fields of one :meth:`normalise`-d row, in ``order`` (default :attr:`columns`)."""
        return [self.column_texts(c, (row[c],))[0] for c in order or self.columns]

    def typed(self, frame: pd.DataFrame) -> pd.DataFrame:
        """``frame`` restricted to :attr:`columns`, in order, with the store's dtypes (the same for CSV and
        parquet).

        Raises:
            ValueError, TypeError: a value that cannot take its column's type.
        """
        frame = frame.loc[:, list(self.columns)].reset_index(drop=True)
        return frame.astype({c: self.dtype(c) for c in self.columns})

    def empty(self) -> pd.DataFrame:
        """A frame with no rows, :attr:`columns` and the store's dtypes."""
        return self.typed(pd.DataFrame({c: [] for c in self.columns}))

    def layout_of(self, header: Sequence[str]) -> OlderLayout | None:
        """The older layout whose columns are exactly ``header`` (in any order), if any."""
        for layout in self.older:
            if set(layout.columns) == set(header) and len(layout.columns) == len(header):
                return layout
        return None


# ------------------------------------------------------------------------------------------------ the tables

_MEASURED = (
    "measured",
    "only figures zoo measured go in a results store; reported ones belong to the weight records",
)

_ACCURACY_KEY: tuple[str, ...] = (
    "model", "weights", "dataset", "split", "protocol_json", "tta", "dtype", "environment_id",
)  # fmt: skip

#: Per-class values of an accuracy row (percent; NaN for a class absent from both prediction and ground truth).
_ACCURACY_PER_CLASS = TableSchema(
    name="accuracy per-class",
    version=1,
    columns=(*_ACCURACY_KEY, "class_index", "class_name", "IoU", "Acc", "Dice"),
    key_columns=(*_ACCURACY_KEY, "class_index"),
    float_columns=frozenset({"IoU", "Acc", "Dice"}),
    int_columns=frozenset({"class_index"}),
)


def _layout_without(version: int, columns: tuple[str, ...], added: tuple[str, ...]) -> OlderLayout:
    """Layout ``version``: ``columns`` less those a later layout ``added``. Its rows are upgraded with the added
    columns left empty (unknown): the release that wrote them did not record them, and nothing else says
    what they were."""
    missing = [c for c in added if c not in columns]
    if missing:
        raise ValueError(f"not in columns: {missing}")

    def upgrade(row: dict[str, str]) -> dict[str, str]:
        return {**row, **dict.fromkeys(added, "")}

    return OlderLayout(version, tuple(c for c in columns if c not in added), upgrade)


_ACCURACY_COLUMNS: tuple[str, ...] = (
    "model",
    "weights",
    "weights_sha256",
    "weights_revision",
    "dataset",
    "split",
    "num_images",
    *METRIC_COLUMNS,
    "protocol",
    "protocol_json",
    "tta",
    "device",
    "dtype",
    "batch_size",
    "threads",
    "images_per_s",
    "wall_s",
    "environment_id",
    "device_name",
    "torch_version",
    "cuda_version",
    "zoo_version",
    "timm_version",
    "smp_version",
    "date",
    "command",
    "notes",
    "source",
)  # fmt: skip

#: Measured accuracy results (``zoo-bench --dataset``), one row per run, per-class values beside it.
#:
#: - key: ``model``, ``weights``, ``dataset``, ``split``, ``protocol_json`` (the full protocol; its short code
#:   ``protocol`` can be shared by two protocols), ``tta``, ``dtype``, ``environment_id``: each changes the
#:   numbers, so each makes a row distinct.
#: - :data:`METRIC_COLUMNS` in percent; ``num_images``; ``protocol`` (a readable code such as
#:   ``"ss whole 512"``); ``tta`` as a short code (``"none"``, ``"flip"``, ...).
#: - ``weights_sha256``: the sha256 of the weights file actually loaded (published weights or ``--checkpoint``;
#:   empty for untrained rows); ``weights_revision``: the Hugging Face commit a Hub file was resolved to (empty
#:   for URL records and checkpoints). ``weights`` is the record's tag, ``"checkpoint"`` or ``"untrained"``.
#: - ``device``, ``batch_size``, ``threads`` (torch's intra-op CPU threads), ``images_per_s``, ``wall_s``: how
#:   the run was executed (NaN where not measured).
#: - the readable environment fields (see :mod:`zoo.bench.environment`); ``date`` (ISO 8601, UTC); ``command``
#:   (the exact command line); ``notes``; ``source``: always ``"measured"``.
ACCURACY = TableSchema(
    name="accuracy",
    version=2,
    columns=_ACCURACY_COLUMNS,
    key_columns=_ACCURACY_KEY,
    float_columns=frozenset({*METRIC_COLUMNS, "images_per_s", "wall_s"}),
    int_columns=frozenset({"num_images", "batch_size", "threads"}),
    required={"source": _MEASURED},
    per_class=_ACCURACY_PER_CLASS,
    # layout v2 added the weights file's identity and the CPU threads
    older=(_layout_without(1, _ACCURACY_COLUMNS, ("weights_sha256", "weights_revision", "threads")),),
)

_SPEED_COLUMNS: tuple[str, ...] = (
    # what was measured
    "model",
    "weights",
    "dataset",
    "num_classes",
    "height",
    "width",
    "batch_size",
    "dtype",
    "channels_last",
    "compile",
    "cuda_graphs",
    "tf32",
    "timed",
    "status",
    # the figures
    "images_per_s",
    "images_per_s_min",
    "images_per_s_max",
    "latency_ms_p50",
    "latency_ms_p90",
    "latency_ms_p99",
    "latency_per",
    "peak_memory_mib",
    "params",
    "gmacs_per_image",
    "gflops_per_image",
    "uncounted_ops",
    "tflops_achieved",
    "peak_tflops",
    "peak_tflops_key",
    "peak_tflops_source",
    "mfu",
    "argmax_disagreement",
    "correctness",
    "first_call_s",
    # the protocol
    "input",
    "seed",
    "warmup_iters",
    "warmup_seconds",
    "warmup_iters_run",
    "warmup_s_run",
    "block_iters",
    "block_seconds",
    "block_iters_run",
    "blocks",
    "cudnn_benchmark",
    "max_disagreement",
    # the environment
    "device",
    "device_type",
    "device_name",
    "driver_version",
    "cpu_cores",
    "threads",
    "torch_version",
    "cuda_version",
    "cudnn_version",
    "zoo_version",
    "timm_version",
    "smp_version",
    "torchvision_version",
    "environment_id",
    "date",
    "command",
    "notes",
    "source",
)  # fmt: skip

#: Measured speed rows (``zoo-bench speed``; see :func:`zoo.bench.speed.measure` for the figures). Speed
#: figures from different hardware never share a row: ``environment_id`` is part of the key.
SPEED = TableSchema(
    name="speed",
    version=2,
    columns=_SPEED_COLUMNS,
    key_columns=(
        "model",
        "height",
        "width",
        "batch_size",
        "dtype",
        "channels_last",
        "compile",
        "cuda_graphs",
        "tf32",
        "timed",
        "environment_id",
    ),  # fmt: skip
    float_columns=frozenset(
        {
            "images_per_s",
            "images_per_s_min",
            "images_per_s_max",
            "latency_ms_p50",
            "latency_ms_p90",
            "latency_ms_p99",
            "peak_memory_mib",
            "gmacs_per_image",
            "gflops_per_image",
            "tflops_achieved",
            "peak_tflops",
            "mfu",
            "argmax_disagreement",
            "first_call_s",
            "warmup_seconds",
            "warmup_s_run",
            "block_seconds",
            "max_disagreement",
        }
    ),  # fmt: skip
    int_columns=frozenset(
        {
            "num_classes",
            "height",
            "width",
            "batch_size",
            "params",
            "seed",
            "warmup_iters",
            "warmup_iters_run",
            "block_iters",
            "block_iters_run",
            "blocks",
            "threads",
        }
    ),  # fmt: skip
    required={"source": _MEASURED},
    older=(_layout_without(1, _SPEED_COLUMNS, ("threads",)),),  # layout v2 added the CPU threads
)

#: Every table by :attr:`TableSchema.name`, for the command line (``zoo results upgrade --table``).
SCHEMAS: dict[str, TableSchema] = {s.name: s for s in (ACCURACY, SPEED)}

# ------------------------------------------------------------------------------------------------ complexity

#: Computed complexity of registry entries (``zoo bench profile``; see :mod:`zoo.bench.profile`): figures
#: derived from the architecture at one input shape, never measured, so the versions that built the model
#: are part of the key and ``source`` is always ``"computed"``. An entry that cannot be built or traced has a
#: row with ``status = "error"`` and its ``error`` (figures empty).
COMPLEXITY = TableSchema(
    name="complexity",
    version=1,
    columns=(
        "model",
        "height",
        "width",
        "batch_size",
        "num_classes",
        "status",
        "params",
        "gflops",
        "gmacs",
        "peak_activation_mib",
        "uncounted_ops",
        "built_on",
        "weights",
        "error",
        "zoo_version",
        "torch_version",
        "timm_version",
        "smp_version",
        "date",
        "command",
        "source",
    ),  # fmt: skip
    key_columns=(
        "model",
        "height",
        "width",
        "batch_size",
        "zoo_version",
        "torch_version",
        "timm_version",
        "smp_version",
    ),  # fmt: skip
    float_columns=frozenset({"gflops", "gmacs", "peak_activation_mib"}),
    int_columns=frozenset({"height", "width", "batch_size", "num_classes", "params"}),
    required={"source": ("computed", "complexity figures are computed from the architecture, not measured")},
)
SCHEMAS["complexity"] = COMPLEXITY
__all__.append("COMPLEXITY")
