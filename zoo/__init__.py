"""zoo: pick, build and compare semantic-segmentation models.

>>> import zoo
>>> zoo.list_models("deeplabv3plus-*")[:2]
['deeplabv3plus-densenet121', ...]
>>> model = zoo.create("deeplabv3-resnet101.coco_voc")  # downloads, verifies and loads published weights

Importing zoo, listing and describing models import neither torch, timm nor smp: builders import them.
"""

from typing import Any

from zoo.errors import (
    UnknownModelError,
    UnknownWeightsError,
    ZooDeprecationWarning,
    ZooError,
    ZooPluginWarning,
)
from zoo.factory import create, load_weights
from zoo.registry import REGISTRY, ModelEntry, info, list_models, register_model, register_weights
from zoo.weights import EvalProtocol, ReportedMetric, WeightRecord

__version__ = "0.1.0"

__all__ = [
    "REGISTRY",
    "EvalProtocol",
    "ModelEntry",
    "ReportedMetric",
    "UnknownModelError",
    "UnknownWeightsError",
    "WeightRecord",
    "ZooDeprecationWarning",
    "ZooError",
    "ZooPluginWarning",
    "__version__",
    "create",
    "info",
    "list_models",
    "load_weights",
    "register_model",
    "register_weights",
]


#: Sub-packages reachable as ``zoo.<name>`` after a plain ``import zoo`` (``zoo.datasets.folder(...)``), imported
#: on first use so that ``import zoo`` stays cheap.
LAZY_SUBMODULES = ("datasets", "metrics", "inference", "hub")


def __getattr__(name: str) -> Any:
    if name == "Protocol":  # the deprecated alias of EvalProtocol, with its warning
        from zoo import weights

        return weights.Protocol
    if name in LAZY_SUBMODULES:
        import importlib

        return importlib.import_module(f"zoo.{name}")
    raise AttributeError(f"module 'zoo' has no attribute {name!r}")
