"""zoo: pick, build and compare semantic-segmentation models.

>>> import zoo
>>> zoo.list_models("deeplabv3plus-*")[:2]
['deeplabv3plus-densenet121', ...]
>>> model = zoo.create("deeplabv3-resnet101.coco_voc")  # downloads, verifies and loads published weights

Importing zoo, listing and describing models import neither torch, timm nor smp: builders import them.
"""

from zoo.factory import create, load_weights
from zoo.registry import (
    REGISTRY,
    ModelEntry,
    UnknownModelError,
    UnknownWeightsError,
    ZooDeprecationWarning,
    ZooError,
    ZooPluginWarning,
    info,
    list_models,
    register_model,
    register_weights,
)
from zoo.weights import Protocol, ReportedMetric, WeightRecord

__version__ = "0.1.0"

__all__ = [
    "REGISTRY",
    "ModelEntry",
    "Protocol",
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
