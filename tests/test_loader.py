"""Loading overlaps the forward: workers decode and preprocess, and change no prediction."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from zoo.bench.evaluate import PreparedSample, evaluate, make_loader
from zoo.weights import IMAGENET_MEAN, IMAGENET_STD, EvalProtocol

NUM_CLASSES = 4


class ImageSet:
    """Seeded random images of two sizes (so that batching groups them), labels with ignore pixels."""

    def __init__(self, n: int = 7):
        rng = np.random.default_rng(0)
        self.samples = []
        for i in range(n):
            h, w = (30, 40) if i % 2 else (36, 28)
            image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
            label = rng.integers(0, NUM_CLASSES, (h, w)).astype(np.uint8)
            label[0, :] = 255
            image.setflags(write=False)  # decoded images may be read-only
            self.samples.append((image, label, f"img{i}"))

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int):
        return self.samples[i]


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, NUM_CLASSES, 3, stride=2, padding=1)
    )


@pytest.mark.parametrize("tta", ["none", "ms+flip"])
def test_workers_change_no_prediction(tta):
    protocol = EvalProtocol(mean=IMAGENET_MEAN, std=IMAGENET_STD, value_scale=1.0, resize="fixed",
                            resize_size=(24, 32), size_divisor=8, ms_ratios=(0.75, 1.0))  # fmt: skip
    data, model = ImageSet(), _model().eval()
    results = {}
    for workers in (0, 2):
        predictions: dict[str, np.ndarray] = {}
        loader = make_loader(data, range(len(data)), protocol, tta=tta, workers=workers, device="cpu")
        result = evaluate(model, loader, protocol, NUM_CLASSES, batch_size=3, tta=tta,
                          on_prediction=lambda i, p, out=predictions: out.__setitem__(i, p))  # fmt: skip
        results[workers] = (result, predictions)
    (plain, plain_predictions), (loaded, loaded_predictions) = results[0], results[2]
    assert torch.equal(plain.matrix, loaded.matrix) and plain.num_images == loaded.num_images == len(data)
    assert plain_predictions.keys() == loaded_predictions.keys()
    for sample_id, prediction in plain_predictions.items():
        np.testing.assert_array_equal(prediction, loaded_predictions[sample_id])


def test_workers_preprocess_on_the_cpu_and_only_there():
    protocol = EvalProtocol(mean=IMAGENET_MEAN, std=IMAGENET_STD, value_scale=1.0, resize="fixed",
                            resize_size=(24, 32), ms_ratios=(0.5, 1.0))  # fmt: skip
    data = ImageSet(2)
    cpu = next(iter(make_loader(data, [1], protocol, tta="ms", workers=1, device="cpu")))
    assert isinstance(cpu, PreparedSample) and cpu.sample_id == "img1" and cpu.label.dtype == torch.int64
    assert [tuple(x.shape) for x in cpu.inputs] == [(1, 3, 12, 16), (1, 3, 24, 32)]
    plain = list(make_loader(data, [0, 1], protocol, workers=0))
    assert [s[2] for s in plain] == ["img0", "img1"]  # without workers: the dataset's own triples
    # a model on a GPU resizes there (same kernels with and without workers): the workers only decode
    gpu_side = make_loader(data, [0], protocol, tta="ms", workers=1, device="cuda")
    assert gpu_side.pin_memory and gpu_side.dataset.preprocess is False
