"""Update rate of a streaming confusion matrix on one batch of 8 x 512x512 int64 predictions/targets, 21 classes.

(a) zoo.metrics.ConfusionMatrix.update (one bincount, no host sync),
(b) torchmetrics MulticlassJaccardIndex(num_classes=21, ignore_index=255, average=None).update,
(c) a per-image histogram as mmsegmentation's ``intersect_and_union`` does it (written here).

Run: `pytest benchmarks/test_metrics_bench.py`. ``extra_info["pixels"]`` is the pixels per update:
throughput in Mpixel/s = pixels / median seconds / 1e6. No assertions on time.
"""

from __future__ import annotations

import pytest
import torch

from zoo.metrics import ConfusionMatrix

NUM_CLASSES = 21
IGNORE = 255
SHAPE = (8, 512, 512)
PIXELS = SHAPE[0] * SHAPE[1] * SHAPE[2]


@pytest.fixture(scope="module")
def batch() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    target = torch.randint(0, NUM_CLASSES, SHAPE, generator=g)
    target[torch.rand(SHAPE, generator=g) < 0.05] = IGNORE
    # A plausible prediction: right 80% of the time.
    pred = torch.where(
        torch.rand(SHAPE, generator=g) < 0.8, target, torch.randint(0, NUM_CLASSES, SHAPE, generator=g)
    )
    pred = pred.masked_fill(pred == IGNORE, 0)
    return pred, target


def _info(benchmark, what: str) -> None:
    benchmark.extra_info.update(
        {
            "pixels": PIXELS,
            "batch": SHAPE[0],
            "resolution": f"{SHAPE[1]}x{SHAPE[2]}",
            "classes": NUM_CLASSES,
            "what": what,
        }
    )


def mmseg_intersect_and_union(pred: torch.Tensor, label: torch.Tensor, num_classes: int, ignore_index: int):
    """As mmseg/evaluation/metrics/iou_metric.py: boolean-mask the ignored pixels, then three ``histc``."""
    mask = label != ignore_index
    pred = pred[mask]
    label = label[mask]
    intersect = pred[pred == label]
    area_intersect = torch.histc(intersect.float(), bins=num_classes, min=0, max=num_classes - 1)
    area_pred = torch.histc(pred.float(), bins=num_classes, min=0, max=num_classes - 1)
    area_label = torch.histc(label.float(), bins=num_classes, min=0, max=num_classes - 1)
    area_union = area_pred + area_label - area_intersect
    return area_intersect, area_union, area_pred, area_label


class MmsegAccumulator:
    def __init__(self, num_classes: int, ignore_index: int):
        self.num_classes, self.ignore_index = num_classes, ignore_index
        self.totals = [torch.zeros(num_classes, dtype=torch.float64) for _ in range(4)]

    def update(self, pred: torch.Tensor, target: torch.Tensor) -> None:
        for p, t in zip(pred, target, strict=True):  # per image, as mmseg's IoUMetric.process
            for acc, part in zip(
                self.totals, mmseg_intersect_and_union(p, t, self.num_classes, self.ignore_index), strict=True
            ):
                acc += part


def test_zoo_confusion_matrix_update(benchmark, batch):
    pred, target = batch
    cm = ConfusionMatrix(NUM_CLASSES, ignore_index=IGNORE)
    _info(benchmark, "zoo.metrics.ConfusionMatrix.update")
    benchmark.pedantic(cm.update, args=(pred, target), rounds=15, warmup_rounds=2)
    cm.compute()  # must not raise: the data is valid


@pytest.mark.parametrize("validate_args", [True, False], ids=["validate", "novalidate"])
def test_torchmetrics_jaccard_update(benchmark, batch, validate_args):
    classification = pytest.importorskip("torchmetrics.classification")
    metric = classification.MulticlassJaccardIndex(
        num_classes=NUM_CLASSES, ignore_index=IGNORE, average=None, validate_args=validate_args
    )
    pred, target = batch
    _info(benchmark, f"torchmetrics MulticlassJaccardIndex.update (validate_args={validate_args})")
    benchmark.pedantic(metric.update, args=(pred, target), rounds=15, warmup_rounds=2)


def test_mmseg_style_per_image_histc(benchmark, batch):
    pred, target = batch
    acc = MmsegAccumulator(NUM_CLASSES, IGNORE)
    _info(benchmark, "mmseg-style intersect_and_union per image (histc), accumulated")
    benchmark.pedantic(acc.update, args=(pred, target), rounds=15, warmup_rounds=2)
