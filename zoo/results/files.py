"""The file operations under the results store: CSV records with their byte offsets, durable appends, atomic
rewrites that keep a file's mode, and the journal that lets the next writer undo an interrupted append.

Nothing here knows about columns; :mod:`zoo.results.store` decides what the records mean.
"""

from __future__ import annotations

import contextlib
import csv
import errno
import gc
import io
import json
import os
import re
import secrets
import stat
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import numpy as np

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = [
    "CsvScan",
    "Journal",
    "arrow_columns",
    "NotTextError",
    "append_bytes",
    "csv_bytes",
    "fsync_folder",
    "probe_writable",
    "remove_stale_temp_files",
    "truncate",
    "without_gc",
    "write_atomically",
]

# Windows opens files in text mode unless told otherwise, which would turn every "\n" into "\r\n".
_BINARY = getattr(os, "O_BINARY", 0)
_LINE_END = "\n"


class NotTextError(ValueError):
    """The bytes are not UTF-8 text; ``offset`` is where the first invalid byte is."""

    def __init__(self, offset: int) -> None:
        super().__init__(f"not UTF-8 text (invalid byte at offset {offset})")
        self.offset = offset


@contextlib.contextmanager
def without_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector. Parsing a large file creates millions of lists and tuples (none in a
    cycle), and every collection triggered on the way would walk all of them again: this halves the time."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def csv_bytes(rows: Iterable[Sequence[str]]) -> bytes:
    """``rows`` as CSV: fields quoted only where needed, ``\\n`` after every record, UTF-8 (what pandas'
    ``to_csv`` writes, so a file written in parts reads like one written at once)."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator=_LINE_END).writerows(rows)
    return buffer.getvalue().encode("utf-8")


class CsvScan:
    """The complete CSV records in ``data``, and where the last one ends.

    A record is complete when its line end (outside quotes) is in ``data``. What follows the last complete
    record is :attr:`tail`: empty for a whole file, else the start of a record whose write was cut short
    (an append in progress, an append interrupted by a kill, or damage).

    Args:
        data: the bytes, starting at a record boundary.
        first_record: the number of the first record in ``data`` (1 for a whole file: the header), for messages.

    Attributes:
        rows: the complete records, in order; a blank line is an empty list (so ``first_record + i`` numbers
            ``rows[i]``).
        consumed: how many bytes of ``data`` the complete records take.
        tail: the bytes after them.

    Raises:
        NotTextError: a complete line is not UTF-8.
        ValueError: a record is malformed CSV (``"record N: ..."``).
    """

    def __init__(self, data: bytes, first_record: int = 1) -> None:
        self.data = data
        self.first_record = first_record
        body_end = data.rfind(b"\n") + 1  # bytes after the last line end belong to an unfinished record
        try:
            text = data[:body_end].decode("utf-8")
        except UnicodeDecodeError as e:
            raise NotTextError(e.start) from None
        try:
            # strict: a quote in the wrong place is an error, and a quoted field still open at the end is
            # reported instead of being returned as a (fabricated) short record.
            self.rows = list(csv.reader(io.StringIO(text, newline=""), strict=True))
            consumed_chars = len(text)
        except csv.Error:
            # A malformed record, or the last one cut inside quotes: find which, and where records end.
            self.rows, consumed_chars = self._scan_by_line(text)
        self.consumed = body_end - len(text[consumed_chars:].encode("utf-8"))
        self.tail = data[self.consumed :]

    def _scan_by_line(self, text: str) -> tuple[list[list[str]], int]:
        position = 0  # characters of ``text`` handed to the reader so far
        exhausted = False

        def lines() -> Iterator[str]:
            nonlocal position, exhausted
            start = 0
            while (end := text.find(_LINE_END, start)) >= 0:
                position = end + 1
                yield text[start : end + 1]
                start = end + 1
            exhausted = True

        # The reader pulls no line beyond the record it returns, so ``position`` is where that record ends.
        reader = csv.reader(lines(), strict=True)
        rows: list[list[str]] = []
        record_end = 0
        while True:
            try:
                fields = next(reader)
            except StopIteration:
                break
            except csv.Error as e:
                if exhausted:  # the last record's quotes are still open: its write was cut short
                    break
                raise ValueError(f"record {self.first_record + len(rows)}: {e}") from None
            rows.append(fields)
            record_end = position
        return rows, record_end

    def tail_fields(self) -> int:
        """How many fields the unfinished record in :attr:`tail` has so far (for messages)."""
        text = self.tail.decode("utf-8", errors="replace")
        return len(next(csv.reader(io.StringIO(text, newline="")), []))


# The bytes around a quote that keep a file in the subset where pyarrow and csv.reader(strict=True) agree: an
# opening quote comes after a delimiter, a line end or a closing quote (a doubled quote); a closing quote
# comes before one of them or an opening quote (the other half of a doubled quote).
_QUOTE_NEIGHBOURS = np.zeros(256, dtype=bool)
_QUOTE_NEIGHBOURS[[ord(","), ord("\n"), ord('"')]] = True
# Quotes are located a slice at a time, so the scan's temporary arrays stay small whatever the file's size.
_QUOTE_SCAN_BYTES = 1 << 24


def _quotes_are_simple(view: np.ndarray, start: int) -> bool:
    """Whether every quote in ``view[start:]`` opens a field, closes one (before a delimiter or line end) or is
    half of a doubled quote inside one, and no quoted field is left open at the end.

    Quotes then toggle between inside and outside a quoted field one by one, so the quote's rank (even: it
    opens, odd: it closes) tells which it is; a quote in the middle of an unquoted field (``ab"c``) or text after
    a closing quote (``"ab"c``, which csv.reader(strict=True) refuses and pyarrow reads as ``abc``) fails.
    ``view[start - 1]`` must be a line end.
    """
    seen = 0
    for at in range(start, len(view), _QUOTE_SCAN_BYTES):
        positions = np.flatnonzero(view[at : at + _QUOTE_SCAN_BYTES] == ord('"'))
        positions += at
        opening = positions[(seen % 2) :: 2]
        closing = positions[1 - (seen % 2) :: 2]
        if not _QUOTE_NEIGHBOURS[view[opening - 1]].all():
            return False
        # a closing quote is never the last byte: the view ends with a line end
        if len(closing) and (closing[-1] + 1 >= len(view) or not _QUOTE_NEIGHBOURS[view[closing + 1]].all()):
            return False
        seen += len(positions)
    return seen % 2 == 0


def arrow_columns(data: bytes) -> tuple[list[str], dict[str, pa.ChunkedArray]] | None:
    """The header and the text of every column of the CSV file ``data``, parsed by pyarrow (one thread: its
    threaded reader can abort the process at exit, apache/arrow#34314; no Python object per field), when that
    provably gives what :class:`CsvScan` gives; else ``None``.

    ``None`` (the caller then reads the file with :class:`CsvScan`, which names what is wrong) unless: pyarrow is
    installed; ``data`` ends with a line end (no unfinished record); it holds no carriage return and no NUL
    (which csv.reader treats specially); its first line is a header without quotes or empty names, and
    records follow it; every quote is where csv.reader(strict=True) accepts it (:func:`_quotes_are_simple`);
    every record has as many fields as the header; the text is UTF-8; and no field is longer than
    :func:`csv.field_size_limit`. Blank lines are skipped, as by :class:`CsvScan`'s callers.

    Returns:
        The header's names and, by name, each column's texts (``""`` for an empty field, never null).
    """
    try:
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.csv as pa_csv
    except ImportError:  # pandas' parquet support needs it too, but a CSV store must not
        return None
    header_end = data.find(b"\n") + 1
    if header_end <= 1 or not data.endswith(b"\n") or header_end == len(data):
        return None
    if b"\r" in data or b"\0" in data or b'"' in data[:header_end]:
        return None
    try:
        header = data[: header_end - 1].decode("utf-8").split(",")
    except UnicodeDecodeError:
        return None
    if "" in header or len(set(header)) != len(header):
        return None
    if not _quotes_are_simple(np.frombuffer(data, dtype=np.uint8), header_end):
        return None
    try:
        table = pa_csv.read_csv(
            pa.py_buffer(data),
            # One thread: a process that used pyarrow's thread pool sometimes aborts at exit ("terminate called
            # without an active exception", apache/arrow#34314; 1 run in 6 here), after its work is done.
            read_options=pa_csv.ReadOptions(skip_rows=1, column_names=header, use_threads=False),
            parse_options=pa_csv.ParseOptions(newlines_in_values=True, ignore_empty_lines=True),
            convert_options=pa_csv.ConvertOptions(
                # large_string: what pandas' pyarrow-backed text columns hold, so they take it without a copy
                column_types=dict.fromkeys(header, pa.large_string()),
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except (pa.ArrowInvalid, ValueError):  # a record with another number of fields, or not UTF-8
        return None
    limit = csv.field_size_limit()
    columns = {name: table.column(name) for name in header}
    for column in columns.values():
        # bytes >= characters, so within the limit in bytes is within it in characters
        longest = pc.max(pc.binary_length(column)).as_py()
        if longest is not None and longest > limit:
            return None
    return header, columns


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _write_at(fd: int, data: bytes, offset: int) -> None:
    if hasattr(os, "pwrite"):
        if os.pwrite(fd, data, offset) != len(data):
            raise OSError(errno.EIO, "short write")
    else:  # Windows
        os.lseek(fd, offset, os.SEEK_SET)
        _write_all(fd, data)


def append_bytes(path: Path, data: bytes) -> None:
    """Append ``data`` to the existing file ``path`` and make it durable (fsync) before returning."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | _BINARY)
    try:
        _write_all(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def truncate(path: Path, size: int) -> None:
    """Cut ``path`` back to ``size`` bytes, durably."""
    fd = os.open(path, os.O_WRONLY | _BINARY)
    try:
        os.ftruncate(fd, size)
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_folder(folder: Path) -> None:
    """Make a rename or a new file in ``folder`` durable (POSIX; folders cannot be opened on Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _temp_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")


def remove_stale_temp_files(path: Path) -> list[Path]:
    """Remove what an interrupted :func:`write_atomically` of ``path`` left; call it with the store locked
    (only a writer holding the lock creates them). Returns the files removed."""
    pattern = re.compile(rf"\.{re.escape(path.name)}\.[0-9a-f]{{8}}\.(tmp|probe)")
    removed = []
    with contextlib.suppress(OSError):
        for entry in os.scandir(path.parent):
            if pattern.fullmatch(entry.name) and entry.is_file(follow_symlinks=False):
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)
                    removed.append(Path(entry.path))
    return removed


def probe_writable(folder: Path, name: str) -> None:
    """Create and remove a file in ``folder``; raises the ``OSError`` that stops a file being created there."""
    probe = folder / f".{name}.{secrets.token_hex(4)}.probe"
    fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _BINARY, 0o666)
    try:
        _write_all(fd, b"zoo")
    finally:
        os.close(fd)
        os.unlink(probe)


def write_atomically(path: Path, write: Callable[[BinaryIO], Any]) -> None:
    """Replace ``path`` with what ``write`` writes to a binary file: a temporary file in the same folder, fsync,
    ``os.replace``, fsync of the folder. A crash leaves the old file or the new one, never a mix.

    The new file keeps the permission bits of the one it replaces; a new file gets the default ones (umask),
    not the owner-only mode of :func:`tempfile.mkstemp`.
    """
    try:
        mode: int | None = stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        mode = None
    # Same folder, so the rename stays on one filesystem (atomic); a dot name and a .tmp suffix, so an orphan
    # of a hard kill is never taken for a results file (and the next writer removes it).
    tmp = _temp_path(path)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _BINARY, 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        # BaseException: Ctrl-C during the write must not leave the temporary file behind either.
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_folder(path.parent)


class Journal:
    """A small file that says an append is under way and what the files looked like before it.

    A writer :meth:`begin`\\ s an entry (durably) before it appends anything and :meth:`clear`\\ s it after the
    last byte is durable; the next writer that finds an entry knows that append may be incomplete and undoes
    it (see :meth:`zoo.results.store.ResultsStore.preflight`). Readers use :meth:`pending` to tell an append in
    flight (an unfinished last record is expected) from a file damaged outside zoo (it is an error).

    The entry is one line, ``<crc32> <json>``, written in place over the start of the file (so it needs no new
    disk space once the file exists) and never truncated (on ext4 a truncation costs a flush of its own). A line whose checksum does not match is no entry: a cleared one, or
    one cut short while it was written, before anything was appended.
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    def begin(self, entry: dict[str, Any]) -> None:
        text = json.dumps(entry)
        line = f"{zlib.crc32(text.encode()):08x} {text}\n".encode()
        created = not self.path.exists()
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | _BINARY, 0o666)
        try:
            _write_at(fd, line, 0)
            os.fsync(fd)
        finally:
            os.close(fd)
        if created:
            fsync_folder(self.path.parent)

    def clear(self) -> None:
        # Spoils the checksum. No fsync: an entry that outlives a power cut is recognised as committed by the
        # next writer (the store checks whether the row it names is complete), so nothing written is undone.
        with contextlib.suppress(FileNotFoundError):
            fd = os.open(self.path, os.O_WRONLY | _BINARY)
            try:
                _write_at(fd, b"-", 0)
            finally:
                os.close(fd)

    def pending(self) -> dict[str, Any] | None:
        """The entry of an append in flight or interrupted; ``None`` when no append is under way."""
        try:
            with open(self.path, "rb") as f:
                line = f.readline()
        except FileNotFoundError:
            return None
        checksum, _, text = line.rstrip(b"\n").partition(b" ")
        try:
            if int(checksum, 16) != zlib.crc32(text):
                return None
            entry = json.loads(text)
        except ValueError:
            return None
        return entry if isinstance(entry, dict) else None
