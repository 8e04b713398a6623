"""Data-parallel evaluation under torchrun: 2 gloo ranks on CPU, as a user runs it (a subprocess), on a split
whose size is not divisible by the world size; and the shard arithmetic for every small N and W."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from layouts import write_ade20k
from test_plugins import install_fake_distribution

from zoo.bench.distributed import DistContext, shard_range
from zoo.results import METRIC_COLUMNS

ORACLE = """
    import os

    import torch

    import zoo


    class PositionOracle(torch.nn.Module):
        # predictions are a fixed function of the pixel position; raises or dies on a rank chosen by the test
        def __init__(self, num_classes):
            super().__init__()
            self.num_classes = num_classes

        def forward(self, x):
            rank = os.environ.get("RANK", "0")
            if os.environ.get("ZOO_TEST_FAIL_RANK") == rank:
                raise RuntimeError(f"oracle broken on purpose on rank {rank}")
            if os.environ.get("ZOO_TEST_DIE_RANK") == rank:
                os._exit(3)
            ys, xs = torch.meshgrid(torch.arange(x.shape[-2]), torch.arange(x.shape[-1]), indexing="ij")
            classes = (ys // 2 * 7 + xs // 3) % self.num_classes
            logits = torch.nn.functional.one_hot(classes, self.num_classes).permute(2, 0, 1).float()
            return logits.expand(x.shape[0], -1, -1, -1)


    @zoo.register_model("distoracle-position", family="test-dist-plugin")
    def distoracle_position(num_classes=21, **kwargs):
        return PositionOracle(num_classes)
"""


@pytest.mark.parametrize("num_items", range(13))
@pytest.mark.parametrize("world_size", range(1, 6))
def test_shards_are_contiguous_disjoint_and_cover_the_split(num_items, world_size):
    ranges = [shard_range(num_items, world_size, rank) for rank in range(world_size)]
    assert [i for r in ranges for i in r] == list(range(num_items))  # in order: contiguous, disjoint, all
    assert all(r.step == 1 for r in ranges)
    sizes = [len(r) for r in ranges]
    assert max(sizes) - min(sizes) <= 1  # unpadded and balanced


def test_shard_range_rejects_a_rank_outside_the_world():
    with pytest.raises(ValueError, match="rank 2 is not in 0..1"):
        shard_range(5, 2, 2)


def test_the_context_comes_from_torchruns_environment():
    assert not DistContext.from_env({}).enabled
    ctx = DistContext.from_env({"WORLD_SIZE": "8", "RANK": "3", "LOCAL_RANK": "1"})
    assert (ctx.enabled, ctx.is_main, ctx.rank, ctx.local_rank) == (True, False, 3, 1)
    with pytest.raises(ValueError, match="RANK=4"):
        DistContext.from_env({"WORLD_SIZE": "4", "RANK": "4"})


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("dist")
    site = root / "site"
    install_fake_distribution(
        site, "zoo-test-dist", "[zoo.models]\ndist = dist_oracle\n", {"dist_oracle": ORACLE}
    )
    write_ade20k(root / "data", {"validation": 5})  # 5 images over 2 ranks: 2 + 3
    return root


def run_bench(root: Path, results: Path, nproc: int | None, **env_extra: str) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(root / "site"), str(Path(__file__).parent.parent)]),
        "ZOO_CACHE": str(root / "cache"),
        "OMP_NUM_THREADS": "1",
        **env_extra,
    }
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(name, None)
    launcher = [sys.executable]
    if nproc:
        launcher += ["-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(nproc)]
    args = ["--dataset", "ade20k", "--data-root", str(root / "data"), "--models", "distoracle-position",
            "--allow-untrained", "--results", str(results), "--dist-timeout", "60"]  # fmt: skip
    return subprocess.run(
        [*launcher, "-m", "zoo.bench", *args], capture_output=True, text=True, env=env, timeout=240
    )


def test_two_gloo_ranks_give_the_single_process_metrics_exactly(setup, tmp_path):
    single = run_bench(setup, tmp_path / "single.csv", None)
    assert single.returncode == 0, single.stderr
    dist = run_bench(setup, tmp_path / "dist.csv", 2)
    assert dist.returncode == 0, dist.stderr + dist.stdout

    one = pd.read_csv(tmp_path / "single.csv")
    two = pd.read_csv(tmp_path / "dist.csv")
    assert len(two) == 1 and two.loc[0, "num_images"] == 5 == one.loc[0, "num_images"]
    for column in METRIC_COLUMNS:
        assert two.loc[0, column] == one.loc[0, column], column
    value_columns = ["class_index", "class_name", "IoU", "Acc", "Dice"]
    one_classes = pd.read_csv(tmp_path / "single.per_class.csv")[value_columns]
    two_classes = pd.read_csv(tmp_path / "dist.per_class.csv")[value_columns]
    pd.testing.assert_frame_equal(one_classes, two_classes)

    row = two.loc[0]
    assert row["device"] == "2 x cpu" and row["device_name"].startswith("2 x ")
    assert "aggregate" in row["notes"] and "2 ranks" in row["notes"]
    assert row["environment_id"] != one.loc[0, "environment_id"]  # 2 CPUs' throughput is not one's
    # rank 0 alone reports: one results table, one "rows appended" line
    assert dist.stdout.count("rows appended to") == 1


def test_a_rank_that_raises_fails_the_run_on_every_rank_and_writes_no_row(setup, tmp_path):
    result = run_bench(setup, tmp_path / "r.csv", 2, ZOO_TEST_FAIL_RANK="1")
    assert result.returncode != 0
    stderr = " ".join(result.stderr.split())  # rich wraps long lines
    assert (
        "failed distoracle-position: rank 1 of 2: RuntimeError: oracle broken on purpose on rank 1" in stderr
    )
    assert not (tmp_path / "r.csv").exists()


def test_a_rank_that_dies_fails_the_run_without_hanging_or_writing(setup, tmp_path):
    result = run_bench(setup, tmp_path / "r.csv", 2, ZOO_TEST_DIE_RANK="1")
    assert result.returncode != 0
    assert not (tmp_path / "r.csv").exists()
