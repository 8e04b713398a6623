"""Where zoo keeps datasets on disk.

One *data root* holds every dataset in its official layout, side by side::

    <data root>/VOCdevkit/VOC2012/...           (zoo data download voc)
    <data root>/ADEChallengeData2016/...        (zoo data download ade20k)
    <data root>/cityscapes/{leftImg8bit,gtFine}  (unpacked by hand, see zoo data download cityscapes)

The data root is ``$ZOO_DATA`` when set (read at each call), else ``platformdirs.user_data_dir("zoo")/data``
(e.g. ``~/.local/share/zoo/data`` on Linux). The dataset loaders accept the data root itself (they look for
their folder below it), so ``get_dataset("voc", default_data_root())`` works once the archive is unpacked.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

from zoo.datasets.spec import DATASETS, canonical_name

__all__ = ["DATASET_FOLDERS", "dataset_root", "default_data_root"]

#: Canonical dataset name -> the folder its official archive(s) unpack to, directly under the data root.
DATASET_FOLDERS: dict[str, str] = {name: spec.folder for name, spec in DATASETS.items()}


def default_data_root() -> Path:
    """``$ZOO_DATA`` (``~`` expanded) if set and non-empty, else ``platformdirs.user_data_dir("zoo")/"data"``."""
    configured = os.environ.get("ZOO_DATA")
    if configured:
        return Path(configured).expanduser()
    return Path(platformdirs.user_data_dir("zoo")) / "data"


def dataset_root(name: str, data_root: str | os.PathLike[str] | None = None) -> Path:
    """The folder of dataset ``name`` under ``data_root`` (default :func:`default_data_root`).

    ``voc`` -> ``<data root>/VOCdevkit``, ``cityscapes`` -> ``<data root>/cityscapes``, ``ade20k`` ->
    ``<data root>/ADEChallengeData2016``. Aliases accepted by :func:`zoo.datasets.get_dataset` (``voc2012``,
    ``ade``...) work too. The folder need not exist.

    Raises:
        DatasetError: ``name`` is not a known dataset.
    """
    key = canonical_name(name)
    base = Path(data_root).expanduser() if data_root is not None else default_data_root()
    return base / DATASET_FOLDERS[key]
