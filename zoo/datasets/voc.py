"""PASCAL VOC2012 segmentation, official layout (``VOCdevkit/VOC2012``).

``JPEGImages/{id}.jpg``, ``SegmentationClass/{id}.png`` (palette PNGs whose *indices* are the labels: read
as mode P, never converted to RGB; 255 marks object boundaries = ignore), ids from
``ImageSets/Segmentation/{split}.txt`` (read by :func:`~zoo.datasets.base.read_split_list`, which refuses
an empty list, a repeated id, an id leaving the folder and non-UTF-8 text). 21 classes (background + 20).
"""

from __future__ import annotations

from pathlib import Path

from zoo.datasets.base import CheckReport, SegmentationDataset, check_split, locate_root, read_split_list
from zoo.datasets.labels import VOC_CLASSES, VOC_PALETTE, voc_colormap
from zoo.datasets.spec import DATASETS
from zoo.errors import DatasetError

__all__ = ["VOC_CLASSES", "VOC_PALETTE", "VOCSegmentation", "check", "find_voc_root", "voc_colormap"]


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
    """PASCAL VOC2012 segmentation: ``split`` is a list name under ``ImageSets/Segmentation`` (train, val, trainval).

    Args:
        root: the folder holding ``VOCdevkit``, ``VOCdevkit`` itself or ``VOC2012``.
        split: the list ``ImageSets/Segmentation/{split}.txt``.
        max_image_pixels: refuse larger images (default :func:`~zoo.datasets.base.max_image_pixels`).

    Raises:
        DatasetError: the layout is not VOC's, or the split list is missing or unusable (naming it).
    """

    spec = DATASETS["voc"]

    def __init__(self, root: str | Path, split: str = "val", *, max_image_pixels: int | None = None) -> None:
        self.root = find_voc_root(root)
        self.split = split
        self.max_image_pixels = max_image_pixels
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
        self.list_file = list_file
        self.ids = read_split_list(list_file)

    def paths(self, index: int) -> tuple[Path, Path]:
        sid = self.ids[index]
        return self.root / "JPEGImages" / f"{sid}.jpg", self.root / "SegmentationClass" / f"{sid}.png"


def check(root: str | Path, split: str = "val", **kwargs) -> CheckReport:
    """Every problem of VOC's ``split`` under ``root`` (see :func:`zoo.datasets.check`)."""
    return check_split(VOCSegmentation, "voc", root, split, **kwargs)
