"""The results store's promises beyond reading and writing rows (tests/test_results.py): appends that do not
rewrite the file, the checks made before any work (preflight), crash recovery after kill -9 at any byte,
concurrent writers, overwriting a key, a row kept when its append fails, file modes, older layouts."""

from __future__ import annotations

import errno
import json
import os
import random
import shlex
import signal
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest
from test_results import make_classes, make_row

from zoo.errors import DuplicateResultError, ResultsFileError, ZooError
from zoo.results import (
    ACCURACY,
    SCHEMAS,
    SPEED,
    OlderLayout,
    ResultsStore,
    TableSchema,
    UnsavedResultError,
    restore_unsaved,
)
from zoo.results.__main__ import main as results_main
from zoo.results.files import Journal
from zoo.results.schema import COMPLEXITY

posix_only = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork and SIGKILL")


def hidden_leftovers(folder: Path) -> list[str]:
    """Files a crash could leave: temporary files and probes (the lock and journal files stay by design)."""
    return sorted(p.name for p in folder.iterdir() if p.name.endswith((".tmp", ".probe")))


def journal_is_clear(store: ResultsStore) -> bool:
    return Journal(store.path.with_name(f".{store.path.name}.journal")).pending() is None


def speed_row(**changes) -> dict:
    row = dict.fromkeys(SPEED.columns)
    row.update(model="unet-resnet18", weights="none", height=512, width=512, batch_size=1, dtype="fp32",
               channels_last=False, compile="none", cuda_graphs=False, tf32=False, timed="forward",
               status="ok", images_per_s=12.5, environment_id="0123456789ab", source="measured")  # fmt: skip
    row.update(changes)
    return row


# ---------------------------------------------------------------------------------------------- one class


def test_both_tables_are_schemas_of_one_store_class(tmp_path):
    assert isinstance(ACCURACY, TableSchema) and isinstance(SPEED, TableSchema)
    assert SCHEMAS == {"accuracy": ACCURACY, "speed": SPEED, "complexity": COMPLEXITY}
    assert isinstance(COMPLEXITY, TableSchema)

    speed = ResultsStore(tmp_path / "speed.csv", SPEED)
    speed.append(speed_row())
    speed.append(speed_row(batch_size=8, channels_last=True))
    assert speed.has(speed_row(batch_size=8, channels_last=True))
    assert not speed.has(speed_row(batch_size=8))
    with pytest.raises(DuplicateResultError):
        speed.append(speed_row(images_per_s=1.0))
    df = speed.read()
    assert list(df.columns) == list(SPEED.columns) and len(df) == 2
    assert df["height"].dtype == "Int64" and df["channels_last"].tolist() == ["False", "True"]
    # a key read back from the file equals the key of the row that was written
    assert speed.done_keys() == {
        SPEED.key(speed_row()),
        SPEED.key(speed_row(batch_size=8, channels_last=True)),
    }
    with pytest.raises(ValueError, match="no per-class"):
        speed.append(speed_row(batch_size=2), make_classes(2))
    with pytest.raises(ValueError, match="no per-class"):
        speed.read_per_class()
    assert speed.per_class_path is None


def test_a_schema_is_checked_when_defined():
    with pytest.raises(ValueError, match="not in columns"):
        TableSchema(name="bad", version=1, columns=("a",), key_columns=("b",))
    with pytest.raises(ValueError, match="repeated"):
        TableSchema(name="bad", version=1, columns=("a", "a"), key_columns=("a",))


# ---------------------------------------------------------------------------------------------- append-only


def test_a_csv_append_adds_lines_and_rewrites_nothing(tmp_path):
    store = ResultsStore(tmp_path / "results.csv")
    store.append(make_row(model="a"), make_classes(3))
    main_before, classes_before = store.path.read_bytes(), store.per_class_path.read_bytes()
    inodes = (store.path.stat().st_ino, store.per_class_path.stat().st_ino)

    store.append(make_row(model="b"), make_classes(3))
    main_after, classes_after = store.path.read_bytes(), store.per_class_path.read_bytes()
    assert (store.path.stat().st_ino, store.per_class_path.stat().st_ino) == inodes
    assert main_after.startswith(main_before) and main_after[len(main_before) :].count(b"\n") == 1
    assert classes_after.startswith(classes_before) and classes_after[len(classes_before) :].count(b"\n") == 3
    # what an append writes reads exactly like what pandas writes for the same table
    frame = store.read()
    assert main_after == frame.to_csv(index=False, lineterminator="\n").encode()


def test_a_store_written_by_the_previous_zoo_stays_readable_and_appendable(tmp_path):
    # The previous store rewrote both files with pandas' to_csv on every append; such files keep working.
    rows = pd.DataFrame([make_row(model="old", notes='a, "quoted"\nnote')], columns=list(ACCURACY.columns))
    classes = pd.DataFrame(
        [{**{c: rows.loc[0, c] for c in ACCURACY.key_columns}, **c} for c in make_classes(2)],
        columns=list(ACCURACY.per_class.columns),
    )
    path = tmp_path / "results.csv"
    ACCURACY.typed(rows).to_csv(path, index=False, lineterminator="\n")
    ACCURACY.per_class.typed(classes).to_csv(
        tmp_path / "results.per_class.csv", index=False, lineterminator="\n"
    )
    old_bytes = path.read_bytes()

    store = ResultsStore(path)
    assert store.read().loc[0, "notes"] == 'a, "quoted"\nnote'
    store.append(make_row(model="new"), make_classes(2))
    assert path.read_bytes().startswith(old_bytes)
    assert store.read()["model"].tolist() == ["old", "new"]
    assert len(store.read_per_class()) == 4


# ---------------------------------------------------------------------------------------------- columnar read

# read() and read_per_class() parse a whole file with pyarrow when that provably gives what the record-by-record
# reader gives, and otherwise leave the file to that reader, which names what is wrong. Each case below is read
# both ways and must come out the same: the same frame, or the same one-line error.


def _read_outcome(store: ResultsStore, per_class: bool) -> pd.DataFrame | str:
    try:
        return store.read_per_class() if per_class else store.read()
    except ResultsFileError as e:
        return f"ResultsFileError: {e}"


def _both_readers(store: ResultsStore, monkeypatch, per_class: bool = False) -> tuple[object, object, bool]:
    """(the columnar outcome, the record-by-record outcome, whether the columnar read gave the frame)."""
    import zoo.results.store as store_module

    columnar_read = ResultsStore._read_csv_columnar
    used = []

    def spy(self, table):
        used.append(columnar_read(self, table))
        return used[-1]

    monkeypatch.setattr(ResultsStore, "_read_csv_columnar", spy)
    columnar = _read_outcome(ResultsStore(store.path), per_class)
    monkeypatch.setattr(store_module, "arrow_columns", lambda data: None)
    by_record = _read_outcome(ResultsStore(store.path), per_class)
    monkeypatch.undo()
    return columnar, by_record, any(u is not None for u in used)


def _same(columnar: object, by_record: object) -> None:
    if isinstance(by_record, str):
        assert columnar == by_record
    else:
        assert isinstance(columnar, pd.DataFrame), columnar
        pd.testing.assert_frame_equal(columnar, by_record, check_exact=True)
        assert list(columnar.dtypes) == list(by_record.dtypes)


def test_a_columnar_read_gives_what_the_record_reader_gives(tmp_path, monkeypatch):
    store = ResultsStore(tmp_path / "results.csv")
    awkward = {
        "notes": 'a, "quoted"\nnote, ünïcode',
        "protocol_json": '{"a": "b,c", "d": ""}',
        "threads": None,
    }
    store.append(make_row(model="a", mIoU=None, images_per_s=float("inf"), aAcc=-0.0, **awkward),
                 make_classes(3) + [{"class_index": 7, "class_name": 'x,"y"', "IoU": None, "Acc": 5e-324,
                                     "Dice": 1 / 3}])  # fmt: skip
    store.append(make_row(model="b", batch_size=None, notes="", weights="007"), make_classes(2))
    for per_class in (False, True):
        columnar, by_record, used = _both_readers(store, monkeypatch, per_class)
        assert used, "the columnar reader stepped aside for a file it should read"
        _same(columnar, by_record)
    assert store.read().loc[0, "notes"] == awkward["notes"]


def _edit(old: bytes, new: bytes, per_class: bool = False):
    def edit(store: ResultsStore) -> bool:
        path = store.per_class_path if per_class else store.path
        data = path.read_bytes()
        assert old in data
        path.write_bytes(data.replace(old, new, 1))
        return per_class

    return edit


def _long_field(store: ResultsStore) -> bool:
    import csv

    data = store.path.read_bytes()
    store.path.write_bytes(data.replace(b"a note", b"n" * (csv.field_size_limit() + 1), 1))
    return False


@pytest.mark.parametrize(
    ("edit", "columnar_reads_it"),
    [
        (_edit(b"a note", b'"a "note', False), False),  # text after a closing quote: csv.reader refuses it
        (_edit(b"a note", b'a "note', False), False),  # a quote inside an unquoted field: csv.reader keeps it
        (_edit(b",66.4,", b", 66.4,"), False),  # numbers in forms only Python reads
        (_edit(b",66.4,", b",6_6.4,"), False),
        (_edit(b",66.4,", b",nan(1),"), False),  # ... or neither
        (_edit(b",66.4,", b",lots,"), False),
        (_edit(b",1449,", b",+1449,"), None),
        (_edit(b",66.4,", b",6.64E+1,"), True),
        (_edit(b",66.4,", b",-Infinity,"), None),
        (_edit(b"\n", b"\r\n"), False),  # carriage returns: csv.reader takes one alone as a line end
        (_edit(b"\n", b"\n\n"), True),  # blank lines are skipped
        (_edit(b"\nx,", b"\nx,"), True),
        (_edit(b"a note", b"a\x00note"), False),
        (_edit(b"a note", "à note".encode("latin-1")), False),  # not UTF-8
        (_long_field, False),  # longer than csv.field_size_limit()
        (_edit(b",1,c1,", b",0,c1,", True), False),  # two classes of one row share an index
        (_edit(b",1,c1,", b",00,c1,", True), False),  # ... by value, not by text
        (_edit(b",1,c1,", b",,c1,", True), None),
        (_edit(b",1,c1,51.0,", b",1,c1,,", True), True),
        (_edit(b"\nx,", b'\n"x",', True), None),  # quoted where it need not be
    ],  # fmt: skip
)
def test_a_file_the_columnar_reader_cannot_vouch_for_is_read_record_by_record(
    tmp_path, monkeypatch, edit, columnar_reads_it
):
    store = ResultsStore(tmp_path / "results.csv")
    store.append(make_row(model="x", notes="a note"), make_classes(2))
    store.append(make_row(model="y"), make_classes(2))
    per_class = edit(store)
    columnar, by_record, used = _both_readers(store, monkeypatch, per_class)
    _same(columnar, by_record)
    if columnar_reads_it is not None:  # None: either way is right
        assert used == columnar_reads_it


def test_another_writer_appends_are_seen_without_rereading(tmp_path):
    first, second = ResultsStore(tmp_path / "r.csv"), ResultsStore(tmp_path / "r.csv")
    first.append(make_row(model="a"), make_classes(2))
    second.append(make_row(model="b"), make_classes(2))  # first's index is now behind the file
    with pytest.raises(DuplicateResultError):
        first.append(make_row(model="b"))
    first.append(make_row(model="c"), make_classes(2))
    # a whole-file rewrite by another writer (a new inode) is noticed as well
    second.replace(second.read().iloc[:1], second.read_per_class().iloc[:2])
    first.append(make_row(model="b"), make_classes(2))
    assert first.read()["model"].tolist() == ["a", "b"]
    assert len(first.read_per_class()) == 4


# ---------------------------------------------------------------------------------------------- preflight

TOY = TableSchema(
    name="toy",
    version=2,
    columns=("model", "tta", "score", "source"),
    key_columns=("model", "tta"),
    float_columns=frozenset({"score"}),
    # layout v1 had no TTA column: every row it wrote was evaluated without TTA
    older=(OlderLayout(1, ("model", "score", "source"), lambda row: {**row, "tta": "none"}),),
)


def _garbage_line(store):
    store.append(make_row(model="a"))
    store.append(make_row(model="b"))
    lines = store.path.read_bytes().split(b"\n")
    store.path.write_bytes(b"\n".join([lines[0], b"oops,,,", *lines[1:]]))


def _cut_last_line(store):
    store.append(make_row(model="a"))
    store.append(make_row(model="b"))
    store.path.write_bytes(store.path.read_bytes()[:-40])


def _newer_layout(store):
    store.append(make_row())
    frame = pd.read_csv(store.path, dtype=str, keep_default_na=False)
    frame.assign(gpu_hours="1.5").to_csv(store.path, index=False)


def _not_utf8(store):
    store.append(make_row())
    store.path.write_bytes(store.path.read_bytes() + "é,".encode("latin-1") * 40 + b"\n")


def _broken_per_class(store):
    store.append(make_row(), make_classes(2))
    store.per_class_path.write_bytes(store.per_class_path.read_bytes() + b"x,y\n")


def _folder_instead_of_file(store):
    store.path.mkdir()


def _folder_instead_of_per_class(store):
    store.per_class_path.mkdir()


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (
            _garbage_line,
            rf"results\.csv: record 2 has 4 fields, the header has {len(ACCURACY.columns)}: fix or remove that line",
        ),
        (
            _cut_last_line,
            rf"results\.csv: record 3 has \d+ of {len(ACCURACY.columns)} fields and no line end: .*remove it",
        ),
        (_newer_layout, r"results\.csv: unexpected column\(s\): gpu_hours \(written by a newer zoo"),
        (lambda s: s.path.write_bytes(b""), r"results\.csv: the file is empty .*delete it"),
        (lambda s: s.path.write_bytes(b"\n\n"), r"results\.csv: the file is empty"),
        (_not_utf8, r"results\.csv: cannot be read as a results table: not UTF-8 text"),
        (_broken_per_class, r"results\.per_class\.csv: record 4 has 2 fields, the header has 13"),
        (_folder_instead_of_file, r"results\.csv is a folder, not a results file: give a file path"),
        (_folder_instead_of_per_class, r"results\.per_class\.csv is a folder, not a results file"),
        (
            lambda s: s.path.write_bytes(b"model,weights\nx,y\n"),
            r"missing column\(s\): .*not a zoo accuracy table",
        ),
    ],
    ids=[
        "garbage-line",
        "cut-last-line",
        "newer-layout",
        "empty",
        "blank-lines",
        "not-utf8",
        "broken-per-class",
        "folder-for-file",
        "folder-for-per-class",
        "other-table",
    ],  # fmt: skip
)
def test_preflight_refuses_an_unusable_store_in_one_line_and_touches_nothing(tmp_path, damage, message):
    store = ResultsStore(tmp_path / "sub" / "results.csv")
    store.path.parent.mkdir()
    damage(store)
    before = {p: p.read_bytes() for p in store.path.parent.rglob("*") if p.is_file()}
    with pytest.raises(ResultsFileError, match=message) as info:
        ResultsStore(store.path).preflight([make_row()])
    assert "\n" not in str(info.value)
    assert isinstance(info.value, ZooError)
    with pytest.raises(ResultsFileError):  # appending refuses the same way (the row goes to a recovery file)
        ResultsStore(store.path).append(make_row(model="late"))
    after = {p: p.read_bytes() for p in before}
    assert after == before


def test_preflight_reports_what_is_stored_and_what_it_repaired(tmp_path):
    folder = tmp_path / "new" / "deeper"
    store = ResultsStore(folder / "results.csv")
    report = store.preflight([make_row(model="a")])
    assert folder.is_dir() and not store.path.exists()  # the folder is created, the store is not
    assert report.rows == 0 and report.stored == frozenset() and "created the folder" in report.notes[0]
    assert hidden_leftovers(folder) == []  # the probe that proved the folder writable is gone

    store.append(make_row(model="a"), make_classes(2))
    store.append(make_row(model="b"))
    planned = [make_row(model=m) for m in "abc"]
    report = ResultsStore(store.path).preflight(planned)
    assert report.rows == 2 and report.notes == ()
    assert report.stored == {ACCURACY.key(make_row(model="a")), ACCURACY.key(make_row(model="b"))}
    assert ResultsStore(store.path).preflight([ACCURACY.key(make_row(model="b"))]).stored == {
        ACCURACY.key(make_row(model="b"))
    }


@pytest.mark.parametrize("error", [errno.EACCES, errno.EROFS])
def test_preflight_refuses_a_folder_it_cannot_write(tmp_path, monkeypatch, error):
    # Simulated, because the tests may run as root, for whom permission bits do not stop a write.
    folder = tmp_path / "results"
    folder.mkdir()
    real_open = os.open

    def refusing_open(path, flags, *args, **kwargs):
        if flags & os.O_CREAT and Path(path).parent == folder:
            raise OSError(error, os.strerror(error), str(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", refusing_open)
    with pytest.raises(ResultsFileError, match=rf"{folder}: cannot write in this folder \(") as info:
        ResultsStore(folder / "results.csv").preflight()
    assert os.strerror(error) in str(info.value) and "give another results path" in str(info.value)


def test_preflight_refuses_a_parent_that_is_a_file(tmp_path):
    (tmp_path / "taken").write_text("not a folder")
    with pytest.raises(ResultsFileError, match="taken: cannot create the results folder"):
        ResultsStore(tmp_path / "taken" / "results.csv").preflight()


def test_preflight_undoes_an_interrupted_append_and_removes_temporary_files(tmp_path, monkeypatch):
    store = ResultsStore(tmp_path / "results.csv")
    store.append(make_row(model="a"), make_classes(2))
    before = (store.path.read_bytes(), store.per_class_path.read_bytes())
    # an append killed half-way through the row's line: the per-class lines are complete, the row is not
    _die_half_way_through_the_row(store, make_row(model="b"), make_classes(2), monkeypatch)
    assert not journal_is_clear(store)
    stale = tmp_path / ".results.csv.0123abcd.tmp"  # what a kill during an atomic rewrite leaves
    stale.write_bytes(b"half a file")
    unrelated = tmp_path / ".other.csv.0123abcd.tmp"
    unrelated.write_bytes(b"another store's")

    # a reader meanwhile sees the stored rows only
    assert ResultsStore(store.path).read()["model"].tolist() == ["a"]
    report = ResultsStore(store.path).preflight([make_row(model="b")])
    assert report.stored == frozenset() and any("undid an append" in n for n in report.notes)
    assert (store.path.read_bytes(), store.per_class_path.read_bytes()) == before
    assert journal_is_clear(store) and not stale.exists() and unrelated.exists()


def _die_half_way_through_the_row(store, row, classes, monkeypatch):
    """Emulate, in this process, a writer killed half-way through the row's line: no clean-up code runs."""

    class Killed(BaseException):
        pass

    real_write = os.write

    def write(fd, data):
        data = bytes(data)
        if os.fstat(fd).st_ino == os.stat(store.path).st_ino:
            real_write(fd, data[: len(data) // 2])
            raise Killed
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", write)
    monkeypatch.setattr(ResultsStore, "_undo", lambda self, entry, committed=False: None)  # a dead writer
    with pytest.raises(Killed):
        ResultsStore(store.path).append(row, classes)
    monkeypatch.undo()


# ---------------------------------------------------------------------------------------------- older layouts


def test_an_older_layout_is_refused_with_the_command_that_upgrades_it(tmp_path, monkeypatch):
    path = tmp_path / "toy.csv"
    path.write_text("model,score,source\nm1,0.5,measured\nm2,,measured\n")
    old = path.read_bytes()
    store = ResultsStore(path, TOY)
    with pytest.raises(ResultsFileError, match="written by an older zoo") as info:
        store.preflight()
    message = str(info.value)
    command = f"zoo results upgrade --table toy {path}"
    assert message.endswith(command) and store.upgrade_command() == command
    with pytest.raises(ResultsFileError, match="older zoo"):
        store.read()

    monkeypatch.setitem(SCHEMAS, "toy", TOY)
    assert results_main(shlex.split(command)[2:]) == 0  # the command, as printed
    backups = list(tmp_path.glob("toy.csv.bak-*"))
    assert len(backups) == 1 and backups[0].read_bytes() == old
    df = ResultsStore(path, TOY).read()
    assert df["tta"].tolist() == ["none", "none"] and df["score"].iloc[0] == 0.5
    assert ResultsStore(path, TOY).preflight().rows == 2
    assert results_main(["upgrade", "--table", "toy", str(path)]) == 0  # nothing left to do
    assert len(list(tmp_path.glob("toy.csv.bak-*"))) == 1


def test_a_layout_nobody_knows_cannot_be_upgraded(tmp_path, capsys):
    path = tmp_path / "results.csv"
    path.write_text("model,colour\nx,red\n")
    assert results_main(["upgrade", str(path)]) == 2
    assert "error:" in capsys.readouterr().err and path.read_text() == "model,colour\nx,red\n"


# ---------------------------------------------------------------------------------------------- overwrite


@pytest.mark.parametrize("name", ["results.csv", "results.parquet"])
def test_overwrite_replaces_a_stored_row_and_its_per_class_values(tmp_path, name):
    store = ResultsStore(tmp_path / name)
    store.append(make_row(model="a"), make_classes(3, iou=10.0))
    store.append(make_row(model="b", mIoU=1.0), make_classes(3, iou=20.0))
    store.append(make_row(model="c"), make_classes(3, iou=30.0))
    with pytest.raises(DuplicateResultError):
        store.append(make_row(model="b", mIoU=2.0))
    store.append(make_row(model="b", mIoU=2.0), make_classes(2, iou=90.0), overwrite=True)
    df = store.read()
    assert sorted(df["model"]) == ["a", "b", "c"] and df.set_index("model").loc["b", "mIoU"] == 2.0
    pc = store.read_per_class()
    assert pc[pc["model"] == "b"]["IoU"].tolist() == [90.0, 91.0]
    assert len(pc) == 8
    store.append(make_row(model="d"), overwrite=True)  # a new key: a plain append
    assert len(store.read()) == 4


# ---------------------------------------------------------------------------------------------- failed appends


def _disk_full(monkeypatch, after_calls: int = 0, call: str = "write"):
    """``os.write`` (what appends use) or ``os.pwrite`` (what the journal uses) fails with ENOSPC after
    ``after_calls`` successful calls."""
    real = getattr(os, call)
    calls = [0]

    def failing(*args):
        calls[0] += 1
        if calls[0] > after_calls:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(*args)

    monkeypatch.setattr(os, call, failing)


@pytest.mark.parametrize(
    ("call", "after_calls"), [("pwrite", 0), ("write", 0), ("write", 1)], ids=["journal", "per-class", "main"]
)
def test_a_row_whose_append_fails_is_saved_beside_the_store(tmp_path, monkeypatch, call, after_calls):
    store = ResultsStore(tmp_path / "results.csv")
    store.append(make_row(model="a"), make_classes(2))
    before = (store.path.read_bytes(), store.per_class_path.read_bytes())
    row = make_row(model="b", notes="evaluated for 3 hours")
    _disk_full(monkeypatch, after_calls, call)  # the journal entry, the per-class lines, the row's line
    with pytest.raises(UnsavedResultError) as info:
        store.append(row, make_classes(2))
    monkeypatch.undo()

    recovery = tmp_path / "results.csv.unsaved.jsonl"
    message = str(info.value)
    assert info.value.recovery_path == recovery and isinstance(info.value, ResultsFileError)
    assert os.strerror(errno.ENOSPC) in message and str(recovery) in message
    assert f"zoo results restore {recovery}" in message and "\n" not in message
    assert (store.path.read_bytes(), store.per_class_path.read_bytes()) == before  # nothing half-written
    assert journal_is_clear(store)
    saved = json.loads(recovery.read_text())
    assert saved["row"]["notes"] == "evaluated for 3 hours" and len(saved["per_class"]) == 2

    assert results_main(["restore", str(recovery)]) == 0  # the command the message gives
    assert store.read()["model"].tolist() == ["a", "b"] and len(store.read_per_class()) == 4
    assert not recovery.exists()


def test_a_row_is_saved_in_the_temp_folder_when_its_own_folder_fails_too(tmp_path, monkeypatch):
    store = ResultsStore(tmp_path / "store" / "results.csv")
    store.append(make_row(model="a"))
    (tmp_path / "store" / "results.csv.unsaved.jsonl").mkdir()  # cannot be written beside the store
    temp = tmp_path / "temp"
    temp.mkdir()
    monkeypatch.setattr("tempfile.tempdir", str(temp))
    _disk_full(monkeypatch)
    with pytest.raises(UnsavedResultError) as info:
        store.append(make_row(model="b"))
    assert info.value.recovery_path == temp / "results.csv.unsaved.jsonl"
    assert str(temp / "results.csv.unsaved.jsonl") in str(info.value)

    # and where nothing can be written at all, the row is in the message itself
    (temp / "results.csv.unsaved.jsonl").unlink()
    (temp / "results.csv.unsaved.jsonl").mkdir()
    with pytest.raises(UnsavedResultError) as info:
        store.append(make_row(model="c", notes="keep me"))
    assert info.value.recovery_path is None and '"notes": "keep me"' in str(info.value)


def test_a_row_refused_by_a_malformed_store_is_saved_and_restored_once_fixed(tmp_path):
    store = ResultsStore(tmp_path / "results.csv")
    store.append(make_row(model="a"))
    good = store.path.read_bytes()
    store.path.write_bytes(good + b"garbage\n")
    with pytest.raises(UnsavedResultError, match="record 3 has 1 fields") as info:
        store.append(make_row(model="b"))
    with pytest.raises(ResultsFileError, match="still cannot store"):
        restore_unsaved(info.value.recovery_path)  # still broken: the row stays in the recovery file
    store.path.write_bytes(good)
    assert restore_unsaved(info.value.recovery_path) == 1
    assert store.read()["model"].tolist() == ["a", "b"]


# ---------------------------------------------------------------------------------------------- file modes


@pytest.mark.parametrize("name", ["results.csv", "results.parquet"])
def test_writes_keep_the_file_mode(tmp_path, name):
    store = ResultsStore(tmp_path / name)
    store.append(make_row(model="a"), make_classes(2))
    for path in (store.path, store.per_class_path):
        path.chmod(0o640)
    store.append(make_row(model="b"), make_classes(2))
    store.append(make_row(model="b", mIoU=1.0), make_classes(2), overwrite=True)
    store.replace(store.read(), store.read_per_class())
    assert [stat.S_IMODE(p.stat().st_mode) for p in (store.path, store.per_class_path)] == [0o640, 0o640]


def test_a_new_store_gets_the_default_mode_not_owner_only(tmp_path):
    umask = os.umask(0o022)
    os.umask(umask)
    store = ResultsStore(tmp_path / "results.csv")
    store.append(make_row(), make_classes(2))
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o666 & ~umask


# ---------------------------------------------------------------------------------------------- kill -9


def _append_in_a_child(path: Path, row: dict, classes: list[dict], budget: int | None) -> None:
    """Fork a writer that appends ``row``; with a ``budget`` it dies (``os._exit``, like kill -9: no clean-up,
    no flush) after writing that many bytes in total, part of a write included."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        status = 0
        try:
            real_write, real_pwrite = os.write, os.pwrite
            left = [budget]

            def spend(data, write):
                data = bytes(data)
                if left[0] is not None and len(data) >= left[0]:
                    write(data[: left[0]])
                    os._exit(137)
                if left[0] is not None:
                    left[0] -= len(data)
                return write(data)

            os.write = lambda fd, data: spend(data, lambda d: real_write(fd, d))
            os.pwrite = lambda fd, data, offset: spend(data, lambda d: real_pwrite(fd, d, offset))
            ResultsStore(path).append(row, classes)
        except BaseException:
            status = 1
        finally:
            os._exit(status)
    os.waitpid(pid, 0)


@posix_only
def test_a_kill_at_any_byte_of_an_append_leaves_a_whole_store(tmp_path):
    base = ResultsStore(tmp_path / "base" / "results.csv")
    base.append(make_row(model="a"), make_classes(3))
    base.append(make_row(model="b"), make_classes(3))
    baseline = base.read()
    row, classes = make_row(model="c", notes='multi\nline, "quoted"'), make_classes(3)

    # how many bytes the append writes: the journal entry, the per-class lines, the row's line, the clearing
    probe = tmp_path / "probe"
    probe.mkdir()
    for f in base.path.parent.iterdir():
        (probe / f.name).write_bytes(f.read_bytes())
    sizes = []
    real_write, real_pwrite = os.write, os.pwrite
    os.write = lambda fd, data: sizes.append(len(data)) or real_write(fd, data)
    os.pwrite = lambda fd, data, offset: sizes.append(len(data)) or real_pwrite(fd, data, offset)
    try:
        ResultsStore(probe / "results.csv").append(row, classes)
    finally:
        os.write, os.pwrite = real_write, real_pwrite
    assert len(sizes) == 4  # journal entry, per-class lines, row line, journal cleared
    edges = [sum(sizes[:i]) for i in range(len(sizes) + 1)]
    cuts = sorted({c for e in edges for c in (e - 1, e, e + 1) if 0 <= c <= edges[-1]}
                  | set(random.Random(0).sample(range(edges[-1]), 12)))  # fmt: skip

    for cut in cuts:
        folder = tmp_path / f"cut-{cut}"
        folder.mkdir()
        for f in base.path.parent.iterdir():
            (folder / f.name).write_bytes(f.read_bytes())
        _append_in_a_child(folder / "results.csv", row, classes, budget=cut)

        store = ResultsStore(folder / "results.csv")
        stored = bool(store.preflight([row]).stored)
        df, pc = store.read(), store.read_per_class()
        assert stored == (cut >= edges[3]), cut  # stored once the row's line is complete, cleared or not
        pd.testing.assert_frame_equal(df.iloc[: len(baseline)], baseline)
        assert len(df) == len(baseline) + stored
        assert len(pc[pc["model"] == "c"]) == (3 if stored else 0), cut  # no per-class orphans survive
        assert journal_is_clear(store) and hidden_leftovers(folder) == []
        if not stored:
            store.append(row, classes)  # and the store takes the row afterwards
        assert len(ResultsStore(store.path).read()) == len(baseline) + 1


@posix_only
def test_a_kill_during_an_atomic_rewrite_leaves_no_temporary_file_after_the_next_run(tmp_path):
    store = ResultsStore(tmp_path / "results.csv")
    store.append(make_row(model="a"), make_classes(2))
    store.append(make_row(model="b"), make_classes(2))
    before = (store.path.read_bytes(), store.per_class_path.read_bytes())
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child: killed just before it renames its rewritten file
        os.replace = lambda src, dst: os._exit(137)
        try:
            ResultsStore(store.path).append(make_row(model="a", mIoU=1.0), make_classes(2), overwrite=True)
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    assert len(hidden_leftovers(tmp_path)) == 1  # the rewrite's temporary file
    assert (store.path.read_bytes(), store.per_class_path.read_bytes()) == before

    ResultsStore(store.path).preflight()
    assert hidden_leftovers(tmp_path) == []


_WRITER = textwrap.dedent(
    """
    import json, sys, time
    from pathlib import Path
    from zoo.errors import DuplicateResultError
    from zoo.results import ResultsStore
    path, prefix, count, go = sys.argv[1], sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])
    row, classes = json.loads(sys.stdin.readline()), json.loads(sys.stdin.readline())
    store = ResultsStore(path)
    print("ready", flush=True)
    while not go.exists():
        time.sleep(0.005)
    i = 0
    while count < 0 or i < count:
        store.append(dict(row, model=f"{prefix}-{i}"), classes)
        i += 1
    try:
        store.append(dict(row, model="shared"), classes)
        print("shared stored", flush=True)
    except DuplicateResultError:
        print("shared refused", flush=True)
    """
)


def _writer(path: Path, prefix: str, count: int, go: Path, classes: list[dict]) -> subprocess.Popen:
    process = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(path), prefix, str(count), str(go)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    process.stdin.write(json.dumps(make_row()) + "\n" + json.dumps(classes) + "\n")
    process.stdin.flush()
    assert process.stdout.readline().strip() == "ready"
    return process


def _check_whole(path: Path, classes: int) -> pd.DataFrame:
    store = ResultsStore(path)
    store.preflight()
    df, pc = store.read(), store.read_per_class()
    counts = pc.groupby("model").size()
    assert set(counts.index) <= set(df["model"])  # no per-class rows of a row that is not stored
    assert (counts.reindex(df["model"]).fillna(0) == classes).all()  # every stored row has all its classes
    assert hidden_leftovers(path.parent) == [] and journal_is_clear(store)
    return df


@posix_only
def test_random_kill_9_never_leaves_a_torn_or_half_stored_row(tmp_path):
    path = tmp_path / "results.csv"
    go = tmp_path / "go"
    go.touch()
    rng = random.Random(9)
    stored = 0
    for round_ in range(5):
        writer = _writer(path, f"round{round_}", -1, go, make_classes(21))
        time.sleep(rng.uniform(0.02, 0.3))
        writer.send_signal(signal.SIGKILL)
        writer.wait()
        df = _check_whole(path, 21)
        assert len(df) >= stored  # nothing that was stored is lost
        stored = len(df)
    assert stored > 0


def test_concurrent_writers_lose_no_row_and_store_a_key_once(tmp_path):
    path = tmp_path / "results.csv"
    go = tmp_path / "go"
    writers = [_writer(path, f"w{i}", 8, go, make_classes(5)) for i in range(4)]
    go.touch()
    outputs = [w.communicate(timeout=120)[0] for w in writers]
    assert all(w.returncode == 0 for w in writers), outputs
    assert sorted(o.strip() for o in outputs) == ["shared refused"] * 3 + ["shared stored"]
    df = _check_whole(path, 5)
    assert len(df) == 4 * 8 + 1 and df["model"].is_unique


def test_an_integer_too_large_for_its_column_is_one_line_naming_the_file(tmp_path):
    """A 21-digit ``num_images`` (a hand edit, a corrupted copy) parses as a number but overflows int64:
    reading and preflight refuse it as a ResultsFileError, never an OverflowError traceback."""
    path = tmp_path / "r.csv"
    ResultsStore(path).append(make_row(num_images=2000))
    header, line = path.read_text(encoding="utf-8").splitlines()[:2]
    fields = line.split(",")
    fields[header.split(",").index("num_images")] = "200000000000000000000"
    path.write_text(f"{header}\n{','.join(fields)}\n", encoding="utf-8")
    for call in (lambda: ResultsStore(path).read(), lambda: ResultsStore(path).preflight()):
        with pytest.raises(ResultsFileError, match=str(path)):
            call()
