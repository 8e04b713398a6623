"""PASCAL VOC2012 segmentation, official layout (``VOCdevkit/VOC2012``).

``JPEGImages/{id}.jpg``, ``SegmentationClass/{id}.png`` (palette PNGs whose *indices* are the labels: read
as mode P, never converted to RGB; 255 marks object boundaries = ignore), ids from
``ImageSets/Segmentation/{split}.txt``. 21 classes (background + 20).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from zoo.classes import VOC_CLASSES
from zoo.datasets import IGNORE_INDEX, CheckReport, SegmentationDataset, describe_invalid, locate_root
from zoo.errors import DatasetError


def voc_colormap(n: int = 256) -> np.ndarray:
    """The standard VOC palette (bitwise colormap of the devkit's ``VOClabelcolormap.m``), ``n x 3`` uint8."""
    cmap = np.zeros((n, 3), np.uint8)
    for i in range(n):
        r = g = b = 0
        c = i
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        cmap[i] = (r, g, b)
    return cmap


VOC_PALETTE = voc_colormap(len(VOC_CLASSES))  # index 255 (boundary) is voc_colormap()[255] = (224, 224, 192)

# Raw mask value -> valid? 0..20 are classes, 255 is the boundary (ignore); 21..254 never occur in VOC.
_VALID = np.zeros(256, bool)
_VALID[: len(VOC_CLASSES)] = True
_VALID[IGNORE_INDEX] = True


def find_voc_root(root: str | Path) -> Path:
    """Accept the folder holding ``VOCdevkit``, ``VOCdevkit`` itself or ``VOC2012``; return the VOC2012 folder."""
    root = Path(root)
    return locate_root(
        root,
        [root / "VOCdevkit" / "VOC2012", root / "VOC2012", root],
        ["ImageSets/Segmentation|SegmentationClass"],
        "VOC2012",
        "VOCdevkit/VOC2012/{JPEGImages,SegmentationClass,ImageSets/Segmentation}",
    )


class VOCSegmentation(SegmentationDataset):
    """PASCAL VOC2012 segmentation: ``split`` is a list name under ``ImageSets/Segmentation`` (train, val, trainval)."""

    name = "voc"
    classes = VOC_CLASSES
    palette = VOC_PALETTE

    def __init__(self, root: str | Path, split: str = "val") -> None:
        self.root = find_voc_root(root)
        self.split = split
        for sub in ("JPEGImages", "SegmentationClass"):
            if not (self.root / sub).is_dir():
                raise DatasetError(f"{self.root / sub}: folder missing (expected VOC2012/{sub})")
        list_file = self.root / "ImageSets" / "Segmentation" / f"{split}.txt"
        if not list_file.is_file():
            have = sorted(p.stem for p in list_file.parent.glob("*.txt")) if list_file.parent.is_dir() else []
            raise DatasetError(
                f"{list_file}: split list not found (expected one image id per line); "
                f"available splits: {', '.join(have) or 'none'}"
            )
        self.ids = [line.strip() for line in list_file.read_text().splitlines() if line.strip()]

    def paths(self, index: int) -> tuple[Path, Path]:
        sid = self.ids[index]
        return self.root / "JPEGImages" / f"{sid}.jpg", self.root / "SegmentationClass" / f"{sid}.png"

    def encode_label(self, raw: np.ndarray, path: Path) -> np.ndarray:
        if raw.max(initial=0) > 255 or raw.min(initial=0) < 0 or not _VALID[raw].all():
            raise DatasetError(describe_invalid(raw, _VALID, path, "VOC: 0..20 and 255 = boundary"))
        return raw.astype(np.int64)


def check(root: str | Path, split: str = "val") -> CheckReport:
    try:
        return VOCSegmentation(root, split).check()
    except DatasetError as exc:
        return CheckReport("voc", str(root), split, problems=[("<layout>", str(exc))])
