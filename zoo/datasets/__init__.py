"""Dataset loaders for the three benchmarks, in their official on-disk layouts.

What each dataset is (label space, palette, label conventions, folder, archive, prediction format) is data
in :mod:`zoo.datasets.spec`; the pure label conversions are in :mod:`zoo.datasets.labels`. The loaders read
the ground truth through them once, on read, into the shared contract (DESIGN.md, "Label space")::

    ds = get_dataset("voc", "/data/VOCdevkit", "val")
    image, label, sample_id = ds[0]   # uint8 HxWx3 RGB, int64 HxW in 0..C-1 or 255 (ignore)

Layout problems (missing folders, missing, empty or malformed split lists, a split without samples) raise
:class:`DatasetError` at construction; problems with one sample (missing mask, size mismatch, values outside
the label space, unreadable or oversized file) raise it when that sample is read, naming the file.
:func:`check` scans a whole split and reports every problem at once.

Importing this package needs numpy and Pillow only (no torch). Hugging Face sources are in
:mod:`zoo.datasets.hf` (imported on use: it needs ``datasets``).
"""

from __future__ import annotations

from pathlib import Path

from zoo.datasets.ade20k import ADE20K
from zoo.datasets.base import (
    DEFAULT_MAX_IMAGE_PIXELS,
    IGNORE_INDEX,
    CheckReport,
    SegmentationDataset,
    check_split,
    max_image_pixels,
    read_index_mask,
    read_rgb,
)
from zoo.datasets.cityscapes import Cityscapes
from zoo.datasets.spec import ALIASES, DATASET_NAMES, DATASETS, DatasetSpec, canonical_name, dataset_spec
from zoo.datasets.voc import VOCSegmentation
from zoo.errors import DatasetError

__all__ = [
    "ADE20K",
    "ALIASES",
    "DATASETS",
    "DATASET_NAMES",
    "DEFAULT_MAX_IMAGE_PIXELS",
    "IGNORE_INDEX",
    "LOADERS",
    "CheckReport",
    "Cityscapes",
    "DatasetError",
    "DatasetSpec",
    "SegmentationDataset",
    "VOCSegmentation",
    "canonical_name",
    "check",
    "dataset_spec",
    "get_dataset",
    "max_image_pixels",
    "read_index_mask",
    "read_rgb",
]

#: Canonical dataset name -> the loader of its official layout (keyed by the loader's own spec; a test checks
#: that every row of :data:`~zoo.datasets.spec.DATASETS` has one).
LOADERS: dict[str, type[SegmentationDataset]] = {
    loader.spec.name: loader for loader in (VOCSegmentation, Cityscapes, ADE20K)
}


def get_dataset(name: str, root: str | Path, split: str = "val", **kwargs) -> SegmentationDataset:
    """The loader for ``name`` (``voc``, ``cityscapes``, ``ade20k`` or an alias) over ``root``'s ``split``.

    Args:
        name: the dataset; aliases (``voc2012``, ``ade``...) and any case accepted.
        root: the data root or the dataset's own folder (each loader looks below it).
        split: the split (``val``, ``train``...).
        **kwargs: passed to the loader (``label_file=`` for Cityscapes, ``max_image_pixels=``).

    Raises:
        DatasetError: unknown dataset, or the layout or split cannot be used (naming the file).
    """
    return LOADERS[canonical_name(name)](root, split, **kwargs)


def check(name: str, root: str | Path, split: str = "val", **kwargs) -> CheckReport:
    """Scan every sample of a split; layout errors become a ``<layout>`` problem of the report instead of raising."""
    try:
        key = canonical_name(name)
    except DatasetError as exc:
        return CheckReport(name.lower(), str(root), split, problems=[("<layout>", str(exc))])
    return check_split(LOADERS[key], key, root, split, **kwargs)
