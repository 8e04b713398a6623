"""zoo-bench speed on the CPU: protocol fields, OOM rows, FLOP counts, the correctness gate, resume, MFU."""

from __future__ import annotations

import copy
import math
from collections import OrderedDict

import pandas as pd
import pytest
import torch
from torch import nn

import zoo
from zoo.bench.speed import (
    WARMUP_NOTE,
    SpeedConfig,
    WarmupTracker,
    argmax_disagreement,
    count_flops,
    measure,
    peak_tflops,
    reference_labels,
    synthetic_input,
)
from zoo.bench.speed_table import rounded, speed_table_cells, with_spread
from zoo.cli import bench_main
from zoo.errors import DuplicateResultError
from zoo.results import SPEED, ResultsStore

FAMILY = "test-speed"
FAST = ["--warmup-iters", "1", "--warmup-seconds", "0", "--block-iters", "2", "--block-seconds", "0",
        "--blocks", "2", "--device", "cpu"]  # fmt: skip
QUICK = dict(warmup_iters=1, warmup_seconds=0.0, block_iters=2, block_seconds=0.0, blocks=2)


def speed_main(argv: list[str]) -> int:
    """``zoo-bench speed ARGV`` in this process; returns the exit code."""
    return bench_main(["speed", *argv])


class TinyNet(nn.Module):
    """Two convolutions; the second halves the resolution, so upsampling is not a no-op."""

    def __init__(self, num_classes: int = 21, oom_above: int | None = None):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.conv2 = nn.Conv2d(8, num_classes, 3, stride=2, padding=1)
        self.oom_above = oom_above

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.oom_above is not None and x.shape[0] > self.oom_above:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB (simulated)")
        return self.conv2(torch.relu(self.conv1(x)))


@pytest.fixture
def tiny_models():
    zoo.register_model("tinyspeed-plain", family=FAMILY)(lambda num_classes=21, **kw: TinyNet(num_classes))
    zoo.register_model("tinyspeed-oom", family=FAMILY)(lambda num_classes=21, **kw: TinyNet(num_classes, 1))
    try:
        yield
    finally:
        zoo.REGISTRY.unregister(f"{FAMILY}:tinyspeed-plain")
        zoo.REGISTRY.unregister(f"{FAMILY}:tinyspeed-oom")


def test_cli_rows_carry_every_field(tiny_models, tmp_path):
    results = tmp_path / "speed.csv"
    argv = ["--models", "tinyspeed-plain", "unet-resnet18", "--size", "64x64", "--batch-sizes", "1",
            "--results", str(results), *FAST]  # fmt: skip
    assert speed_main(argv) == 0
    df = ResultsStore(results, SPEED).read()
    assert list(df.columns) == list(SPEED.columns)
    assert len(df) == 4  # 2 models x 2 timed regions
    assert set(df["timed"]) == {"forward", "forward+upsample+argmax"}
    assert (df["status"] == "ok").all() and (df["correctness"] == "reference").all()
    assert (df["weights"] == "none").all() and (df["device_type"] == "cpu").all()
    for column in ("images_per_s", "images_per_s_min", "images_per_s_max", "latency_ms_p50", "latency_ms_p90",
                   "latency_ms_p99", "gflops_per_image", "gmacs_per_image", "tflops_achieved", "first_call_s",
                   "warmup_s_run", "argmax_disagreement"):  # fmt: skip
        assert df[column].notna().all(), column
    for column in ("peak_memory_mib", "peak_tflops", "mfu"):  # the CPU has no device memory, no known peak
        assert df[column].isna().all(), column
    assert (df["images_per_s_min"] <= df["images_per_s"]).all()
    assert (df["images_per_s"] <= df["images_per_s_max"]).all()
    assert (df["block_iters_run"] >= 2).all() and (df["warmup_iters_run"] >= 1).all()
    tiny = df[df["model"] == "tinyspeed-plain"].set_index("timed")
    assert tiny.loc["forward", "params"] == sum(p.numel() for p in TinyNet(21).parameters())
    assert tiny.loc["forward", "height"] == 64 and tiny.loc["forward", "num_classes"] == 21
    assert "upsample" in tiny.loc["forward+upsample+argmax", "uncounted_ops"]
    assert "argmax" in tiny.loc["forward+upsample+argmax", "uncounted_ops"]
    assert tiny.loc["forward", "latency_per"] == "batch of 1"
    assert df["environment_id"].nunique() == 1 and df["torch_version"].iloc[0] == torch.__version__


def test_oom_is_a_row_and_the_sweep_goes_on(tiny_models, tmp_path):
    results = tmp_path / "speed.csv"
    argv = ["--models", "tinyspeed-oom", "tinyspeed-plain", "--size", "16x16", "--batch-sizes", "1,2,4",
            "--timed", "forward", "--results", str(results), *FAST]  # fmt: skip
    assert speed_main(argv) == 0
    df = ResultsStore(results, SPEED).read()
    status = {(r.model, r.batch_size): r.status for r in df.itertuples()}
    assert status == {
        ("tinyspeed-oom", 1): "ok", ("tinyspeed-oom", 2): "oom", ("tinyspeed-oom", 4): "oom",
        ("tinyspeed-plain", 1): "ok", ("tinyspeed-plain", 2): "ok", ("tinyspeed-plain", 4): "ok",
    }  # fmt: skip
    oom = df[df["status"] == "oom"]
    assert oom["images_per_s"].isna().all() and oom["notes"].str.contains("out of memory").all()


def test_flops_match_a_hand_count():
    net = TinyNet(num_classes=5).eval()
    x = torch.randn(2, 3, 20, 12)
    gflops, uncounted = count_flops(net, x)
    conv1 = 2 * 3 * 8 * 3 * 3 * 20 * 12  # 2 * Cin * Cout * kh * kw * Hout * Wout; the bias is not counted
    conv2 = 2 * 8 * 5 * 3 * 3 * 10 * 6
    assert gflops * 1e9 == pytest.approx(2 * (conv1 + conv2), abs=0.5)
    assert uncounted == "aten.relu"


def test_correctness_gate():
    torch.manual_seed(0)
    net = TinyNet(num_classes=6).eval()
    x = torch.randn(1, 3, 16, 16)
    assert argmax_disagreement(net, net, x) == 0.0
    perturbed = copy.deepcopy(net)
    with torch.no_grad():
        perturbed.conv2.bias += torch.arange(6.0)  # favours the last classes: many pixels change
    assert argmax_disagreement(net, perturbed, x) > 0.001

    base = SpeedConfig(height=16, width=16, **QUICK)
    reference = reference_labels(net, base, "cpu")
    assert measure(net, base, "cpu")["correctness"] == "reference"
    variant = SpeedConfig(height=16, width=16, channels_last=True, timed="forward+upsample+argmax", **QUICK)
    row = measure(net, variant, "cpu", reference=reference)
    assert row["correctness"] == "ok" and row["argmax_disagreement"] <= 0.001
    row = measure(perturbed, variant, "cpu", reference=reference)
    assert row["correctness"] == "flagged" and row["argmax_disagreement"] > 0.001


class TupleNet(TinyNet):
    """TinyNet's logits first in a tuple, an auxiliary output after (the shape zoo.inference accepts)."""

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits = super().forward(x)
        return logits, -logits


def test_timed_region_and_gate_take_dict_and_tuple_outputs():
    torch.manual_seed(0)
    net = TupleNet(num_classes=6).eval()
    x = torch.randn(1, 3, 16, 16)
    plain = lambda x: TinyNet.forward(net, x)  # noqa: E731
    as_dict = lambda x: OrderedDict(out=plain(x), aux=-plain(x))  # noqa: E731
    assert argmax_disagreement(plain, as_dict, x) == 0.0
    assert argmax_disagreement(plain, net, x) == 0.0
    config = SpeedConfig(height=16, width=16, channels_last=True, timed="forward+upsample+argmax", **QUICK)
    reference = reference_labels(net, config, "cpu")
    seeded = synthetic_input(SpeedConfig(height=16, width=16, **QUICK), "cpu")
    expected = nn.functional.interpolate(plain(seeded), size=(16, 16), mode="bilinear").argmax(1)
    assert torch.equal(reference, expected)
    row = measure(net, config, "cpu", reference=reference)
    assert row["correctness"] == "ok" and row["argmax_disagreement"] == 0.0


def test_resume_skips_done_rows(tiny_models, tmp_path, capsys):
    results = tmp_path / "speed.parquet"
    argv = ["--models", "tinyspeed-plain", "--size", "16x16", "--batch-sizes", "1", "--timed", "forward",
            "--results", str(results), *FAST]  # fmt: skip
    assert speed_main(argv) == 0
    first = ResultsStore(results, SPEED).read()
    assert speed_main([*argv, "--resume", "--batch-sizes", "1,2"]) == 0
    second = ResultsStore(results, SPEED).read()
    assert len(first) == 1 and len(second) == 2
    pd.testing.assert_frame_equal(second.iloc[:1], first)
    assert "skip tinyspeed-plain" in capsys.readouterr().err
    with pytest.raises(DuplicateResultError):
        ResultsStore(results, SPEED).append(second.iloc[0].to_dict())


def test_mfu_from_the_peak_table():
    assert peak_tflops("NVIDIA H200", "bf16")[0] == 989.4
    assert peak_tflops("NVIDIA H100 80GB HBM3", "tf32")[0] == 494.7
    assert peak_tflops("NVIDIA H200", "fp32")[0] == 66.9
    assert peak_tflops("Intel(R) Xeon(R) (2 cores)", "fp32") == (None, "")
    assert (
        peak_tflops("NVIDIA H200 NVL", "bf16")[0] is None
    )  # an unchecked variant gets no MFU, not the SXM peak
    net = TinyNet().eval()
    config = SpeedConfig(height=16, width=16, **QUICK)
    cpu = measure(net, config, "cpu", device_name="AMD EPYC 7763 (16 cores)")
    assert math.isnan(cpu["mfu"]) and math.isnan(cpu["peak_tflops"])
    known = measure(net, config, "cpu", device_name="NVIDIA H200")
    assert known["peak_tflops"] == 66.9 and known["peak_tflops_source"]
    assert known["mfu"] == pytest.approx(known["tflops_achieved"] / 66.9)
    assert known["tflops_achieved"] == pytest.approx(known["gflops_per_image"] * known["images_per_s"] / 1000)


def test_cuda_graphs_are_skipped_on_the_cpu(tiny_models, tmp_path, capsys):
    results = tmp_path / "speed.csv"
    argv = [
        "--models",
        "tinyspeed-plain",
        "--size",
        "16x16",
        "--cuda-graphs",
        "--results",
        str(results),
        *FAST,
    ]
    assert speed_main(argv) == 0
    assert "needs a CUDA device" in capsys.readouterr().err
    assert not results.exists()


def test_arguments_are_checked(tmp_path):
    assert (
        speed_main(["--models", "unet-resnet18", "--device", "cpu", "--results", str(tmp_path / "s.csv")])
        == 2
    )
    with pytest.raises(SystemExit):
        speed_main(["--models", "x", "--size", "64by64"])
    with pytest.raises(SystemExit):
        speed_main(["--models", "x", "--size", "64x64", "--dtype", "fp8"])


def test_threads_are_set_recorded_and_keep_cpu_rows_apart(tiny_models, tmp_path):
    results = tmp_path / "speed.csv"
    argv = ["--models", "tinyspeed-plain", "--size", "16x16", "--timed", "forward", "--results", str(results),
            *FAST]  # fmt: skip
    before = torch.get_num_threads()
    try:
        assert speed_main([*argv, "--threads", "1"]) == 0
        assert torch.get_num_threads() == 1
        assert speed_main([*argv, "--threads", "2"]) == 0  # not a rerun: another environment
    finally:
        torch.set_num_threads(before)
    df = ResultsStore(results, SPEED).read()
    assert df["threads"].tolist() == [1, 2] and df["environment_id"].nunique() == 2
    with pytest.raises(SystemExit):
        speed_main([*argv, "--threads", "0"])


def test_warm_up_once_per_variant_then_per_shape():
    """A second timed region shares the variant's warm-up; a new batch size warms up by iterations only."""
    net = TinyNet().eval()
    tracker = WarmupTracker()
    protocol = dict(height=16, width=16, warmup_iters=3, warmup_seconds=0.2, block_iters=1, block_seconds=0.0,
                    blocks=1)  # fmt: skip
    first = measure(net, SpeedConfig(**protocol), "cpu", warmup=tracker)
    assert first["notes"] == f"{WARMUP_NOTE}full"
    assert first["warmup_iters_run"] >= 3 and first["warmup_s_run"] >= 0.2  # both floors held
    region = SpeedConfig(**protocol, timed="forward+upsample+argmax")
    shared = measure(net, region, "cpu", warmup=tracker)
    assert shared["notes"] == f"{WARMUP_NOTE}shared" and shared["warmup_iters_run"] == 1
    bigger = measure(net, SpeedConfig(**{**protocol, "batch_size": 2}), "cpu", warmup=tracker)
    assert bigger["notes"] == f"{WARMUP_NOTE}shape" and bigger["warmup_iters_run"] == 3  # no time floor
    # another dtype is another variant; another model is another model; no tracker is a full warm-up
    assert tracker.kind(net, SpeedConfig(**protocol, dtype="bf16")) == "full"
    assert tracker.kind(TinyNet().eval(), SpeedConfig(**protocol)) == "full"
    assert tracker.kind(net, SpeedConfig(**protocol, compile="default", timed="forward")) == "full"
    assert measure(net, SpeedConfig(**protocol), "cpu")["notes"] == f"{WARMUP_NOTE}full"


def test_rounded_to_the_spread():
    assert with_spread(45.31, 43.2, 47.4) == "45 ± 2"
    assert with_spread(1.5312, 1.51, 1.59) == "1.53 ± 0.04"
    assert with_spread(2400.123, 2300, 2500) == "2400 ± 100"
    assert with_spread(4.2123, None, None) == "4.21"  # no spread: three significant digits
    assert (
        rounded(238.44, 0.01) == "238" and rounded(238.44, 0.001) == "238.4" and rounded(float("nan")) == "-"
    )
    row = {"model": "m", "height": 512, "width": 512, "batch_size": 1, "dtype": "fp32", "compile": "none",
           "channels_last": True, "timed": "forward+upsample+argmax", "status": "ok", "images_per_s": 10.04,
           "images_per_s_min": 9.9, "images_per_s_max": 10.1, "latency_ms_p50": 99.61, "latency_ms_p99": 104.44,
           "peak_memory_mib": float("nan"), "gflops_per_image": 123.456, "tflops_achieved": 1.2394,
           "mfu": float("nan"), "correctness": "flagged"}  # fmt: skip
    assert speed_table_cells(row) == [
        "m", "512x512", "1", "fp32", "eager CL fwd+argmax", "10.0 ± 0.1 !", "100/104", "-",
        "123", "1.24", "-",
    ]  # fmt: skip


def test_terminal_speed_table_fits_100_columns(tiny_models, tmp_path, monkeypatch):
    import io

    from rich.console import Console

    import zoo.cli.bench as cli_bench

    zoo.register_model("deeplabv3plus-tinyspeed101", family=FAMILY)(lambda num_classes=21, **kw: TinyNet())
    screen = io.StringIO()
    monkeypatch.setattr(
        cli_bench, "console", lambda stderr=False: Console(file=screen, width=100, quiet=stderr)
    )
    try:
        argv = ["--models", "deeplabv3plus-tinyspeed101", "--size", "64x64", "--batch-sizes", "1,16",
                "--results", str(tmp_path / "s.csv"), *FAST]  # fmt: skip
        assert speed_main(argv) == 0
    finally:
        zoo.REGISTRY.unregister(f"{FAMILY}:deeplabv3plus-tinyspeed101")
    text = screen.getvalue()
    assert "…" not in text and max(len(line) for line in text.splitlines()) <= 100
    rows = [line for line in text.splitlines() if "deeplabv3plus-tinyspeed101" in line]
    assert len(rows) == 4 and "fwd+argmax" in text and "64x64" in rows[0] and " ± " in text
