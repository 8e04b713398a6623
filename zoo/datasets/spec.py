"""The benchmark datasets as data: one :class:`DatasetSpec` per dataset, in one table.

Every place that lists datasets (command-line choices, label spaces, folders, archives, prediction formats,
evaluation sizes, page titles) derives from :data:`DATASETS`; adding a dataset means adding a row here and
its loader.

This module needs no torch.
"""

from __future__ import annotations

from dataclasses import dataclass

from zoo.classes import ADE20K_CLASSES, CITYSCAPES_CLASSES, VOC_CLASSES
from zoo.errors import DatasetError


@dataclass(frozen=True)
class DatasetSpec:
    """What zoo knows about one benchmark dataset.

    Attributes:
        name: the canonical name used on the command line and in result rows (``voc``).
        title: the name people read on the leaderboards (``PASCAL VOC 2012``).
        classes: the label space in channel order (index = train id); ignore is always 255.
        eval_size: ``(height, width)`` of the usual evaluation input: what ``zoo-bench speed`` and the
            catalogue measure at when no size is given.
        folder: the folder the official archive unpacks to, directly under the data root.
        aliases: other spellings people type (``voc2012``, ``ade``).
    """

    name: str
    title: str
    classes: tuple[str, ...]
    eval_size: tuple[int, int]
    folder: str
    aliases: tuple[str, ...] = ()

    @property
    def num_classes(self) -> int:
        return len(self.classes)


#: The benchmark datasets, in the order they are listed everywhere.
DATASETS: dict[str, DatasetSpec] = {
    spec.name: spec
    for spec in (
        DatasetSpec(
            "voc", "PASCAL VOC 2012", VOC_CLASSES, (512, 512), "VOCdevkit", ("voc2012", "pascal_voc")
        ),
        DatasetSpec("cityscapes", "Cityscapes", CITYSCAPES_CLASSES, (1024, 2048), "cityscapes"),
        DatasetSpec(
            "ade20k",
            "ADE20K",
            ADE20K_CLASSES,
            (512, 512),
            "ADEChallengeData2016",
            ("ade", "ade20k_sceneparsing"),
        ),
    )
}
DATASET_NAMES: tuple[str, ...] = tuple(DATASETS)
#: Every accepted spelling -> canonical name.
ALIASES: dict[str, str] = {alias: spec.name for spec in DATASETS.values() for alias in spec.aliases}


def canonical_name(name: str) -> str:
    """``name`` or one of its aliases (any case) -> the canonical dataset name.

    Raises:
        DatasetError: ``name`` is no known dataset; the message lists the known ones.
    """
    key = name.lower()
    key = ALIASES.get(key, key)
    if key not in DATASETS:
        raise DatasetError(f"unknown dataset {name!r}; known: {', '.join(DATASET_NAMES)}")
    return key


def dataset_spec(name: str) -> DatasetSpec:
    """The :class:`DatasetSpec` of ``name`` (aliases accepted); DatasetError if unknown."""
    return DATASETS[canonical_name(name)]
