"""Update rate of a streaming confusion matrix on one batch of 8 x 512x512 labels, CPU, side by side.

For C = 19 (Cityscapes), 21 (VOC) and 150 (ADE20K) classes and int64 and uint8 labels (5% of the targets are
the ignore value 255, 80% of the predictions right):

- ``zoo``: :meth:`zoo.metrics.ConfusionMatrix.update` (ignore 255, out-of-range labels refused at compute());
- ``zoo-baseline``: the same from ``$ZOO_BENCH_BASELINE/zoo/metrics.py`` (a folder holding an older ``zoo/``,
  e.g. ``git archive <rev> zoo | tar -x -C /tmp/zoo-old``); skipped when that is not set;
- ``bincount``: the floor, a bare ``torch.bincount(t * C + p, minlength=C*C)`` with no ignore and no check
  (uint8 labels are widened to int32 first, or ``t * C`` would overflow);
- ``torchmetrics-cm`` / ``torchmetrics-jaccard``: torchmetrics' ``MulticlassConfusionMatrix`` and
  ``MulticlassJaccardIndex`` update, with ``validate_args=False`` and with the default (``True``);
- ``mmseg``: a per-image histogram as mmsegmentation's ``intersect_and_union`` does it (written here).

Run: ``pytest benchmarks/test_metrics_bench.py --benchmark-group-by=param:classes,param:dtype`` (or
``tox -e bench``): each group compares the candidates on the same tensors in one run. ``extra_info`` holds the
pixels per update (throughput in Mpixel/s = pixels / median seconds / 1e6) and torch's CPU thread count.
No assertions on time.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from zoo.metrics import ConfusionMatrix

IGNORE = 255
SHAPE = (8, 512, 512)
PIXELS = SHAPE[0] * SHAPE[1] * SHAPE[2]
CLASSES = (19, 21, 150)
DTYPES = {"int64": torch.int64, "uint8": torch.uint8}
ROUNDS = 15


def _batch(num_classes: int, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    target = torch.randint(0, num_classes, SHAPE, generator=g)
    target[torch.rand(SHAPE, generator=g) < 0.05] = IGNORE
    # A plausible prediction: right 80% of the time.
    pred = torch.where(
        torch.rand(SHAPE, generator=g) < 0.8, target, torch.randint(0, num_classes, SHAPE, generator=g)
    )
    pred = pred.masked_fill(pred == IGNORE, 0)
    return pred.to(dtype), target.to(dtype)


_BATCHES: dict[tuple[int, str], tuple[torch.Tensor, torch.Tensor]] = {}


@pytest.fixture(params=CLASSES, ids=lambda c: f"C{c}")
def classes(request: pytest.FixtureRequest) -> int:
    return request.param


@pytest.fixture(params=list(DTYPES))
def dtype(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def batch(classes: int, dtype: str) -> tuple[torch.Tensor, torch.Tensor]:
    if (classes, dtype) not in _BATCHES:
        _BATCHES[classes, dtype] = _batch(classes, DTYPES[dtype])
    return _BATCHES[classes, dtype]


def _run(benchmark, what: str, classes: int, update: Callable[..., object], *args: object) -> None:
    benchmark.extra_info.update(
        {
            "pixels": PIXELS,
            "batch": SHAPE[0],
            "resolution": f"{SHAPE[1]}x{SHAPE[2]}",
            "classes": classes,
            "threads": torch.get_num_threads(),
            "what": what,
        }
    )
    benchmark.pedantic(update, args=args, rounds=ROUNDS, warmup_rounds=2)


def test_zoo_confusion_matrix_update(benchmark, batch, classes):
    pred, target = batch
    cm = ConfusionMatrix(classes, ignore_index=IGNORE)
    _run(benchmark, "zoo.metrics.ConfusionMatrix.update", classes, cm.update, pred, target)
    cm.compute()  # must not raise: the data is valid


def test_zoo_baseline_update(benchmark, batch, classes):
    baseline = os.environ.get("ZOO_BENCH_BASELINE")
    if not baseline:
        pytest.skip("set ZOO_BENCH_BASELINE to a folder holding an older zoo/ to compare with")
    path = Path(baseline) / "zoo" / "metrics.py"
    spec = importlib.util.spec_from_file_location("zoo_baseline_metrics", path)
    assert spec is not None and spec.loader is not None, path
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # zoo/metrics.py imports only torch and NumPy
    pred, target = batch
    cm = module.ConfusionMatrix(classes, ignore_index=IGNORE)
    _run(benchmark, f"ConfusionMatrix.update of {path}", classes, cm.update, pred, target)
    cm.compute()


def test_bare_bincount(benchmark, batch, classes):
    pred, target = batch
    wide = torch.int32 if target.element_size() < 4 else target.dtype

    def bare(p: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return torch.bincount((t.to(wide) * classes + p).reshape(-1), minlength=classes * classes)

    _run(
        benchmark,
        "torch.bincount(t * C + p, minlength=C*C), no ignore, no check",
        classes,
        bare,
        pred,
        target,
    )


@pytest.mark.parametrize("validate_args", [False, True], ids=["novalidate", "validate"])
@pytest.mark.parametrize("metric", ["MulticlassConfusionMatrix", "MulticlassJaccardIndex"])
def test_torchmetrics_update(benchmark, batch, classes, metric, validate_args):
    classification = pytest.importorskip("torchmetrics.classification")
    kwargs = {"average": None} if metric == "MulticlassJaccardIndex" else {}
    instance = getattr(classification, metric)(
        num_classes=classes, ignore_index=IGNORE, validate_args=validate_args, **kwargs
    )
    pred, target = batch
    _run(
        benchmark,
        f"torchmetrics {metric}.update (validate_args={validate_args})",
        classes,
        instance.update,
        pred,
        target,
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


def test_mmseg_style_per_image_histc(benchmark, batch, classes):
    pred, target = batch
    acc = MmsegAccumulator(classes, IGNORE)
    _run(benchmark, "mmseg-style intersect_and_union per image (histc), accumulated", classes, acc.update, pred, target)  # fmt: skip
