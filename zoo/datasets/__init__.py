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

A folder of your own images and masks is a dataset too: :func:`folder` (``zoo.datasets.folder(PATH)``), or
the name ``folder:PATH`` wherever a dataset name is taken (:mod:`zoo.datasets.folder_dataset`).

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
from zoo.datasets.folder_dataset import MASK_ENCODINGS, FolderDataset, folder
from zoo.datasets.spec import (
    ALIASES,
    DATASET_NAMES,
    DATASETS,
    DatasetSpec,
    canonical_name,
    dataset_spec,
    folder_location,
    is_folder_name,
)
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
    "MASK_ENCODINGS",
    "CheckReport",
    "Cityscapes",
    "DatasetError",
    "DatasetSpec",
    "FolderDataset",
    "SegmentationDataset",
    "VOCSegmentation",
    "canonical_name",
    "check",
    "dataset_spec",
    "folder",
    "get_dataset",
    "is_folder_name",
    "max_image_pixels",
    "read_index_mask",
    "read_rgb",
]

#: Canonical dataset name -> the loader of its official layout (keyed by the loader's own spec; a test checks
#: that every row of :data:`~zoo.datasets.spec.DATASETS` has one).
LOADERS: dict[str, type[SegmentationDataset]] = {
    loader.spec.name: loader for loader in (VOCSegmentation, Cityscapes, ADE20K)
}


def get_dataset(
    name: str, root: str | Path | None = None, split: str = "val", **kwargs
) -> SegmentationDataset:
    """The loader for ``name`` (``voc``, ``cityscapes``, ``ade20k``, an alias, or ``folder:PATH``) over ``split``.

    Args:
        name: the dataset; aliases (``voc2012``, ``ade``...) and any case accepted. ``folder:PATH`` reads a
            folder of your own (:class:`FolderDataset`; ``PATH`` as given, ``~`` expanded, ``root`` unused).
        root: the data root or the dataset's own folder (each loader looks below it); default:
            :func:`zoo.datasets.locations.default_data_root`.
        split: the split (``val``, ``train``...); a folder without splits is read whole (``all``).
        **kwargs: passed to the loader (``label_file=`` for Cityscapes, ``max_image_pixels=``; ``classes=``,
            ``palette=``, ``mask_encoding=``, ``images=``, ``masks=`` for a folder).

    Raises:
        DatasetError: unknown dataset, or the layout or split cannot be used (naming the file).
    """
    key = canonical_name(name)
    if is_folder_name(key):
        return folder(folder_location(key), split, **kwargs)
    if root is None:
        from zoo.datasets.locations import default_data_root

        root = default_data_root()
    return LOADERS[key](root, split, **kwargs)


def check(name: str, root: str | Path | None = None, split: str = "val", **kwargs) -> CheckReport:
    """Scan every sample of a split; layout errors become a ``<layout>`` problem of the report instead of raising."""
    try:
        key = canonical_name(name)
    except DatasetError as exc:
        return CheckReport(name.lower(), str(root), split, problems=[("<layout>", str(exc))])
    if is_folder_name(key):
        return check_split(
            lambda _root, _split, **kw: get_dataset(key, None, _split, **kw),
            key,
            folder_location(key),
            split,
            **kwargs,
        )
    if root is None:
        from zoo.datasets.locations import default_data_root

        root = default_data_root()
    return check_split(LOADERS[key], key, root, split, **kwargs)
