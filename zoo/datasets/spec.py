"""The benchmark datasets as data: one :class:`DatasetSpec` per dataset, in one table.

Every place that lists datasets (command-line choices, label spaces, folders, archives, label conventions,
prediction formats, evaluation sizes, page titles) derives from :data:`DATASETS`; adding a dataset means
adding a row here and its loader (a :class:`~zoo.datasets.base.SegmentationDataset` whose ``spec`` is the
row, listed in :data:`zoo.datasets.LOADERS`).

This module needs numpy only (no torch, no Pillow).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from zoo.datasets.labels import (
    ADE20K_CLASSES,
    ADE20K_PALETTE,
    ADE20K_RAW,
    ADE20K_REDUCED,
    CITYSCAPES_CLASSES,
    CITYSCAPES_LABEL_IDS,
    CITYSCAPES_PALETTE,
    CITYSCAPES_TRAIN_IDS,
    VOC_CLASSES,
    VOC_COLORMAP,
    VOC_PALETTE,
    VOC_RAW,
    LabelConvention,
    to_annotation,
    train_ids_to_label_ids,
)
from zoo.errors import DatasetError

__all__ = [
    "ALIASES",
    "DATASETS",
    "DATASET_NAMES",
    "FOLDER_PREFIX",
    "Archive",
    "DatasetSpec",
    "PredictionFormat",
    "canonical_name",
    "dataset_spec",
    "folder_location",
    "is_folder_name",
]


@dataclass(frozen=True)
class Archive:
    """One official archive: where it is, how to check it, how it unpacks (see :mod:`zoo.datasets.download`).

    Attributes:
        dataset: the canonical name of the dataset it holds.
        url: the official download address.
        checksum_algorithm: ``"md5"``, ``"sha256"`` or ``None`` (no published checksum: not verified).
        checksum: the published digest, or ``None``; never invented.
        kind: ``"tar"`` or ``"zip"``.
        note: said to the user when downloading (why the archive cannot be verified, ...).
        max_unpacked_bytes: the most its members may add up to, unpacked: the dataset's real size with a
            generous margin. Extraction refuses an archive declaring more (a zip bomb, another file at the
            URL) before writing anything; ``None``: no bound.
    """

    dataset: str
    url: str
    checksum_algorithm: str | None
    checksum: str | None
    kind: str
    note: str = ""
    max_unpacked_bytes: int | None = None

    @property
    def filename(self) -> str:
        return self.url.rsplit("/", 1)[1]


@dataclass(frozen=True, eq=False)
class PredictionFormat:
    """How a dataset's official scorer wants predictions written: one PNG per sample.

    Attributes:
        description: one line for documentation and ``--help``.
        encode: train ids ``0..C-1`` (uint8, validated by the caller) -> the uint8 values stored in the PNG.
        palette: a ``256 x 3`` uint8 palette to write a mode ``P`` PNG with; ``None`` writes mode ``L``.
        city_folders: Cityscapes: the file goes to ``<city>/<city>_<seq>_<frame><suffix>.png`` (the scorer
            matches files to ground truth by that frame stem); otherwise ``<sample id><suffix>.png``.
        suffix: appended to the file stem.
    """

    description: str
    encode: Callable[[np.ndarray], np.ndarray]
    palette: np.ndarray | None = None
    city_folders: bool = False
    suffix: str = ""


@dataclass(frozen=True, eq=False)
class DatasetSpec:
    """What zoo knows about one benchmark dataset.

    Attributes:
        name: the canonical name used on the command line and in result rows (``voc``).
        title: the name people read on the leaderboards (``PASCAL VOC 2012``).
        classes: the label space in channel order (index = train id); ignore is always 255.
        palette: ``num_classes x 3`` uint8 colours of the classes, in the same order.
        eval_size: ``(height, width)`` of the usual evaluation input: what ``zoo-bench speed`` and the
            catalogue measure at when no size is given.
        folder: the folder the official archive unpacks to, directly under the data root.
        label_conventions: the ways its ground truth is stored; the first is the official files' own
            encoding and the default (see :mod:`zoo.datasets.labels`).
        prediction_format: how predictions are written for its official scorer.
        archive: the official archive :func:`zoo.datasets.download.download_archive` fetches, or ``None``
            when it cannot be downloaded automatically (Cityscapes needs a login).
        aliases: other spellings people type (``voc2012``, ``ade``).
        split_sizes: images in each official split (``{"val": 1449}``): a result is on the full split only
            when it covers all of them; empty for a folder of your own.
        digest: for a dataset of your own (:mod:`zoo.datasets.folder_dataset`): a digest of its file list
            and label space, so results on different contents under one name never share a key; ``""`` for
            the benchmarks of :data:`DATASETS`.
    """

    name: str
    title: str
    classes: tuple[str, ...]
    palette: np.ndarray
    eval_size: tuple[int, int]
    folder: str
    label_conventions: tuple[LabelConvention, ...]
    prediction_format: PredictionFormat
    archive: Archive | None = None
    aliases: tuple[str, ...] = ()
    split_sizes: Mapping[str, int] = field(default_factory=dict)
    digest: str = ""

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def official(self) -> bool:
        """Whether this is one of the benchmarks of :data:`DATASETS` (not a folder of your own)."""
        return DATASETS.get(self.name) is self

    @property
    def result_name(self) -> str:
        """What result rows store as their ``dataset``: the name, then ``@digest`` for a folder of your own
        (``folder:people@3fa9c2d1e0b4``), so a result is never keyed to other contents of the same folder."""
        return f"{self.name}@{self.digest}" if self.digest else self.name

    @property
    def default_convention(self) -> LabelConvention:
        """The convention of the official files (the first of :attr:`label_conventions`)."""
        return self.label_conventions[0]

    def convention(self, name: str | None) -> LabelConvention:
        """The label convention called ``name`` (``None``: :attr:`default_convention`).

        Raises:
            DatasetError: the dataset has no convention of that name; the message lists those it has.
        """
        if name is None:
            return self.default_convention
        for convention in self.label_conventions:
            if convention.name == name:
                return convention
        known = ", ".join(c.name for c in self.label_conventions)
        raise DatasetError(f"label_convention {name!r} is not one of {self.name}'s: {known}")


#: The benchmark datasets, in the order they are listed everywhere.
DATASETS: dict[str, DatasetSpec] = {
    spec.name: spec
    for spec in (
        DatasetSpec(
            name="voc",
            title="PASCAL VOC 2012",
            classes=VOC_CLASSES,
            palette=VOC_PALETTE,
            eval_size=(512, 512),
            folder="VOCdevkit",
            label_conventions=(VOC_RAW,),
            prediction_format=PredictionFormat(
                "palette (mode P) PNG of class indices 0..20 with the devkit's 256-entry VOC colormap",
                encode=lambda train_ids: train_ids,
                palette=VOC_COLORMAP,
            ),
            archive=Archive(
                "voc",
                "http://host.robots.ox.ac.uk/pascal/VOC/voc2012/VOCtrainval_11-May-2012.tar",
                "md5",
                "6cd6e144f989b92b3379bac3b3de84fd",  # published with the devkit; torchvision checks it too
                "tar",
                # the tar is uncompressed and about 2.0 GB, so its members add up to about 2.0 GB: twice that
                max_unpacked_bytes=4_000_000_000,
            ),
            aliases=("voc2012", "pascal_voc"),
            split_sizes={"train": 1464, "val": 1449},
        ),
        DatasetSpec(
            name="cityscapes",
            title="Cityscapes",
            classes=CITYSCAPES_CLASSES,
            palette=CITYSCAPES_PALETTE,
            eval_size=(1024, 2048),
            folder="cityscapes",
            label_conventions=(CITYSCAPES_LABEL_IDS, CITYSCAPES_TRAIN_IDS),
            prediction_format=PredictionFormat(
                "mode L PNG of labelIds (trainIds mapped back by the official table), "
                "<city>/<frame>_pred_labelIds.png",
                encode=train_ids_to_label_ids,
                city_folders=True,
                suffix="_pred_labelIds",
            ),
            split_sizes={"train": 2975, "val": 500, "test": 1525},
        ),
        DatasetSpec(
            name="ade20k",
            title="ADE20K",
            classes=ADE20K_CLASSES,
            palette=ADE20K_PALETTE,
            eval_size=(512, 512),
            folder="ADEChallengeData2016",
            label_conventions=(ADE20K_RAW, ADE20K_REDUCED),
            prediction_format=PredictionFormat(
                "mode L PNG of annotation values 1..150 (train id + 1), as the SceneParsing submission format",
                encode=to_annotation,
            ),
            archive=Archive(
                "ade20k",
                "http://data.csail.mit.edu/places/ADEchallenge/ADEChallengeData2016.zip",
                None,
                None,  # no checksum is published for this archive: none is invented here
                "zip",
                note="no checksum is published for ADEChallengeData2016.zip, so the download cannot be verified",
                # a 923 MB zip of JPEGs and PNGs (which do not compress) unpacks to about 1 GB: 2.5 times that
                max_unpacked_bytes=2_500_000_000,
            ),
            aliases=("ade", "ade20k_sceneparsing"),
            split_sizes={"train": 20210, "val": 2000},
        ),
    )
}
DATASET_NAMES: tuple[str, ...] = tuple(DATASETS)
#: Every accepted spelling -> canonical name.
ALIASES: dict[str, str] = {alias: spec.name for spec in DATASETS.values() for alias in spec.aliases}


#: ``folder:PATH`` names a folder of your own images and masks wherever a dataset name is taken
#: (see :mod:`zoo.datasets.folder_dataset`); result rows call it ``folder:<folder name>@<digest>``.
FOLDER_PREFIX = "folder:"


def is_folder_name(name: str) -> bool:
    """Whether ``name`` is ``folder:PATH`` (the prefix in any case), a dataset of your own, not a benchmark."""
    return name[: len(FOLDER_PREFIX)].lower() == FOLDER_PREFIX


def folder_location(name: str) -> str:
    """The ``PATH`` of ``folder:PATH``, exactly as given (``~`` is expanded by the loader).

    Raises:
        DatasetError: ``name`` is not ``folder:PATH``, or the path is empty.
    """
    if not is_folder_name(name):
        raise DatasetError(f"{name!r} is not a folder dataset name; expected {FOLDER_PREFIX}PATH")
    path = name[len(FOLDER_PREFIX) :]
    if not path.strip():
        raise DatasetError(f"{name!r}: no folder after {FOLDER_PREFIX!r}; expected e.g. folder:~/data/people")
    return path


def canonical_name(name: str) -> str:
    """``name`` or one of its aliases (any case) -> the canonical dataset name.

    ``folder:PATH`` comes back as ``folder:PATH`` (prefix lower-cased, the path untouched): a folder of
    your own has no entry in :data:`DATASETS`; :func:`zoo.datasets.get_dataset` reads it.

    Raises:
        DatasetError: ``name`` is no known dataset; the message lists the known ones.
    """
    if is_folder_name(name):
        return FOLDER_PREFIX + folder_location(name)
    key = name.lower()
    key = ALIASES.get(key, key)
    if key not in DATASETS:
        raise DatasetError(
            f"unknown dataset {name!r}; known: {', '.join(DATASET_NAMES)}, or {FOLDER_PREFIX}PATH for your own"
        )
    return key


def dataset_spec(name: str) -> DatasetSpec:
    """The :class:`DatasetSpec` of ``name`` (aliases accepted); DatasetError if unknown.

    A folder of your own has a spec only once its files are read: ``zoo.datasets.get_dataset(name).spec``.
    """
    key = canonical_name(name)
    if is_folder_name(key):
        raise DatasetError(
            f"{name!r}: a folder dataset's classes and digest come from its files; "
            "use zoo.datasets.get_dataset(name).spec"
        )
    return DATASETS[key]
