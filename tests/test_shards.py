"""Sharded sweeps (``zoo-bench --shard K/N``) and ``zoo-bench merge``: the merged shards equal the unsharded sweep,
and a missing shard or a conflicting row is refused with a clear message."""

from __future__ import annotations

import functools
import random

import pandas as pd
import pytest
import torch
from layouts import write_voc

import zoo
from zoo.bench.distributed import parse_shard, shard_jobs, shard_results_path
from zoo.cli import bench_main as main
from zoo.results import ACCURACY, METRIC_COLUMNS

NAMES = [f"shardoracle-{letter}" for letter in "abcde"]


class ShiftedOracle(torch.nn.Module):
    """Predicts a fixed function of the pixel position, shifted per model so every model's row differs."""

    def __init__(self, num_classes: int, shift: int):
        super().__init__()
        self.num_classes, self.shift = num_classes, shift

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ys, xs = torch.meshgrid(torch.arange(x.shape[-2]), torch.arange(x.shape[-1]), indexing="ij")
        classes = (ys // 2 * 7 + xs // 3 + self.shift) % self.num_classes
        logits = torch.nn.functional.one_hot(classes, self.num_classes).permute(2, 0, 1).float()
        return logits.expand(x.shape[0], -1, -1, -1)


def _build(shift: int, num_classes: int = 21, **kwargs):
    return ShiftedOracle(num_classes, shift)


@pytest.fixture(scope="module", autouse=True)
def oracles():
    for shift, name in enumerate(NAMES):
        zoo.register_model(name, family="test-shards")(functools.partial(_build, shift * 5))
    try:
        yield
    finally:
        for name in NAMES:
            zoo.REGISTRY.unregister(f"test-shards:{name}")


@pytest.fixture
def data(tmp_path, isolated_cache):
    write_voc(tmp_path / "data")
    return tmp_path / "data"


def sweep(data, *extra: str) -> int:
    return main(["--dataset", "voc", "--data-root", str(data), "--device", "cpu", "--allow-untrained",
                 "--models", "shardoracle-*", *extra])  # fmt: skip


def comparable(frame: pd.DataFrame, columns) -> pd.DataFrame:
    return frame[list(columns)].sort_values(list(columns[:2])).reset_index(drop=True)


@pytest.mark.parametrize("count", [1, 2, 3, 7])
def test_merged_shards_equal_the_unsharded_sweep(data, tmp_path, count):
    assert sweep(data, "--results", str(tmp_path / "all.csv")) == 0
    shards = tmp_path / "shards"
    for index in range(count):
        assert sweep(data, "--shard", f"{index}/{count}", "--results", f"{shards}/") == 0
    assert sorted(p.name for p in shards.glob("shard-*.csv") if "per_class" not in p.name) == sorted(
        f"shard-{k}-of-{count}.csv" for k in range(count)
    )
    sizes = [len(pd.read_csv(p)) for p in shards.glob("shard-*-of-*.csv") if "per_class" not in p.name]
    assert sum(sizes) == len(NAMES) and max(sizes) - min(sizes) <= 1  # disjoint, complete, balanced

    assert main(["merge", str(shards), "--out", str(tmp_path / "merged.csv")]) == 0
    columns = [*ACCURACY.key_columns, "num_images", *METRIC_COLUMNS]
    pd.testing.assert_frame_equal(
        comparable(pd.read_csv(tmp_path / "all.csv"), columns),
        comparable(pd.read_csv(tmp_path / "merged.csv"), columns),
    )
    class_columns = [*ACCURACY.key_columns, "class_index", "IoU", "Acc", "Dice"]
    unsharded = pd.read_csv(tmp_path / "all.per_class.csv")[class_columns]
    merged = pd.read_csv(tmp_path / "merged.per_class.csv")[class_columns]
    order = ["model", "class_index"]
    pd.testing.assert_frame_equal(
        unsharded.sort_values(order).reset_index(drop=True), merged.sort_values(order).reset_index(drop=True)
    )


def test_shard_selection_is_deterministic_and_independent_of_order():
    keys = [(f"model-{i}", "tag", "voc") for i in range(23)]
    shuffled = keys[:]
    random.Random(1).shuffle(shuffled)
    for count in range(1, 9):
        parts = [shard_jobs(keys, lambda k: k, index, count) for index in range(count)]
        assert parts == [shard_jobs(shuffled, lambda k: k, index, count) for index in range(count)]
        assert sorted(k for part in parts for k in part) == sorted(keys)


@pytest.mark.parametrize(
    ("text", "message"),
    [("16/16", "0-based, expected 0..15"), ("3/0", "at least 1"), ("a/b", "expected K/N"), ("-1/4", "K/N")],
)
def test_a_bad_shard_names_the_value_and_the_range(text, message, data, tmp_path, capsys):
    with pytest.raises(ValueError, match=message):
        parse_shard(text)
    assert sweep(data, f"--shard={text}", "--results", str(tmp_path)) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert repr(text) in err and message in err


def test_results_folder_of_a_shard():
    assert shard_results_path("shards/", 3, 16).as_posix() == "shards/shard-3-of-16.csv"
    assert shard_results_path("shards", 3, 16).as_posix() == "shards/shard-3-of-16.csv"
    assert shard_results_path("mine.parquet", 3, 16).as_posix() == "mine.parquet"


def _shards(data, tmp_path, count: int = 3):
    shards = tmp_path / "shards"
    for index in range(count):
        assert sweep(data, "--shard", f"{index}/{count}", "--results", str(shards)) == 0
    return shards


def test_merge_reports_a_missing_shard_and_writes_nothing(data, tmp_path, capsys):
    shards = _shards(data, tmp_path)
    (shards / "shard-1-of-3.csv").unlink()
    capsys.readouterr()
    assert main(["merge", str(shards), "--out", str(tmp_path / "merged.csv")]) == 1
    err = " ".join(capsys.readouterr().err.split())
    assert "missing 1 of 3 shards: shard-1-of-3" in err and "--allow-missing" in err
    assert not (tmp_path / "merged.csv").exists()

    assert main(["merge", str(shards), "--out", str(tmp_path / "merged.csv"), "--allow-missing"]) == 0
    assert len(pd.read_csv(tmp_path / "merged.csv")) == len(NAMES) - 2  # shard 1 of 5 jobs held 2


def test_merge_refuses_a_conflicting_row_and_drops_identical_duplicates(data, tmp_path, capsys):
    shards = _shards(data, tmp_path)
    first = pd.read_csv(shards / "shard-0-of-3.csv", dtype=str, keep_default_na=False)
    second = pd.read_csv(shards / "shard-1-of-3.csv", dtype=str, keep_default_na=False)
    # the same result in two shards (a shard rerun): merged silently
    pd.concat([second, first.iloc[:1]]).to_csv(shards / "shard-1-of-3.csv", index=False)
    assert main(["merge", str(shards), "--out", str(tmp_path / "merged.csv")]) == 0
    merged = pd.read_csv(tmp_path / "merged.csv")
    assert len(merged) == len(NAMES) and not merged.duplicated(list(ACCURACY.key_columns)).any()
    per_class = pd.read_csv(tmp_path / "merged.per_class.csv")
    assert not per_class.duplicated([*ACCURACY.key_columns, "class_index"]).any()

    # the same key with other metrics: refused, naming the model, the files and the values
    conflicting = first.iloc[:1].copy()
    conflicting["mIoU"] = "12.5"
    pd.concat([second, conflicting]).to_csv(shards / "shard-1-of-3.csv", index=False)
    capsys.readouterr()
    assert main(["merge", str(shards), "--out", str(tmp_path / "again.csv")]) == 1
    err = " ".join(capsys.readouterr().err.split())
    model = first.loc[0, "model"]
    assert f"conflicting results for {model}.untrained" in err
    assert "shard-0-of-3.csv" in err and "shard-1-of-3.csv" in err and "12.5" in err
    assert not (tmp_path / "again.csv").exists()


def test_merge_needs_shard_files(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["merge", str(tmp_path / "empty"), "--out", str(tmp_path / "m.csv")]) == 2
    assert "no shard-K-of-N" in capsys.readouterr().err
