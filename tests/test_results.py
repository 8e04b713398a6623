"""The results store (zoo.results) and the environment fingerprint (zoo.bench.environment)."""

from __future__ import annotations

import math
import os
from pathlib import Path

import pandas as pd
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zoo.bench.environment import (
    CPU_ENVIRONMENT_ID_FIELDS,
    ENVIRONMENT_ID_FIELDS,
    default_threads,
    environment,
    environment_id,
    set_threads,
)
from zoo.errors import DuplicateResultError, ResultsFileError
from zoo.results import ACCURACY, METRIC_COLUMNS, SPEED, ResultsStore

COLUMNS = list(ACCURACY.columns)
KEY_COLUMNS = ACCURACY.key_columns
PER_CLASS_COLUMNS = list(ACCURACY.per_class.columns)
row_key = ACCURACY.key


def make_row(**overrides) -> dict:
    row = {
        "model": "deeplabv3-resnet101",
        "weights": "coco_voc",
        "weights_sha256": "586e9e4e" + "0" * 56,
        "weights_revision": "",
        "dataset": "voc",
        "split": "val",
        "num_images": 1449,
        "mIoU": 66.4,
        "aAcc": 92.4,
        "mAcc": 78.1,
        "fwIoU": 86.9,
        "mDice": 78.8,
        "protocol": "ss whole 520",
        "protocol_json": '{"mode": "whole", "resize": 520}',
        "tta": "none",
        "device": "cpu",
        "dtype": "fp32",
        "batch_size": 1,
        "threads": 16,
        "images_per_s": 3.25,
        "wall_s": 445.8,
        "environment_id": "0123456789ab",
        "device_name": "Some CPU (16 cores)",
        "torch_version": "2.5.1",
        "cuda_version": "",
        "zoo_version": "0.1.0",
        "timm_version": "1.0.9",
        "smp_version": "0.6.0",
        "date": "2025-01-02T03:04:05Z",
        "command": "zoo-bench --dataset voc --model deeplabv3-resnet101.coco_voc",
        "notes": "",
        "source": "measured",
    }
    row.update(overrides)
    return row


def make_classes(n: int = 3, iou: float = 50.0) -> list[dict]:
    return [
        {"class_index": i, "class_name": f"c{i}", "IoU": iou + i, "Acc": 60.0 + i, "Dice": 70.0 + i}
        for i in range(n)
    ]


@pytest.fixture(params=["results.csv", "results.parquet"])
def store(request, tmp_path: Path) -> ResultsStore:
    return ResultsStore(tmp_path / "sub" / request.param)


def visible_files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if not p.name.startswith("."))


def test_columns_schema():
    assert len(set(COLUMNS)) == len(COLUMNS)
    assert set(KEY_COLUMNS) <= set(COLUMNS)
    assert set(METRIC_COLUMNS) <= set(COLUMNS)
    assert COLUMNS[0] == "model" and COLUMNS[-1] == "source"


def test_read_missing_file_is_empty_frame(store):
    df = store.read()
    assert list(df.columns) == COLUMNS and len(df) == 0
    assert list(store.read_per_class().columns) == PER_CLASS_COLUMNS
    assert store.done_keys() == set()


def test_append_and_read_back(store):
    a = make_row()
    b = make_row(model="unet-efficientnet-b3", weights="", mIoU=math.nan, notes='a, "quoted"\nnote')
    store.append(a)
    store.append(b)
    df = store.read()
    assert list(df.columns) == COLUMNS
    assert len(df) == 2
    got = df.iloc[1].to_dict()
    for column, value in b.items():
        if isinstance(value, float) and math.isnan(value):
            assert math.isnan(got[column])
        else:
            assert got[column] == value, column
    assert df["num_images"].dtype == "Int64"
    assert df["mIoU"].dtype == "float64"
    assert store.done_keys() == {row_key(a), row_key(b)}
    assert visible_files(store.path.parent) == [store.path.name]


def test_csv_and_parquet_read_identically(tmp_path):
    frames = []
    for name in ("r.csv", "r.parquet"):
        s = ResultsStore(tmp_path / name)
        s.append(make_row(), make_classes())
        s.append(make_row(split="test", num_images=None, wall_s=None), make_classes(2))
        frames.append((s.read(), s.read_per_class()))
    pd.testing.assert_frame_equal(frames[0][0], frames[1][0])
    pd.testing.assert_frame_equal(frames[0][1], frames[1][1])


def test_duplicate_refused(store):
    store.append(make_row())
    with pytest.raises(DuplicateResultError):
        store.append(make_row(mIoU=1.0, notes="rerun"))
    assert len(store.read()) == 1
    # A different environment is a different key.
    store.append(make_row(environment_id="ba9876543210"))
    assert len(store.read()) == 2


def test_resume_keys_and_has(store):
    row = make_row()
    assert not store.has(row)
    store.append(row)
    assert store.has(row)
    assert store.has(row_key(row))
    assert store.has(tuple(row[c] for c in KEY_COLUMNS))
    assert not store.has(make_row(dataset="ade20k"))
    assert row_key(row) == (
        "deeplabv3-resnet101", "coco_voc", "voc", "val", row["protocol_json"], "none", "fp32", "0123456789ab",
    )  # fmt: skip
    # the same model in another dtype or with TTA is another row
    assert not store.has(make_row(dtype="bf16")) and not store.has(make_row(tta="flip"))
    with pytest.raises(ValueError):
        store.has(("too", "short"))


def test_missing_columns_refused(store):
    row = make_row()
    del row["mIoU"], row["command"]
    with pytest.raises(ValueError, match=r"missing.*mIoU.*command"):
        store.append(row)
    assert not store.path.exists()


def test_extra_columns_refused(store):
    with pytest.raises(ValueError, match="unknown.*speed_bonus"):
        store.append(make_row(speed_bonus=1.0))
    assert not store.path.exists()


def test_reported_source_refused(store):
    with pytest.raises(ValueError, match="measured"):
        store.append(make_row(source="reported"))


def test_bad_value_types_refused(store):
    with pytest.raises(ValueError, match="mIoU"):
        store.append(make_row(mIoU="high"))
    with pytest.raises(ValueError, match="num_images"):
        store.append(make_row(num_images=1.5))


def test_per_class_companion_written(store):
    row = make_row()
    store.append(row, make_classes(3))
    assert store.per_class_path.name == f"results.per_class{store.path.suffix}"
    pc = store.read_per_class()
    assert list(pc.columns) == PER_CLASS_COLUMNS
    assert len(pc) == 3
    assert all(tuple(r) == row_key(row) for r in pc[list(KEY_COLUMNS)].itertuples(index=False, name=None))
    assert list(pc["class_index"]) == [0, 1, 2]
    assert list(pc["IoU"]) == [50.0, 51.0, 52.0]


def test_per_class_nan_kept(store):
    classes = make_classes(2)
    classes[1]["IoU"] = math.nan
    classes[1]["Dice"] = None
    store.append(make_row(), classes)
    pc = store.read_per_class()
    assert math.isnan(pc["IoU"][1]) and math.isnan(pc["Dice"][1])
    assert pc["IoU"][0] == 50.0


def test_per_class_malformed_refused(store):
    with pytest.raises(ValueError, match="class_name"):
        store.append(make_row(), [{"class_index": 0, "IoU": 1.0, "Acc": 1.0, "Dice": 1.0}])
    with pytest.raises(ValueError, match="repeated"):
        store.append(make_row(), make_classes(2) + make_classes(1))
    with pytest.raises(ValueError, match="differs"):
        store.append(make_row(), [{**make_classes(1)[0], "dataset": "ade20k"}])
    assert not store.path.exists() and not store.per_class_path.exists()


def plant_orphans(store: ResultsStore, row: dict, classes: list[dict]) -> None:
    """Add per-class rows for ``row``'s key without its main row: what a crash between the replacements leaves."""
    orphans = pd.DataFrame([{**dict(zip(KEY_COLUMNS, row_key(row), strict=True)), **c} for c in classes])
    frame = (
        pd.concat([store.read_per_class(), orphans], ignore_index=True)
        if store.per_class_path.exists()
        else orphans
    )
    store.per_class_path.parent.mkdir(parents=True, exist_ok=True)
    if store.path.suffix == ".parquet":
        frame.to_parquet(store.per_class_path, index=False)
    else:
        frame.to_csv(store.per_class_path, index=False)


def test_orphan_per_class_rows_replaced(store):
    other = make_row(model="other")
    store.append(other, make_classes(2, iou=10.0))
    row = make_row()
    plant_orphans(store, row, make_classes(5, iou=0.0))
    assert not store.has(row)
    assert len(store.read_per_class()) == 7

    store.append(row, make_classes(3, iou=50.0))
    pc = store.read_per_class()
    mine = pc[pc["model"] == row["model"]]
    assert list(mine["IoU"]) == [50.0, 51.0, 52.0]
    assert list(pc[pc["model"] == "other"]["IoU"]) == [10.0, 11.0]


def test_orphan_per_class_rows_dropped_when_appending_without_per_class(store):
    row = make_row()
    plant_orphans(store, row, make_classes(2))
    store.append(row)
    assert len(store.read_per_class()) == 0


def interrupt_main_write(store: ResultsStore, monkeypatch) -> None:
    """Ctrl-C at the moment the main file is written: its replacement (parquet, rewritten whole) or, for CSV
    (append-only), half-way through the row's line."""
    if store.path.suffix == ".parquet":
        real_replace = os.replace

        def interrupted_replace(src, dst):
            if Path(dst) == store.path:
                raise KeyboardInterrupt
            return real_replace(src, dst)

        monkeypatch.setattr(os, "replace", interrupted_replace)
        return
    real_write = os.write

    def interrupted_write(fd, data):
        if os.fstat(fd).st_ino == os.stat(store.path).st_ino:
            real_write(fd, bytes(data)[: len(data) // 2])
            raise KeyboardInterrupt
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", interrupted_write)


def test_crash_on_main_write_keeps_old_rows(store, monkeypatch):
    first = make_row(model="first")
    store.append(first, make_classes(2))
    before = store.path.read_bytes()

    row = make_row()
    interrupt_main_write(store, monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        store.append(row, make_classes(3))
    monkeypatch.undo()

    assert store.path.read_bytes() == before
    assert store.done_keys() == {row_key(first)}
    assert not store.has(row)
    # No temp file left behind, hidden or not (the lock and journal files are the only dot files).
    names = sorted(p.name for p in store.path.parent.iterdir())
    assert not [n for n in names if n.endswith(".tmp")]
    assert visible_files(store.path.parent) == sorted([store.path.name, store.per_class_path.name])

    store.append(row, make_classes(3))
    assert store.done_keys() == {row_key(first), row_key(row)}
    pc = store.read_per_class()
    assert len(pc[pc["model"] == row["model"]]) == 3  # orphans replaced, not duplicated
    with pytest.raises(DuplicateResultError):
        store.append(row, make_classes(3))


def test_crash_while_writing_temp_leaves_nothing(store, monkeypatch):
    store.append(make_row(model="first"))
    before = store.path.read_bytes()

    def boom(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", boom)
    with pytest.raises(KeyboardInterrupt):
        store.append(make_row())
    monkeypatch.undo()
    assert store.path.read_bytes() == before
    assert not [p for p in store.path.parent.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.parametrize(
    ("content", "what"),
    [
        (b"model,weights\nx,y\n", "missing column"),
        (b"", "empty"),
        (b"\xff\xfe\x00garbage\x00", "cannot be read"),
    ],
)
def test_malformed_csv_refused_and_untouched(tmp_path, content, what):
    path = tmp_path / "broken_results.csv"
    path.write_bytes(content)
    store = ResultsStore(path)
    with pytest.raises(ResultsFileError, match=what) as info:
        store.read()
    assert "broken_results.csv" in str(info.value)
    with pytest.raises(ResultsFileError):
        store.append(make_row())
    assert path.read_bytes() == content


def test_truncated_csv_row_refused(tmp_path):
    store = ResultsStore(tmp_path / "results.csv")
    store.append(make_row(model="a"))
    store.append(make_row(model="b"))
    data = store.path.read_bytes()
    truncated = data[: len(data) - 40]
    store.path.write_bytes(truncated)
    with pytest.raises(ResultsFileError, match="results.csv.*fields"):
        store.read()
    with pytest.raises(ResultsFileError):
        store.append(make_row(model="c"))
    assert store.path.read_bytes() == truncated


def test_malformed_csv_extra_column_and_bad_value(tmp_path):
    store = ResultsStore(tmp_path / "results.csv")
    store.append(make_row())
    df = pd.read_csv(store.path, dtype=str, keep_default_na=False)
    df.assign(surprise="1").to_csv(store.path, index=False)
    with pytest.raises(ResultsFileError, match="unexpected column.*surprise"):
        store.read()
    df.assign(mIoU="lots").to_csv(store.path, index=False)
    with pytest.raises(ResultsFileError, match="results.csv.*lots"):
        store.read()
    pd.concat([df, df]).to_csv(store.path, index=False)
    with pytest.raises(ResultsFileError, match="share a key"):
        store.read()


def test_malformed_parquet_refused_and_untouched(tmp_path):
    path = tmp_path / "results.parquet"
    path.write_bytes(b"not parquet at all")
    store = ResultsStore(path)
    with pytest.raises(ResultsFileError, match="results.parquet"):
        store.read()
    with pytest.raises(ResultsFileError):
        store.append(make_row())
    assert path.read_bytes() == b"not parquet at all"


def test_malformed_per_class_file_blocks_append(tmp_path):
    store = ResultsStore(tmp_path / "results.csv")
    store.per_class_path.write_bytes(b"model\nx\n")
    with pytest.raises(ResultsFileError, match="results.per_class.csv"):
        store.append(make_row(), make_classes())
    assert not store.path.exists()
    assert store.per_class_path.read_bytes() == b"model\nx\n"


_floats = st.floats(allow_nan=True, allow_infinity=False) | st.sampled_from(
    [0.1, 1 / 3, 66.43210987654321, 5e-324, 1.7976931348623157e308, -0.0]
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=st.lists(_floats, min_size=7, max_size=7))
def test_floats_round_trip_exactly(tmp_path_factory, values):
    directory = tmp_path_factory.mktemp("floats")
    for name in ("r.csv", "r.parquet"):
        store = ResultsStore(directory / name)
        float_columns = (*METRIC_COLUMNS, "images_per_s", "wall_s")
        row = make_row(**dict(zip(float_columns, values, strict=True)))
        store.append(row)
        got = store.read().iloc[0]
        for column, value in zip(float_columns, values, strict=True):
            if math.isnan(value):
                assert math.isnan(got[column]), (name, column)
            else:
                assert got[column] == value and math.copysign(1, got[column]) == math.copysign(1, value)


def test_string_columns_not_reinterpreted(tmp_path):
    # Versions like "1.10" and notes like "NaN" or "" must come back as the same strings, not floats / NaN.
    store = ResultsStore(tmp_path / "results.csv")
    store.append(make_row(torch_version="1.10", notes="NaN", cuda_version="", weights="007"))
    got = store.read().iloc[0]
    assert got["torch_version"] == "1.10"
    assert got["notes"] == "NaN"
    assert got["cuda_version"] == ""
    assert got["weights"] == "007"
    assert store.has(make_row(torch_version="1.10", notes="NaN", cuda_version="", weights="007"))


def test_environment_fields_are_strings():
    env = environment("cpu")
    expected = {
        "device_type",
        "device_name",
        "cpu_cores",
        "driver_version",
        "torch_version",
        "cuda_version",
        "cudnn_version",
        "zoo_version",
        "timm_version",
        "smp_version",
        "torchvision_version",
        "python_version",
        "platform",
        "threads",
    }
    assert set(env) == expected
    assert all(isinstance(v, str) for v in env.values())
    assert env["device_type"] == "cpu"
    assert env["device_name"] and "cores" in env["device_name"]
    assert env["torch_version"] and env["python_version"]
    assert set(ENVIRONMENT_ID_FIELDS) <= set(env)


def test_environment_id_stable_and_sensitive():
    env = environment("cpu")
    eid = environment_id(env)
    assert len(eid) == 12 and all(c in "0123456789abcdef" for c in eid)
    assert environment_id(dict(env)) == eid
    assert environment_id(dict(reversed(list(env.items())))) == eid
    assert environment_id({**env, "python_version": "0.0", "platform": "elsewhere"}) == eid
    assert environment_id({**env, "torch_version": env["torch_version"] + ".post1"}) != eid
    assert environment_id({**env, "device_name": "Other GPU"}) != eid
    # A fixed input gives a fixed id across processes and releases (the hash must not change silently).
    fixed = {f: f"v-{f}" for f in ENVIRONMENT_ID_FIELDS}
    assert environment_id(fixed) == environment_id(dict(sorted(fixed.items())))


def test_threads_are_part_of_a_cpu_environment_id_only():
    cpu = environment("cpu")
    assert cpu["threads"] == str(torch.get_num_threads())
    assert environment_id({**cpu, "threads": "1"}) != environment_id({**cpu, "threads": "2"})
    gpu = {**cpu, "device_type": "cuda", "device_name": "NVIDIA H200"}
    # a GPU result does not depend on the CPU threads: its id is what it was before threads were recorded
    assert environment_id({**gpu, "threads": "1"}) == environment_id({**gpu, "threads": "2"})
    assert set(CPU_ENVIRONMENT_ID_FIELDS).isdisjoint(ENVIRONMENT_ID_FIELDS)


def test_set_threads_sets_and_reports_them():
    before = torch.get_num_threads()
    try:
        settings = set_threads(1)
        assert settings.threads == 1 == torch.get_num_threads() and environment("cpu")["threads"] == "1"
        # inter-op threads can be set once per process: afterwards they stay, and the note says so
        assert settings.interop_threads == torch.get_num_interop_threads()
        assert (settings.interop_threads == 1) == (settings.note == "")
        assert set_threads(None).threads == default_threads()
        with pytest.raises(ValueError, match="at least 1"):
            set_threads(0)
    finally:
        torch.set_num_threads(before)


# ---------------------------------------------------------------------------------------------- layouts


def _previous_layout_row(schema, row: dict) -> dict:
    """``row`` as the previous layout of ``schema`` wrote it: only its columns, as text."""
    layout = schema.older[0]
    return {c: schema.column_texts(c, [row[c]])[0] for c in layout.columns}


@pytest.mark.parametrize("name", ["results.csv", "results.parquet"])
def test_a_store_of_the_previous_accuracy_layout_is_refused_then_upgraded(tmp_path, name, capsys):
    from zoo.cli import main

    path = tmp_path / name
    layout = ACCURACY.older[0]
    assert layout.version == ACCURACY.version - 1
    assert set(ACCURACY.columns) - set(layout.columns) == {"weights_sha256", "weights_revision", "threads"}
    old = pd.DataFrame([_previous_layout_row(ACCURACY, make_row(model=m)) for m in ("a", "b")], dtype=str)
    if name.endswith(".csv"):
        old.to_csv(path, index=False)
    else:
        old.to_parquet(path, index=False)
    with pytest.raises(ResultsFileError, match=f"older zoo.*: zoo results upgrade --table accuracy {path}$"):
        ResultsStore(path).preflight()
    assert main(["results", "upgrade", str(path)]) == 0
    assert "the old file is kept as" in capsys.readouterr().out
    df = ResultsStore(path).read()
    assert df["model"].tolist() == ["a", "b"] and df["mIoU"].tolist() == [66.4, 66.4]
    assert (df["weights_sha256"] == "").all() and (df["weights_revision"] == "").all()
    assert df["threads"].isna().all()  # unknown: that release did not record it
    assert ResultsStore(path).preflight().rows == 2
    assert len(list(tmp_path.glob(f"{name}.bak-*"))) == 1


def test_a_store_of_the_previous_speed_layout_is_upgraded(tmp_path):
    from zoo.results.__main__ import main as results_main

    path = tmp_path / "speed.csv"
    row = dict.fromkeys(SPEED.columns)
    row.update(model="m", height=8, width=8, batch_size=1, dtype="fp32", timed="forward", source="measured")
    pd.DataFrame([_previous_layout_row(SPEED, row)], dtype=str).to_csv(path, index=False)
    assert results_main(["upgrade", "--table", "speed", str(path)]) == 0  # python -m zoo.results, the alias
    df = ResultsStore(path, SPEED).read()
    assert list(df.columns) == list(SPEED.columns) and df["threads"].isna().all()


def test_an_empty_text_is_a_missing_number(store):
    # "" is what a CSV store holds for a value not measured; a row built from such text is accepted as NaN/NA
    store.append(make_row(images_per_s="", threads=""))
    row = store.read().iloc[0]
    assert math.isnan(row["images_per_s"]) and row["threads"] is pd.NA
    with pytest.raises(ValueError, match="threads"):
        store.append(make_row(model="b", threads="2"))  # text that is not empty is still refused
