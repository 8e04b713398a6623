"""Cost of one results-store append as the store grows, next to the floor: a plain line appended with fsync.

(a) ``ResultsStore.append`` of one accuracy row with 21 per-class rows (VOC) into a CSV store already holding
    10 / 1,000 / 20,000 rows, each with its 21 per-class rows; the store was opened once before (``preflight``,
    which zoo-bench runs before its first model; the previous store had none, so nothing is opened for it);
(b) appending one line as long as the row's to a file, with fsync: what no store can beat;
(c) ``ResultsStore.done_keys()`` on 20,000 rows: what ``--resume`` reads;
(d) ``ResultsStore.preflight()`` on 20,000 rows, from a new store object: opening a store cold reads and
    checks both files once (skipped where the store has no preflight);
(e) ``ResultsStore.read()`` and ``read_per_class()`` on 20,000 rows (what ``zoo leaderboard`` reads), with the
    columnar reader and, turned off, record by record (every check is made either way).

Run: ``pytest benchmarks/test_store_bench.py``. The before/after figures in the issue-14 note came from this file run on the previous store (then
``zoo.bench.results`` at the time of the measurement). No assertions on time.
"""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import pandas as pd
import pytest

from zoo.results import ACCURACY, ResultsStore

SIZES = (10, 1_000, 20_000)
CLASSES = 21
ROUNDS = 8


def row(model: str) -> dict:
    return {
        "model": model, "weights": "coco_voc", "dataset": "voc", "split": "val", "num_images": 1449,
        "mIoU": 66.4321, "aAcc": 92.4, "mAcc": 78.1, "fwIoU": 86.9, "mDice": 78.8, "protocol": "ss whole 520",
        "protocol_json": '{"mode": "whole", "resize": 520, "mean": [0.485, 0.456, 0.406]}', "tta": "none",
        "device": "cuda", "dtype": "fp32", "batch_size": 8, "images_per_s": 31.25, "wall_s": 46.4,
        "environment_id": "0123456789ab", "device_name": "NVIDIA H100 80GB HBM3", "torch_version": "2.5.1",
        "cuda_version": "12.4", "zoo_version": "0.1.0", "timm_version": "1.0.9", "smp_version": "0.6.0",
        "date": "2025-01-02T03:04:05+00:00", "command": f"zoo-bench --dataset voc --models {model}",
        "notes": "", "source": "measured", "weights_sha256": "586e9e4e" * 8, "weights_revision": "", "threads": 16,
    }  # fmt: skip


def classes() -> list[dict]:
    return [
        {"class_index": i, "class_name": f"class-{i}", "IoU": 50.0 + i / 7, "Acc": 60.0 + i / 3, "Dice": 70.0}
        for i in range(CLASSES)
    ]


def write_store(path: Path, rows: int) -> None:
    """A store of ``rows`` rows written at once (as pandas writes it: what both stores read)."""
    table = pd.DataFrame([row(f"model-{i:06d}") for i in range(rows)], columns=list(ACCURACY.columns))
    per_class = pd.DataFrame(
        [
            {**{c: r[c] for c in ACCURACY.key_columns}, **c}
            for r in table.to_dict("records")
            for c in classes()
        ],
        columns=list(ACCURACY.per_class.columns),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(path, index=False, lineterminator="\n")
    per_class.to_csv(path.with_name(f"{path.stem}.per_class.csv"), index=False, lineterminator="\n")


@pytest.fixture(scope="module")
def stores(tmp_path_factory) -> dict[int, Path]:
    root = tmp_path_factory.mktemp("stores")
    paths = {}
    for size in SIZES:
        paths[size] = root / f"n{size}" / "results.csv"
        write_store(paths[size], size)
    return paths


def _info(benchmark, rows: int, what: str) -> None:
    benchmark.extra_info.update({"rows": rows, "per_class_rows": rows * CLASSES, "what": what})


@pytest.mark.parametrize("size", SIZES)
def test_append(benchmark, stores, size):
    store = ResultsStore(stores[size])
    if hasattr(store, "preflight"):
        store.preflight()
    counter = itertools.count()
    _info(benchmark, size, "append one row + 21 per-class rows")
    benchmark.group = "append"
    benchmark.pedantic(
        store.append,
        setup=lambda: ((row(f"new-{next(counter)}"), classes()), {}),
        rounds=ROUNDS,
        warmup_rounds=1,
    )


def test_plain_line_with_fsync(benchmark, tmp_path):
    path = tmp_path / "plain.csv"
    path.write_bytes(b"header\n")
    line = (",".join(str(v) for v in row("new-000000").values()) + "\n").encode()

    def append_line():
        fd = os.open(path, os.O_WRONLY | os.O_APPEND)
        try:
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)

    _info(benchmark, 0, f"one {len(line)}-byte line appended and fsync-ed")
    benchmark.group = "append"
    benchmark.pedantic(append_line, rounds=ROUNDS * 4, warmup_rounds=1)


def test_done_keys(benchmark, stores):
    store = ResultsStore(stores[SIZES[-1]])
    _info(benchmark, SIZES[-1], "done_keys (what --resume reads)")
    benchmark.group = "resume"
    benchmark.pedantic(store.done_keys, rounds=5, warmup_rounds=1)


def test_preflight_cold(benchmark, stores):
    path = stores[SIZES[-1]]
    if not hasattr(ResultsStore(path), "preflight"):
        pytest.skip("this store has no preflight")
    _info(benchmark, SIZES[-1], "preflight from a new store object (reads and checks both files)")
    benchmark.group = "open"
    benchmark.pedantic(lambda: ResultsStore(path).preflight(), rounds=3, warmup_rounds=0)


@pytest.mark.parametrize("reader", ["columnar", "record-by-record"])
def test_read(benchmark, stores, monkeypatch, reader):
    import zoo.results.store as store_module

    if not hasattr(store_module, "arrow_columns"):
        pytest.skip("this store has no columnar reader")
    if reader == "record-by-record":
        monkeypatch.setattr(store_module, "arrow_columns", lambda data: None)
    path = stores[SIZES[-1]]

    def read() -> None:
        store = ResultsStore(path)
        store.read()
        store.read_per_class()

    _info(benchmark, SIZES[-1], f"read() and read_per_class(), {reader}")
    benchmark.group = "read"
    benchmark.pedantic(read, rounds=3, warmup_rounds=1)
