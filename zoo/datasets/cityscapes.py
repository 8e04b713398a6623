"""Cityscapes fine annotations, official layout.

``leftImg8bit/{split}/{city}/{stem}_leftImg8bit.png`` with ``gtFine/{split}/{city}/{stem}_gtFine_labelIds.png``,
mapped to the 19 trainIds by the official label table (cityscapesscripts ``helpers/labels.py``); every other
labelId is 255 (ignore). That is what the official scorer (``evalPixelLevelSemanticLabeling``) reads, so it
is the default even where ``*_gtFine_labelTrainIds.png`` files exist: those are derived files that may
disagree with labelIds (the real sample's were resized separately and agree on 99.77% of pixels only).
``label_file="labelTrainIds"`` reads them instead, when asked; the loader's ``label_file`` and
``label_convention`` say which ground truth was used. :data:`TRAIN_ID_TO_LABEL_ID` maps predictions back to
labelIds for export.
"""

from __future__ import annotations

import warnings
from pathlib import Path

from zoo.datasets.base import (
    CheckReport,
    SegmentationDataset,
    check_split,
    locate_root,
    no_samples_error,
)
from zoo.datasets.labels import (
    CITYSCAPES_CLASSES,
    CITYSCAPES_LABELS,
    CITYSCAPES_PALETTE,
    LABEL_ID_TO_TRAIN_ID,
    NUM_LABEL_IDS,
    TRAIN_ID_TO_LABEL_ID,
    label_ids_to_train_ids,
    train_ids_to_label_ids,
)
from zoo.datasets.spec import DATASETS
from zoo.errors import DatasetError, ZooDeprecationWarning

__all__ = [
    "CITYSCAPES_CLASSES",
    "CITYSCAPES_PALETTE",
    "LABELS",
    "LABEL_FILES",
    "LABEL_ID_TO_TRAIN_ID",
    "NUM_LABEL_IDS",
    "SPLITS",
    "TRAIN_ID_TO_LABEL_ID",
    "Cityscapes",
    "check",
    "find_cityscapes_root",
    "label_ids_to_train_ids",
    "train_ids_to_label_ids",
]

#: (name, labelId, trainId, color), the official table (also :data:`zoo.datasets.labels.CITYSCAPES_LABELS`).
LABELS = CITYSCAPES_LABELS
SPLITS = ("train", "val", "test")
#: ``label_file`` -> the label convention its values are in (:mod:`zoo.datasets.labels`).
LABEL_FILES = {"labelIds": "label_ids", "labelTrainIds": "train_ids"}
_IMAGE_SUFFIX = "_leftImg8bit.png"


def find_cityscapes_root(root: str | Path) -> Path:
    """Accept the folder holding ``leftImg8bit`` and ``gtFine`` (or its parent holding ``cityscapes``)."""
    root = Path(root)
    return locate_root(
        root,
        [root, root / "cityscapes"],
        ["leftImg8bit", "gtFine"],
        "Cityscapes",
        "cityscapes/{leftImg8bit,gtFine}/{split}/{city}",
    )


def _label_file_from(label_file: str | None, prefer_train_ids: bool | None) -> str:
    """Resolve ``label_file`` and the deprecated ``prefer_train_ids`` into one ``label_file``."""
    if prefer_train_ids is None:
        return label_file or "labelIds"
    wanted = "labelTrainIds" if prefer_train_ids else "labelIds"
    warnings.warn(
        f"Cityscapes(prefer_train_ids=...) is deprecated: pass label_file={wanted!r} (the default, 'labelIds', "
        "is what the official scorer reads; 'labelTrainIds' is now used only when asked, and must exist)",
        ZooDeprecationWarning,
        stacklevel=3,
    )
    if label_file is not None and label_file != wanted:
        raise DatasetError(f"prefer_train_ids={prefer_train_ids} contradicts label_file={label_file!r}")
    return wanted


class Cityscapes(SegmentationDataset):
    """Cityscapes gtFine, 19 trainIds; ``split`` is train, val or test (test has no public labels).

    Args:
        root: the folder holding ``leftImg8bit`` and ``gtFine``, or its parent holding ``cityscapes``.
        split: ``train``, ``val`` or ``test``.
        label_file: the ground truth read: ``"labelIds"`` (default; ``*_gtFine_labelIds.png`` through the
            official table, as the official scorer) or ``"labelTrainIds"`` (``*_gtFine_labelTrainIds.png``
            as stored; every sample must have one).
        prefer_train_ids: deprecated; ``True`` is ``label_file="labelTrainIds"``, ``False`` ``"labelIds"``.
        max_image_pixels: refuse larger images (default :func:`~zoo.datasets.base.max_image_pixels`).

    Attributes:
        label_file: the ``label_file`` in use; ``label_convention`` is its convention (``label_ids`` or
            ``train_ids``), for result rows.

    Raises:
        DatasetError: the layout is not Cityscapes', ``label_file`` is unknown, a city folder holds no
            images, or the split has none (naming the glob pattern).
    """

    spec = DATASETS["cityscapes"]

    def __init__(
        self,
        root: str | Path,
        split: str = "val",
        label_file: str | None = None,
        *,
        prefer_train_ids: bool | None = None,
        max_image_pixels: int | None = None,
    ) -> None:
        label_file = _label_file_from(label_file, prefer_train_ids)
        if label_file not in LABEL_FILES:
            raise DatasetError(f"label_file {label_file!r} is not one of {', '.join(map(repr, LABEL_FILES))}")
        self.root = find_cityscapes_root(root)
        self.split = split
        self.label_file = label_file
        self.convention = self.spec.convention(LABEL_FILES[label_file])
        self.max_image_pixels = max_image_pixels
        image_dir = self.root / "leftImg8bit" / split
        if not image_dir.is_dir():
            raise DatasetError(
                f"{image_dir}: split folder missing (expected leftImg8bit/{split}/{{city}}/*{_IMAGE_SUFFIX})"
            )
        gt_dir = self.root / "gtFine" / split
        if not gt_dir.is_dir():
            raise DatasetError(
                f"{gt_dir}: split folder missing (expected gtFine/{split}/{{city}}/*_gtFine_labelIds.png)"
            )
        self._images = sorted(image_dir.glob(f"*/*{_IMAGE_SUFFIX}"))
        if not self._images:
            raise no_samples_error(image_dir / "*" / f"*{_IMAGE_SUFFIX}", image_dir)
        # A city folder without images is a partly unpacked archive: scoring the rest would be silently wrong.
        for city in sorted(p for p in image_dir.iterdir() if p.is_dir() and not p.name.startswith(".")):
            if not any(city.glob(f"*{_IMAGE_SUFFIX}")):
                raise no_samples_error(
                    city / f"*{_IMAGE_SUFFIX}",
                    city,
                    "this city would be missing from the score (partly unpacked?)",
                )
        self.ids = [f"{p.parent.name}/{p.name[: -len(_IMAGE_SUFFIX)]}" for p in self._images]

    def paths(self, index: int) -> tuple[Path, Path]:
        city, stem = self.ids[index].split("/")
        return self._images[
            index
        ], self.root / "gtFine" / self.split / city / f"{stem}_gtFine_{self.label_file}.png"

    def missing_mask_hint(self) -> str:
        if self.label_file == "labelTrainIds":
            return (
                "; label_file='labelTrainIds' needs the files cityscapesscripts' csCreateTrainIdLabelImgs "
                "makes; the default 'labelIds' needs none"
            )
        return ""


def check(root: str | Path, split: str = "val", **kwargs) -> CheckReport:
    """Every problem of Cityscapes' ``split`` under ``root`` (see :func:`zoo.datasets.check`)."""
    return check_split(Cityscapes, "cityscapes", root, split, **kwargs)
