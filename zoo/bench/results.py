"""The results store: one append-only table of measured benchmark results, plus per-class values beside it.

A row is identified by :data:`KEY_COLUMNS`; the store holds at most one row per key, so ``zoo-bench --resume``
can skip every key in :meth:`ResultsStore.done_keys` and a rerun never duplicates a row. Only measured results
go here (``source == "measured"``); figures reported by publishers live with the weight records.

Every write replaces the whole file atomically (temporary file in the same directory, fsync, ``os.replace``),
so a crash or Ctrl-C leaves either the old table or the new one, never a half-written row. The per-class
companion file is replaced first and the main file last: the main file is what says a key is done, so a
crash between the two leaves at most per-class rows for a key nobody reports as done, and the next append of
that key replaces them.
"""

from __future__ import annotations

import contextlib
import csv
import io
import math
import os
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from zoo.errors import DuplicateResultError, ResultsFileError

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

#: The columns that identify a result; the store keeps at most one row per key.
# The full protocol (not its short code, which two protocols can share), the TTA and the dtype all change the
# numbers, so each is part of what makes a row distinct.
KEY_COLUMNS: tuple[str, ...] = (
    "model", "weights", "dataset", "split", "protocol_json", "tta", "dtype", "environment_id",
)  # fmt: skip

#: The dataset-level metrics, in percent (see ``zoo.metrics``); NaN where undefined.
METRIC_COLUMNS: tuple[str, ...] = ("mIoU", "aAcc", "mAcc", "fwIoU", "mDice")

#: Every column of a result row, in display order. A row given to :meth:`ResultsStore.append` has exactly these.
#:
#: - ``model``, ``weights``: registry name and weight tag; ``dataset``, ``split``, ``num_images``.
#: - the :data:`METRIC_COLUMNS`, percent.
#: - ``protocol``: a short readable code such as ``"ss whole 512"`` (part of the key); ``protocol_json``: the
#:   full evaluation protocol as JSON; ``tta``: the test-time augmentation as a short code (``"none"``,
#:   ``"flip"``, ...).
#: - ``device``, ``dtype``, ``batch_size``, ``images_per_s``, ``wall_s``: how the run was executed and how long
#:   it took (NaN where not measured).
#: - ``environment_id`` and the readable fingerprint fields (see :mod:`zoo.bench.environment`).
#: - ``date``: ISO 8601 in UTC; ``command``: the exact ``zoo-bench`` command line; ``notes``; ``source``:
#:   always ``"measured"``.
COLUMNS: list[str] = [
    "model",
    "weights",
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
]

#: Columns stored as floats (NaN allowed) and as nullable integers; every other column is a string.
FLOAT_COLUMNS: tuple[str, ...] = (*METRIC_COLUMNS, "images_per_s", "wall_s")
INT_COLUMNS: tuple[str, ...] = ("num_images", "batch_size")

#: The values of one class in the per-class companion file (percent, NaN for a class absent from both the
#: predictions and the ground truth).
PER_CLASS_VALUE_COLUMNS: tuple[str, ...] = ("class_index", "class_name", "IoU", "Acc", "Dice")
PER_CLASS_COLUMNS: list[str] = [*KEY_COLUMNS, *PER_CLASS_VALUE_COLUMNS]
_PER_CLASS_FLOAT_COLUMNS: tuple[str, ...] = ("IoU", "Acc", "Dice")
_PER_CLASS_INT_COLUMNS: tuple[str, ...] = ("class_index",)

_SOURCE = "measured"


def row_key(row: Mapping[str, Any]) -> tuple[str, ...]:
    """The key of ``row``: its :data:`KEY_COLUMNS` values as strings, in that order.

    Raises:
        ValueError: ``row`` lacks a key column.
    """
    missing = [c for c in KEY_COLUMNS if c not in row]
    if missing:
        raise ValueError(f"result row lacks key column(s): {', '.join(missing)}")
    return tuple(_as_str(row[c], c) for c in KEY_COLUMNS)


def _as_str(value: Any, column: str) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, (bool, int, float)):
        return str(value)
    raise ValueError(f"column {column!r} must be a string, got {type(value).__name__}: {value!r}")


def _as_float(value: Any, column: str) -> float:
    if value is None:
        return math.nan
    if isinstance(value, bool):
        raise ValueError(f"column {column!r} must be a number, got a bool: {value!r}")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"column {column!r} must be a number, got {value!r}") from None


def _as_int(value: Any, column: str) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return pd.NA
    if isinstance(value, bool):
        raise ValueError(f"column {column!r} must be an integer, got a bool: {value!r}")
    try:
        as_int = int(value)
    except (TypeError, ValueError):
        raise ValueError(f"column {column!r} must be an integer, got {value!r}") from None
    if as_int != value:
        raise ValueError(f"column {column!r} must be an integer, got {value!r}")
    return as_int


def _normalise(
    record: Mapping[str, Any], columns: Sequence[str], floats: Sequence[str], ints: Sequence[str]
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for c in columns:
        if c in floats:
            out[c] = _as_float(record[c], c)
        elif c in ints:
            out[c] = _as_int(record[c], c)
        else:
            out[c] = _as_str(record[c], c)
    return out


def _column_problems(present: Iterable[object], expected: Sequence[str], extra_word: str) -> str:
    """``"missing column(s) ...; <extra_word> column(s) ..."`` for columns not as expected, else ``""``."""
    present = [str(c) for c in present]
    missing = [c for c in expected if c not in present]
    extra = [c for c in present if c not in expected]
    what = [f"missing column(s): {', '.join(missing)}"] if missing else []
    what += [f"{extra_word} column(s): {', '.join(extra)}"] if extra else []
    return "; ".join(what)


def _typed_frame(
    df: pd.DataFrame, columns: Sequence[str], floats: Sequence[str], ints: Sequence[str]
) -> pd.DataFrame:
    """``df`` restricted to ``columns`` in order with the store's dtypes (identical for CSV and parquet)."""
    df = df.loc[:, list(columns)].reset_index(drop=True)
    dtypes = {c: ("float64" if c in floats else "Int64" if c in ints else str) for c in columns}
    return df.astype(dtypes)


def _empty(columns: Sequence[str], floats: Sequence[str], ints: Sequence[str]) -> pd.DataFrame:
    return _typed_frame(pd.DataFrame({c: [] for c in columns}), columns, floats, ints)


def _fsync_dir(directory: Path) -> None:
    # Makes the rename itself durable on POSIX; directories cannot be opened this way on Windows.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class ResultsStore:
    """An append-only results table at ``path``, CSV unless the path ends with ``.parquet``.

    Per-class values live beside it in ``<stem>.per_class<suffix>`` (``results.csv`` ->
    ``results.per_class.csv``) with the columns :data:`PER_CLASS_COLUMNS`.

    Both files are read whole and rewritten whole on every append; that is what makes each append atomic and
    it is cheap at the size of a benchmark table (thousands of rows). Appends from several processes at once
    are serialised with an advisory lock file (``.<name>.lock``, POSIX only).

    Args:
        path: the main results file. Its directory is created on the first append.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.per_class_path = self.path.with_name(f"{self.path.stem}.per_class{self.path.suffix}")
        self._parquet = self.path.suffix.lower() == ".parquet"

    def __repr__(self) -> str:
        return f"ResultsStore({str(self.path)!r})"

    # ------------------------------------------------------------------ reading

    def read(self) -> pd.DataFrame:
        """The results as a DataFrame with exactly :data:`COLUMNS`, in file order.

        Float columns are ``float64`` (NaN kept), ``num_images`` and ``batch_size`` nullable ``Int64``, every
        other column a string (``""`` when empty). An empty frame with these columns when the file does not
        exist.

        Raises:
            ResultsFileError: the file exists but cannot be parsed, lacks or adds columns, holds a value of
                the wrong type, or holds two rows with the same key.
        """
        return self._read(self.path, COLUMNS, FLOAT_COLUMNS, INT_COLUMNS, unique=KEY_COLUMNS)

    def read_per_class(self) -> pd.DataFrame:
        """The per-class values as a DataFrame with exactly :data:`PER_CLASS_COLUMNS`.

        May hold orphan rows for a key that :meth:`read` lacks (left by a crash between the two file
        replacements); join on :data:`KEY_COLUMNS` to use only those of reported results.

        Raises:
            ResultsFileError: as :meth:`read`, for the companion file.
        """
        return self._read(
            self.per_class_path,
            PER_CLASS_COLUMNS,
            _PER_CLASS_FLOAT_COLUMNS,
            _PER_CLASS_INT_COLUMNS,
            unique=(*KEY_COLUMNS, "class_index"),
        )

    def done_keys(self) -> set[tuple[str, ...]]:
        """The keys (see :func:`row_key`) of every row in the main file: what ``--resume`` skips."""
        df = self.read()
        return {tuple(k) for k in df.loc[:, list(KEY_COLUMNS)].itertuples(index=False, name=None)}

    def has(self, row_or_key: Mapping[str, Any] | Sequence[Any]) -> bool:
        """Whether the store holds a row with this key; accepts a row (any mapping) or a key tuple."""
        if isinstance(row_or_key, Mapping):
            key = row_key(row_or_key)
        else:
            if isinstance(row_or_key, str) or len(row_or_key) != len(KEY_COLUMNS):
                raise ValueError(f"a key has {len(KEY_COLUMNS)} values {KEY_COLUMNS}, got {row_or_key!r}")
            key = tuple(_as_str(v, c) for v, c in zip(row_or_key, KEY_COLUMNS, strict=True))
        return key in self.done_keys()

    def _read(
        self,
        path: Path,
        columns: Sequence[str],
        floats: Sequence[str],
        ints: Sequence[str],
        unique: Sequence[str],
    ) -> pd.DataFrame:
        if not path.exists():
            return _empty(columns, floats, ints)
        try:
            df = self._parse(path, columns, floats, ints)
        except ResultsFileError:
            raise
        except Exception as e:  # pandas/pyarrow raise many types for a bad file; all mean the same here
            raise ResultsFileError(f"{path}: cannot be read as a results table: {e}") from e
        problems = _column_problems(df.columns, columns, "unexpected")
        if problems:
            raise ResultsFileError(f"{path}: {problems}")
        try:
            df = _typed_frame(df, columns, floats, ints)
        except (ValueError, TypeError) as e:
            raise ResultsFileError(f"{path}: a value has the wrong type: {e}") from e
        dup = df.duplicated(subset=list(unique), keep=False)
        if dup.any():
            first = tuple(df.loc[dup, list(unique)].iloc[0])
            raise ResultsFileError(f"{path}: {int(dup.sum())} rows share a key, e.g. {first}")
        return df

    def _parse(
        self, path: Path, columns: Sequence[str], floats: Sequence[str], ints: Sequence[str]
    ) -> pd.DataFrame:
        if self._parquet:
            return pd.read_parquet(path)
        data = path.read_bytes().decode("utf-8")
        # pandas silently fills a row with too few fields (a truncated line) with empty values; count the
        # fields with the csv module first so such a row is an error instead of a fabricated result.
        rows = csv.reader(io.StringIO(data, newline=""))
        header = next(rows, None)
        if header is None:
            raise ResultsFileError(f"{path}: the file is empty (no header line)")
        for line, fields in enumerate(rows, start=2):
            if fields and len(fields) != len(header):
                raise ResultsFileError(
                    f"{path}: record {line} has {len(fields)} fields, the header has {len(header)}"
                )
        # Strings stay strings ("" is an empty note, not NaN; "1.10" is a version, not a float); only the
        # numeric columns treat an empty field as missing. pandas' default float parser round-trips the
        # shortest repr that to_csv writes (tested).
        return pd.read_csv(
            io.StringIO(data),
            dtype={c: ("float64" if c in floats else "Int64" if c in ints else str) for c in header},
            keep_default_na=False,
            na_values={c: ["", "nan", "NaN"] for c in header if c in floats or c in ints},
        )

    # ------------------------------------------------------------------ writing

    def append(self, row: Mapping[str, Any], per_class: Sequence[Mapping[str, Any]] | None = None) -> None:
        """Add one measured result (and its per-class values) atomically.

        Args:
            row: a mapping with exactly the keys :data:`COLUMNS`. Float columns accept numbers or ``None``
                (stored as NaN); ``num_images`` and ``batch_size`` integers or ``None``; every other column a
                string (numbers are converted with ``str``, ``None`` becomes ``""``). ``source`` must be
                ``"measured"``.
            per_class: one mapping per class with the keys :data:`PER_CLASS_VALUE_COLUMNS` (the key columns
                are taken from ``row``; if given they must match it). ``None`` writes no per-class values.

        Any per-class rows already stored for this key are orphans of an interrupted append (the main file
        does not hold the key, or this call would have been refused); they are replaced, never duplicated.

        Raises:
            ValueError: ``row`` lacks columns or has unknown ones (the message names them), a value has the
                wrong type, ``source`` is not ``"measured"``, or ``per_class`` is malformed.
            DuplicateResultError: the store already holds a row with this key.
            ResultsFileError: an existing file is malformed; nothing is written.
        """
        problems = _column_problems(row, COLUMNS, "unknown")
        if problems:
            raise ValueError(f"result row: {problems}")
        new = _normalise(row, COLUMNS, FLOAT_COLUMNS, INT_COLUMNS)
        if new["source"] != _SOURCE:
            raise ValueError(
                f"result row: source must be {_SOURCE!r}, got {new['source']!r} "
                "(reported figures belong to the weight records, not to the results store)"
            )
        key = row_key(new)
        new_classes = self._per_class_rows(key, per_class)

        with self._lock():
            # Read (and so validate) both files before writing anything: a malformed file is never replaced.
            table = self.read()
            classes = self.read_per_class() if self.per_class_path.exists() else None
            if key in {tuple(k) for k in table.loc[:, list(KEY_COLUMNS)].itertuples(index=False, name=None)}:
                raise DuplicateResultError(
                    f"{self.path} already holds a result for {dict(zip(KEY_COLUMNS, key, strict=True))}"
                )

            # Per-class first: until the main file is replaced the key is not done, so whatever is in the
            # companion file for it is an orphan and may be dropped.
            if classes is not None or new_classes:
                if classes is None:
                    classes = _empty(PER_CLASS_COLUMNS, _PER_CLASS_FLOAT_COLUMNS, _PER_CLASS_INT_COLUMNS)
                same_key = pd.Series(True, index=classes.index)
                for c, v in zip(KEY_COLUMNS, key, strict=True):
                    same_key &= classes[c] == v
                kept = classes.loc[~same_key]
                if new_classes or same_key.any():
                    added = pd.DataFrame(new_classes, columns=PER_CLASS_COLUMNS)
                    merged = pd.concat([kept, added], ignore_index=True) if len(added) else kept
                    merged = _typed_frame(
                        merged, PER_CLASS_COLUMNS, _PER_CLASS_FLOAT_COLUMNS, _PER_CLASS_INT_COLUMNS
                    )
                    self._write(self.per_class_path, merged)

            added_row = _typed_frame(
                pd.DataFrame([new], columns=COLUMNS), COLUMNS, FLOAT_COLUMNS, INT_COLUMNS
            )
            merged = pd.concat([table, added_row], ignore_index=True) if len(table) else added_row
            self._write(self.path, _typed_frame(merged, COLUMNS, FLOAT_COLUMNS, INT_COLUMNS))

    def _per_class_rows(
        self, key: tuple[str, ...], per_class: Sequence[Mapping[str, Any]] | None
    ) -> list[dict[str, Any]]:
        if per_class is None:
            return []
        out: list[dict[str, Any]] = []
        seen: set[int] = set()
        for i, record in enumerate(per_class):
            missing = [c for c in PER_CLASS_VALUE_COLUMNS if c not in record]
            extra = [str(c) for c in record if c not in PER_CLASS_COLUMNS]
            if missing or extra:
                raise ValueError(
                    f"per-class record {i}: missing {missing or 'nothing'}, unknown {extra or 'nothing'}"
                )
            for c, v in zip(KEY_COLUMNS, key, strict=True):
                if c in record and _as_str(record[c], c) != v:
                    raise ValueError(f"per-class record {i}: {c}={record[c]!r} differs from the row's {v!r}")
            values = _normalise(
                record, PER_CLASS_VALUE_COLUMNS, _PER_CLASS_FLOAT_COLUMNS, _PER_CLASS_INT_COLUMNS
            )
            if values["class_index"] is pd.NA:
                raise ValueError(f"per-class record {i}: class_index is required")
            if values["class_index"] in seen:
                raise ValueError(f"per-class record {i}: class_index {values['class_index']} repeated")
            seen.add(values["class_index"])
            out.append({**dict(zip(KEY_COLUMNS, key, strict=True)), **values})
        return out

    def replace(self, table: pd.DataFrame, per_class: pd.DataFrame | None = None) -> None:
        """Replace the whole store with ``table`` (and ``per_class``, when given), each file atomically.

        The per-class file is written first and the main file, which says which keys are done, last (as in
        :meth:`append`). Used to merge shard stores and to leave an empty store that says a shard ran.
        """
        with self._lock():
            if per_class is not None:
                self._write(self.per_class_path, per_class.loc[:, PER_CLASS_COLUMNS].reset_index(drop=True))
            self._write(self.path, _typed_frame(table, COLUMNS, FLOAT_COLUMNS, INT_COLUMNS))

    def _write(self, path: Path, df: pd.DataFrame) -> None:
        """Replace ``path`` with ``df`` atomically: temp file in the same directory, fsync, ``os.replace``."""
        path.parent.mkdir(parents=True, exist_ok=True)
        # Same directory so os.replace is a rename within one filesystem (atomic); a dot name and a .tmp
        # suffix so that a temp file orphaned by a hard kill is never taken for a results file.
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                if self._parquet:
                    df.to_parquet(f, index=False)
                else:
                    # to_csv writes floats with repr (shortest round-tripping form) and NaN/NA as "".
                    f.write(df.to_csv(index=False, lineterminator="\n").encode("utf-8"))
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            # BaseException: Ctrl-C during the write must not leave the temp file behind either.
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        _fsync_dir(path.parent)

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        # An advisory lock so that two harness processes appending to one store do not lose each other's
        # rows (each append is read-modify-write). Best effort: without fcntl (Windows) appends are unlocked.
        try:
            import fcntl
        except ImportError:
            yield
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_name(f".{self.path.name}.lock"), "a") as f:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f.fileno(), fcntl.LOCK_UN)
