"""Forward time of a small model on the CPU: unet-resnet18 on 1x3x128x128, fp32, eval, inference_mode.

Run: `pytest benchmarks/test_forward_bench.py`. The same figure as ``zoo-bench speed --models unet-resnet18
--device cpu --size 128x128 --timed forward``, through pytest-benchmark. No assertions on time.
"""

from __future__ import annotations

import pytest
import torch

import zoo


@pytest.fixture(scope="module")
def model_and_input():
    torch.manual_seed(0)
    model = zoo.create("unet-resnet18", num_classes=21).eval()
    x = torch.randn(1, 3, 128, 128, generator=torch.Generator().manual_seed(0))
    return model, x


def test_unet_resnet18_forward_cpu(benchmark, model_and_input):
    model, x = model_and_input

    def forward():
        with torch.inference_mode():
            return model(x)

    benchmark.extra_info.update(
        {"model": "unet-resnet18", "shape": list(x.shape), "threads": torch.get_num_threads()}
    )
    out = benchmark.pedantic(forward, warmup_rounds=3, rounds=10, iterations=1)
    assert out.shape == (1, 21, 128, 128)
