"""The label spaces of the benchmarks, in channel order (index = train id); ignore is always 255.

Weight records and model families name the label space their weights were trained in with these tuples.
They are defined once, with the rest of each dataset's facts, in :mod:`zoo.datasets.labels` and the dataset
table :data:`zoo.datasets.spec.DATASETS`; this module re-exports them under their long-standing names.
"""

from zoo.datasets.spec import DATASETS

__all__ = ["ADE20K_CLASSES", "CITYSCAPES_CLASSES", "LABEL_SPACES", "VOC_CLASSES"]

#: Canonical dataset name -> its classes, for every dataset of the table.
LABEL_SPACES: dict[str, tuple[str, ...]] = {name: spec.classes for name, spec in DATASETS.items()}

VOC_CLASSES = LABEL_SPACES["voc"]
CITYSCAPES_CLASSES = LABEL_SPACES["cityscapes"]
ADE20K_CLASSES = LABEL_SPACES["ade20k"]
