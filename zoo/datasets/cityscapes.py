"""Cityscapes fine annotations, official layout.

``leftImg8bit/{split}/{city}/{stem}_leftImg8bit.png`` with ``gtFine/{split}/{city}/{stem}_gtFine_labelIds.png``,
mapped to the 19 trainIds by the official label table (cityscapesscripts ``helpers/labels.py``); every other
labelId is 255 (ignore). ``{stem}_gtFine_labelTrainIds.png`` is used instead when present and
``prefer_train_ids=True``. :data:`TRAIN_ID_TO_LABEL_ID` maps predictions back to labelIds for export.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from zoo.classes import CITYSCAPES_CLASSES
from zoo.datasets import IGNORE_INDEX, CheckReport, SegmentationDataset, describe_invalid, locate_root
from zoo.errors import DatasetError

# (name, labelId, trainId, color) as in cityscapesscripts/helpers/labels.py. "license plate" (id -1) is
# left out: json2labelImg never draws negative ids, so it never occurs in *_labelIds.png.
LABELS = (
    ("unlabeled", 0, 255, (0, 0, 0)),
    ("ego vehicle", 1, 255, (0, 0, 0)),
    ("rectification border", 2, 255, (0, 0, 0)),
    ("out of roi", 3, 255, (0, 0, 0)),
    ("static", 4, 255, (0, 0, 0)),
    ("dynamic", 5, 255, (111, 74, 0)),
    ("ground", 6, 255, (81, 0, 81)),
    ("road", 7, 0, (128, 64, 128)),
    ("sidewalk", 8, 1, (244, 35, 232)),
    ("parking", 9, 255, (250, 170, 160)),
    ("rail track", 10, 255, (230, 150, 140)),
    ("building", 11, 2, (70, 70, 70)),
    ("wall", 12, 3, (102, 102, 156)),
    ("fence", 13, 4, (190, 153, 153)),
    ("guard rail", 14, 255, (180, 165, 180)),
    ("bridge", 15, 255, (150, 100, 100)),
    ("tunnel", 16, 255, (150, 120, 90)),
    ("pole", 17, 5, (153, 153, 153)),
    ("polegroup", 18, 255, (153, 153, 153)),
    ("traffic light", 19, 6, (250, 170, 30)),
    ("traffic sign", 20, 7, (220, 220, 0)),
    ("vegetation", 21, 8, (107, 142, 35)),
    ("terrain", 22, 9, (152, 251, 152)),
    ("sky", 23, 10, (70, 130, 180)),
    ("person", 24, 11, (220, 20, 60)),
    ("rider", 25, 12, (255, 0, 0)),
    ("car", 26, 13, (0, 0, 142)),
    ("truck", 27, 14, (0, 0, 70)),
    ("bus", 28, 15, (0, 60, 100)),
    ("caravan", 29, 255, (0, 0, 90)),
    ("trailer", 30, 255, (0, 0, 110)),
    ("train", 31, 16, (0, 80, 100)),
    ("motorcycle", 32, 17, (0, 0, 230)),
    ("bicycle", 33, 18, (119, 11, 32)),
)

NUM_LABEL_IDS = 34  # labelIds 0..33
LABEL_ID_TO_TRAIN_ID = np.full(256, IGNORE_INDEX, np.int64)
TRAIN_ID_TO_LABEL_ID = np.zeros(len(CITYSCAPES_CLASSES), np.int64)
CITYSCAPES_PALETTE = np.zeros((len(CITYSCAPES_CLASSES), 3), np.uint8)
for _name, _label_id, _train_id, _color in LABELS:
    LABEL_ID_TO_TRAIN_ID[_label_id] = _train_id
    if _train_id != IGNORE_INDEX:
        assert CITYSCAPES_CLASSES[_train_id] == _name, (_name, _train_id)
        TRAIN_ID_TO_LABEL_ID[_train_id] = _label_id
        CITYSCAPES_PALETTE[_train_id] = _color

_VALID_LABEL_IDS = np.zeros(256, bool)
_VALID_LABEL_IDS[:NUM_LABEL_IDS] = True
_VALID_TRAIN_IDS = np.zeros(256, bool)
_VALID_TRAIN_IDS[: len(CITYSCAPES_CLASSES)] = True
_VALID_TRAIN_IDS[IGNORE_INDEX] = True

SPLITS = ("train", "val", "test")


def label_ids_to_train_ids(label_ids: np.ndarray) -> np.ndarray:
    """Map a labelIds array (0..33) to trainIds (0..18, 255 = ignore)."""
    return LABEL_ID_TO_TRAIN_ID[np.asarray(label_ids)]


def train_ids_to_label_ids(train_ids: np.ndarray) -> np.ndarray:
    """Map predictions in trainIds (0..18) to labelIds for the official evaluation scripts."""
    return TRAIN_ID_TO_LABEL_ID[np.asarray(train_ids)].astype(np.uint8)


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


class Cityscapes(SegmentationDataset):
    """Cityscapes gtFine, 19 trainIds; ``split`` is train, val or test (test has no public labels)."""

    name = "cityscapes"
    classes = CITYSCAPES_CLASSES
    palette = CITYSCAPES_PALETTE

    def __init__(self, root: str | Path, split: str = "val", prefer_train_ids: bool = True) -> None:
        self.root = find_cityscapes_root(root)
        self.split = split
        self.prefer_train_ids = prefer_train_ids
        image_dir = self.root / "leftImg8bit" / split
        if not image_dir.is_dir():
            raise DatasetError(
                f"{image_dir}: split folder missing (expected leftImg8bit/{split}/{{city}}/*_leftImg8bit.png)"
            )
        gt_dir = self.root / "gtFine" / split
        if not gt_dir.is_dir():
            raise DatasetError(
                f"{gt_dir}: split folder missing (expected gtFine/{split}/{{city}}/*_gtFine_labelIds.png)"
            )
        suffix = "_leftImg8bit.png"
        self._images = sorted(image_dir.glob(f"*/*{suffix}"))
        self.ids = [f"{p.parent.name}/{p.name[: -len(suffix)]}" for p in self._images]

    def paths(self, index: int) -> tuple[Path, Path]:
        city, stem = self.ids[index].split("/")
        gt = self.root / "gtFine" / self.split / city
        train_ids = gt / f"{stem}_gtFine_labelTrainIds.png"
        if self.prefer_train_ids and train_ids.is_file():
            return self._images[index], train_ids
        return self._images[index], gt / f"{stem}_gtFine_labelIds.png"

    def encode_label(self, raw: np.ndarray, path: Path) -> np.ndarray:
        if path.name.endswith("_labelTrainIds.png"):
            valid, space, table = _VALID_TRAIN_IDS, "Cityscapes trainIds: 0..18 and 255", None
        else:
            valid, space, table = _VALID_LABEL_IDS, "Cityscapes labelIds: 0..33", LABEL_ID_TO_TRAIN_ID
        if raw.max(initial=0) > 255 or raw.min(initial=0) < 0 or not valid[raw].all():
            raise DatasetError(describe_invalid(raw, valid, path, space))
        return raw.astype(np.int64) if table is None else table[raw]


def check(root: str | Path, split: str = "val", prefer_train_ids: bool = True) -> CheckReport:
    try:
        return Cityscapes(root, split, prefer_train_ids=prefer_train_ids).check()
    except DatasetError as exc:
        return CheckReport("cityscapes", str(root), split, problems=[("<layout>", str(exc))])
