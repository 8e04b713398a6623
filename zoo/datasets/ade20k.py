"""ADE20K SceneParsing (ADEChallengeData2016), official layout.

``images/{training,validation}/*.jpg`` and ``annotations/{training,validation}/*.png`` (mode L: 0 = "other",
1..150 = classes). ``reduce_zero_label``: 0 -> 255 (ignore), k -> k-1, giving 150 classes;
:func:`to_annotation` undoes it for export (the benchmark's submission format).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from zoo.classes import ADE20K_CLASSES
from zoo.datasets import IGNORE_INDEX, CheckReport, SegmentationDataset, describe_invalid, locate_root
from zoo.errors import DatasetError

# mmsegmentation's ADE20K palette (mmseg/datasets/ade.py), index = reduced label (0..149).
ADE20K_PALETTE = np.array(
    [[120, 120, 120], [180, 120, 120], [6, 230, 230], [80, 50, 50], [4, 200, 3], [120, 120, 80],
     [140, 140, 140], [204, 5, 255], [230, 230, 230], [4, 250, 7], [224, 5, 255], [235, 255, 7],
     [150, 5, 61], [120, 120, 70], [8, 255, 51], [255, 6, 82], [143, 255, 140], [204, 255, 4],
     [255, 51, 7], [204, 70, 3], [0, 102, 200], [61, 230, 250], [255, 6, 51], [11, 102, 255],
     [255, 7, 71], [255, 9, 224], [9, 7, 230], [220, 220, 220], [255, 9, 92], [112, 9, 255],
     [8, 255, 214], [7, 255, 224], [255, 184, 6], [10, 255, 71], [255, 41, 10], [7, 255, 255],
     [224, 255, 8], [102, 8, 255], [255, 61, 6], [255, 194, 7], [255, 122, 8], [0, 255, 20],
     [255, 8, 41], [255, 5, 153], [6, 51, 255], [235, 12, 255], [160, 150, 20], [0, 163, 255],
     [140, 140, 140], [250, 10, 15], [20, 255, 0], [31, 255, 0], [255, 31, 0], [255, 224, 0],
     [153, 255, 0], [0, 0, 255], [255, 71, 0], [0, 235, 255], [0, 173, 255], [31, 0, 255],
     [11, 200, 200], [255, 82, 0], [0, 255, 245], [0, 61, 255], [0, 255, 112], [0, 255, 133],
     [255, 0, 0], [255, 163, 0], [255, 102, 0], [194, 255, 0], [0, 143, 255], [51, 255, 0],
     [0, 82, 255], [0, 255, 41], [0, 255, 173], [10, 0, 255], [173, 255, 0], [0, 255, 153],
     [255, 92, 0], [255, 0, 255], [255, 0, 245], [255, 0, 102], [255, 173, 0], [255, 0, 20],
     [255, 184, 184], [0, 31, 255], [0, 255, 61], [0, 71, 255], [255, 0, 204], [0, 255, 194],
     [0, 255, 82], [0, 10, 255], [0, 112, 255], [51, 0, 255], [0, 194, 255], [0, 122, 255],
     [0, 255, 163], [255, 153, 0], [0, 255, 10], [255, 112, 0], [143, 255, 0], [82, 0, 255],
     [163, 255, 0], [255, 235, 0], [8, 184, 170], [133, 0, 255], [0, 255, 92], [184, 0, 255],
     [255, 0, 31], [0, 184, 255], [0, 214, 255], [255, 0, 112], [92, 255, 0], [0, 224, 255],
     [112, 224, 255], [70, 184, 160], [163, 0, 255], [153, 0, 255], [71, 255, 0], [255, 0, 163],
     [255, 204, 0], [255, 0, 143], [0, 255, 235], [133, 255, 0], [255, 0, 235], [245, 0, 255],
     [255, 0, 122], [255, 245, 0], [10, 190, 212], [214, 255, 0], [0, 204, 255], [20, 0, 255],
     [255, 255, 0], [0, 153, 255], [0, 41, 255], [0, 255, 204], [41, 0, 255], [41, 255, 0],
     [173, 0, 255], [0, 245, 255], [71, 0, 255], [122, 0, 255], [0, 255, 184], [0, 92, 255],
     [184, 255, 0], [0, 133, 255], [255, 214, 0], [25, 194, 194], [102, 255, 0], [92, 0, 255]],
    dtype=np.uint8,
)  # fmt: skip

SPLITS = {"train": "training", "val": "validation", "training": "training", "validation": "validation"}

# Annotation value -> reduced label: 0 ("other") -> 255, k -> k-1 for k in 1..150.
REDUCE_ZERO_LABEL = np.full(256, IGNORE_INDEX, np.int64)
REDUCE_ZERO_LABEL[1 : len(ADE20K_CLASSES) + 1] = np.arange(len(ADE20K_CLASSES))
_VALID = np.zeros(256, bool)
_VALID[: len(ADE20K_CLASSES) + 1] = True  # 0..150


def to_annotation(pred: np.ndarray) -> np.ndarray:
    """Reduced labels (0..149) -> annotation values (1..150) for export; 255 (ignore) -> 0."""
    pred = np.asarray(pred)
    out = pred.astype(np.int64) + 1
    out[pred == IGNORE_INDEX] = 0
    if out.min(initial=0) < 0 or out.max(initial=0) > len(ADE20K_CLASSES):
        raise ValueError(f"predictions outside 0..{len(ADE20K_CLASSES) - 1}")
    return out.astype(np.uint8)


def find_ade_root(root: str | Path) -> Path:
    """Accept the folder holding ``ADEChallengeData2016`` or that folder itself."""
    root = Path(root)
    return locate_root(
        root,
        [root / "ADEChallengeData2016", root],
        ["images", "annotations"],
        "ADE20K",
        "ADEChallengeData2016/{images,annotations}/{training,validation}",
    )


class ADE20K(SegmentationDataset):
    """ADE20K SceneParsing, 150 classes after ``reduce_zero_label``; ``split`` is train/val (or training/validation)."""

    name = "ade20k"
    classes = ADE20K_CLASSES
    palette = ADE20K_PALETTE

    def __init__(self, root: str | Path, split: str = "val") -> None:
        self.root = find_ade_root(root)
        if split not in SPLITS:
            raise DatasetError(
                f"{self.root}: unknown ADE20K split {split!r}; expected one of {', '.join(SPLITS)}"
            )
        self.split = split
        self.folder = SPLITS[split]
        image_dir = self.root / "images" / self.folder
        if not image_dir.is_dir():
            raise DatasetError(f"{image_dir}: split folder missing (expected images/{self.folder}/*.jpg)")
        if not (self.root / "annotations" / self.folder).is_dir():
            raise DatasetError(
                f"{self.root / 'annotations' / self.folder}: split folder missing (expected annotations/{self.folder}/*.png)"
            )
        self.ids = sorted(p.stem for p in image_dir.glob("*.jpg"))

    def paths(self, index: int) -> tuple[Path, Path]:
        sid = self.ids[index]
        return (
            self.root / "images" / self.folder / f"{sid}.jpg",
            self.root / "annotations" / self.folder / f"{sid}.png",
        )

    def encode_label(self, raw: np.ndarray, path: Path) -> np.ndarray:
        if raw.max(initial=0) > 255 or raw.min(initial=0) < 0 or not _VALID[raw].all():
            raise DatasetError(
                describe_invalid(raw, _VALID, path, "ADE20K annotations: 0 = other, 1..150 = classes")
            )
        return REDUCE_ZERO_LABEL[raw]


def check(root: str | Path, split: str = "val") -> CheckReport:
    try:
        return ADE20K(root, split).check()
    except DatasetError as exc:
        return CheckReport("ade20k", str(root), split, problems=[("<layout>", str(exc))])
