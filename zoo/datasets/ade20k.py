"""ADE20K SceneParsing (ADEChallengeData2016), official layout.

``images/{training,validation}/*.jpg`` and ``annotations/{training,validation}/*.png`` (mode L: 0 = "other",
1..150 = classes). ``reduce_zero_label``: 0 -> 255 (ignore), k -> k-1, giving 150 classes;
:func:`to_annotation` undoes it for export (the benchmark's submission format).
"""

from __future__ import annotations

from pathlib import Path

from zoo.datasets.base import CheckReport, SegmentationDataset, check_split, locate_root, no_samples_error
from zoo.datasets.labels import ADE20K_CLASSES, ADE20K_PALETTE, REDUCE_ZERO_LABEL, to_annotation
from zoo.datasets.spec import DATASETS
from zoo.errors import DatasetError

__all__ = [
    "ADE20K",
    "ADE20K_CLASSES",
    "ADE20K_PALETTE",
    "REDUCE_ZERO_LABEL",
    "SPLITS",
    "check",
    "find_ade_root",
    "to_annotation",
]

#: Accepted split names -> the folder they are in.
SPLITS = {"train": "training", "val": "validation", "training": "training", "validation": "validation"}


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
    """ADE20K SceneParsing, 150 classes after ``reduce_zero_label``; ``split`` is train/val (or training/validation).

    Args:
        root: the folder holding ``ADEChallengeData2016`` or that folder itself.
        split: ``train``, ``val``, ``training`` or ``validation``.
        max_image_pixels: refuse larger images (default :func:`~zoo.datasets.base.max_image_pixels`).

    Raises:
        DatasetError: the layout is not ADE20K's, the split is unknown, or it has no ``.jpg`` image (naming
            the glob pattern).
    """

    spec = DATASETS["ade20k"]

    def __init__(self, root: str | Path, split: str = "val", *, max_image_pixels: int | None = None) -> None:
        self.root = find_ade_root(root)
        if split not in SPLITS:
            raise DatasetError(
                f"{self.root}: unknown ADE20K split {split!r}; expected one of {', '.join(SPLITS)}"
            )
        self.split = split
        self.folder = SPLITS[split]
        self.max_image_pixels = max_image_pixels
        image_dir = self.root / "images" / self.folder
        if not image_dir.is_dir():
            raise DatasetError(f"{image_dir}: split folder missing (expected images/{self.folder}/*.jpg)")
        if not (self.root / "annotations" / self.folder).is_dir():
            raise DatasetError(
                f"{self.root / 'annotations' / self.folder}: split folder missing (expected annotations/{self.folder}/*.png)"
            )
        self.ids = sorted(p.stem for p in image_dir.glob("*.jpg"))
        if not self.ids:
            raise no_samples_error(image_dir / "*.jpg", image_dir)

    def paths(self, index: int) -> tuple[Path, Path]:
        sid = self.ids[index]
        return (
            self.root / "images" / self.folder / f"{sid}.jpg",
            self.root / "annotations" / self.folder / f"{sid}.png",
        )


def check(root: str | Path, split: str = "val", **kwargs) -> CheckReport:
    """Every problem of ADE20K's ``split`` under ``root`` (see :func:`zoo.datasets.check`)."""
    return check_split(ADE20K, "ade20k", root, split, **kwargs)
