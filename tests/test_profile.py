"""Computed complexity (issue 13): the meta-device forward gives exactly the counts of a real forward, and
the activation-memory estimate follows tensors' lifetimes."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import zoo
from zoo.bench.profile import LiveTensorBytes, build_on_meta, profile_entry, profile_model


@pytest.mark.parametrize("name", ["deeplabv3plus-resnet101", "unet-resnet34", "segformer-mit_b0"])
def test_meta_forward_counts_what_a_real_forward_counts(name):
    torch.manual_seed(0)
    real = zoo.create(name, num_classes=21).eval()
    meta, _ = build_on_meta(name, num_classes=21)
    on_cpu = profile_model(real, 512, 512)
    on_meta = profile_model(meta, 512, 512)
    assert on_meta.gflops == on_cpu.gflops > 0
    assert on_meta.params == on_cpu.params == sum(p.numel() for p in real.parameters())
    assert on_meta.uncounted_ops == on_cpu.uncounted_ops
    # the same ops create the same tensors; a real kernel may hold one a moment longer (unet-resnet34: 128
    # bytes of 98.5 MiB), so the estimate agrees to 1e-4, not to the byte
    assert on_meta.peak_activation_mib == pytest.approx(on_cpu.peak_activation_mib, rel=1e-4)
    assert on_meta.built_on == "meta" and on_cpu.built_on == "cpu"  # the device the parameters are on


def test_a_builder_that_reads_tensor_values_gets_only_its_parameters_on_meta():
    model, built_on = build_on_meta("segformer-mit_b0", num_classes=150)  # timm MiT: .item() at init
    assert built_on == "meta-params"
    assert {p.device.type for p in model.parameters()} == {"meta"}


def test_flops_and_macs_of_one_convolution_by_hand():
    conv = nn.Conv2d(3, 8, kernel_size=3, padding=1, bias=False).eval()
    figures = profile_model(conv, 10, 10)
    macs = 8 * 3 * 3 * 3 * 10 * 10  # per output element: 3x3x3 MACs
    assert figures.gflops * 1e9 == 2 * macs and figures.gmacs * 1e9 == macs
    assert figures.params == 8 * 3 * 3 * 3


def test_peak_activation_memory_follows_tensor_lifetimes():
    model = nn.Sequential(nn.Conv2d(3, 8, 1), nn.ReLU(inplace=True), nn.Conv2d(8, 4, 1)).eval()
    figures = profile_model(model.to("meta"), 10, 10)
    pixels, fp32 = 10 * 10, 4
    # input (3 ch) and conv1's output (8 ch; relu is in place) are alive while conv2 writes its 4 channels
    assert figures.peak_activation_mib * 2**20 == (3 + 8 + 4) * pixels * fp32


def test_views_are_not_counted_twice():
    tracker = LiveTensorBytes()
    with tracker:
        x = torch.empty(4, 256, device="meta")
        y = x.view(16, 64)  # a view: no new memory
        z = x + 1  # a new tensor
    assert tracker.peak_bytes == 2 * 4 * 256 * 4
    del y, z


def test_profile_entry_builds_once_for_several_sizes():
    small, large = profile_entry("unet-resnet18", [(256, 256), (512, 512)], num_classes=21)
    assert small.params == large.params
    assert large.gflops == pytest.approx(4 * small.gflops, rel=0.01)
    assert large.peak_activation_mib > small.peak_activation_mib
