"""The harness checks before it works (issue 11): run as a user runs it (``zoo-bench``), a results store that
cannot take the rows stops ``eval`` and ``speed`` with exit 2 and one line naming the file *before any model
is built*; rows already stored are reported up front (``--resume`` skips, ``--overwrite`` replaces, otherwise
exit 2); a row whose append fails after it was computed is shown in full and kept in a recovery file that
``zoo results restore`` puts back."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pandas as pd
import pytest
import torch
from layouts import write_voc
from test_results import make_classes, make_row

import zoo
import zoo.factory
import zoo.results.store as store_module
from zoo.cli import bench_main, main
from zoo.results import ACCURACY, SPEED, ResultsStore

FAMILY = "test-faults"
MODELS = ("faulttiny-a", "faulttiny-b")
SPEED_FAST = ["--warmup-iters", "1", "--warmup-seconds", "0", "--block-iters", "1", "--block-seconds", "0",
              "--blocks", "1", "--timed", "forward", "--size", "16x16"]  # fmt: skip


class Tiny(torch.nn.Module):
    def __init__(self, num_classes: int = 21):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


@pytest.fixture(autouse=True)
def tiny_models():
    for name in MODELS:
        zoo.register_model(name, family=FAMILY)(lambda num_classes=21, **kwargs: Tiny(num_classes))
    try:
        yield
    finally:
        for name in MODELS:
            zoo.REGISTRY.unregister(f"{FAMILY}:{name}")


@pytest.fixture
def built(monkeypatch) -> list[str]:
    """The names of the models the harness builds (``zoo.factory.create`` calls), in order."""
    calls: list[str] = []
    real = zoo.factory.create

    def recording(name, *args, **kwargs):
        calls.append(name)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(zoo.factory, "create", recording)
    return calls


@pytest.fixture(scope="module")
def voc_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("data")
    write_voc(root)
    return root


def eval_args(voc_root: Path, results: Path, *models: str) -> list[str]:
    return ["--dataset", "voc", "--data-root", str(voc_root), "--device", "cpu", "--allow-untrained",
            "--threads", "1", "--models", *(models or MODELS[:1]), "--results", str(results)]  # fmt: skip


def speed_args(results: Path, *models: str) -> list[str]:
    return ["speed", "--device", "cpu", "--threads", "1", "--models", *(models or MODELS[:1]),
            "--results", str(results), *SPEED_FAST]  # fmt: skip


def run(capsys, entry, argv: list[str]) -> tuple[int, str]:
    code = entry(argv)
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err
    return code, captured.err


def one_error_line(err: str, prog: str) -> str:
    """The error line of a refused command: the only line of stderr, ``prog: error: ...``."""
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"{prog}: error: "), err
    return lines[0]


# ---------------------------------------------------------------------------------------------- store faults


def speed_row(**changes) -> dict:
    row = dict.fromkeys(SPEED.columns)
    row.update(model="unet-resnet18", weights="none", height=16, width=16, batch_size=1, dtype="fp32",
               channels_last=False, compile="none", cuda_graphs=False, tf32=False, timed="forward",
               status="ok", images_per_s=12.5, environment_id="0123456789ab", source="measured")  # fmt: skip
    row.update(changes)
    return row


def a_store(path: Path) -> ResultsStore:
    """A store of two rows (accuracy, with per-class values; or speed) to damage."""
    if "speed" in path.name:
        store = ResultsStore(path, SPEED)
        store.append(speed_row(model="x"))
        store.append(speed_row(model="y"))
    else:
        store = ResultsStore(path)
        store.append(make_row(model="x"), make_classes(2))
        store.append(make_row(model="y"), make_classes(2))
    return store


def garbage_line(path: Path) -> Path:
    data = a_store(path).path.read_bytes().split(b"\n")
    path.write_bytes(b"\n".join([data[0], b"oops,,,", *data[1:]]))
    return path


def cut_last_line(path: Path) -> Path:
    path.write_bytes(a_store(path).path.read_bytes()[:-30])
    return path


def not_utf8(path: Path) -> Path:
    path.write_bytes(a_store(path).path.read_bytes() + "é,".encode("latin-1") * 40 + b"\n")
    return path


def empty(path: Path) -> Path:
    path.write_bytes(b"")
    return path


def folder_instead_of_file(path: Path) -> Path:
    path.mkdir()
    return path


def newer_schema(path: Path) -> Path:
    a_store(path)
    pd.read_csv(path, dtype=str, keep_default_na=False).assign(gpu_hours="1.5").to_csv(path, index=False)
    return path


def older_schema(path: Path) -> Path:
    schema = SPEED if "speed" in path.name else ACCURACY
    row = speed_row() if schema is SPEED else make_row()
    layout = schema.older[0]
    old = {c: schema.column_texts(c, [row[c]])[0] for c in layout.columns}
    pd.DataFrame([old], dtype=str).to_csv(path, index=False)
    return path


def broken_per_class(path: Path) -> Path:
    store = a_store(path)
    store.per_class_path.write_bytes(store.per_class_path.read_bytes() + b"x,y\n")
    return store.per_class_path


def read_only_folder(path: Path, monkeypatch) -> Path:
    # Simulated (the tests may run as root, for whom permission bits stop nothing): creating a file in the
    # folder fails with EROFS, as on a read-only mount.
    path.parent.mkdir(parents=True, exist_ok=True)
    real_open = os.open

    def refusing(file, flags, *args, **kwargs):
        if flags & os.O_CREAT and Path(file).parent == path.parent:
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(file))
        return real_open(file, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", refusing)
    return path.parent


STORE_FAULTS = {
    "garbage-line": (garbage_line, "record 2 has 4 fields"),
    "cut-last-line": (cut_last_line, "no line end"),
    "non-utf8": (not_utf8, "not UTF-8"),
    "empty": (empty, "the file is empty"),
    "folder-for-file": (folder_instead_of_file, "is a folder, not a results file"),
    "newer-schema": (newer_schema, "written by a newer zoo"),
    "older-schema": (older_schema, "written by an older zoo"),
    "broken-per-class": (broken_per_class, "record 6 has 2 fields"),
    "read-only-folder": (read_only_folder, "cannot write in this folder"),
}


def damaged(fault: str, path: Path, monkeypatch) -> tuple[Path, str]:
    damage, fragment = STORE_FAULTS[fault]
    named = damage(path, monkeypatch) if damage is read_only_folder else damage(path)
    return named, fragment


def snapshot(folder: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".")}


@pytest.mark.parametrize("fault", STORE_FAULTS)
def test_eval_refuses_a_store_that_cannot_take_the_rows_before_building_a_model(
    fault, voc_root, tmp_path, monkeypatch, capsys, built
):
    path = tmp_path / "store" / "results.csv"
    path.parent.mkdir()
    named, fragment = damaged(fault, path, monkeypatch)
    before = snapshot(path.parent)
    code, err = run(capsys, bench_main, eval_args(voc_root, path, *MODELS))
    line = one_error_line(err, "zoo-bench eval")
    assert code == 2 and str(named) in line and fragment in line, line
    assert built == []  # no model was constructed
    assert snapshot(path.parent) == before  # nothing changed
    if fault == "older-schema":
        assert line.endswith(f"zoo results upgrade --table accuracy {path}")


@pytest.mark.parametrize("fault", [f for f in STORE_FAULTS if f != "broken-per-class"])
def test_speed_refuses_a_store_that_cannot_take_the_rows_before_building_a_model(
    fault, tmp_path, monkeypatch, capsys, built
):
    path = tmp_path / "store" / "speed.csv"
    path.parent.mkdir()
    named, fragment = damaged(fault, path, monkeypatch)
    before = snapshot(path.parent)
    code, err = run(capsys, bench_main, speed_args(path))
    line = one_error_line(err, "zoo-bench speed")
    assert code == 2 and str(named) in line and fragment in line, line
    assert built == [] and snapshot(path.parent) == before
    if fault == "older-schema":
        assert line.endswith(f"zoo results upgrade --table speed {path}")


def test_an_older_store_upgraded_with_the_command_given_is_then_used(voc_root, tmp_path, capsys, built):
    path = older_schema(tmp_path / "results.csv")
    code, err = run(capsys, bench_main, eval_args(voc_root, path))
    command = one_error_line(err, "zoo-bench eval").rsplit(": ", 1)[1]
    assert code == 2 and command.startswith("zoo results upgrade")
    assert main(command.split()[1:]) == 0  # the command, as printed
    assert run(capsys, bench_main, eval_args(voc_root, path))[0] == 0
    df = ResultsStore(path).read()
    assert len(df) == 2 and df["threads"].isna().tolist() == [True, False]  # the old row's is unknown


# ---------------------------------------------------------------------------------------------- rows already stored


def test_a_rerun_is_refused_up_front_then_resumed_or_overwritten(voc_root, tmp_path, capsys, built):
    results = tmp_path / "results.csv"
    assert run(capsys, bench_main, eval_args(voc_root, results))[0] == 0
    first = ResultsStore(results).read()
    assert built == [f"{FAMILY}:faulttiny-a"]

    code, err = run(capsys, bench_main, eval_args(voc_root, results, *MODELS))
    line = one_error_line(err, "zoo-bench eval")
    assert code == 2 and "already holds 1 of the 2 planned row(s) (faulttiny-a.untrained)" in line
    assert "--resume" in line and "--overwrite" in line and str(results) in line
    assert len(built) == 1  # refused before faulttiny-b, the model not yet stored, was built

    code, err = run(capsys, bench_main, [*eval_args(voc_root, results, *MODELS), "--resume"])
    assert code == 0 and "skip faulttiny-a.untrained" in err
    assert built[1:] == [f"{FAMILY}:faulttiny-b"]  # only the missing model
    df = ResultsStore(results).read()
    assert df["model"].tolist() == ["faulttiny-a", "faulttiny-b"]
    pd.testing.assert_frame_equal(df.iloc[:1], first)

    code, err = run(capsys, bench_main, [*eval_args(voc_root, results), "--overwrite"])
    assert code == 0 and built[2:] == [f"{FAMILY}:faulttiny-a"]
    df = ResultsStore(results).read()
    assert sorted(df["model"]) == ["faulttiny-a", "faulttiny-b"] and len(df) == 2
    assert df.set_index("model").loc["faulttiny-a", "date"] >= first["date"].iloc[0]
    assert len(ResultsStore(results).read_per_class()) == 2 * 21  # replaced, not duplicated

    with pytest.raises(SystemExit) as info:  # skipping and replacing contradict each other
        bench_main([*eval_args(voc_root, results), "--resume", "--overwrite"])
    assert info.value.code == 2 and "not allowed with argument" in capsys.readouterr().err


def test_speed_rerun_is_refused_up_front_then_resumed_or_overwritten(tmp_path, capsys, built):
    results = tmp_path / "speed.csv"
    assert run(capsys, bench_main, speed_args(results))[0] == 0
    code, err = run(capsys, bench_main, speed_args(results, *MODELS))
    line = one_error_line(err, "zoo-bench speed")
    assert code == 2 and "already holds 1 of the 2 planned row(s) (faulttiny-a bs1)" in line
    assert built == [f"{FAMILY}:faulttiny-a"]
    assert run(capsys, bench_main, [*speed_args(results, *MODELS), "--resume"])[0] == 0
    assert built[1:] == [f"{FAMILY}:faulttiny-b"]
    assert run(capsys, bench_main, [*speed_args(results), "--overwrite"])[0] == 0
    df = ResultsStore(results, SPEED).read()
    assert sorted(df["model"]) == list(MODELS) and built[2:] == [f"{FAMILY}:faulttiny-a"]


# ---------------------------------------------------------------------------------------------- a full disk


def disk_full_once(monkeypatch) -> None:
    """The first append's write fails with ENOSPC (the disk filled while the model was evaluated)."""
    real = store_module.append_bytes
    calls = [0]

    def append_bytes(path, data):
        calls[0] += 1
        if calls[0] == 1:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        return real(path, data)

    monkeypatch.setattr(store_module, "append_bytes", append_bytes)


@pytest.mark.parametrize("command", ["eval", "speed"])
def test_a_row_whose_append_fails_is_shown_kept_and_restored(
    command, voc_root, tmp_path, monkeypatch, capsys
):
    results = tmp_path / ("speed.csv" if command == "speed" else "results.csv")
    argv = speed_args(results, *MODELS) if command == "speed" else eval_args(voc_root, results, *MODELS)
    disk_full_once(monkeypatch)
    code, err = run(capsys, bench_main, argv)
    recovery = tmp_path / f"{results.name}.unsaved.jsonl"
    flat = " ".join(err.split())
    assert code == 1  # the sweep went on: one row failed to be stored, the other was
    assert str(recovery) in flat and os.strerror(errno.ENOSPC) in flat
    assert f"zoo results restore {recovery}" in flat
    shown = next(line for line in err.splitlines() if line.startswith("the row: "))
    assert json.loads(shown.removeprefix("the row: "))["model"] == "faulttiny-a"  # in full, valid JSON
    saved = json.loads(recovery.read_text())
    assert saved["row"]["model"] == "faulttiny-a"
    schema = SPEED if command == "speed" else ACCURACY
    assert ResultsStore(results, schema).read()["model"].tolist() == ["faulttiny-b"]

    monkeypatch.undo()
    code, out = main(["results", "restore", str(recovery)]), capsys.readouterr().out
    assert code == 0 and "restored 1 row(s)" in out and not recovery.exists()
    assert sorted(ResultsStore(results, schema).read()["model"]) == list(MODELS)
