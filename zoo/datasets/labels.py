"""The benchmarks' label spaces and label conventions, as pure data and pure functions.

A *label space* is a dataset's classes in channel order (index = train id) with their palette; ignore is
always :data:`IGNORE_INDEX` (255). A *label convention* is one way ground truth is stored on disk (or in a
Hugging Face column), with the pure function that turns the stored values into the label space::

    CITYSCAPES_LABEL_IDS.encode(raw, path)   # labelIds 0..33 -> trainIds 0..18 / 255

Every convention refuses, naming the file and the values, a mask holding values it does not define (a
silent 255 would change the score). The loaders (:mod:`zoo.datasets.voc`, :mod:`~zoo.datasets.cityscapes`,
:mod:`~zoo.datasets.ade20k`) and the Hugging Face source (:mod:`zoo.datasets.hf`) all encode through these
objects; :mod:`zoo.datasets.spec` says which conventions each dataset has.

The opposite direction, train ids -> the values an official scorer reads, is here too
(:func:`train_ids_to_label_ids`, :func:`to_annotation`).

This module needs numpy only.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from zoo.errors import DatasetError

__all__ = [
    "ADE20K_CLASSES",
    "ADE20K_PALETTE",
    "ADE20K_RAW",
    "ADE20K_REDUCED",
    "CITYSCAPES_CLASSES",
    "CITYSCAPES_LABELS",
    "CITYSCAPES_LABEL_IDS",
    "CITYSCAPES_PALETTE",
    "CITYSCAPES_TRAIN_IDS",
    "IGNORE_INDEX",
    "LABEL_ID_TO_TRAIN_ID",
    "NUM_LABEL_IDS",
    "REDUCE_ZERO_LABEL",
    "TRAIN_ID_TO_LABEL_ID",
    "VOC_CLASSES",
    "VOC_COLORMAP",
    "VOC_PALETTE",
    "VOC_RAW",
    "LabelConvention",
    "describe_invalid",
    "label_ids_to_train_ids",
    "to_annotation",
    "train_ids_to_label_ids",
    "voc_colormap",
]

#: The label every dataset uses for "not evaluated" (VOC boundaries, Cityscapes void, ADE20K "other").
IGNORE_INDEX = 255


def _frozen(array: np.ndarray) -> np.ndarray:
    """``array`` made read-only: a shared table that a caller could change in place would change every score."""
    array.flags.writeable = False
    return array


def describe_invalid(values: np.ndarray, valid: np.ndarray, path: str | Path, space: str) -> str:
    """The message for a mask holding values outside its label space (``valid`` is a bool lookup table).

    Args:
        values: the raw mask values (any integer dtype, any shape).
        valid: ``valid[v]`` is True for every value ``v`` the convention defines.
        path: the file (or row) the mask came from; the message starts with it.
        space: a short description of the values allowed, shown in parentheses.

    Returns:
        ``"<path>: label values outside the label space (<space>): v1, v2, ..."`` (at most 10 values shown),
        with a hint when the mask looks like a binary 0/255 mask.
    """
    uniq = np.unique(values)
    bad = [int(v) for v in uniq if v < 0 or v >= len(valid) or not valid[v]]
    shown = ", ".join(map(str, bad[:10])) + (", ..." if len(bad) > 10 else "")
    msg = f"{path}: label values outside the label space ({space}): {shown}"
    if set(uniq.tolist()) <= {0, 255} and 255 in bad:
        msg += "; this looks like a binary 0/255 mask, not a label map of this dataset"
    return msg


@dataclass(frozen=True, eq=False)
class LabelConvention:
    """One way a dataset's ground truth is stored, and the pure function mapping it to the label space.

    Attributes:
        name: the convention's name as users pass it (``label_convention="train_ids"``).
        space: what the stored values mean, as error messages show it (``Cityscapes labelIds: 0..33``).
        valid: bool lookup table over 0..255: which stored values the convention defines.
        table: int64 lookup table over 0..255: stored value -> label (0..C-1 or 255); only read where
            ``valid``.
    """

    name: str
    space: str
    valid: np.ndarray
    table: np.ndarray

    def encode(self, raw: np.ndarray, path: str | Path) -> np.ndarray:
        """Stored mask values -> int64 labels in 0..C-1 or 255 (ignore).

        Args:
            raw: the stored values, any integer dtype (16-bit masks are read as int64), any shape.
            path: where ``raw`` came from, named by the error message.

        Returns:
            A new int64 array of ``raw``'s shape.

        Raises:
            DatasetError: ``raw`` holds a value the convention does not define; the message names ``path``
                and the values.
        """
        raw = np.asarray(raw)
        if raw.size and (raw.min() < 0 or raw.max() >= len(self.valid) or not self.valid[raw].all()):
            raise DatasetError(describe_invalid(raw, self.valid, path, self.space))
        return self.table[raw]


def _convention(name: str, space: str, mapping: dict[int, int]) -> LabelConvention:
    """A convention defining exactly the stored values in ``mapping`` (stored value -> label)."""
    valid = np.zeros(256, bool)
    table = np.full(256, IGNORE_INDEX, np.int64)
    for stored, label in mapping.items():
        valid[stored] = True
        table[stored] = label
    return LabelConvention(name, space, _frozen(valid), _frozen(table))


def _identity(num_classes: int) -> dict[int, int]:
    """Stored values that already are labels: 0..C-1 and 255 (ignore)."""
    return {**{k: k for k in range(num_classes)}, IGNORE_INDEX: IGNORE_INDEX}


# --- PASCAL VOC 2012 -----------------------------------------------------------------------------------------

#: Background and the 20 object classes, in index order.
VOC_CLASSES = (
    "background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
    "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor",
)  # fmt: skip


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


#: The devkit's full 256-entry colormap, the palette of ``SegmentationClass/*.png`` and of results.
VOC_COLORMAP = _frozen(voc_colormap(256))
#: Colours of the 21 classes; the boundary (255) is ``VOC_COLORMAP[255]`` = (224, 224, 192).
VOC_PALETTE = _frozen(voc_colormap(len(VOC_CLASSES)))
#: ``SegmentationClass/*.png``: palette indices 0..20 are the classes, 255 marks object boundaries (ignore);
#: 21..254 never occur in VOC.
VOC_RAW = _convention("raw", "VOC: 0..20 and 255 = boundary", _identity(len(VOC_CLASSES)))


# --- Cityscapes ----------------------------------------------------------------------------------------------

#: The 19 Cityscapes classes evaluated on, in trainId order (cityscapesscripts' labels.py).
CITYSCAPES_CLASSES = (
    "road", "sidewalk", "building", "wall", "fence", "pole", "traffic light", "traffic sign", "vegetation",
    "terrain", "sky", "person", "rider", "car", "truck", "bus", "train", "motorcycle", "bicycle",
)  # fmt: skip

# (name, labelId, trainId, color) as in cityscapesscripts/helpers/labels.py. "license plate" (id -1) is
# left out: json2labelImg never draws negative ids, so it never occurs in *_labelIds.png.
CITYSCAPES_LABELS = (
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
#: labelIds 0..33 are defined; 34..255 never occur in ``*_gtFine_labelIds.png``.
NUM_LABEL_IDS = 34
#: labelId -> trainId (0..18, 255 = not evaluated), the official table; 255 for undefined labelIds too.
LABEL_ID_TO_TRAIN_ID = np.full(256, IGNORE_INDEX, np.int64)
#: trainId -> labelId, for writing predictions the official scorer reads.
TRAIN_ID_TO_LABEL_ID = np.zeros(len(CITYSCAPES_CLASSES), np.int64)
CITYSCAPES_PALETTE = np.zeros((len(CITYSCAPES_CLASSES), 3), np.uint8)
for _name, _label_id, _train_id, _color in CITYSCAPES_LABELS:
    LABEL_ID_TO_TRAIN_ID[_label_id] = _train_id
    if _train_id != IGNORE_INDEX:
        assert CITYSCAPES_CLASSES[_train_id] == _name, (_name, _train_id)
        TRAIN_ID_TO_LABEL_ID[_train_id] = _label_id
        CITYSCAPES_PALETTE[_train_id] = _color
for _table in (LABEL_ID_TO_TRAIN_ID, TRAIN_ID_TO_LABEL_ID, CITYSCAPES_PALETTE):
    _frozen(_table)

#: ``*_gtFine_labelIds.png``, what the official scorer reads: labelIds 0..33 -> trainIds by the official table.
CITYSCAPES_LABEL_IDS = _convention(
    "label_ids",
    f"Cityscapes labelIds: 0..{NUM_LABEL_IDS - 1}",
    {label_id: int(LABEL_ID_TO_TRAIN_ID[label_id]) for label_id in range(NUM_LABEL_IDS)},
)
#: ``*_gtFine_labelTrainIds.png`` (made by cityscapesscripts' createTrainIdLabelImgs): trainIds as stored.
CITYSCAPES_TRAIN_IDS = _convention(
    "train_ids", "Cityscapes trainIds: 0..18 and 255", _identity(len(CITYSCAPES_CLASSES))
)


def label_ids_to_train_ids(label_ids: np.ndarray) -> np.ndarray:
    """Map a labelIds array (0..33) to trainIds (0..18, 255 = ignore), without validating it."""
    return LABEL_ID_TO_TRAIN_ID[np.asarray(label_ids)]


def train_ids_to_label_ids(train_ids: np.ndarray) -> np.ndarray:
    """Map predictions in trainIds (0..18) to labelIds (uint8) for the official evaluation scripts."""
    return TRAIN_ID_TO_LABEL_ID[np.asarray(train_ids)].astype(np.uint8)


# --- ADE20K SceneParsing -------------------------------------------------------------------------------------

#: ADE20K SceneParsing's 150 classes (objectInfo150), after reduce_zero_label: index k is annotation value k+1.
ADE20K_CLASSES = (
    "wall", "building", "sky", "floor", "tree", "ceiling", "road", "bed", "windowpane", "grass", "cabinet",
    "sidewalk", "person", "earth", "door", "table", "mountain", "plant", "curtain", "chair", "car", "water",
    "painting", "sofa", "shelf", "house", "sea", "mirror", "rug", "field", "armchair", "seat", "fence", "desk",
    "rock", "wardrobe", "lamp", "bathtub", "railing", "cushion", "base", "box", "column", "signboard",
    "chest of drawers", "counter", "sand", "sink", "skyscraper", "fireplace", "refrigerator", "grandstand",
    "path", "stairs", "runway", "case", "pool table", "pillow", "screen door", "stairway", "river", "bridge",
    "bookcase", "blind", "coffee table", "toilet", "flower", "book", "hill", "bench", "countertop", "stove",
    "palm", "kitchen island", "computer", "swivel chair", "boat", "bar", "arcade machine", "hovel", "bus",
    "towel", "light", "truck", "tower", "chandelier", "awning", "streetlight", "booth", "television receiver",
    "airplane", "dirt track", "apparel", "pole", "land", "bannister", "escalator", "ottoman", "bottle",
    "buffet", "poster", "stage", "van", "ship", "fountain", "conveyer belt", "canopy", "washer", "plaything",
    "swimming pool", "stool", "barrel", "basket", "waterfall", "tent", "bag", "minibike", "cradle", "oven",
    "ball", "food", "step", "tank", "trade name", "microwave", "pot", "animal", "bicycle", "lake",
    "dishwasher", "screen", "blanket", "sculpture", "hood", "sconce", "vase", "traffic light", "tray",
    "ashcan", "fan", "pier", "crt screen", "plate", "monitor", "bulletin board", "shower", "radiator",
    "glass", "clock", "flag",
)  # fmt: skip

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
_frozen(ADE20K_PALETTE)

#: Annotation value -> reduced label: 0 ("other") -> 255, k -> k-1 for k in 1..150 (``reduce_zero_label``).
REDUCE_ZERO_LABEL = np.full(256, IGNORE_INDEX, np.int64)
REDUCE_ZERO_LABEL[1 : len(ADE20K_CLASSES) + 1] = np.arange(len(ADE20K_CLASSES))
_frozen(REDUCE_ZERO_LABEL)
#: ``annotations/*/*.png`` as released: 0 = "other" (ignored), 1..150 = classes, reduced by one.
ADE20K_RAW = _convention(
    "raw",
    "ADE20K annotations: 0 = other, 1..150 = classes",
    {value: int(REDUCE_ZERO_LABEL[value]) for value in range(len(ADE20K_CLASSES) + 1)},
)
#: Annotations already reduced (some Hugging Face copies): 0..149 as is, 255 = ignore.
ADE20K_REDUCED = _convention(
    "reduced", "ADE20K reduced labels: 0..149 and 255", _identity(len(ADE20K_CLASSES))
)


def to_annotation(pred: np.ndarray) -> np.ndarray:
    """Reduced labels (0..149) -> annotation values (1..150, uint8) for export; 255 (ignore) -> 0.

    Raises:
        ValueError: a value outside 0..149 and 255.
    """
    pred = np.asarray(pred)
    out = pred.astype(np.int64) + 1
    out[pred == IGNORE_INDEX] = 0
    if out.min(initial=0) < 0 or out.max(initial=0) > len(ADE20K_CLASSES):
        raise ValueError(f"predictions outside 0..{len(ADE20K_CLASSES) - 1}")
    return out.astype(np.uint8)
