"""Figures reported by publishers: from the weight records of the registry, and comparison rows.

A reported figure is only compared with a measured one when both were obtained on the same evaluation set
(:func:`eval_set`) and with the same scale regime; torchvision's VOC weights, for example, are reported on
COCO val2017 with VOC's classes, which is not VOC2012 val.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from zoo.registry import ModelEntry, Registry
from zoo.weights import ReportedMetric, WeightRecord

__all__ = [
    "COMPARISON_ROWS",
    "ComparisonRow",
    "ReportedRow",
    "comparable",
    "eval_set",
    "eval_set_label",
    "reported_rows",
]

#: Readable names for evaluation sets spelled as their publishers spell them.
_EVAL_SET_LABELS = {"coco-val2017-voc-labels": "COCO val2017 (VOC classes)"}

_DATASET_PATTERNS = (
    ("ade20k", re.compile(r"\bade\s*-?20k\b")),
    ("cityscapes", re.compile(r"\bcityscapes\b")),
    ("voc", re.compile(r"\b(pascal\s*)?voc\s*(20)?12\b|\bpascal voc 2012\b|\bvoc2012\b")),
)


def eval_set(text: str) -> tuple[str, str] | None:
    """``(dataset, split)`` for an evaluation set named like ``"ADE20K val"``, or ``None`` when it is not
    one of the validation splits zoo evaluates on (``"COCO-val2017-VOC-labels"``, a test set, VOC2011...)."""
    lowered = text.strip().lower()
    if "coco" in lowered or "test" in lowered:
        return None
    for dataset, pattern in _DATASET_PATTERNS:
        if pattern.search(lowered):
            return (dataset, "val") if re.search(r"\bval\b", lowered) else None
    return None


def eval_set_label(text: str) -> str:
    return _EVAL_SET_LABELS.get(text.strip().lower(), text)


def scale_regime(note: str) -> str | None:
    """``"ss"`` / ``"ms"`` from a reported figure's note, ``None`` when the note does not say."""
    lowered = note.lower()
    if "multi-scale" in lowered or "ms+flip" in lowered:
        return "ms"
    if "single-scale" in lowered:
        return "ss"
    return None


def comparable(metric: ReportedMetric, dataset: str, split: str, tta: str) -> tuple[bool, str]:
    """Whether ``metric`` may be subtracted from a measurement on ``dataset``/``split`` with ``tta``; the
    second item says why not, or the caveat of a comparable pair (empty when there is none)."""
    if eval_set(metric.dataset) != (dataset, split):
        return False, f"not comparable: evaluated on {eval_set_label(metric.dataset) or 'an unstated set'}"
    regime = scale_regime(metric.note)
    measured = "ms" if tta.startswith("ms") else "ss"
    if regime is not None and regime != measured:
        return False, f"not comparable: reported {regime}, measured {tta}"
    if regime is None:
        return True, "the reported figure's test setting is not stated"
    return True, ""


@dataclass(frozen=True)
class ReportedRow:
    """One weight record's reported accuracy on one evaluation set."""

    entry: ModelEntry
    weights: WeightRecord
    miou: ReportedMetric | None
    pixel_acc: ReportedMetric | None
    evaluated_on: str

    @property
    def dataset(self) -> str:
        return self.weights.dataset

    @property
    def comparable_to_val(self) -> bool:
        return eval_set(self.evaluated_on) == (self.dataset, "val")

    @property
    def citation(self) -> str:
        sources = [m.source for m in (self.miou, self.pixel_acc) if m is not None]
        return "; ".join(dict.fromkeys(sources))

    @property
    def note(self) -> str:
        return self.miou.note if self.miou else (self.pixel_acc.note if self.pixel_acc else "")


def params_millions(weights: WeightRecord) -> float | None:
    if weights.num_params:
        return weights.num_params / 1e6
    metric = weights.reported_metric("params_M")
    return metric.value if metric else None


def gmacs(weights: WeightRecord) -> float | None:
    metric = weights.reported_metric("GMACs")
    return metric.value if metric else None


def reported_rows(registry: Registry) -> list[ReportedRow]:
    """One row per (weight record, evaluation set) that has a reported mIoU or pixel accuracy."""
    rows: list[ReportedRow] = []
    for entry in _entries(registry):
        for weights in entry.weights:
            by_set: dict[str, dict[str, ReportedMetric]] = {}
            for metric in weights.reported:
                if metric.name in ("mIoU", "pixel_acc") and metric.dataset:
                    by_set.setdefault(metric.dataset, {}).setdefault(metric.name, metric)
            for evaluated_on, metrics in by_set.items():
                rows.append(
                    ReportedRow(entry, weights, metrics.get("mIoU"), metrics.get("pixel_acc"), evaluated_on)
                )
    return rows


def _entries(registry: Registry) -> Iterable[ModelEntry]:
    return sorted(registry.entries(), key=lambda e: (e.name, e.family))


@dataclass(frozen=True)
class ComparisonRow:
    """A publisher's figure for a model that is not a zoo weight (a different backbone or checkpoint)."""

    dataset: str
    model: str
    setting: str
    miou_ss: float | None
    miou_ms_flip: float | None
    fps: str
    source: str


_MMSEG = "open-mmlab/mmsegmentation configs/{}/README.md (fps: V100, fp32, batch 1)"
_SEGFORMER = "Xie et al., SegFormer, NeurIPS 2021, arXiv 2105.15203"

#: From /work/shared/reference/published.md; mmsegmentation's ResNets are V1c "D8", not torchvision's.
COMPARISON_ROWS: tuple[ComparisonRow, ...] = (
    ComparisonRow("cityscapes", "DeepLabV3+ R-101-D8 (mmseg)", "512x1024 crop, 80k", 80.97, 82.03, "", _MMSEG.format("deeplabv3plus")),
    ComparisonRow("cityscapes", "DeepLabV3+ R-101-D8 (mmseg)", "512x1024 crop, 40k", 80.21, 81.82, "2.60", _MMSEG.format("deeplabv3plus")),
    ComparisonRow("cityscapes", "DeepLabV3+ R-50-D8 (mmseg)", "512x1024 crop, 40k", 79.61, 81.01, "3.94", _MMSEG.format("deeplabv3plus")),
    ComparisonRow("cityscapes", "PSPNet R-101-D8 (mmseg)", "512x1024 crop, 80k", 79.76, 81.01, "2.68 (fp16: 8.77)", _MMSEG.format("pspnet")),
    ComparisonRow("cityscapes", "SegFormer MiT-B0 (mmseg)", "1024x1024 slide, 160k", 76.54, 78.22, "4.74", _MMSEG.format("segformer")),
    ComparisonRow("cityscapes", "SegFormer MiT-B5 (mmseg)", "1024x1024 slide, 160k", 82.25, 83.48, "1.39", _MMSEG.format("segformer")),
    ComparisonRow("ade20k", "DeepLabV3+ R-101-D8 (mmseg)", "512x512 crop, 80k", 44.60, 46.06, "14.16", _MMSEG.format("deeplabv3plus")),
    ComparisonRow("ade20k", "PSPNet R-101-D8 (mmseg)", "512x512 crop, 80k", 43.57, 44.35, "", _MMSEG.format("pspnet")),
    ComparisonRow("ade20k", "SegFormer MiT-B0 (mmseg)", "512x512 crop, 160k", 37.41, 38.34, "51.32", _MMSEG.format("segformer")),
    ComparisonRow("ade20k", "SegFormer MiT-B5 (mmseg)", "512x512 crop, 160k", 49.13, 50.22, "11.89", _MMSEG.format("segformer")),
    ComparisonRow("ade20k", "SegFormer MiT-B5 (paper)", "640x640", 51.0, 51.8, "", _SEGFORMER),
    ComparisonRow("voc", "DeepLabV3+ R-101-D8 (mmseg)", "VOC12aug train, 512x512 crop, 40k", 78.62, 79.53, "", _MMSEG.format("deeplabv3plus")),
    ComparisonRow("voc", "PSPNet R-101-D8 (mmseg)", "VOC12aug train, 512x512 crop, 20k", 78.47, 79.25, "", _MMSEG.format("pspnet")),
)  # fmt: skip
