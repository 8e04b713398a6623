"""The results store: an append-only table of measured results (and per-class values beside it), one class for
every table, parametrized by a :class:`~zoo.results.schema.TableSchema`.

A row is identified by the schema's key columns and the store holds at most one row per key, so a rerun with
``--resume`` skips :meth:`ResultsStore.done_keys` and never duplicates a row.

**CSV stores** (any path not ending in ``.parquet``) are append-only text: people open them, and the
committed ``leaderboards/data`` stay diff-friendly. An append writes the per-class lines and then the row's
line at the end of the files, each with one ``write`` and an ``fsync``, so its cost does not depend on how many
rows the store holds (``benchmarks/test_store_bench.py``). Before it writes, it records in a journal
(``.<name>.journal``) how long both files were; if the writer dies part-way (kill -9, power cut, a full disk),
the next writer finds the entry and cuts both files back, or keeps the append if the row's line is complete.
So a crash never leaves a torn or half-stored row, and per-class lines of a row that was never stored do not
survive. A reader that meets an unfinished last line while an append is under way (or awaits its undoing)
ignores it; an unfinished last line with no append under way was made outside zoo and is an error.

:meth:`ResultsStore.read` and :meth:`ResultsStore.read_per_class` parse a CSV file a column at a time with
pyarrow when that provably reads what Python's ``csv`` module reads (quoting, field counts, UTF-8, number forms,
unique keys: see :func:`zoo.results.files.arrow_columns`), and otherwise record by record, which names what is
wrong: the same frame or the same error either way, in a fraction of the time and memory for large files.

**Parquet stores** (``.parquet``) cannot be appended to: every append rewrites both files atomically (temporary
file, fsync, rename), which costs time in proportion to the store's size. Prefer CSV for long sweeps.

Writers (appends, :meth:`ResultsStore.replace`, :meth:`ResultsStore.preflight`) hold a lock file
(``.<name>.lock``, :mod:`filelock`); readers take no lock, so a read-only results folder can be read.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shlex
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from filelock import FileLock

from zoo.errors import DuplicateResultError, ResultsFileError, UnsavedResultError
from zoo.results.files import (
    CsvScan,
    Journal,
    NotTextError,
    append_bytes,
    arrow_columns,
    csv_bytes,
    probe_writable,
    remove_stale_temp_files,
    truncate,
    without_gc,
    write_atomically,
)
from zoo.results.schema import ACCURACY, SCHEMAS, BadValueError, TableSchema, key_text

__all__ = ["PreflightReport", "ResultsStore", "UnsavedResultError", "restore_unsaved"]

logger = logging.getLogger(__name__)

# How many bytes before the end of what a writer has read it compares on its next append, to notice a file
# rewritten in place by someone else (a rename, which zoo's own rewrites do, changes the inode and is seen anyway).
_CHECK_BYTES = 64


@dataclass(frozen=True)
class PreflightReport:
    """What :meth:`ResultsStore.preflight` found."""

    path: Path  #: the main file
    rows: int  #: how many rows the store holds
    stored: frozenset[tuple[str, ...]]  #: the planned keys the store already holds
    notes: tuple[str, ...] = ()  #: what was repaired or created on the way, one line each


def _release_arrow_memory() -> None:
    """Give back to the system what pyarrow's allocator kept of the temporary arrays of a columnar read (it
    keeps freed memory for reuse: a third of the process's peak after reading a 140 MB file)."""
    import pyarrow as pa

    pa.default_memory_pool().release_unused()


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def _os_reason(error: OSError) -> str:
    return _one_line(error.strerror or error)


@dataclass
class _Table:
    """One file of a store: the main table, or its per-class companion."""

    path: Path
    schema: TableSchema
    # Leading key columns that name the row a record belongs to; the rest of the key tells records of one row
    # apart (the class index). Grouping keeps one entry per row in memory, not one per class.
    group_columns: int

    def group_of(self, key: Sequence[str]) -> tuple[str, ...]:
        return tuple(key[: self.group_columns])


_ONE_RECORD: frozenset[tuple[()]] = frozenset({()})


class _Validator:
    """Checks the records of one CSV file against its schema, a batch at a time, and collects their keys.

    Column by column (one ``zip`` and one conversion per column) rather than record by record, which took
    several times longer on a store of 20,000 rows with 420,000 per-class rows.
    """

    def __init__(self, table: _Table, header: list[str]) -> None:
        self.table = table
        self.header = header
        key = [header.index(c) for c in table.schema.key_columns]
        self.group_index = key[: table.group_columns]
        self.member_columns = [header[i] for i in key[table.group_columns :]]
        #: the keys seen, by the row they belong to: the part that tells one row's records apart (the class
        #: index) in a set, so memory grows with the rows, not with rows x classes
        self.groups: dict[tuple[str, ...], frozenset[tuple[Any, ...]] | set[tuple[Any, ...]]] = {}

    def group_of(self, fields: Sequence[str]) -> tuple[str, ...]:
        return tuple(fields[i] for i in self.group_index)

    def check(self, rows: list[list[str]], first_number: int) -> dict[str, list[Any]]:
        """Check records (``rows[i]`` is record ``first_number + i``; blank lines are skipped) and add their
        keys. Returns their values by column, converted to the column types.

        Raises:
            ResultsFileError: a record with another number of fields than the header, a value of the wrong
                type, or a key seen before; the message names the record.
        """
        path, width = self.table.path, len(self.header)
        numbers: Sequence[int] = range(first_number, first_number + len(rows))
        if not all(rows):
            numbers = [n for n, r in zip(numbers, rows, strict=True) if r]
            rows = [r for r in rows if r]
        if set(map(len, rows)) - {width}:
            i = next(i for i, r in enumerate(rows) if len(r) != width)
            raise ResultsFileError(
                f"{path}: record {numbers[i]} has {len(rows[i])} fields, the header has {width}: "
                "fix or remove that line"
            )
        columns = list(zip(*rows, strict=True)) if rows else [() for _ in self.header]
        values: dict[str, list[Any]] = {}
        for column, texts in zip(self.header, columns, strict=True):
            try:
                values[column] = self.table.schema.parse_texts(column, texts)
            except BadValueError as e:
                raise ResultsFileError(f"{path}: record {numbers[e.index]}, {e}: fix that value") from None
        groups = list(zip(*(columns[i] for i in self.group_index), strict=True)) if rows else []
        if self.member_columns:
            members = list(zip(*(values[c] for c in self.member_columns), strict=True))
            self._add_members(groups, members, numbers)
        else:
            self._add_rows(groups, numbers)
        return values

    def _add_rows(self, groups: list[tuple[str, ...]], numbers: Sequence[int]) -> None:
        fresh = set(groups)
        if len(fresh) == len(groups) and self.groups.keys().isdisjoint(fresh):
            self.groups.update(dict.fromkeys(groups, _ONE_RECORD))
            return
        seen = set(self.groups)
        for number, group in zip(numbers, groups, strict=True):
            if group in seen:
                self._repeated(number, group)
            seen.add(group)

    def _add_members(
        self, groups: list[tuple[str, ...]], members: list[tuple[Any, ...]], numbers: Sequence[int]
    ) -> None:
        known = self.groups
        for number, group, member in zip(numbers, groups, members, strict=True):
            found = known.get(group)
            if found is None:
                known[group] = {member}
            elif member in found:
                self._repeated(number, (*group, *map(str, member)))
            else:
                found.add(member)  # type: ignore[union-attr]  # member sets are mutable

    def _repeated(self, number: int, key: tuple[str, ...]) -> None:
        raise ResultsFileError(
            f"{self.table.path}: record {number} and an earlier record share a key "
            f"({self.table.schema.describe_key(key)}): remove one of them"
        )


@dataclass
class _Index:
    """What a writer knows of one CSV file it has read: identity, how far, and the keys in it."""

    inode: int
    size: int  #: bytes of complete records read
    check: bytes  #: the last bytes before ``size``
    records: int  #: records read, header and blank lines included (for record numbers in messages)
    validator: _Validator

    @property
    def header(self) -> list[str]:
        return self.validator.header

    def appended(self, data: bytes, records: int) -> None:
        self.size += len(data)
        self.check = (self.check + data)[-_CHECK_BYTES:]
        self.records += records


@dataclass
class _Loaded:
    """A CSV file read whole and checked."""

    validator: _Validator
    consumed: int  #: bytes of complete records
    records: int  #: complete records, header and blank lines included
    check: bytes  #: the last bytes of the complete records
    rows: list[list[str]]  #: the records after the header, as stored (blank lines are empty lists)
    values: dict[str, list[Any]]  #: their values by column, converted


class ResultsStore:
    """A table of measured results at ``path``: CSV (append-only) unless the path ends with ``.parquet``.

    Per-class values, for a schema that has them, live beside it in ``<stem>.per_class<suffix>``
    (``results.csv`` -> ``results.per_class.csv``).

    Args:
        path: the main results file. Its folder is created on the first write.
        schema: the table it holds: :data:`zoo.results.ACCURACY` (default) or :data:`zoo.results.SPEED`.
    """

    def __init__(self, path: str | os.PathLike[str], schema: TableSchema = ACCURACY) -> None:
        self.path = Path(path)
        self.schema = schema
        self.is_parquet = self.path.suffix.lower() == ".parquet"
        self.per_class_path: Path | None = (
            self.path.with_name(f"{self.path.stem}.per_class{self.path.suffix}") if schema.per_class else None
        )
        self._main = _Table(self.path, schema, len(schema.key_columns))
        self._per_class = (
            _Table(self.per_class_path, schema.per_class, len(schema.key_columns))
            if self.per_class_path is not None and schema.per_class is not None
            else None
        )
        self._journal = Journal(self.path.with_name(f".{self.path.name}.journal"))
        self._lock_path = self.path.with_name(f".{self.path.name}.lock")
        self._index: dict[Path, _Index] = {}
        self._swept = False

    def __repr__(self) -> str:
        return f"ResultsStore({str(self.path)!r}, {self.schema.name})"

    def _tables(self) -> list[_Table]:
        return [self._main] if self._per_class is None else [self._main, self._per_class]

    # ================================================================== reading (no lock)

    def read(self) -> pd.DataFrame:
        """The rows as a DataFrame with exactly the schema's columns, in file order.

        Float columns are ``float64`` (NaN kept), int columns nullable ``Int64``, every other column text
        (``""`` when empty). An empty frame with these columns when the file does not exist.

        Raises:
            ResultsFileError: the file exists but cannot be used (see :meth:`preflight`); the message names it.
        """
        return self._read_frame(self._main)

    def read_per_class(self) -> pd.DataFrame:
        """The per-class values as a DataFrame with exactly the per-class schema's columns.

        May hold rows for a key :meth:`read` lacks (an append under way, or one a crash interrupted that no
        writer has undone yet); join on the key columns to use only those of stored rows.

        Raises:
            ValueError: the schema has no per-class table.
            ResultsFileError: as :meth:`read`, for the companion file.
        """
        if self._per_class is None:
            raise ValueError(f"{self.schema.name} rows have no per-class values")
        return self._read_frame(self._per_class)

    def done_keys(self) -> set[tuple[str, ...]]:
        """The keys (see :meth:`TableSchema.key`) of every stored row: what ``--resume`` skips.

        Raises:
            ResultsFileError: as :meth:`read`.
        """
        if not self.path.exists():
            return set()
        if self.is_parquet:
            return self._frame_keys(self._main, self._read_frame(self._main))
        return set(self._load_csv(self._main).validator.groups)

    def has(self, row_or_key: Mapping[str, Any] | Sequence[Any]) -> bool:
        """Whether the store holds a row with this key; accepts a row (any mapping) or a key sequence."""
        return self.schema.key_of(row_or_key) in self.done_keys()

    def _read_frame(self, table: _Table) -> pd.DataFrame:
        if not table.path.exists():
            return table.schema.empty()
        if self.is_parquet:
            return self._read_parquet(table)
        frame = self._read_csv_columnar(table)
        if frame is not None:
            return frame
        loaded = self._load_csv(table)
        return table.schema.typed(pd.DataFrame(loaded.values, columns=loaded.validator.header))

    def _read_csv_columnar(self, table: _Table) -> pd.DataFrame | None:
        """The frame :meth:`_load_csv` gives, read a column at a time by pyarrow; ``None`` unless every check
        passed, so that the caller reads the file again with :meth:`_load_csv`, which names what is wrong.

        Reading a file record by record kept several Python strings per field and several copies of the file
        (a 140 MB per-class file took 1.8 GB and most of ``zoo leaderboard``'s time); this keeps one copy of
        the bytes and one array per column. The checks are those of :meth:`_check_csv`: the header (refused
        with its message), field counts, UTF-8 and the CSV quoting (:func:`~zoo.results.files.arrow_columns`),
        value types (:meth:`TableSchema.parse_arrow`) and unique keys (:meth:`_keys_unique`).
        """
        data = self._read_bytes(table.path)
        parsed = arrow_columns(data)
        if parsed is None:
            return None
        header, texts = parsed
        del data
        self._check_header(table, header)
        values = {}
        for column in header:
            values[column] = table.schema.parse_arrow(column, texts[column])
            if values[column] is None:
                return None
        if not self._keys_unique(table, texts, values):
            return None
        frame = table.schema.typed(pd.DataFrame(values, columns=header, copy=False))
        del texts, values
        _release_arrow_memory()
        return frame

    @staticmethod
    def _keys_unique(table: _Table, texts: Mapping[str, Any], values: Mapping[str, Any]) -> bool:
        """Whether no two records share a key, judged as :class:`_Validator` judges it: the row's key columns
        by their text, the columns that tell one row's records apart (the class index) by their value."""
        import pyarrow as pa
        import pyarrow.compute as pc

        key = table.schema.key_columns
        arrays = [texts[c] for c in key[: table.group_columns]]
        arrays += [
            pa.chunked_array([pa.array(values[c], from_pandas=True)]) for c in key[table.group_columns :]
        ]
        code = np.zeros(len(arrays[0]) if arrays else 0, dtype=np.int64)
        span = 1  # code < span
        for array in arrays:
            # one small integer per distinct value (a missing value is one too), combined into one code per key
            encoded = pc.dictionary_encode(array, null_encoding="encode").combine_chunks()
            size = max(len(encoded.dictionary), 1)
            if span * size >= 1 << 62:  # renumber 0..n-1 first, so that the product cannot overflow
                code, uniques = pd.factorize(code)
                span = len(uniques)
            code = code * size + encoded.indices.to_numpy(zero_copy_only=False)
            span *= size
        return len(code) == len(pd.unique(code))

    def _read_bytes(self, path: Path) -> bytes:
        try:
            return path.read_bytes()
        except IsADirectoryError:
            raise ResultsFileError(
                f"{path} is a folder, not a results file: give a file path such as {path / 'results.csv'}"
            ) from None
        except OSError as e:
            raise ResultsFileError(f"{path}: cannot be read ({_os_reason(e)}): fix its permissions") from None

    def _load_csv(self, table: _Table, *, retry: bool = True) -> _Loaded:
        """Read and check a whole CSV file (header, field counts, values, unique keys)."""
        path = table.path
        data = self._read_bytes(path)
        if not data.strip():
            raise ResultsFileError(
                f"{path}: the file is empty (no header line): delete it and zoo starts a new one"
            )
        with without_gc():
            return self._check_csv(table, data, retry)

    def _check_csv(self, table: _Table, data: bytes, retry: bool) -> _Loaded:
        path = table.path
        try:
            scan = CsvScan(data)
        except ValueError as e:  # NotTextError, malformed CSV
            what = "restore the file" if isinstance(e, NotTextError) else "fix or remove that record"
            raise ResultsFileError(f"{path}: cannot be read as a results table: {e}: {what}") from None
        at = next((i for i, fields in enumerate(scan.rows) if fields), None)
        if at is None:
            try:
                scan.tail.decode("utf-8")
            except UnicodeDecodeError as e:
                raise ResultsFileError(
                    f"{path}: cannot be read as a results table: {NotTextError(e.start)}: restore the file, "
                    "or delete it and zoo starts a new one"
                ) from None
            raise ResultsFileError(
                f"{path}: the header line is unfinished (no line end): delete the file and zoo starts a new one"
            )
        header = scan.rows[at]
        self._check_header(table, header)
        validator = _Validator(table, header)
        rows = scan.rows[at + 1 :]
        values = validator.check(rows, at + 2)
        if scan.tail and self._journal.pending() is None:
            if retry:  # an append may have finished (and cleared its journal) while this was reading
                return self._load_csv(table, retry=False)
            raise ResultsFileError(
                f"{path}: record {len(scan.rows) + 1} has {scan.tail_fields()} of {len(header)} fields and no "
                "line end: the file was cut short outside zoo (zoo undoes its own interrupted appends); end "
                "that line with a newline if it is complete, else remove it"
            )
        check = data[: scan.consumed][-_CHECK_BYTES:]
        return _Loaded(validator, scan.consumed, len(scan.rows), check, rows, values)

    def _read_parquet(self, table: _Table) -> pd.DataFrame:
        path = table.path
        if path.is_dir():
            self._read_bytes(path)  # raises the message for a folder
        try:
            frame = pd.read_parquet(path)
        except Exception as e:  # pyarrow raises many types for a bad file; all mean the same here
            raise ResultsFileError(
                f"{path}: cannot be read as a results table ({_one_line(e)}): restore the file or remove it"
            ) from e
        self._check_header(table, [str(c) for c in frame.columns])
        try:
            frame = table.schema.typed(frame)
        except (ValueError, TypeError) as e:
            raise ResultsFileError(f"{path}: a value has the wrong type ({_one_line(e)}): fix it") from e
        duplicated = frame.duplicated(subset=list(table.schema.key_columns), keep=False)
        if duplicated.any():
            first = frame.loc[duplicated, list(table.schema.key_columns)].iloc[0]
            raise ResultsFileError(
                f"{path}: {int(duplicated.sum())} rows share a key "
                f"({table.schema.describe_key([key_text(v, c) for c, v in first.items()])}): remove one of them"
            )
        return frame

    def _frame_keys(self, table: _Table, frame: pd.DataFrame) -> set[tuple[str, ...]]:
        columns = table.schema.key_columns[: table.group_columns]
        return {
            tuple(key_text(v, c) for v, c in zip(values, columns, strict=True))
            for values in frame.loc[:, list(columns)].itertuples(index=False, name=None)
        }

    def _check_header(self, table: _Table, header: list[str]) -> None:
        schema, path = table.schema, table.path
        repeated = sorted({c for c in header if header.count(c) > 1})
        if repeated:
            raise ResultsFileError(
                f"{path}: the header repeats column(s) {', '.join(repeated)}: fix the header"
            )
        if set(header) == set(schema.columns):
            return
        layout = schema.layout_of(header)
        if layout is not None:
            raise ResultsFileError(
                f"{path}: written by an older zoo ({schema.name} layout v{layout.version}, this zoo writes "
                f"v{schema.version}); upgrade it (a backup is kept) with: {self.upgrade_command()}"
            )
        problems = schema.column_problems(header, "unexpected")
        if any(c not in schema.columns for c in header):
            advice = "written by a newer zoo or edited by hand: update zoo, or give another results file"
        else:
            advice = f"this is not a zoo {schema.name} table: give another results file"
        raise ResultsFileError(f"{path}: {problems} ({advice})")

    def upgrade_command(self) -> str:
        """The command line that upgrades this store to the current layout (see :meth:`upgrade`)."""
        return f"zoo results upgrade --table {self.schema.name} {shlex.quote(str(self.path))}"

    # ================================================================== checking before work

    def preflight(self, planned: Iterable[Mapping[str, Any] | Sequence[Any]] = ()) -> PreflightReport:
        """Check that results can be written here, before any model is built; report what is already stored.

        Opens, parses and checks both files (header, layout version, field counts, value types, unique
        keys), creates the folder when it is missing, proves it writable by creating and removing a file in
        it, undoes an append a crash interrupted and removes temporary files a crash left. A CSV store is then
        indexed, so the appends that follow cost the same whatever the store's size.

        Args:
            planned: the rows (or keys) about to be computed.

        Returns:
            The report: the planned keys already stored (what ``--resume`` skips), the number of rows, and
            a line for each repair made.

        Raises:
            ResultsFileError: anything that would stop a result being stored; one line naming the file and
                what to do (a folder where the file should be, a folder that cannot be written, an empty,
                truncated, non-UTF-8 or malformed file, an older layout (with the command that upgrades it), a
                newer or unknown one, a broken per-class file).
        """
        keys = {self.schema.key_of(p) for p in planned}
        notes: list[str] = []
        for table in self._tables():
            if table.path.is_dir():
                self._read_bytes(table.path)  # raises the message for a folder
        folder = self.path.parent
        if not folder.is_dir():
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise ResultsFileError(
                    f"{folder}: cannot create the results folder ({_os_reason(e)}): give another results path"
                ) from None
            notes.append(f"created the folder {folder}")
        try:
            probe_writable(folder, self.path.name)
        except OSError as e:
            raise ResultsFileError(
                f"{folder}: cannot write in this folder ({_os_reason(e)}): give another results path or fix "
                "its permissions"
            ) from None
        for table in self._tables():
            if table.path.exists():
                try:
                    os.close(os.open(table.path, os.O_WRONLY | os.O_APPEND))
                except OSError as e:
                    raise ResultsFileError(
                        f"{table.path}: cannot be written ({_os_reason(e)}): fix its permissions"
                    ) from None
        try:
            with self._locked():
                notes += self._recover()
                stored = self._stored_keys()
        except OSError as e:
            raise ResultsFileError(
                f"{e.filename or self.path}: {_os_reason(e)}: fix it, then retry"
            ) from None
        return PreflightReport(self.path, len(stored), frozenset(keys & stored), tuple(notes))

    def _stored_keys(self) -> set[tuple[str, ...]]:
        """Under the lock: check both files and return the keys of the main one (indexing CSV files)."""
        if self.is_parquet:
            keys: set[tuple[str, ...]] = set()
            for table in self._tables():
                if table.path.exists():
                    found = self._frame_keys(table, self._read_parquet(table))
                    keys = found if table is self._main else keys
            return keys
        main = self._refresh(self._main)
        if self._per_class is not None:
            self._refresh(self._per_class)
        return set(main.validator.groups) if main else set()

    # ================================================================== writing

    def append(
        self,
        row: Mapping[str, Any],
        per_class: Sequence[Mapping[str, Any]] | None = None,
        *,
        overwrite: bool = False,
    ) -> None:
        """Add one measured row (and its per-class values) so that a crash leaves all of it or none.

        Args:
            row: a mapping with exactly the schema's columns. Float columns take numbers or ``None`` (NaN),
                int columns integers or ``None``; every other column a string (numbers are converted with
                ``str``, ``None`` becomes ``""``). ``source`` must be ``"measured"``.
            per_class: one mapping per class with the per-class value columns (the key columns are taken from
                ``row``; if given they must match it). ``None`` writes no per-class values.
            overwrite: replace the stored row with this key (and its per-class values) instead of refusing
                it. Replacing rewrites both files (time in proportion to the store's size); appending a new
                key does not.

        Per-class rows already in the companion file for this key belong to no stored row (left by an older
        zoo interrupted between its two files); they are replaced, never duplicated.

        Raises:
            ValueError: ``row`` lacks columns or has unknown ones (named), a value has the wrong type, the
                source is not ``"measured"``, or ``per_class`` is malformed. Nothing is written.
            DuplicateResultError: the store already holds this key (and ``overwrite`` is false).
            UnsavedResultError: the store could not be written (a full disk, a malformed file, permissions);
                the row was saved to a recovery file whose path the message gives, with the command that
                restores it.
        """
        new = self.schema.normalise(row)
        key = self.schema.key(new)
        classes = self._per_class_rows(key, per_class)
        try:
            self._store(new, key, classes, overwrite)
        except (OSError, ResultsFileError) as error:
            raise self._save_unsaved(new, classes, error) from error

    def _store(
        self, row: dict[str, Any], key: tuple[str, ...], classes: list[dict[str, Any]], overwrite: bool
    ) -> None:
        with self._locked():
            self._recover()
            if self.is_parquet:
                self._store_parquet(row, key, classes, overwrite)
            else:
                self._store_csv(row, key, classes, overwrite)

    def _per_class_rows(
        self, key: tuple[str, ...], per_class: Sequence[Mapping[str, Any]] | None
    ) -> list[dict[str, Any]]:
        if per_class is None:
            return []
        if self._per_class is None:
            raise ValueError(f"{self.schema.name} rows have no per-class values")
        schema = self._per_class.schema
        key_values = dict(zip(self.schema.key_columns, key, strict=True))
        value_columns = self.schema.per_class_value_columns
        index_column = schema.key_columns[-1]
        out: list[dict[str, Any]] = []
        seen: set[int] = set()
        for i, record in enumerate(per_class):
            missing = [c for c in value_columns if c not in record]
            extra = [str(c) for c in record if c not in schema.columns]
            if missing or extra:
                raise ValueError(
                    f"per-class record {i}: missing {missing or 'nothing'}, unknown {extra or 'nothing'}"
                )
            for c, v in key_values.items():
                if c in record and key_text(record[c], c) != v:
                    raise ValueError(f"per-class record {i}: {c}={record[c]!r} differs from the row's {v!r}")
            values = schema.normalise({**record, **key_values})
            if values[index_column] is pd.NA:
                raise ValueError(f"per-class record {i}: {index_column} is required")
            if values[index_column] in seen:
                raise ValueError(f"per-class record {i}: {index_column} {values[index_column]} repeated")
            seen.add(values[index_column])
            out.append(values)
        return out

    def _store_csv(
        self, row: dict[str, Any], key: tuple[str, ...], classes: list[dict[str, Any]], overwrite: bool
    ) -> None:
        main = self._refresh(self._main)
        if main is not None and key in main.validator.groups:
            if not overwrite:
                raise DuplicateResultError(
                    f"{self.path} already holds a result for {self.schema.describe_key(key)}"
                )
            # The main file first: from then on the key is not done, and its per-class rows are orphans
            # that the next step (or, after a crash, the next append of the key) drops.
            self._rewrite_without(self._main, {key})
            main = self._refresh(self._main)
        per_class = None
        if self._per_class is not None:
            per_class = self._refresh(self._per_class)
            if per_class is not None and key in per_class.validator.groups:
                self._rewrite_without(self._per_class, {key})
                per_class = self._refresh(self._per_class)
        if main is None:
            main = self._create(self._main)
        if classes and per_class is None and self._per_class is not None:
            per_class = self._create(self._per_class)

        line = csv_bytes([self.schema.format_row(row, main.header)])
        block = b""
        if classes and per_class is not None and self._per_class is not None:
            schema = self._per_class.schema
            block = csv_bytes(schema.format_row(c, per_class.header) for c in classes)
        entry = {"key": list(key), "main": [main.inode, main.size]}
        if block and per_class is not None:
            entry["per_class"] = [per_class.inode, per_class.size]
        self._journal.begin(entry)
        try:
            # Per-class lines first: until the row's line is complete the key is not stored, and a crash in
            # between is undone from the journal.
            if block and self._per_class is not None:
                append_bytes(self._per_class.path, block)
            append_bytes(self.path, line)
        except BaseException:
            self._undo(entry)
            raise
        self._journal.clear()
        main.appended(line, 1)
        main.validator.groups[key] = {()}
        if block and per_class is not None:
            per_class.appended(block, len(classes))
            members = per_class.validator.member_columns
            per_class.validator.groups[key] = {tuple(c[m] for m in members) for c in classes}

    def _create(self, table: _Table) -> _Index:
        """A new CSV file holding the header line only (written atomically), indexed."""
        write_atomically(table.path, lambda f: f.write(csv_bytes([table.schema.columns])))
        index = self._refresh(table)
        assert index is not None
        return index

    def _refresh(self, table: _Table) -> _Index | None:
        """Under the lock: the index of a CSV file, brought up to date by reading only what was appended since
        this store last read it (the whole file the first time, or when it was replaced)."""
        path = table.path
        try:
            status = os.stat(path)
        except FileNotFoundError:
            self._index.pop(path, None)
            return None
        index = self._index.get(path)
        if index is not None and index.inode == status.st_ino and status.st_size >= index.size:
            with open(path, "rb") as f:
                f.seek(index.size - len(index.check))
                data = f.read()
            if data.startswith(index.check):
                new = data[len(index.check) :]
                if new:
                    try:
                        scan = CsvScan(new, first_record=index.records + 1)
                    except ValueError as e:
                        raise ResultsFileError(f"{path}: cannot be read as a results table: {e}") from None
                    index.validator.check(scan.rows, index.records + 1)
                    if scan.tail:  # under the lock and after _recover, only damage leaves an unfinished line
                        return self._refresh_whole(table)
                    index.appended(new[: scan.consumed], len(scan.rows))
                return index
        return self._refresh_whole(table)

    def _refresh_whole(self, table: _Table) -> _Index:
        self._index.pop(table.path, None)
        status = os.stat(table.path)
        loaded = self._load_csv(table, retry=False)
        index = _Index(status.st_ino, loaded.consumed, loaded.check, loaded.records, loaded.validator)
        self._index[table.path] = index
        return index

    def _rewrite_without(self, table: _Table, keys: set[tuple[str, ...]]) -> None:
        """Under the lock: rewrite a CSV file atomically without the records of ``keys`` (text kept as is)."""
        loaded = self._load_csv(table, retry=False)
        groups = {table.group_of(k) for k in keys}
        group_of = loaded.validator.group_of
        kept = [r for r in loaded.rows if r and group_of(r) not in groups]
        logger.info("%s: rewriting without %d record(s)", table.path, sum(map(bool, loaded.rows)) - len(kept))
        data = csv_bytes([loaded.validator.header, *kept])
        write_atomically(table.path, lambda f: f.write(data))
        self._index.pop(table.path, None)

    def _store_parquet(
        self, row: dict[str, Any], key: tuple[str, ...], classes: list[dict[str, Any]], overwrite: bool
    ) -> None:
        # Parquet cannot be appended to: both files are rewritten whole, each atomically.
        main = self._main
        table = self._read_parquet(main) if main.path.exists() else main.schema.empty()
        stored = self._frame_keys(main, table)
        if key in stored:
            if not overwrite:
                raise DuplicateResultError(
                    f"{self.path} already holds a result for {self.schema.describe_key(key)}"
                )
            table = table.loc[[k != key for k in self._row_keys(main, table)]]
            self._write_frame(main, table)  # the key is not done from here on: its per-class rows are orphans
        if self._per_class is not None:
            pc = self._per_class
            existing = self._read_parquet(pc) if pc.path.exists() else None
            if existing is not None or classes:
                frame = existing if existing is not None else pc.schema.empty()
                mine = [k == key for k in self._row_keys(pc, frame)]
                if classes or any(mine):
                    kept = frame.loc[[not m for m in mine]]
                    added = pd.DataFrame(classes, columns=list(pc.schema.columns))
                    frame = pd.concat([kept, pc.schema.typed(added)], ignore_index=True) if classes else kept
                    self._write_frame(pc, frame)
        added_row = main.schema.typed(pd.DataFrame([row], columns=list(main.schema.columns)))
        self._write_frame(main, pd.concat([table, added_row], ignore_index=True) if len(table) else added_row)

    def _row_keys(self, table: _Table, frame: pd.DataFrame) -> list[tuple[str, ...]]:
        columns = table.schema.key_columns[: table.group_columns]
        return [
            tuple(key_text(v, c) for v, c in zip(values, columns, strict=True))
            for values in frame.loc[:, list(columns)].itertuples(index=False, name=None)
        ]

    def _write_frame(self, table: _Table, frame: pd.DataFrame) -> None:
        """Replace a whole file with ``frame`` atomically, in the store's format."""
        frame = table.schema.typed(frame)
        if self.is_parquet:
            write_atomically(table.path, lambda f: frame.to_parquet(f, index=False))
        else:
            columns = [table.schema.column_texts(c, frame[c].tolist()) for c in table.schema.columns]
            data = csv_bytes([table.schema.columns, *zip(*columns, strict=True)])
            write_atomically(table.path, lambda f: f.write(data))
        self._index.pop(table.path, None)

    def replace(self, table: pd.DataFrame, per_class: pd.DataFrame | None = None) -> None:
        """Replace the whole store with ``table`` (and ``per_class``, when given), each file atomically, in
        time proportional to their size. Used to merge shard stores, and to leave an empty store that says
        a shard ran.

        The per-class file is written first and the main file, which says which keys are stored, last.

        Raises:
            ValueError: a frame lacks columns, holds a value of the wrong type, or repeats a key.
            ResultsFileError: the store cannot be written.
        """
        frames = [(self._main, table)]
        if per_class is not None:
            if self._per_class is None:
                raise ValueError(f"{self.schema.name} rows have no per-class values")
            frames.insert(0, (self._per_class, per_class))
        checked = []
        for target, frame in frames:
            problems = target.schema.column_problems(frame.columns)
            if problems:
                raise ValueError(f"{target.schema.name} table: {problems}")
            frame = target.schema.typed(frame)
            if frame.duplicated(subset=list(target.schema.key_columns)).any():
                raise ValueError(f"{target.schema.name} table: rows share a key")
            checked.append((target, frame))
        with self._locked():
            self._recover()
            for target, frame in checked:
                self._write_frame(target, frame)

    # ================================================================== locking and crash recovery

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(self._lock_path):
            if not self._swept:  # once per store object: what a killed writer's atomic rewrite left behind
                for table in self._tables():
                    for removed in remove_stale_temp_files(table.path):
                        logger.info("removed %s, left by an interrupted write", removed)
                self._swept = True
            yield

    def _recover(self) -> list[str]:
        """Under the lock: finish what an interrupted append left, from its journal entry. Returns notes."""
        entry = self._journal.pending()
        if entry is None:
            return []
        self._index.clear()
        key = tuple(entry["key"])
        inode, size = entry["main"]
        committed = False
        try:
            status: os.stat_result | None = os.stat(self.path)
        except FileNotFoundError:
            status = None
        if status is not None and status.st_ino == inode and status.st_size > size:
            # The journal still names this append, so an unfinished last line is tolerated here.
            committed = key in self._load_csv(self._main, retry=False).validator.groups
        self._undo(entry, committed=committed)
        note = (
            f"{self.path}: {'kept' if committed else 'undid'} an append that was interrupted "
            f"({self.schema.describe_key(key)})"
        )
        logger.warning(note)
        return [note]

    def _undo(self, entry: Mapping[str, Any], *, committed: bool = False) -> None:
        """Cut both files back to their length before the append ``entry`` describes (unless it completed),
        then clear the journal. A failure leaves the journal, so the next writer tries again."""
        targets = [] if committed else [(self.path, entry["main"])]
        if not committed and entry.get("per_class") and self.per_class_path is not None:
            targets.append((self.per_class_path, entry["per_class"]))
        try:
            for path, (inode, size) in targets:
                with contextlib.suppress(FileNotFoundError):
                    status = os.stat(path)
                    if status.st_ino == inode and status.st_size > size:
                        truncate(path, size)
            self._journal.clear()
        except OSError as e:
            logger.warning(
                "%s: could not undo an interrupted append yet (%s); the next write will", self.path, e
            )
        self._index.clear()

    # ================================================================== rows that could not be stored

    def _save_unsaved(
        self, row: dict[str, Any], classes: list[dict[str, Any]], error: BaseException
    ) -> UnsavedResultError:
        def plain(values: Mapping[str, Any]) -> dict[str, Any]:
            return {c: (None if v is pd.NA else v) for c, v in values.items()}

        line = json.dumps(
            {
                "table": self.schema.name,
                "store": str(self.path.absolute()),
                "row": plain(row),
                "per_class": [plain(c) for c in classes] if classes else None,
            }  # fmt: skip
        )
        reason = _os_reason(error) if isinstance(error, OSError) else _one_line(error)
        described = self.schema.describe_key(self.schema.key(row))
        what = f"{self.path}: could not store the {self.schema.name} row ({described}): {reason}"
        problems = []
        for folder in (self.path.parent, Path(tempfile.gettempdir())):
            target = folder / f"{self.path.name}.unsaved.jsonl"
            try:
                with open(target, "a", encoding="utf-8") as f:
                    f.write(line + "\n")
                    f.flush()
                    os.fsync(f.fileno())
            except OSError as e:
                problems.append(f"{target}: {_os_reason(e)}")
                continue
            return UnsavedResultError(
                f"{what}; the row was saved to {target}: fix the cause, then run: "
                f"zoo results restore {shlex.quote(str(target))}",
                target,
            )
        return UnsavedResultError(
            f"{what}; it could not be saved either ({'; '.join(problems)}); the row: {line}"
        )

    # ================================================================== upgrading an older layout

    def upgrade(self) -> list[Path]:
        """Rewrite files of an older layout in the current one, keeping each old file as
        ``<name>.bak-<UTC time>``; files already current are left alone.

        Returns:
            The backups written (none when nothing needed upgrading).

        Raises:
            ResultsFileError: a file in no layout this zoo knows, or one that does not read back after the
                upgrade (then nothing of that file is changed).
        """
        backups = []
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        with self._locked():
            self._recover()
            for table in self._tables():
                if not table.path.exists():
                    continue
                header, rows = self._raw_rows(table)
                if set(header) == set(table.schema.columns):
                    continue
                layout = table.schema.layout_of(header)
                if layout is None:
                    self._check_header(table, header)  # raises the message for an unknown layout
                    continue
                columns = list(table.schema.columns)
                upgraded = []
                for row in rows:
                    new = layout.upgrade(dict(zip(header, row, strict=True)))
                    upgraded.append([new[c] for c in columns])
                values = _Validator(table, columns).check(upgraded, 2)  # what is written reads back
                frame = pd.DataFrame(values, columns=columns)
                backup = table.path.with_name(f"{table.path.name}.bak-{stamp}")
                shutil.copy2(table.path, backup)
                self._write_frame(table, frame)
                backups.append(backup)
                logger.warning(
                    "%s: upgraded from layout v%d; the old file is %s", table.path, layout.version, backup
                )
        return backups

    def _raw_rows(self, table: _Table) -> tuple[list[str], list[list[str]]]:
        """A file's header and records as stored text, whatever its layout."""
        if self.is_parquet:
            try:
                frame = pd.read_parquet(table.path)
            except Exception as e:  # pyarrow raises many types for a bad file
                raise ResultsFileError(f"{table.path}: cannot be read ({_one_line(e)})") from e
            header = [str(c) for c in frame.columns]
            rows = [[key_text(v, c) for v, c in zip(values, header, strict=True)]
                    for values in frame.itertuples(index=False, name=None)]  # fmt: skip
            return header, rows
        try:
            records = [fields for fields in CsvScan(self._read_bytes(table.path)).rows if fields]
        except ValueError as e:
            raise ResultsFileError(f"{table.path}: cannot be read as a results table: {e}") from None
        if not records:
            raise ResultsFileError(f"{table.path}: the file is empty (no header line)")
        return records[0], records[1:]


def restore_unsaved(recovery: str | os.PathLike[str]) -> int:
    """Append the rows a failed append saved to ``recovery`` (see :class:`UnsavedResultError`) to their stores.

    A row whose key its store already holds is dropped. The recovery file is removed once every row is stored,
    and otherwise keeps the rows not stored yet.

    Returns:
        How many rows were appended.

    Raises:
        ResultsFileError: the recovery file cannot be read, or a row still cannot be stored (the message says
            why; the row stays in the recovery file).
    """
    path = Path(recovery)
    try:
        lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    except (OSError, UnicodeDecodeError) as e:
        raise ResultsFileError(f"{path}: cannot be read ({_one_line(e)})") from None
    remaining: list[str] = []
    failure: ResultsFileError | None = None
    restored = 0
    for number, line in enumerate(lines, start=1):
        try:
            entry = json.loads(line)
            schema = SCHEMAS[entry["table"]]
            store = ResultsStore(entry["store"], schema)
            row = schema.normalise(entry["row"])
            key = schema.key(row)
            classes = store._per_class_rows(key, entry.get("per_class"))
        except (ValueError, KeyError, TypeError) as e:
            raise ResultsFileError(f"{path}: line {number} is not a saved row ({_one_line(e)})") from None
        try:
            store._store(row, key, classes, overwrite=False)
            restored += 1
        except DuplicateResultError:
            logger.warning(
                "%s: already holds %s; dropped from %s", store.path, schema.describe_key(key), path
            )
        except (OSError, ResultsFileError) as e:
            remaining.append(line)
            reason = _os_reason(e) if isinstance(e, OSError) else _one_line(e)
            failure = ResultsFileError(f"{store.path}: still cannot store a row from {path}: {reason}")
    if remaining:
        write_atomically(path, lambda f: f.write(("\n".join(remaining) + "\n").encode("utf-8")))
    else:
        path.unlink()
    if failure is not None:
        raise failure
    return restored
